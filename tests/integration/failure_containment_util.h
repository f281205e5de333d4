// Shared helpers for the failure-containment integration tests: gateway YAML, the admin
// /admin/backends view, deadline-bounded polling for events (admin state, metrics, the mocks'
// probe counts) and a bounded multi-threaded load generator.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing::containment {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline double MillisSince(Clock::time_point start, Clock::time_point end = Clock::now()) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// A gateway config: one public and one admin listener on ephemeral loopback ports, pool "main"
// with `backends` (YAML list items, one per line) and route "chat" for every /v1/ path.
inline std::string ContainmentYaml(const std::string& backends, const std::string& pool_extra = "",
                                   const std::string& route_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "admin:\n  listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n" +
         pool_extra + "    backends:\n" + backends +
         "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n" + route_extra;
}

inline std::string BackendItem(const std::string& address, int priority = 0) {
  return "      - {url: http://" + address + ", priority: " + std::to_string(priority) + "}\n";
}

inline std::string BackendItems(const std::vector<std::unique_ptr<MockServer>>& mocks) {
  std::string out;
  for (const auto& m : mocks) out += BackendItem(m->address());
  return out;
}

// Starts a mock named `id` serving "mock-model"; `listen` (host:port) restarts one on a known
// port.
inline std::unique_ptr<MockServer> StartMock(const std::string& id,
                                             const std::string& listen = "") {
  std::vector<std::string> args = {"--id", id, "--model", "mock-model", "--tokens", "4"};
  if (!listen.empty()) {
    args.push_back("--listen");
    args.push_back(listen);
  }
  return MockServer::Start(args);
}

// One backend as GET /admin/backends shows it.
struct BackendView {
  std::string backend;
  std::string state;    // available | half_open | unavailable
  std::string reasons;  // the reasons array, minified
  std::string breaker;  // closed | open | half_open
  double phi = 0;
  double weight_percent = 0;
  int64_t consecutive_failures = 0;
  int64_t ejections = 0;
  int64_t in_flight = 0;
};

// Every backend of the admin view; empty when the admin endpoint does not answer in time.
inline std::vector<BackendView> AdminBackends(Gateway& gw, Millis timeout = 2000ms) {
  std::vector<BackendView> out;
  HttpClient c(gw.admin_port());
  if (!c.Connect(timeout)) return out;
  auto r = c.Get("/admin/backends", {}, timeout);
  if (r.status != 200) return out;
  for (size_t i = 0;; ++i) {
    std::string p = "/backends/" + std::to_string(i);
    if (!JsonHas(r.body, p)) break;
    BackendView v;
    v.backend = JsonString(r.body, p + "/backend").value_or("");
    v.state = JsonString(r.body, p + "/state").value_or("");
    v.reasons = JsonRaw(r.body, p + "/reasons").value_or("");
    v.breaker = JsonString(r.body, p + "/breaker").value_or("");
    v.phi = JsonDouble(r.body, p + "/phi").value_or(-1);
    v.weight_percent = JsonDouble(r.body, p + "/weight_percent").value_or(-1);
    v.consecutive_failures = JsonInt(r.body, p + "/consecutive_failures").value_or(-1);
    v.ejections = JsonInt(r.body, p + "/ejections").value_or(-1);
    v.in_flight = JsonInt(r.body, p + "/in_flight").value_or(-1);
    out.push_back(std::move(v));
  }
  return out;
}

inline std::optional<BackendView> AdminBackend(Gateway& gw, const std::string& backend) {
  for (auto& v : AdminBackends(gw)) {
    if (v.backend == backend) return v;
  }
  return std::nullopt;
}

inline std::string Describe(const std::vector<BackendView>& views) {
  std::string out;
  for (const auto& v : views) {
    out += v.backend + " state=" + v.state + " reasons=" + v.reasons + " breaker=" + v.breaker +
           " phi=" + std::to_string(v.phi) + " weight%=" + std::to_string(v.weight_percent) + "\n";
  }
  return out;
}

// Sends SIGCONT when it goes out of scope, so that a failed assertion never leaves a process
// stopped (a stopped process would turn its teardown into a kill after a grace period).
class ResumeOnExit {
 public:
  explicit ResumeOnExit(Process& p) : p_(p) {}
  ~ResumeOnExit() { p_.Signal(SIGCONT); }
  ResumeOnExit(const ResumeOnExit&) = delete;
  ResumeOnExit& operator=(const ResumeOnExit&) = delete;

 private:
  Process& p_;
};

// Polls `done` every `step` until it holds or `timeout` passes. Returns whether it held.
template <typename F>
bool WaitUntil(F&& done, Millis timeout, Millis step = 10ms) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

// Health probes `m` has answered (its GET /health requests), or -1 when its stats do not answer.
inline int64_t Probes(MockServer& m) {
  auto s = m.Stats();
  return s ? s->health_checks : -1;
}

// Waits until every mock has answered `n` more health probes than it had at the call: a span of
// the gateway's own probe cadence instead of a fixed time, for warm-ups ("the detector has seen
// n probes") and for windows in which nothing may happen ("while every backend is probed n
// times": pass `holds`, checked at every poll; the wait ends early when it fails). True when the
// probes were seen and `holds` held throughout.
inline bool WaitForProbes(const std::vector<std::unique_ptr<MockServer>>& mocks, int64_t n,
                          Millis timeout, const std::function<bool()>& holds = {}) {
  std::vector<int64_t> from;
  for (const auto& m : mocks) from.push_back(Probes(*m));
  bool held = true;
  const bool done = WaitUntil(
      [&] {
        if (holds && !(held = holds())) return true;
        for (size_t i = 0; i < mocks.size(); ++i) {
          if (Probes(*mocks[i]) < from[i] + n) return false;
        }
        return true;
      },
      timeout);
  return done && held;
}

// Polls the admin view until `backend` is in `state` (or, with empty backend, all are).
inline bool WaitForState(Gateway& gw, const std::string& backend, const std::string& state,
                         Millis timeout) {
  return WaitUntil(
      [&] {
        auto views = AdminBackends(gw);
        if (views.empty()) return false;
        for (const auto& v : views) {
          if ((backend.empty() || v.backend == backend) && v.state != state) return false;
        }
        return true;
      },
      timeout);
}

inline double MetricOr0(Gateway& gw, const std::string& name, const std::string& labels = "") {
  return gw.Metric(name, labels).value_or(0);
}

inline std::string ChangeLabels(const std::string& backend, const std::string& change) {
  return "pool=\"main\",backend=\"" + backend + "\",change=\"" + change + "\"";
}

inline std::string BackendLabels(const std::string& backend) {
  return "pool=\"main\",backend=\"" + backend + "\"";
}

// Sum of a state-change counter over `backends`.
inline double Changes(Gateway& gw, const std::vector<std::string>& backends,
                      const std::string& change) {
  double sum = 0;
  for (const auto& b : backends)
    sum += MetricOr0(gw, "infergate_backend_state_changes_total", ChangeLabels(b, change));
  return sum;
}

// What a load run saw.
struct Tally {
  int64_t sent = 0;
  std::map<int, int64_t> by_status;          // 0: no response
  std::map<std::string, int64_t> by_server;  // x-mock-server of 200s
  std::map<std::string, int64_t> by_code;    // /error/code of non-200s
  // x-infergate-degraded of 200s by x-mock-server ("static" etc. when no mock answered); ""
  // when the response was not degraded.
  std::map<std::string, std::map<std::string, int64_t>> by_degraded;
  int64_t retry_after = 0;           // non-200s that carried Retry-After
  std::vector<std::string> samples;  // the first few non-200 responses

  int64_t Status(int s) const {
    auto it = by_status.find(s);
    return it == by_status.end() ? 0 : it->second;
  }
  int64_t Server(const std::string& id) const {
    auto it = by_server.find(id);
    return it == by_server.end() ? 0 : it->second;
  }
  std::string Summary() const {
    std::string out = "sent=" + std::to_string(sent) + " statuses:";
    for (const auto& [s, n] : by_status) out += " " + std::to_string(s) + "x" + std::to_string(n);
    out += " servers:";
    for (const auto& [s, n] : by_server) out += " " + s + "x" + std::to_string(n);
    for (const auto& s : samples) out += "\n  " + s;
    return out;
  }
};

inline void Record(Tally& t, const HttpResponse& r) {
  ++t.sent;
  ++t.by_status[r.status];
  if (r.status == 200) {
    ++t.by_server[r.Header("x-mock-server")];
    ++t.by_degraded[r.Header("x-mock-server")][r.Header("x-infergate-degraded")];
    return;
  }
  if (r.HasHeader("retry-after")) ++t.retry_after;
  std::string code = JsonString(r.body, "/error/code").value_or("");
  ++t.by_code[code];
  if (t.samples.size() < 8) {
    t.samples.push_back("status=" + std::to_string(r.status) + " code=" + code +
                        " error=" + r.error + " body=" + r.body.substr(0, 200));
  }
}

// Client threads that each send chat requests on a kept-alive connection, in a loop, until
// Stop(), their request count, or the run's time limit. Every bound is explicit.
class Load {
 public:
  struct Options {
    int threads = 4;
    Millis pace{0};              // pause after each response, per thread
    Millis max_duration{20000};  // hard limit on the run
    int64_t max_per_thread = 100000;
    Millis request_timeout{15000};  // per request
    Headers headers;
    std::string model = "mock-model";
  };

  // Options in one expression: threads, pace, max_duration, max_per_thread, then optional
  // headers and request_timeout.
  static Options With(int threads, Millis pace, Millis max_duration, int64_t max_per_thread,
                      Headers headers = {}, Millis request_timeout = Millis(15000)) {
    Options o;
    o.threads = threads;
    o.pace = pace;
    o.max_duration = max_duration;
    o.max_per_thread = max_per_thread;
    o.headers = std::move(headers);
    o.request_timeout = request_timeout;
    return o;
  }

  Load(uint16_t port, Options options) : options_(std::move(options)) {
    deadline_ = Clock::now() + options_.max_duration;
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, port] { Run(port); });
  }
  ~Load() { Stop(); }

  // Asks every thread to stop after its current request, and joins them.
  void Stop() {
    stop_ = true;
    Join();
  }
  // Waits until every thread has run out of requests or time, and returns what they saw.
  Tally Result() {
    Join();
    std::lock_guard<std::mutex> lock(mu_);
    return tally_;
  }
  // Stop(), then Result().
  Tally StopAndResult() {
    Stop();
    return Result();
  }
  int64_t sent() const { return sent_.load(); }

 private:
  void Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Run(uint16_t port) {
    HttpClient c(port);
    Tally mine;
    const std::string body = ChatBody(options_.model);
    for (int64_t n = 0; n < options_.max_per_thread && !stop_ && Clock::now() < deadline_; ++n) {
      auto r = c.Post("/v1/chat/completions", body, options_.headers, options_.request_timeout);
      Record(mine, r);
      ++sent_;
      if (options_.pace.count() > 0) std::this_thread::sleep_for(options_.pace);
    }
    std::lock_guard<std::mutex> lock(mu_);
    tally_.sent += mine.sent;
    for (const auto& [k, v] : mine.by_status) tally_.by_status[k] += v;
    for (const auto& [k, v] : mine.by_server) tally_.by_server[k] += v;
    for (const auto& [k, v] : mine.by_code) tally_.by_code[k] += v;
    for (const auto& [server, m] : mine.by_degraded) {
      for (const auto& [k, v] : m) tally_.by_degraded[server][k] += v;
    }
    tally_.retry_after += mine.retry_after;
    for (const auto& s : mine.samples) {
      if (tally_.samples.size() < 8) tally_.samples.push_back(s);
    }
  }

  Options options_;
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> sent_{0};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  Tally tally_;
};

// One request on a fresh connection, e.g. to learn which backend serves a session.
inline HttpResponse SendOnce(uint16_t port, const Headers& headers = {}, Millis timeout = 10000ms) {
  HttpClient c(port);
  return c.Post("/v1/chat/completions", ChatBody("mock-model"), headers, timeout);
}

}  // namespace infergate::testing::containment
