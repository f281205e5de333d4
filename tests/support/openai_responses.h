// Strict parsers for Responses API (/v1/responses) answers, accepting what the official OpenAI
// SDKs read: the `response` object (their Response type; `output_text` concatenates the
// messages' output_text parts) and its stream of typed events ("event: <type>" with the same
// "type" in the data, rising "sequence_number"s, ending in response.completed, or
// response.incomplete for an answer cut at max_output_tokens; no [DONE]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::testing {

struct ResponseObject {
  std::string id, model, status;
  std::string output_text;  // as the SDKs' output_text helper computes it
  int64_t created_at = 0;
  size_t output_items = 0;
  bool has_usage = false;
  int64_t input_tokens = 0, output_tokens = 0, total_tokens = 0;
};

// A non-streamed `response` body. On failure returns nullopt and, when `error` is not null,
// says why.
std::optional<ResponseObject> ParseResponseObject(std::string_view body, std::string* error);

struct ResponseStream {
  std::vector<std::string> types;  // every event's type, in order
  std::string deltas;              // every response.output_text.delta's delta concatenated
  ResponseObject completed;        // the response of response.completed (or .incomplete)
};

// A whole text/event-stream body of Responses API events. It must end with response.completed
// (or response.incomplete) whose output_text equals the deltas. On failure returns nullopt and,
// when `error` is not null, says why.
std::optional<ResponseStream> ParseResponseStream(std::string_view body, std::string* error);

}  // namespace infergate::testing
