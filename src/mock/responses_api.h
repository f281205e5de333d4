// The OpenAI Responses API shapes the mock answers POST /v1/responses with: the `response`
// object, and its stream of typed server-sent events ("event: <type>\ndata: {...}\n\n", each
// with "type" and an increasing "sequence_number", no "[DONE]").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::mock {

struct ResponsesShape {
  std::string_view id;       // resp_...
  std::string_view item_id;  // msg_..., the one output message
  std::string_view model;
  int64_t created_at = 0;
  int64_t tokens = 0;  // output tokens ("tok0 tok1 ...")
  int64_t input_tokens = 0;
};

// The whole response object: status "completed" with one assistant message holding one
// output_text part, and usage.
void AppendResponseObject(std::string& out, const ResponsesShape& shape);

// Streamed event `index` (as the chat stream counts them: one per token, or one for zero
// tokens). Event 0 is preceded by response.created, response.in_progress,
// response.output_item.added and response.content_part.added; each token is one
// response.output_text.delta.
void AppendResponsesStreamEvent(std::string& out, const ResponsesShape& shape, int64_t index);

// The closing events: response.output_text.done, response.content_part.done,
// response.output_item.done and response.completed (with usage).
void AppendResponsesStreamTail(std::string& out, const ResponsesShape& shape);

}  // namespace infergate::mock
