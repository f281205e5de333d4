// A running infergate-mock for integration tests: started on an ephemeral loopback port, its
// /mock/stats read back as a typed snapshot, with event-based waits on those stats.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.h"
#include "support/process.h"

namespace infergate::testing {

// A request as the mock recorded it. Header names are lower-case.
struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;
  std::string body;

  std::string Header(std::string_view lower_name) const;
};

// A snapshot of GET /mock/stats.
struct MockStats {
  std::string id;
  int64_t requests = 0;  // heads received, excluding /mock/*, /metrics and /health
  int64_t completed = 0;
  int64_t active_requests = 0;
  int64_t active_streams = 0;
  int64_t client_disconnects = 0;
  int64_t connections_accepted = 0;
  int64_t connections_open = 0;
  int64_t health_checks = 0;    // GET /health answered (a prober's probes)
  int64_t tokens_streamed = 0;  // token events of streams, counted before each is written
  int64_t waiting = 0;
  int64_t running = 0;
  double kv_cache_usage = 0;
  std::map<std::string, int64_t> by_model;
  std::optional<RecordedRequest> last_request;
  std::string json;  // the raw document

  int64_t ByModel(const std::string& model) const;
};

class MockServer {
 public:
  // Starts BinaryPath("infergate-mock") --listen 127.0.0.1:0 plus `args` (a --listen in `args`
  // replaces the default, e.g. to restart a mock on the same port) and waits for its
  // "listening on" line, then opens the control connection and resets the counters (so
  // connections_accepted starts at 0). Returns nullptr (after printing the mock's output) on
  // failure.
  static std::unique_ptr<MockServer> Start(const std::vector<std::string>& args = {},
                                           Millis timeout = Millis(10000));
  ~MockServer();

  uint16_t port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  Process& process() { return *process_; }

  // GET /mock/stats over a kept-alive control connection (one accepted connection for the
  // mock's lifetime, so it does not disturb connections_accepted after Reset()).
  std::optional<MockStats> Stats();
  // Polls Stats() until `predicate` holds. False on timeout; `last` gets the final snapshot.
  bool WaitForStats(const std::function<bool(const MockStats&)>& predicate,
                    Millis timeout = Millis(5000), MockStats* last = nullptr);
  // POST /mock/reset: zeroes counters and gauge overrides, forgets the last request.
  bool Reset();
  // POST /mock/gauges with `json`, e.g. R"({"waiting": 3, "kv_cache_usage": 0.5})".
  bool SetGauges(std::string_view json);
  // Any request on the control connection.
  HttpResponse Control(std::string_view method, std::string_view target,
                       std::string_view body = {});
  // SIGTERM and wait; returns the exit status.
  std::optional<int> Stop(Millis timeout = Millis(5000));

 private:
  MockServer() = default;

  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  std::string host_ = "127.0.0.1";  // where it listens (IPv4; 127.0.0.1 for anything else)
  std::mutex mu_;
  std::unique_ptr<HttpClient> control_;
};

std::optional<MockStats> ParseMockStats(std::string_view json);

}  // namespace infergate::testing
