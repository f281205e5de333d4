// Strict parsers for chat completion responses, accepting what the official OpenAI SDKs accept
// (a chat.completion body, or its server-sent chunk stream ending in "data: [DONE]").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// One server-sent event as the SDKs read it: its "event" field (nullopt when none) and its
// "data" lines joined with "\n".
struct SdkEvent {
  std::optional<std::string> event;
  std::optional<std::string> data;
};

// Splits a text/event-stream body into the events that carry data (lines end with "\r\n",
// "\n" or "\r"; a blank line ends an event; comments and unknown fields are skipped). False,
// with the reason in `error` when given, when the body ends inside an event.
bool SplitSdkEvents(std::string_view body, std::vector<SdkEvent>* events, std::string* error);

}  // namespace infergate::testing
