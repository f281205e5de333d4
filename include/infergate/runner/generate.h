// The generation loop of one request: the prompt through the model, then token by token the
// sampler, stop strings, end-of-generation tokens, max_tokens and the context, with the text
// decoded so that no piece splits a UTF-8 character and each piece carries its tokens' logprobs.
#pragma once

#include <functional>
#include <span>

#include "infergate/degrade/runner.h"
#include "infergate/runner/logits_source.h"
#include "infergate/runner/request.h"
#include "infergate/tokenize/tokenizer.h"

namespace infergate::runner {

struct GenerateLimits {
  int max_tokens = 256;  // the tokens to generate at most (the request's or the default)
  uint64_t seed = 0;     // the sampler's seed
};

// Prompts go through the model in chunks of this many tokens.
inline constexpr size_t kPromptChunk = 256;

// Runs `prompt` through `sequence` (empty, with room for prompt + max_tokens) and generates.
// Stops within one token when `emit` returns false (completed false). The result counts the
// prompt and the generated tokens (an end-of-generation token included; it is not emitted).
degrade::RunResult Generate(LogitsSequence& sequence, int n_vocab,
                            const tokenize::Tokenizer& tokenizer, std::span<const TokenId> prompt,
                            const GenerationRequest& request, const GenerateLimits& limits,
                            const std::function<bool(const degrade::RunPiece&)>& emit);

}  // namespace infergate::runner
