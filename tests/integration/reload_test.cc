// Integration: hot reload on the real binaries. Reloads under streaming load lose nothing and
// keep what the gateway learned (an ejected backend stays ejected, idle keep-alive connections
// are reused); a rejected reload changes nothing and says why; listeners come and go; the admin
// endpoints that change state take a bearer token.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/pki.h"
#include "support/stream_load.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

const std::string kChat =
    R"({"model":"mock-model","messages":[{"role":"user","content":"hi"}],"stream":true})";

struct Variant {
  explicit Variant(std::vector<std::string> b) : backends(std::move(b)) {}
  std::vector<std::string> backends;
  std::string listeners;  // extra listener entries
  std::string admin;      // extra admin keys
  std::string routes;     // extra route entries
  std::string pool;       // extra pool keys
};

std::string Yaml(const Variant& v) {
  std::string backends;
  for (const auto& b : v.backends) backends += (backends.empty() ? "" : ", ") + ("http://" + b);
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + v.listeners +
         "admin:\n  listen: 127.0.0.1:0\n" + v.admin +
         "pools:\n  - name: main\n    health_check: {enabled: false}\n"
         "    circuit_breaker: false\n"
         "    outlier_ejection: {consecutive_failures: 2, base_ejection_time: 300s, "
         "max_ejection_percent: 100}\n" +
         v.pool + "    backends: [" + backends +
         "]\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main, retries: 2}\n" +
         v.routes;
}

// The entry of /admin/backends for `backend` (host:port), as JSON; nullopt when absent.
std::optional<std::string> BackendEntry(Gateway& gw, const std::string& backend) {
  HttpClient c(gw.admin_port());
  const std::string body = c.Get("/admin/backends").body;
  const size_t n = JsonSize(body, "/backends").value_or(0);
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "/backends/" + std::to_string(i);
    if (JsonString(body, at + "/backend") == backend) return JsonRaw(body, at);
  }
  return std::nullopt;
}

bool Ejected(Gateway& gw, const std::string& backend) {
  auto b = BackendEntry(gw, backend);
  if (!b) return false;
  const size_t n = JsonSize(*b, "/reasons").value_or(0);
  for (size_t i = 0; i < n; ++i) {
    if (JsonString(*b, "/reasons/" + std::to_string(i)) == "ejected") return true;
  }
  return false;
}

// A streamed chat request that must complete: 200, the whole body, [DONE] at its end.
std::string StreamFailure(HttpClient& c) {
  auto r = c.Post("/v1/chat/completions", kChat,
                  {{"content-type", "application/json"},
                   {"x-mock-tokens", "12"},
                   {"x-mock-token-interval-ms", "5"}},
                  20s);
  if (r.status != 200) return "status " + std::to_string(r.status) + ": " + r.body;
  if (!r.complete) return "cut: " + r.error;
  if (r.body.find("data: [DONE]") == std::string::npos) return "no [DONE]: " + r.body;
  return "";
}

TEST(Reload, UnderLoadLosesNothingAndKeepsWhatWasLearned) {
  auto healthy = MockServer::Start({"--id", "healthy"});
  auto failing = MockServer::Start({"--id", "failing"});
  auto added = MockServer::Start({"--id", "added"});
  ASSERT_TRUE(healthy && failing && added);
  const Variant base({failing->address(), healthy->address()});
  // The other generation: a backend added in front (the failing one changes index), a route and
  // a listener setting more.
  Variant other = base;
  other.backends.insert(other.backends.begin(), added->address());
  other.routes = "  - {name: completions, match: {path: /v1/completions}, to: main}\n";
  std::string why;
  auto gw = Gateway::Start(Yaml(base), {}, &why);
  ASSERT_TRUE(gw) << why;

  // Teach the gateway something: the failing backend is ejected for 300 s.
  ASSERT_TRUE(failing->SetGauges(R"({"fail_status": 503})"));
  HttpClient client(gw->port());
  for (int i = 0; i < 50 && !Ejected(*gw, failing->address()); ++i) {
    auto r = client.Post("/v1/chat/completions", kChat, {{"content-type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;  // retried on the healthy one
  }
  ASSERT_TRUE(Ejected(*gw, failing->address()));
  ASSERT_TRUE(failing->SetGauges(R"({"fail_status": 0})"));  // healthy again, but still ejected
  ASSERT_TRUE(failing->Reset());

  // Streaming load from four clients while the config is reloaded six times.
  StreamLoad load(gw->port(), 4, false);
  for (int reload = 1; reload <= 6; ++reload) {
    load.WaitForMore(8);  // each reload lands while streams are running
    ASSERT_TRUE(gw->RewriteConfig(Yaml(reload % 2 ? other : base)));
    auto r = gw->AdminReload();
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(JsonInt(r.body, "/generation"), reload + 1) << r.body;
  }
  load.WaitForMore(8);
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.first_failure();
  EXPECT_GT(load.done(), 40);
  EXPECT_EQ(gw->Metric("infergate_config_generation"), 7);
  EXPECT_EQ(gw->Metric("infergate_config_reloads_total", "result=\"ok\""), 6);
  EXPECT_EQ(gw->Metric("infergate_config_reloads_total", "result=\"rejected\""), 0);
  // The ejection outlived six reloads (and a change of the backend's index): no request went to
  // the ejected backend; the added one took traffic while it was configured.
  auto entry = BackendEntry(*gw, failing->address());
  ASSERT_TRUE(entry);
  EXPECT_TRUE(Ejected(*gw, failing->address())) << *entry;
  EXPECT_EQ(JsonInt(*entry, "/ejections"), 1) << *entry;
  auto failing_stats = failing->Stats();
  ASSERT_TRUE(failing_stats);
  EXPECT_EQ(failing_stats->requests, 0);
  auto added_stats = added->Stats();
  ASSERT_TRUE(added_stats);
  EXPECT_GT(added_stats->requests, 0);
}

// One mock backend, and a gateway started in front of it by each test.
class Reloading : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = MockServer::Start();
    ASSERT_TRUE(mock_);
  }
  Variant Base() const { return Variant({mock_->address()}); }
  void StartGateway(const Variant& v) {
    std::string why;
    gw_ = Gateway::Start(Yaml(v), {}, &why);
    ASSERT_TRUE(gw_) << why;
  }
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(Reloading, KeepsUpstreamConnectionsIdleOrInUse) {
  const Variant base = Base();
  StartGateway(base);
  Gateway* gw = gw_.get();
  MockServer* mock = mock_.get();
  HttpClient c(gw->port());  // one client connection: one worker, one upstream connection
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(StreamFailure(c).empty());
  Variant other = base;
  other.routes = "  - {name: completions, match: {path: /v1/completions}, to: main}\n";
  // Reloaded while the connection is idle: it moves to the new generation.
  ASSERT_TRUE(gw->RewriteConfig(Yaml(other)));
  ASSERT_EQ(gw->AdminReload().status, 200);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(StreamFailure(c).empty());
  // Reloaded while a stream uses it: it goes to the new generation when the stream ends.
  std::string slow_failure;
  std::thread slow([&] {
    auto r = c.Post("/v1/chat/completions", kChat,
                    {{"content-type", "application/json"},
                     {"x-mock-tokens", "20"},
                     {"x-mock-token-interval-ms", "20"}},
                    20s);
    if (r.status != 200 || r.body.find("data: [DONE]") == std::string::npos)
      slow_failure = std::to_string(r.status) + " " + r.body;
  });
  EXPECT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_streams == 1; }));
  ASSERT_TRUE(gw->RewriteConfig(Yaml(base)));
  EXPECT_EQ(gw->AdminReload().status, 200);
  slow.join();
  EXPECT_EQ(slow_failure, "");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(StreamFailure(c).empty());
  auto stats = mock->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 10);
  EXPECT_EQ(stats->connections_accepted, 1) << "the connection outlived both reloads";
}

TEST_F(Reloading, RejectedReloadChangesNothingAndSaysWhere) {
  const Variant base = Base();
  StartGateway(base);
  Gateway* gw = gw_.get();
  // A key that does not exist on line 9, and a typo on line 13 (the route's pool).
  std::string bad = Yaml(base);
  bad.replace(bad.find("to: main,"), 9, "to: mian,");
  bad.replace(bad.find("    circuit_breaker: false"), 26, "    circuit_braker: false");
  ASSERT_TRUE(gw->RewriteConfig(bad));
  auto r = gw->AdminReload();
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(JsonInt(r.body, "/generation"), 1) << r.body;
  ASSERT_EQ(JsonSize(r.body, "/errors"), 2u) << r.body;
  const std::string all = JsonString(r.body, "/errors/0").value_or("") + "\n" +
                          JsonString(r.body, "/errors/1").value_or("");
  EXPECT_NE(all.find(gw->config_path() + ":9:5: pools[0].circuit_braker"), std::string::npos)
      << all;
  EXPECT_NE(all.find(gw->config_path() + ":13:"), std::string::npos) << all;
  EXPECT_NE(all.find("mian"), std::string::npos) << all;
  EXPECT_FALSE(JsonString(r.body, "/error/message").value_or("").empty()) << r.body;
  EXPECT_EQ(gw->Metric("infergate_config_reloads_total", "result=\"rejected\""), 1);
  EXPECT_EQ(gw->Metric("infergate_config_last_reload_successful"), 0);
  EXPECT_EQ(gw->Metric("infergate_config_generation"), 1);
  HttpClient c(gw->port());
  EXPECT_TRUE(StreamFailure(c).empty()) << "the old config keeps serving";
  // SIGHUP goes through the same path, and the log has every error with its position.
  gw->process().Signal(SIGHUP);
  EXPECT_EQ(gw->WaitForMetric("infergate_config_reloads_total", "result=\"rejected\"", 2), 2);
  EXPECT_TRUE(gw->process().WaitForOutput("reload rejected: " + gw->config_path() + ":9:5", 5s))
      << gw->process().Output();
  EXPECT_TRUE(gw->process().WaitForOutput("generation 1 keeps serving, unchanged", 5s));
  // Fixed, it applies.
  ASSERT_TRUE(gw->RewriteConfig(Yaml(base)));
  EXPECT_EQ(gw->AdminReload().status, 200);
  EXPECT_EQ(gw->Metric("infergate_config_generation"), 2);
  EXPECT_EQ(gw->Metric("infergate_config_last_reload_successful"), 1);
}

TEST_F(Reloading, ListenersAddedAndRemoved) {
  Variant base = Base();
  StartGateway(base);
  Gateway* gw = gw_.get();
  Variant two = base;
  two.listeners = "  - name: second\n    listen: 127.0.0.1:0\n";
  ASSERT_TRUE(gw->RewriteConfig(Yaml(two)));
  ASSERT_EQ(gw->AdminReload().status, 200);
  auto port = gw->process().WaitForOutput(R"(listener second on [^\s]+:(\d+) added)", 5s);
  ASSERT_TRUE(port);
  HttpClient second(static_cast<uint16_t>(std::stoi(*port)));
  EXPECT_TRUE(StreamFailure(second).empty());
  HttpClient first(gw->port());
  EXPECT_TRUE(StreamFailure(first).empty());
  // `second` is an idle keep-alive connection now. Removing the listener closes it, and its port
  // takes no new connection; the first listener is untouched.
  ASSERT_TRUE(gw->RewriteConfig(Yaml(base)));
  ASSERT_EQ(gw->AdminReload().status, 200);
  EXPECT_TRUE(second.IsClosedByPeer(5s));
  HttpClient again(static_cast<uint16_t>(std::stoi(*port)));
  EXPECT_FALSE(again.Connect(2s));
  EXPECT_TRUE(StreamFailure(first).empty());
}

TEST_F(Reloading, AdminEndpointsThatChangeStateTakeTheToken) {
  auto hash = RunTool({"bash", "-c", "printf %s s3cret | sha256sum | cut -c1-64"});
  ASSERT_TRUE(hash && hash->first == 0);
  std::string sha = hash->second.substr(0, 64);
  Variant v = Base();
  v.admin = "  token_sha256: " + sha + "\n";
  StartGateway(v);
  Gateway* gw = gw_.get();
  MockServer* mock = mock_.get();
  auto none = gw->AdminReload();
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("www-authenticate"), "Bearer realm=\"infergate-admin\"");
  EXPECT_EQ(gw->AdminReload("wrong").status, 401);
  HttpClient admin(gw->admin_port());
  EXPECT_EQ(admin.Post("/admin/backends/main/" + mock->address() + "/drain", "").status, 401);
  EXPECT_EQ(admin.Get("/metrics").status, 200);  // read-only endpoints stay open
  EXPECT_EQ(admin.Get("/admin/backends").status, 200);
  EXPECT_EQ(gw->Metric("infergate_admin_unauthorized_total"), 3);
  EXPECT_EQ(gw->AdminReload("s3cret").status, 200);
  EXPECT_EQ(admin
                .Post("/admin/backends/main/" + mock->address() + "/drain", "",
                      {{"authorization", "Bearer s3cret"}})
                .status,
            200);
}

}  // namespace
}  // namespace infergate::testing
