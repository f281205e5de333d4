// Integration (issue: "a proxied route keeps its latency while the runner generates"): one
// gateway worker, so one event loop serves both; the runner on a compartment with one thread.
// A long streamed runner generation starts first and is confirmed generating (its first token
// arrived); then sequential requests on a second route, proxied to a live mock, all complete
// with 200 while the runner's stream is still open ([DONE] not received), and the stream goes on
// producing tokens afterwards. Then the client leaves and the runner's thread is freed before it
// generated all it was asked for. No duration is asserted and nothing sleeps: every wait is on
// an event (bytes arriving, a metric reaching a value) with a generous limit. The proxied
// latencies with and without the runner busy are printed, not asserted.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/gguf_models.h"
#include "support/gateway.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/raw_conn.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kProxied = 50;      // sequential proxied requests per phase
constexpr int kMaxTokens = 4000;  // far more than the test reads before it leaves
constexpr int kMoreAfter = 5;     // tokens to see after the proxied requests are done

// A streamed chat request to the runner, read on its own thread as the bytes arrive: counts the
// chunk events (the role event, then one per piece) and notices [DONE]. Leaving (the destructor
// or Leave) closes the connection.
class RunnerStream {
 public:
  RunnerStream(uint16_t port, const std::string& body) {
    thread_ = std::thread([this, port, body] { Read(port, body); });
  }
  ~RunnerStream() { Leave(); }

  // Waits until more than `n` events arrived, or the stream ended or failed; returns the count.
  int WaitForEventsOver(int n, Millis limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] { return events_ > n || done_ || ended_; });
    return events_;
  }
  int events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  bool ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  std::string head() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_.substr(0, std::min<size_t>(bytes_.size(), 400));
  }
  void Leave() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Read(uint16_t port, const std::string& body) {
    RawConn conn(port);
    if (!conn.connected() || !conn.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                        "Content-Type: application/json\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body)) {
      Finish();
      return;
    }
    size_t scan = 0;
    while (!stop_) {
      const std::string got = conn.Read(50ms);  // returns as soon as bytes arrive
      std::lock_guard<std::mutex> lock(mu_);
      bytes_ += got;
      for (size_t at; (at = bytes_.find("data: ", scan)) != std::string::npos;) {
        if (bytes_.compare(at, 12, "data: [DONE]") == 0) {
          done_ = true;
        } else if (bytes_.size() - at > 6) {
          ++events_;
        } else {
          break;  // "data: " at the very end: wait for what follows
        }
        scan = at + 6;
      }
      if (conn.closed()) ended_ = true;
      cv_.notify_all();
      if (ended_) break;
    }
    // The connection closes here: a client that leaves.
  }
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string bytes_;
  int events_ = 0;
  bool done_ = false;
  bool ended_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Latencies {
  std::vector<double> ms;
  void Print(const char* what) {
    std::sort(ms.begin(), ms.end());
    if (ms.empty()) return;
    std::printf(
        "[ runner beside proxy ] %s: %zu proxied requests, median %.2f ms, p90 %.2f ms, "
        "max %.2f ms\n",
        what, ms.size(), ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.back());
  }
};

// kProxied sequential requests on one keep-alive connection; each must be a 200 with the mock's
// answer. Returns their latencies (printed, never asserted).
Latencies RunProxied(uint16_t port) {
  Latencies out;
  HttpClient c(port);
  for (int i = 0; i < kProxied; ++i) {
    const auto start = Clock::now();
    const HttpResponse r =
        c.Post("/v1/chat/completions",
               R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}]})",
               {{"content-type", "application/json"}}, 30000ms);
    out.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    EXPECT_EQ(r.status, 200) << "proxied request " << i << ": " << r.body << r.error;
    EXPECT_TRUE(JsonHas(r.body, "/choices/0/message/content")) << r.body;
    if (r.status != 200) break;
  }
  return out;
}

TEST(GgufRunnerBesideProxy, AProxiedRouteKeepsAnsweringWhileTheRunnerGenerates) {
  if (const std::string why = CannotGenerate(); !why.empty()) GTEST_SKIP() << why;
  const std::string model = GgufModels::Get().Long();
  ASSERT_FALSE(model.empty()) << "gen_gguf.py could not write the larger model";
  auto mock = MockServer::Start({"--model", "mock-model", "--tokens", "3"});
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "compartments:\n"
      "  - {name: cpu, max_concurrent: 2, thread_pool: {threads: 1, queue: 2}}\n"
      "runners:\n"
      "  - {name: local, kind: gguf, compartment: cpu, model: tiny-llama, max_tokens: " +
          std::to_string(kMaxTokens) + ",\n     model_file: \"" + model +
          "\"}\n"
          "pools:\n"
          "  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
          mock->address() +
          "]\n"
          "  - name: gone\n    health_check: {enabled: false}\n    backends: [http://127.0.0.1:" +
          std::to_string(RefusingPort()) +
          "]\n"
          "routes:\n"
          "  - {name: proxied, match: {model: mock-model}, to: main}\n"
          "  - name: chat\n    to: gone\n    retries: 0\n    fallbacks: [{runner: local}]\n",
      {"--workers", "1"}, &why);
  ASSERT_TRUE(gw) << why;

  Latencies idle = RunProxied(gw->port());

  // Greedy: the seeded model does not end its turn within the tokens this test reads.
  RunnerStream stream(gw->port(),
                      R"({"model":"m","messages":[{"role":"user","content":"Tell me a story"}],)"
                      R"("stream":true,"temperature":0,"max_tokens":)" +
                          std::to_string(kMaxTokens) + "}");
  // The role event, then the first token: the runner is generating.
  ASSERT_GE(stream.WaitForEventsOver(1, 60s), 2) << stream.head();
  ASSERT_FALSE(stream.done());

  Latencies busy = RunProxied(gw->port());
  const int events_after = stream.events();
  // Every proxied request was answered while the runner's stream was open...
  EXPECT_FALSE(stream.done()) << "the runner finished before the proxied requests did: make its "
                                 "generation longer";
  EXPECT_FALSE(stream.ended()) << stream.head();
  // ... and the runner goes on generating afterwards.
  EXPECT_GT(stream.WaitForEventsOver(events_after + kMoreAfter, 60s), events_after + kMoreAfter);
  EXPECT_FALSE(stream.done());
  std::printf(
      "[ runner beside proxy ] runner stream: %d events when the proxied requests were "
      "done, %d when the client left\n",
      events_after, stream.events());
  idle.Print("runner idle");
  busy.Print("runner generating");

  // The client leaves: the compartment's only thread is freed before the runner generated what
  // it was asked for (it stops within a token of the failed emit).
  stream.Leave();
  EXPECT_EQ(gw->WaitForMetric("infergate_compartment_in_flight", "compartment=\"cpu\"", 0, 60s),
            0.0);
  const auto generated =
      gw->Metric("infergate_runner_generated_tokens_total", "runner=\"local\"").value_or(-1);
  EXPECT_GT(generated, 0);
  EXPECT_LT(generated, kMaxTokens);
  std::printf("[ runner beside proxy ] the runner generated %.0f of %d tokens before it stopped\n",
              generated, kMaxTokens);
}

}  // namespace
}  // namespace infergate::testing
