// The in-process model runner: a pluggable target that generates tokens on a compartment's
// thread pool (never on an event-loop thread). The synthetic runner is the test workload: it
// burns CPU for token_cost per token and emits canned words. The real CPU and CUDA runners come
// in a later milestone and implement the same interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "infergate/config/config.h"

namespace infergate::degrade {

struct RunRequest {
  std::string model;   // the model the client asked for
  std::string prompt;  // the request body as sent (the runner parses what it needs)
};

// What a generation did. Its completion tokens are the pieces it emitted (counted by the caller).
struct RunResult {
  bool completed = false;      // false: stopped early (emit returned false) or failed
  uint64_t prompt_tokens = 0;  // the prompt tokens the runner counted for the request
};

class Runner {
 public:
  virtual ~Runner() = default;
  // Runs on a thread-pool thread. Calls `emit` for each generated piece of text in order; stops
  // early (completed false) when `emit` returns false (the client went away).
  virtual RunResult Generate(const RunRequest& request,
                             const std::function<bool(std::string_view piece)>& emit) = 0;
};

// Builds the runner a config entry names.
std::unique_ptr<Runner> MakeRunner(const config::RunnerConfig& config);

}  // namespace infergate::degrade
