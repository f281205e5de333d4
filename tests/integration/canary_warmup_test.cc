// Integration: the inference canary marks down a backend whose engine fails completions while
// /health still answers, and a backend back from an outage takes traffic only after its warm-up
// completion answers. Real binaries on loopback.
#include <signal.h>

#include <gtest/gtest.h>

#include "integration/failure_containment_util.h"
#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// The admin view of one backend: its state and reasons, e.g. "unavailable:canary".
std::string BackendState(Gateway& gw, const std::string& backend) {
  HttpClient c(gw.admin_port());
  if (!c.Connect()) return "";
  std::string body = c.Get("/admin/backends").body;
  for (size_t i = 0; i < 8; ++i) {
    std::string at = "/backends/" + std::to_string(i);
    auto name = JsonString(body, at + "/backend");
    if (!name) break;
    if (*name != backend) continue;
    std::string out = JsonString(body, at + "/state").value_or("?") + ":";
    for (size_t r = 0;; ++r) {
      auto reason = JsonString(body, at + "/reasons/" + std::to_string(r));
      if (!reason) break;
      out += (r ? "," : "") + *reason;
    }
    return out;
  }
  return "";
}

// Waits until the backend's "state:reasons" equals `state`, or starts with it when `state` ends
// with '*'.
bool WaitForState(Gateway& gw, const std::string& backend, const std::string& state,
                  std::chrono::milliseconds timeout, std::string* last) {
  const bool prefix = !state.empty() && state.back() == '*';
  const std::string want = prefix ? state.substr(0, state.size() - 1) : state;
  return containment::WaitUntil(
      [&] {
        *last = BackendState(gw, backend);
        return prefix ? last->starts_with(want) : *last == want;
      },
      timeout, 20ms);
}

std::string Yaml(const std::string& a, const std::string& b, const std::string& pool_extra) {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n"
         "canary_budget: 50\npools:\n  - name: main\n    backends: [http://" +
         a + ", http://" + b + "]\n    circuit_breaker: false\n    outlier_ejection: false\n" +
         pool_extra + "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n";
}

TEST(Canary, WedgedEngineIsMarkedDownWhileHealthAnswersAndComesBack) {
  auto a = MockServer::Start({"--id", "a", "--model", "mock-model"});
  auto b = MockServer::Start({"--id", "b", "--model", "mock-model"});
  ASSERT_TRUE(a && b);
  std::string why;
  auto gw = Gateway::Start(
      Yaml(a->address(), b->address(),
           "    health_check:\n      interval: 100ms\n      canary: {model: mock-model, "
           "interval: 100ms, timeout: 2s}\n"),
      {}, &why);
  ASSERT_TRUE(gw) << why;
  std::string last;
  ASSERT_TRUE(WaitForState(*gw, b->address(), "available:", 5s, &last)) << last;
  // The engine fails every completion; /health still answers 200.
  ASSERT_TRUE(b->SetGauges(R"({"fail_status": 503})"));
  HttpClient direct(b->port());
  ASSERT_TRUE(direct.Connect());
  EXPECT_EQ(direct.Get("/health").status, 200);
  EXPECT_TRUE(WaitForState(*gw, b->address(), "unavailable:canary", 10s, &last)) << last;
  EXPECT_EQ(BackendState(*gw, a->address()), "available:");
  // Client traffic now goes to the healthy backend only.
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 20; ++i) {
    auto r = c.Post("/v1/chat/completions", ChatBody("mock-model"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("x-mock-server"), "a");
  }
  // The engine recovers: the canary brings it back.
  ASSERT_TRUE(b->SetGauges(R"({"fail_status": 0})"));
  EXPECT_TRUE(WaitForState(*gw, b->address(), "available:", 10s, &last)) << last;
  EXPECT_GE(gw->Metric("infergate_backend_state_changes_total",
                       "pool=\"main\",backend=\"" + b->address() + "\",change=\"canary_down\"")
                .value_or(0),
            1);
}

TEST(Warmup, ReturningBackendTakesTrafficOnlyAfterItsWarmupAnswers) {
  auto a = MockServer::Start({"--id", "a", "--model", "mock-model"});
  auto b = MockServer::Start({"--id", "b", "--model", "mock-model"});
  ASSERT_TRUE(a && b);
  std::string why;
  auto gw =
      Gateway::Start(Yaml(a->address(), b->address(),
                          "    health_check: {interval: 100ms}\n    slow_start:\n      window: 1s\n"
                          "      warmup: {model: mock-model, timeout: 2s}\n"),
                     {}, &why);
  ASSERT_TRUE(gw) << why;
  std::string last;
  ASSERT_TRUE(WaitForState(*gw, b->address(), "available:", 5s, &last)) << last;
  // Not applied at startup: b took no warm-up request.
  EXPECT_EQ(b->Stats()->requests, 0);
  // b's engine will fail completions (so its warm-up fails); then it goes silent and is suspected.
  ASSERT_TRUE(b->SetGauges(R"({"fail_status": 503})"));
  b->process().Signal(SIGSTOP);
  EXPECT_TRUE(WaitForState(*gw, b->address(), "unavailable:*", 10s, &last)) << last;
  b->process().Signal(SIGCONT);
  // Probes pass again, but the warm-up completion fails: b stays out of rotation.
  EXPECT_TRUE(WaitForState(*gw, b->address(), "unavailable:warming_up", 10s, &last)) << last;
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("mock-model")).Header("x-mock-server"), "a");
  EXPECT_GE(b->Stats()->requests, 1);  // the warm-up requests reached b, and nothing else did
  // The engine is ready: the next warm-up answers and b takes traffic again.
  ASSERT_TRUE(b->SetGauges(R"({"fail_status": 0})"));
  EXPECT_TRUE(WaitForState(*gw, b->address(), "available:", 10s, &last)) << last;
}

}  // namespace
}  // namespace infergate::testing
