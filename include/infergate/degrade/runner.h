// The in-process model runner: a pluggable target that generates tokens on a compartment's
// thread pool (never on an event-loop thread). The synthetic runner is the test workload: it
// burns CPU for token_cost per token and emits canned words. The GGUF model runner (src/runner/,
// runner::MakeRunner) implements the same interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/error.h"
#include "infergate/degrade/logprobs.h"
#include "infergate/degrade/openai_response.h"

namespace infergate::degrade {

struct RunRequest {
  std::string model;   // the model the client asked for
  std::string prompt;  // the request body as sent (the runner parses what it needs)
  Endpoint endpoint = Endpoint::kChat;  // which OpenAI shape the body has
};

// A piece of text with the logprobs of the tokens whose text it completes (empty unless the
// request asked for logprobs). Converts to its text, so an emit callback may take a string_view.
struct RunPiece {
  std::string_view text;
  std::span<const TokenLogprob> logprobs = {};
  operator std::string_view() const { return text; }  // NOLINT: implicit by design
};

enum class FinishReason { kStop, kLength };
std::string_view FinishReasonName(FinishReason reason);  // "stop" | "length"

// What a generation did.
struct RunResult {
  bool completed = false;      // false: stopped early (emit returned false) or failed
  uint64_t prompt_tokens = 0;  // the prompt tokens the runner counted for the request
  // The tokens generated; unset: one per piece emitted (counted by the caller).
  std::optional<uint64_t> completion_tokens;
  FinishReason finish_reason = FinishReason::kStop;
  bool logprobs = false;  // the request asked for logprobs (the answer carries them, maybe [])
  std::string error;      // why it failed (for the fallback chain's 503); "" when completed
  // Set when the request itself is invalid for this runner, before anything was generated: a
  // client fault (ErrorKind kContextLengthExceeded or kInvalidParameter, with OpenAI's `param`
  // and a message for the client). The fallback chain still tries its next step; when no step
  // after it answers and every one refused the request as invalid too (or none is left), the
  // client gets this error's 400 instead of the chain's 503 (exchange/degrade.cc).
  std::optional<Error> invalid;
};

class Runner {
 public:
  virtual ~Runner() = default;
  // Runs on a thread-pool thread. Calls `emit` for each generated piece of text in order; stops
  // early (completed false) when `emit` returns false (the client went away).
  virtual RunResult Generate(const RunRequest& request,
                             const std::function<bool(const RunPiece& piece)>& emit) = 0;
};

// Builds the runner a config entry names when it is one this part holds (synthetic); a gguf
// runner is built by runner::MakeRunner (infergate/runner/gguf_runner.h), which the isolation
// runtime calls. Here a gguf config gets a runner that fails every request.
std::unique_ptr<Runner> MakeRunner(const config::RunnerConfig& config);

}  // namespace infergate::degrade
