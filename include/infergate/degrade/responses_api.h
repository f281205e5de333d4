// The Responses API (/v1/responses) shapes of the gateway's own answers: the `response` object
// (one assistant message with one output_text part) and its typed stream events, each
// "event: <type>\ndata: {...}\n\n" with "type" and a "sequence_number". No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "infergate/degrade/openai_response.h"

namespace infergate::degrade {

// "msg_<rid>" for the answer "resp_<rid>".
std::string MessageId(const ResponseMeta& meta);

// The non-streamed answer: a completed `response` with `usage`.
std::string RenderResponse(const ResponseMeta& meta, std::string_view text,
                           const AnswerUsage& usage);

// Stream events. `seq` is the event's sequence_number. The opening events, in order:
// response.created, response.in_progress (the response in_progress, no output yet),
// response.output_item.added (the message, no content), response.content_part.added (empty text).
std::string RenderResponseOpening(const ResponseMeta& meta, uint64_t& seq);
// response.output_text.delta.
std::string RenderResponseDelta(const ResponseMeta& meta, std::string_view delta, uint64_t& seq);
// The closing events, in order: response.output_text.done, response.content_part.done,
// response.output_item.done (each with the whole text), response.completed (with usage).
std::string RenderResponseClosing(const ResponseMeta& meta, std::string_view text,
                                  const AnswerUsage& usage, uint64_t& seq);

}  // namespace infergate::degrade
