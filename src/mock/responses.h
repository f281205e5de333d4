// JSON and SSE text the mock server sends, formatted by hand into caller-owned, reused strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mock/http_parse.h"

namespace infergate::mock {

void AppendInt(std::string& out, int64_t value);
void AppendDouble(std::string& out, double value);
void AppendHex(std::string& out, uint64_t value);
// Appends `text` as a complete JSON string literal (with quotes).
void AppendJsonString(std::string& out, std::string_view text);

// The text of generated token `index`: "tok<index>" (answers join tokens with single spaces).
void AppendTokenText(std::string& out, int64_t index);

// What a completion answer describes.
struct CompletionShape {
  bool chat = true;
  std::string_view id;
  std::string_view model;
  int64_t created = 0;
  int64_t tokens = 0;
  int64_t prompt_tokens = 0;
};

// The whole non-streaming chat.completion / text_completion object.
void AppendCompletion(std::string& out, const CompletionShape& shape);
// One SSE event "data: {...}\n\n" carrying token `index` (of shape.tokens; with zero tokens a
// single empty, final event).
void AppendStreamEvent(std::string& out, const CompletionShape& shape, int64_t index);
// The SSE event with empty choices and the usage object.
void AppendUsageEvent(std::string& out, const CompletionShape& shape);
// {"error":{"message":...,"type":...,"param":...,"code":...}}; param null when empty.
void AppendErrorBody(std::string& out, std::string_view message, std::string_view type,
                     std::string_view code, std::string_view param = {});
// {"method":...,"target":...,"headers":{lower-case name: value},"body":...}; repeated header
// names are joined with ", ".
void AppendRequestJson(std::string& out, const RequestHead& head, std::string_view body);
// Frames `payload` as one HTTP/1.1 chunk.
void AppendChunk(std::string& out, std::string_view payload);

}  // namespace infergate::mock
