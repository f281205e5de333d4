// Token log probabilities of the runner's answers and their JSON in OpenAI's shapes: chat
// completions' `logprobs: {content: [...]}` and legacy completions' `logprobs: {tokens,
// token_logprobs, top_logprobs, text_offset}`. No I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::degrade {

// One generated token's log probabilities as OpenAI reports them: natural logs of the model's
// own distribution (before temperature and truncation), the sampled token and the most likely
// alternatives, most likely first.
struct TokenLogprob {
  std::string token;  // the token's bytes (may be part of a UTF-8 character)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;
};

// A token's text for the `token` fields: its bytes when they are valid UTF-8, else OpenAI's
// "bytes:\xe2\x80" form (the `bytes` arrays carry the exact bytes either way).
std::string TokenDisplay(std::string_view bytes);

// [{"token":..,"logprob":..,"bytes":[..],"top_logprobs":[{"token":..,"logprob":..,"bytes":[..]},
// ..]},..]: the items of chat completions' logprobs.content and of the Responses API's
// output_text logprobs.
void AppendLogprobItems(std::string& out, std::span<const TokenLogprob> tokens);

// Chat: {"content":[items as AppendLogprobItems],"refusal":null}.
void AppendChatLogprobs(std::string& out, std::span<const TokenLogprob> tokens);

// Legacy completions: {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{"tok":lp,..},..],
// "text_offset":[..]}. `text_offset` is the byte offset of the first token in the completion's
// text; it advances past each token.
void AppendLegacyLogprobs(std::string& out, std::span<const TokenLogprob> tokens,
                          uint64_t& text_offset);

}  // namespace infergate::degrade
