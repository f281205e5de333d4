// The Responses API (/v1/responses) shapes of the gateway's own answers: the `response` object
// (one assistant message with one output_text part) and its typed stream events, each
// "event: <type>\ndata: {...}\n\n" with "type" and a "sequence_number". No I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "infergate/degrade/openai_response.h"

namespace infergate::degrade {

// "msg_<rid>" for the answer "resp_<rid>".
std::string MessageId(const ResponseMeta& meta);

// How the answer ended and its logprobs (`details`): finish_reason "length" (max_output_tokens
// or the end of the runner's context) makes the response, and its message, "incomplete" with
// incomplete_details {"reason":"max_output_tokens"}, as OpenAI's API answers it; otherwise it is
// "completed". With details.logprobs the output_text part carries "logprobs": [{token, logprob,
// bytes, top_logprobs}] (the chat completions items, logprobs.h); without, the part has none.

// The non-streamed answer: a completed (or incomplete) `response` with `usage`.
std::string RenderResponse(const ResponseMeta& meta, std::string_view text,
                           const AnswerUsage& usage, const AnswerDetails& details = {});

// Stream events. `seq` is the event's sequence_number. The opening events, in order:
// response.created, response.in_progress (the response in_progress, no output yet),
// response.output_item.added (the message, no content), response.content_part.added (empty text).
std::string RenderResponseOpening(const ResponseMeta& meta, uint64_t& seq);
// response.output_text.delta, with the logprobs of the delta's tokens ([] when none).
std::string RenderResponseDelta(const ResponseMeta& meta, std::string_view delta, uint64_t& seq,
                                std::span<const TokenLogprob> tokens = {});
// The closing events, in order: response.output_text.done, response.content_part.done,
// response.output_item.done (each with the whole text and, when asked, every token's logprobs),
// then response.completed, or response.incomplete for an answer cut at max_output_tokens (with
// usage).
std::string RenderResponseClosing(const ResponseMeta& meta, std::string_view text,
                                  const AnswerUsage& usage, uint64_t& seq,
                                  const AnswerDetails& details = {});

}  // namespace infergate::degrade
