// Answers the gateway writes itself (a static fallback, the in-process runner's tokens) in the
// shapes OpenAI clients parse, per endpoint: a chat.completion, a text_completion (legacy
// /v1/completions) or a Responses API `response` object; streamed, the equivalent server-sent
// events (chunks ending in "data: [DONE]", or the Responses API's typed events). No I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/degrade/logprobs.h"

namespace infergate::degrade {

// The OpenAI endpoint a request path names (its query string ignored; a suffix match, so
// prefixed deployments such as /openai/deployments/x/chat/completions count).
enum class Endpoint { kChat, kCompletions, kResponses, kEmbeddings, kOther };
Endpoint EndpointOf(std::string_view path);
// Whether an own answer (static or runner) has a shape for the endpoint: chat, legacy
// completions and the Responses API; never embeddings (nor unknown paths).
bool OwnAnswersServe(Endpoint endpoint);

struct ResponseMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..." / "resp_..."; see MakeResponseId
  std::string model;    // the model reported to the client
  int64_t created = 0;  // Unix seconds
  Endpoint endpoint = Endpoint::kChat;
};

// Token counts of an own answer. Completion tokens are the pieces sent; prompt tokens are what
// the runner counted (0 for a static answer: the gateway does not tokenize).
struct AnswerUsage {
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
};

// The `model` an own answer reports: the entry's (a static entry's or runner's `model`) unless
// it is empty or `report_requested` (the route's response_model: requested) and the client
// named one; then the client's.
std::string OwnAnswerModel(bool report_requested, std::string_view entry_model,
                           std::string_view client_model);

// An answer id from the request id: "chatcmpl-<rid>", "cmpl-<rid>" or "resp_<rid>".
std::string MakeResponseId(Endpoint endpoint, std::string_view request_id);

// How an answer ended and the logprobs it carries (the model runner's; a static answer keeps
// the defaults).
struct AnswerDetails {
  std::string_view finish_reason = "stop";  // "stop" | "length"
  bool logprobs = false;                    // the client asked: "logprobs" is an object, not null
  std::span<const TokenLogprob> tokens;     // every generated token's, in order
};

// A whole non-streamed answer in the endpoint's shape, with `usage` (chat and legacy: one
// choice with the details' finish_reason and logprobs; Responses API: see responses_api.h,
// where "length" makes the response incomplete and logprobs go on the output_text part).
std::string RenderCompletion(const ResponseMeta& meta, std::string_view content,
                             const AnswerUsage& usage, const AnswerDetails& details = {});

// Streamed chat and legacy completions, each function returning one complete SSE event
// ("data: {...}\n\n"). Chat: the first event carries delta {"role":"assistant","content":""};
// legacy completions have no role event (RenderRoleEvent returns "").
std::string RenderRoleEvent(const ResponseMeta& meta);
// `logprobs_json`: the chunk's choice logprobs, already JSON ("null" when not asked).
std::string RenderDeltaEvent(const ResponseMeta& meta, std::string_view delta,
                             std::string_view logprobs_json = "null");
// The last choice chunk: empty delta (legacy: empty text) and the finish_reason.
std::string RenderFinishEvent(const ResponseMeta& meta, std::string_view finish_reason = "stop");
// OpenAI's usage chunk (stream_options.include_usage): "choices":[] and "usage".
std::string RenderUsageEvent(const ResponseMeta& meta, const AnswerUsage& usage);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// A whole stream in the endpoint's shape, event by event: Begin, Piece for each piece of text,
// End. `include_usage`: the client's stream_options.include_usage (chat and legacy: the usage
// chunk before [DONE]; the Responses API always reports usage in response.completed).
class AnswerStream {
 public:
  AnswerStream(ResponseMeta meta, bool include_usage);
  std::string Begin();
  // `logprobs`: the client asked for logprobs; `tokens` are those of the piece's tokens.
  std::string Piece(std::string_view piece, bool logprobs = false,
                    std::span<const TokenLogprob> tokens = {});
  // `logprobs`: the client asked for logprobs (the Responses API's closing events repeat them;
  // chat and legacy chunks carried theirs already). Responses API: finish_reason "length" ends
  // with response.incomplete.
  std::string End(const AnswerUsage& usage, std::string_view finish_reason = "stop",
                  bool logprobs = false);

 private:
  ResponseMeta meta_;
  bool include_usage_;
  uint64_t text_offset_ = 0;          // legacy logprobs: the next token's text_offset
  uint64_t sequence_ = 0;             // Responses API: the next event's sequence_number
  std::string text_;                  // Responses API: the text so far (the .done events repeat it)
  std::vector<TokenLogprob> tokens_;  // Responses API: the logprobs so far (likewise)
};

// Splits `text` into streamable pieces: each word with its leading whitespace.
std::vector<std::string_view> SplitTokens(std::string_view text);

}  // namespace infergate::degrade
