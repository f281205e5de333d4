// Chat completion parsing as the OpenAI SDKs do it: SSE framing (blank-line separated events,
// "data:" lines joined with "\n", comments and other fields skipped) and strict JSON shape checks.
#include "support/openai_sdk.h"

#include <simdjson.h>

#include <utility>

#include "support/dom_fields.h"

namespace infergate::testing {
namespace {

using dom_fields::Fail;
using dom_fields::GetString;
using simdjson::dom::element;
using simdjson::dom::object;

bool IsInteger(element e) {
  return e.type() == simdjson::dom::element_type::INT64 ||
         e.type() == simdjson::dom::element_type::UINT64;
}

// The "created" field: an integer that fits int64.
bool GetCreated(const object& obj, int64_t* out) {
  element e;
  if (obj["created"].get(e) != simdjson::SUCCESS) return false;
  return e.get_int64().get(*out) == simdjson::SUCCESS;
}

// An "error" key makes the SDKs raise instead of returning a result.
bool HasErrorKey(const object& obj, std::string* error) {
  element e;
  if (obj["error"].get(e) != simdjson::SUCCESS) return false;
  Fail(error, "the body carries an error: " + std::string(simdjson::minify(e)));
  return true;
}

// The choice's finish_reason: null (false in *is_null) or a string.
bool GetFinishReason(const object& choice, std::string* out, bool* is_null) {
  element e;
  if (choice["finish_reason"].get(e) != simdjson::SUCCESS) return false;
  *is_null = e.is_null();
  if (*is_null) return true;
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return false;
  *out = std::string(s);
  return true;
}

bool CheckUsage(const object& root, std::string* error) {
  element usage;
  if (root["usage"].get(usage) != simdjson::SUCCESS || usage.is_null()) return true;
  object fields;
  if (usage.get_object().get(fields) != simdjson::SUCCESS) {
    return Fail(error, "usage is not an object");
  }
  for (std::string_view key : {"prompt_tokens", "completion_tokens", "total_tokens"}) {
    element v;
    if (fields[key].get(v) != simdjson::SUCCESS || !IsInteger(v)) {
      return Fail(error, "usage." + std::string(key) + " is not an integer");
    }
  }
  return true;
}

// choices[0] as an object with index 0.
bool FirstChoice(const object& root, object* choice, std::string* error) {
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices) != simdjson::SUCCESS) {
    return Fail(error, "choices is not an array");
  }
  element first;
  if (choices.at(0).get(first) != simdjson::SUCCESS) return Fail(error, "choices is empty");
  if (first.get_object().get(*choice) != simdjson::SUCCESS) {
    return Fail(error, "choices[0] is not an object");
  }
  int64_t index;
  if ((*choice)["index"].get_int64().get(index) != simdjson::SUCCESS || index != 0) {
    return Fail(error, "choices[0].index is not 0");
  }
  return true;
}

// Applies one chat.completion.chunk payload to `stream`.
bool ApplyChunk(simdjson::dom::parser& parser, const std::string& data, ChatStream* stream,
                std::string* error) {
  element doc;
  if (parser.parse(data).get(doc) != simdjson::SUCCESS) {
    return Fail(error, "an event is not JSON: " + data);
  }
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    return Fail(error, "an event is not a JSON object: " + data);
  }
  if (HasErrorKey(root, error)) return false;
  std::string_view object_type;
  if (root["object"].get_string().get(object_type) != simdjson::SUCCESS ||
      object_type != "chat.completion.chunk") {
    return Fail(error, "object is not \"chat.completion.chunk\": " + data);
  }
  std::string id, model;
  int64_t created;
  if (!GetString(root, "id", &id)) return Fail(error, "id is not a string: " + data);
  if (!GetString(root, "model", &model)) return Fail(error, "model is not a string: " + data);
  if (!GetCreated(root, &created)) return Fail(error, "created is not an integer: " + data);
  if (stream->chunks == 0) {
    stream->id = id;
    stream->model = model;
  } else if (id != stream->id || model != stream->model) {
    return Fail(error, "id or model changed mid-stream: " + data);
  }
  ++stream->chunks;

  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices) != simdjson::SUCCESS) {
    return Fail(error, "choices is not an array: " + data);
  }
  if (choices.size() == 0) {
    // The usage-only chunk (stream_options.include_usage) has no choices.
    element usage;
    if (root["usage"].get(usage) != simdjson::SUCCESS || !usage.is_object()) {
      return Fail(error, "a chunk has no choices and no usage: " + data);
    }
    return CheckUsage(root, error);
  }
  object choice;
  if (!FirstChoice(root, &choice, error)) return false;
  object delta;
  if (choice["delta"].get_object().get(delta) != simdjson::SUCCESS) {
    return Fail(error, "choices[0].delta is not an object: " + data);
  }
  element e;
  if (delta["role"].get(e) == simdjson::SUCCESS && !e.is_null() && !e.is_string()) {
    return Fail(error, "delta.role is not a string: " + data);
  }
  if (delta["content"].get(e) == simdjson::SUCCESS && !e.is_null()) {
    std::string_view piece;
    if (e.get_string().get(piece) != simdjson::SUCCESS) {
      return Fail(error, "delta.content is not a string: " + data);
    }
    stream->content += piece;
  }
  std::string finish_reason;
  bool finish_null = true;
  if (!GetFinishReason(choice, &finish_reason, &finish_null)) {
    return Fail(error, "finish_reason is neither null nor a string: " + data);
  }
  if (!finish_null) stream->finish_reason = std::move(finish_reason);
  return CheckUsage(root, error);
}

}  // namespace

bool SplitSdkEvents(std::string_view body, std::vector<SdkEvent>* events, std::string* error) {
  SdkEvent current;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      return Fail(error, "the stream ends inside a line: " + std::string(body.substr(pos)));
    }
    const std::string_view line = body.substr(pos, end - pos);
    pos = end + (body.substr(end).starts_with("\r\n") ? 2 : 1);
    if (line.empty()) {
      if (current.data) events->push_back(std::move(current));
      current = SdkEvent{};
      continue;
    }
    if (line.front() == ':') continue;  // a comment
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (value.starts_with(' ')) value.remove_prefix(1);
    }
    if (field == "event") {
      current.event = std::string(value);
      continue;
    }
    if (field != "data") continue;  // id:, retry: and unknown fields
    if (current.data) {
      *current.data += '\n';
      *current.data += value;
    } else {
      current.data = std::string(value);
    }
  }
  if (current.data) return Fail(error, "the stream ends without a blank line after an event");
  return true;
}

std::optional<ChatCompletion> ParseChatCompletion(std::string_view body, std::string* error) {
  simdjson::dom::parser parser;
  element doc;
  if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS) {
    Fail(error, "the body is not JSON");
    return std::nullopt;
  }
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    Fail(error, "the body is not a JSON object");
    return std::nullopt;
  }
  if (HasErrorKey(root, error)) return std::nullopt;
  std::string_view object_type;
  if (root["object"].get_string().get(object_type) != simdjson::SUCCESS ||
      object_type != "chat.completion") {
    Fail(error, "object is not \"chat.completion\"");
    return std::nullopt;
  }
  ChatCompletion out;
  if (!GetString(root, "id", &out.id)) {
    Fail(error, "id is not a string");
    return std::nullopt;
  }
  if (!GetCreated(root, &out.created)) {
    Fail(error, "created is not an integer");
    return std::nullopt;
  }
  if (!GetString(root, "model", &out.model)) {
    Fail(error, "model is not a string");
    return std::nullopt;
  }
  object choice;
  if (!FirstChoice(root, &choice, error)) return std::nullopt;
  object message;
  if (choice["message"].get_object().get(message) != simdjson::SUCCESS) {
    Fail(error, "choices[0].message is not an object");
    return std::nullopt;
  }
  std::string_view role;
  if (message["role"].get_string().get(role) != simdjson::SUCCESS || role != "assistant") {
    Fail(error, "message.role is not \"assistant\"");
    return std::nullopt;
  }
  if (!GetString(message, "content", &out.content)) {
    Fail(error, "message.content is not a string");
    return std::nullopt;
  }
  bool finish_null = true;
  if (!GetFinishReason(choice, &out.finish_reason, &finish_null) || finish_null) {
    Fail(error, "finish_reason is not a string");
    return std::nullopt;
  }
  if (!CheckUsage(root, error)) return std::nullopt;
  return out;
}

std::optional<ChatStream> ParseChatStream(std::string_view body, std::string* error) {
  std::vector<SdkEvent> events;
  if (!SplitSdkEvents(body, &events, error)) return std::nullopt;
  simdjson::dom::parser parser;
  ChatStream stream;
  for (const SdkEvent& event : events) {
    if (stream.done) {
      Fail(error, "a data event after [DONE]: " + *event.data);
      return std::nullopt;
    }
    if (*event.data == "[DONE]") {
      stream.done = true;
      continue;
    }
    if (!ApplyChunk(parser, *event.data, &stream, error)) return std::nullopt;
  }
  if (!stream.done) {
    Fail(error, "the stream ends without data: [DONE]");
    return std::nullopt;
  }
  return stream;
}

}  // namespace infergate::testing
