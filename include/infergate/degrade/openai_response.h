// Answers the gateway writes itself (a static fallback, the in-process runner's tokens) in the
// shapes OpenAI clients parse: a chat.completion / text_completion JSON body, or the equivalent
// server-sent event stream (chat.completion.chunk events, then "data: [DONE]"). No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::degrade {

struct ResponseMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..."; see MakeCompletionId
  std::string model;    // the model reported to the client
  int64_t created = 0;  // Unix seconds
  bool chat = true;     // chat completions; false: legacy /v1/completions (text_completion)
};

// True unless the path is a legacy completions endpoint (".../completions" without "chat/").
bool IsChatPath(std::string_view path);
// A completion id from the request id: "chatcmpl-<rid>" (chat) or "cmpl-<rid>".
std::string MakeCompletionId(bool chat, std::string_view request_id);

// A whole non-streamed answer: one choice, finish_reason "stop", usage with token counts
// (completion tokens: `completion_tokens`; prompt tokens 0, the gateway does not tokenize).
std::string RenderCompletion(const ResponseMeta& meta, std::string_view content,
                             uint32_t completion_tokens);

// Streamed answers, each function returning one complete SSE event ("data: {...}\n\n").
// Chat: the first event carries delta {"role":"assistant","content":""}; legacy completions
// have no role event (RenderRoleEvent returns "").
std::string RenderRoleEvent(const ResponseMeta& meta);
std::string RenderDeltaEvent(const ResponseMeta& meta, std::string_view delta);
// The last chunk: empty delta, finish_reason "stop".
std::string RenderFinishEvent(const ResponseMeta& meta);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// Splits `text` into streamable pieces: each word with its leading whitespace.
std::vector<std::string_view> SplitTokens(std::string_view text);

}  // namespace infergate::degrade
