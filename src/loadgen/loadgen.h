// infergate-loadgen: options and results of one load run (rps, latency, stream, idle) and the
// single-threaded Asio runner that produces them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "infergate/core/units.h"
#include "loadgen/histogram.h"

namespace infergate::loadgen {

enum class Mode { kRps, kLatency, kStream, kIdle };

struct Options {
  Mode mode = Mode::kRps;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path = "/v1/chat/completions";
  int connections = 64;
  Duration duration = std::chrono::seconds(5);        // rps/latency/stream: run; idle: hold time
  Duration warmup = Duration::zero();                 // rps/latency: not recorded
  Duration ramp = Duration::zero();                   // stream/idle: spread connection starts
  Duration timeout = std::chrono::seconds(30);        // per request or per stream
  Duration setup_timeout = std::chrono::seconds(60);  // idle: to open all connections
  Duration gap_threshold = Duration::zero();          // stream: count gaps above it (0 = off)
  int64_t expect_tokens = 0;     // stream: tokens a complete stream must carry (0 = any)
  int64_t streams_per_conn = 1;  // stream: per connection; 0 = loop until the duration ends
  int open_concurrency = 64;     // idle: connections being set up at once
  std::string body;              // request body; built from model/stream when empty
  std::string model = "mock-model";
  bool stream = false;
  std::vector<std::string> headers;  // "name: value"
};

struct Results {
  std::string mode;
  double elapsed_s = 0;   // measured window
  uint64_t requests = 0;  // completed 2xx responses in the window
  uint64_t errors = 0;    // all failures below, summed
  std::map<std::string, uint64_t> error_kinds;
  Histogram latency;  // rps/latency: request sent -> response complete
  // Stream mode.
  uint64_t streams_started = 0;
  uint64_t streams_completed = 0;   // [DONE], terminating chunk and the expected token count
  uint64_t streams_cut_at_end = 0;  // in flight when a looping run ended (not errors)
  uint64_t tokens = 0;
  uint64_t gaps_over_threshold = 0;
  uint64_t peak_open_streams = 0;
  Histogram ttft;
  Histogram gap;
  // Idle mode.
  uint64_t held = 0;                // connections open after their request, when all were set up
  uint64_t closed_during_hold = 0;  // closed by the server while held
  double setup_s = 0;
  bool hard_deadline_hit = false;  // the run had to be stopped by its outer time limit
};

// Builds the request bytes once: head, extra headers and body.
std::string BuildRequest(const Options& options);
// Runs the load; returns when the run is over (always within duration + timeouts).
Results Run(const Options& options);

}  // namespace infergate::loadgen
