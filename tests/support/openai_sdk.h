// Strict parsers for chat completion responses, accepting what the official OpenAI SDKs accept
// (a chat.completion body, or its server-sent chunk stream ending in "data: [DONE]").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace infergate::testing {

struct ChatCompletion {
  std::string id, model, content, finish_reason;
  int64_t created = 0;
};

// A non-streamed chat.completion body. On failure returns nullopt and, when `error` is not null,
// says why.
std::optional<ChatCompletion> ParseChatCompletion(std::string_view body, std::string* error);

struct ChatStream {
  std::string id, model, content, finish_reason;  // content: every delta.content concatenated
  size_t chunks = 0;                              // chat.completion.chunk events seen
  bool done = false;                              // "data: [DONE]" seen
};

// A whole text/event-stream body of chat.completion.chunk events. On failure returns nullopt
// and, when `error` is not null, says why.
std::optional<ChatStream> ParseChatStream(std::string_view body, std::string* error);

}  // namespace infergate::testing
