// Integration: a randomized, seeded search for crashes and malformed answers. Each run builds
// many valid configs (live and dead pools, compartments at every level, tiers, tenants, runners,
// weighted splits, rewrites, fallback chains, degrade triggers; see support/random_config.h),
// checks each with `infergate --check-config`, starts the real gateway on it and sends random
// requests (tenant keys or not, streamed or not, backend faults through x-mock-* headers, bursts
// of concurrent requests, clients that go away early). After every request the gateway must be
// alive and the answer well-formed; after every config /metrics must answer, no compartment
// slot may be left held, and SIGTERM must give a clean exit.
//
// The seed is printed at the start and in every failure: rerun with INFERGATE_RANDOM_SEED=N
// (INFERGATE_RANDOM_CONFIG=I runs only config I of that seed; INFERGATE_RANDOM_CONFIGS=N changes
// how many configs a run tries; INFERGATE_RANDOM_VERBOSE=1 prints every config, request and
// answer).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/gateway.h"
#include "support/http_client.h"
#include "support/mock_server.h"
#include "support/openai_sdk.h"
#include "support/random_config.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kDefaultConfigs = 16;
constexpr int kRequestsPerConfig = 40;  // bursts count each of their requests
constexpr Millis kRequestTimeout = 15000ms;

std::optional<uint64_t> EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

uint64_t Seed() {
  if (auto s = EnvNumber("INFERGATE_RANDOM_SEED")) return *s;
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
         1000000000000ULL;
}

std::string SeedNote(uint64_t seed) {
  return "seed=" + std::to_string(seed) +
         " (rerun with INFERGATE_RANDOM_SEED=" + std::to_string(seed) + ")";
}

// An address where nothing listens.
std::string ClosedPort() { return "127.0.0.1:" + std::to_string(RefusingPort()); }

std::unique_ptr<MockServer> StartLiveMock(const std::string& id) {
  std::vector<std::string> args = {"--id", id, "--tokens", "4"};
  for (const auto& m : kMockModels) {
    args.push_back("--model");
    args.push_back(m);
  }
  return MockServer::Start(args);
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// `infergate --check-config` on `yaml`: "" when accepted, else its output.
std::string CheckConfig(const std::string& yaml) {
  TempFile file(yaml, ".yaml");
  auto p = Process::Start({BinaryPath("infergate"), "--check-config", "-c", file.path()});
  if (!p) return "could not start infergate --check-config";
  auto code = p->Wait(30000ms);
  if (code && *code == 0) return "";
  return "exit " + (code ? std::to_string(*code) : std::string("(timeout)")) + ": " + p->Output();
}

// Compartment names of a generated config ("  - {name: "cN", ...").
std::vector<std::string> CompartmentNames(const std::string& yaml) {
  std::vector<std::string> out;
  size_t at = yaml.find("compartments:\n");
  if (at == std::string::npos) return out;
  for (size_t pos = yaml.find('\n', at) + 1; yaml.compare(pos, 12, "  - {name: \"") == 0;
       pos = yaml.find('\n', pos) + 1) {
    size_t start = pos + 12;
    out.push_back(yaml.substr(start, yaml.find('"', start) - start));
  }
  return out;
}

// One generated config run end to end. Failures are reported with the seed, the config and the
// last requests; the run of this config stops at its first failure.
class ConfigRun {
 public:
  ConfigRun(uint64_t seed, int index, const RandomTopology& topology,
            std::vector<MockServer*> mocks)
      : seed_(seed),
        index_(index),
        rng_(seed ^ (0x9e3779b97f4a7c15ULL * (index + 1))),
        mocks_(std::move(mocks)) {
    config_ = GenerateConfig(rng_, topology);
  }

  void Run() {
    const auto start = Clock::now();
    if (verbose_) std::printf("[ random ] config #%d:\n%s", index_, config_.yaml.c_str());
    if (std::string why = CheckConfig(config_.yaml); !why.empty()) {
      return Fail("the generated config is rejected (a generator bug): " + why);
    }
    for (MockServer* m : mocks_) {
      if (!m->Reset()) return Fail("a mock does not answer /mock/reset");
    }
    std::string why;
    gw_ = Gateway::Start(config_.yaml, {"--workers", "2", "--drain-timeout", "1s"}, &why);
    if (!gw_) return Fail("the gateway did not start: " + why);
    HttpClient keep_alive(gw_->port());
    Clock::time_point keep_alive_used = Clock::now();
    int sent = 0;
    while (sent < kRequestsPerConfig && !failed_) {
      if (rng_.Chance(15)) {
        sent += Burst(rng_.Between(2, 6));
        continue;
      }
      if (rng_.Chance(4)) SetRandomGauges();
      RandomRequest req = GenerateRequest(rng_, config_);
      Remember(req.Describe());
      ++sent;
      if (req.disconnect) {
        if (verbose_) std::printf("[ random ]   %s\n", req.Describe().c_str());
        Disconnect(req);
        CheckAlive();
        continue;
      }
      HttpResponse r;
      if (rng_.Chance(50)) {
        // A connection idle for long may be closed by the gateway (keepalive_timeout is 2s in
        // some configs) just as the request goes out; take a fresh one well before that.
        if (Clock::now() - keep_alive_used > 1s) keep_alive.Close();
        r = Send(keep_alive, req);
        keep_alive_used = Clock::now();
      } else {
        HttpClient fresh(gw_->port());
        r = Send(fresh, req);
      }
      Check(req, r);
    }
    if (!failed_) Finish();
    std::printf("[ random ] config #%d: %d requests, statuses:%s in %.0f ms%s\n", index_, sent,
                Statuses().c_str(),
                std::chrono::duration<double, std::milli>(Clock::now() - start).count(),
                failed_ ? " (FAILED)" : "");
  }

  bool failed() const { return failed_; }

 private:
  HttpResponse Send(HttpClient& c, const RandomRequest& req) {
    return c.Request(req.method, req.path, req.headers, req.body, kRequestTimeout);
  }

  // A mock reports a random load (read by load_report, least_queue and the saturation and
  // predicted_wait triggers), and now and then fails every completion while /health answers.
  void SetRandomGauges() {
    MockServer* m = mocks_[rng_.Below(mocks_.size())];
    const std::string json = "{\"waiting\": " + std::to_string(rng_.Between(0, 40)) +
                             ", \"running\": " + std::to_string(rng_.Between(0, 8)) +
                             ", \"kv_cache_usage\": 0." + std::to_string(rng_.Between(0, 9)) +
                             ", \"fail_status\": " + (rng_.Chance(25) ? "503" : "0") + "}";
    Remember("[gauges of " + m->address() + "] " + json);
    if (verbose_)
      std::printf("[ random ]   gauges of %s: %s\n", m->address().c_str(), json.c_str());
    if (!m->SetGauges(json)) Fail("a mock does not take /mock/gauges");
  }

  // Concurrent requests, so that compartments, queues and thread pools fill up.
  int Burst(int n) {
    std::vector<RandomRequest> reqs;
    for (int i = 0; i < n; ++i) {
      reqs.push_back(GenerateRequest(rng_, config_));
      reqs.back().disconnect = false;
      Remember("[burst] " + reqs.back().Describe());
    }
    std::vector<HttpResponse> answers(reqs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < reqs.size(); ++i) {
      threads.emplace_back([&, i] {
        HttpClient c(gw_->port());
        answers[i] = Send(c, reqs[i]);
      });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < reqs.size() && !failed_; ++i) Check(reqs[i], answers[i]);
    return n;
  }

  // The client sends the request and goes away: at once, or after the response head (or a
  // short wait for it), closing or resetting the connection.
  void Disconnect(const RandomRequest& req) {
    HttpClient c(gw_->port());
    if (!c.Connect()) return Fail("cannot connect to the gateway");
    c.SendRaw(req.Raw());
    if (req.disconnect_after_reads == 0) return c.Close();
    if (req.disconnect_after_reads == 1) c.ReadHead(300ms);
    c.Abort();
  }

  void Check(const RandomRequest& req, const HttpResponse& r) {
    ++statuses_[r.status];
    if (verbose_) {
      std::printf("[ random ]   %s\n[ random ]   -> %s\n", req.Describe().c_str(),
                  DescribeAnswer(r).substr(0, 300).c_str());
    }
    if (!CheckAlive(r.status == 0)) return;
    if (std::string why = CheckAnswer(req, r, config_); !why.empty()) {
      Fail("malformed answer: " + why + "\n--- request: " + req.Describe() +
           "\n--- answer: " + DescribeAnswer(r));
    }
  }

  // With `no_answer` (a request got no response head), waits a moment for the process to
  // exit, so that a crash is reported as one rather than as a missing answer.
  bool CheckAlive(bool no_answer = false) {
    auto code = gw_->process().Wait(no_answer ? 1000ms : 0ms);
    if (!code) return true;
    Fail("the gateway died (exit status " + std::to_string(*code) + "; -N is signal N)");
    return false;
  }

  // /metrics answers, every compartment gives its slots back, and SIGTERM exits cleanly.
  void Finish() {
    HttpClient admin(gw_->admin_port());
    HttpResponse m = admin.Get("/metrics", {}, 5000ms);
    if (m.status != 200 || m.body.find("infergate_") == std::string::npos) {
      if (!CheckAlive(/*no_answer=*/true)) return;
      return Fail("/metrics does not answer: " + DescribeAnswer(m));
    }
    for (const auto& c : CompartmentNames(config_.yaml)) {
      for (const char* gauge :
           {"infergate_compartment_in_flight", "infergate_compartment_queued"}) {
        auto v = gw_->WaitForMetric(gauge, "compartment=\"" + c + "\"", 0, 10000ms);
        if (v && *v != 0) {
          return Fail(std::string(gauge) + "{compartment=\"" + c + "\"} stays at " +
                      std::to_string(*v) +
                      " after every request ended (a slot is never given back)");
        }
      }
    }
    if (!CheckAlive()) return;
    auto code = gw_->process().Stop(10000ms);
    if (!code || *code != 0) {
      return Fail("SIGTERM did not give a clean exit: status " +
                  (code ? std::to_string(*code) : std::string("(none)")));
    }
    const std::string out = gw_->process().Output();
    for (const char* bad : {"AddressSanitizer", "runtime error:", "LeakSanitizer"}) {
      if (out.find(bad) != std::string::npos)
        return Fail(std::string("the gateway printed ") + bad);
    }
  }

  void Remember(std::string what) {
    recent_.push_back(std::move(what));
    if (recent_.size() > 6) recent_.pop_front();
  }

  std::string Statuses() const {
    std::string out;
    for (const auto& [s, n] : statuses_) out += " " + std::to_string(s) + "x" + std::to_string(n);
    return out;
  }

  void Fail(const std::string& what) {
    failed_ = true;
    std::string recent;
    for (const auto& r : recent_) recent += "  " + r + "\n";
    ADD_FAILURE() << SeedNote(seed_) << ", config #" << index_
                  << " (INFERGATE_RANDOM_CONFIG=" << index_ << "): " << what
                  << "\n--- last requests (oldest first):\n"
                  << recent << "--- config:\n"
                  << config_.yaml << "--- gateway output (tail):\n"
                  << (gw_ ? Tail(gw_->process().Output(), 3000) : std::string());
  }

  uint64_t seed_;
  int index_;
  SplitMix64 rng_;
  std::vector<MockServer*> mocks_;
  GeneratedConfig config_;
  std::unique_ptr<Gateway> gw_;
  std::deque<std::string> recent_;
  std::map<int, int> statuses_;
  bool failed_ = false;
  const bool verbose_ = EnvNumber("INFERGATE_RANDOM_VERBOSE").value_or(0) != 0;
};

TEST(RandomConfig, RandomConfigsAndRequestsNeverCrashOrMalformAnswers) {
  const uint64_t seed = Seed();
  std::printf("[ random ] %s\n", SeedNote(seed).c_str());
  std::fflush(stdout);
  std::vector<std::unique_ptr<MockServer>> mocks;
  RandomTopology topology;
  for (int i = 0; i < 3; ++i) {
    mocks.push_back(StartLiveMock("live-" + std::to_string(i)));
    ASSERT_TRUE(mocks.back()) << SeedNote(seed);
    topology.live.push_back(mocks.back()->address());
    topology.dead.push_back(ClosedPort());
  }
  const int configs =
      static_cast<int>(EnvNumber("INFERGATE_RANDOM_CONFIGS").value_or(kDefaultConfigs));
  const auto only = EnvNumber("INFERGATE_RANDOM_CONFIG");
  int failures = 0;
  for (int i = 0; i < configs; ++i) {
    if (only && static_cast<int>(*only) != i) continue;
    std::vector<MockServer*> live;
    for (auto& m : mocks) live.push_back(m.get());
    ConfigRun run(seed, i, topology, live);
    run.Run();
    failures += run.failed();
  }
  for (auto& m : mocks) EXPECT_TRUE(m->process().Running()) << "a mock died; " << SeedNote(seed);
  std::printf("[ random ] %s: %d of %d configs failed\n", SeedNote(seed).c_str(), failures,
              only ? 1 : configs);
}

// Regression: a tenant compartment, a route compartment and three pool fallbacks with a
// compartment each. Walking the chain takes five slots in one exchange; the answer must still
// come from the live fallback, and every slot must be given back.
TEST(RandomConfig, TenantRouteAndThreeFallbackCompartmentsServeTheLastFallback) {
  auto live = StartLiveMock("live");
  ASSERT_TRUE(live);
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "compartments:\n  - {name: tc}\n  - {name: rc}\n  - {name: f1}\n  - {name: f2}\n"
      "  - {name: f3}\n"
      "tenants:\n  - {name: t, api_keys_sha256: "
      "[6439edbcef543dc08a108630220e405420f6a9e0430e4e453e1e6ecd640a8b76], compartment: tc}\n"
      "pools:\n" +
      PoolYaml("dead1", {ClosedPort()}) + PoolYaml("dead2", {ClosedPort()}) +
      PoolYaml("dead3", {ClosedPort()}) + PoolYaml("live", {live->address()}) +
      "routes:\n"
      "  - name: chat\n    match: {path_prefix: /v1/}\n    to: dead1\n    compartment: rc\n"
      "    fallbacks: [{pool: dead2, compartment: f1}, {pool: dead3, compartment: f2}, "
      "{pool: live, compartment: f3}]\n";
  ASSERT_EQ(CheckConfig(yaml), "") << yaml;
  std::string why;
  auto gw = Gateway::Start(yaml, {"--workers", "1", "--drain-timeout", "1s"}, &why);
  ASSERT_TRUE(gw) << why;
  const Headers key = {{"Authorization", "Bearer rk-0"}};  // sha256("rk-0") is listed above
  for (bool stream : {false, true}) {
    HttpClient c(gw->port());
    HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m-a", stream), key, 10000ms);
    const auto died = gw->process().Wait(r.status == 0 ? 1000ms : 0ms);
    ASSERT_FALSE(died.has_value()) << "the gateway died walking the fallback chain (exit status "
                                   << died.value_or(0) << "; -N is signal N)\n"
                                   << yaml << Tail(gw->process().Output(), 3000);
    ASSERT_EQ(r.status, 200) << DescribeAnswer(r);
    EXPECT_EQ(r.Header("x-mock-server"), "live");
    EXPECT_TRUE(r.Header("x-infergate-degraded").ends_with("; served-by=live"))
        << r.Header("x-infergate-degraded");
    std::string error;
    if (stream) {
      EXPECT_TRUE(ParseChatStream(r.body, &error)) << error << "\n" << r.body;
    } else {
      EXPECT_TRUE(ParseChatCompletion(r.body, &error)) << error << "\n" << r.body;
    }
  }
  for (const char* c : {"tc", "rc", "f1", "f2", "f3"}) {
    const std::string labels = std::string("compartment=\"") + c + "\"";
    EXPECT_EQ(gw->WaitForMetric("infergate_compartment_in_flight", labels, 0).value_or(0), 0)
        << labels;
  }
  EXPECT_EQ(gw->process().Stop(10000ms), std::optional<int>(0));
}

}  // namespace
}  // namespace infergate::testing
