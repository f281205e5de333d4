// What the model runner reads from an OpenAI request body: the conversation (chat `messages`,
// the Responses API's `instructions` and `input`) or the legacy completions `prompt`, and the
// generation parameters, each checked against OpenAI's documented range. Errors are values
// naming the parameter at fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/expected.h"
#include "infergate/degrade/openai_response.h"
#include "infergate/runner/sampler.h"
#include "infergate/tokenize/chat_template.h"

namespace infergate::runner {

struct GenerationRequest {
  bool chat = true;                             // messages (chat, responses) or a raw prompt
  std::vector<tokenize::ChatMessage> messages;  // chat: rendered with the chat template
  std::string prompt;                           // legacy completions: encoded as it is
  SamplingParams sampling;
  std::optional<uint64_t> seed;        // unset: a random one
  std::optional<uint32_t> max_tokens;  // max_tokens | max_completion_tokens | max_output_tokens
  std::vector<std::string> stop;       // at most 4
  bool logprobs = false;               // report logprobs
  int top_logprobs = 0;                // alternatives per token (chat 0..20, legacy logprobs N)
};

struct RequestError {
  std::string message;
  std::string param;  // the parameter at fault ("" for the body as a whole)
  // The prompt does not fit the context (OpenAI's code "context_length_exceeded").
  bool context_length_exceeded = false;
};

// Parses a body sent to `endpoint` (chat, completions or responses).
Expected<GenerationRequest, RequestError> ParseGenerationRequest(std::string_view body,
                                                                 degrade::Endpoint endpoint);

}  // namespace infergate::runner
