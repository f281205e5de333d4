// Responses API parsing as the OpenAI SDKs do it: the fields their Response type requires, the
// output_text helper, and the typed event stream.
#include "support/openai_responses.h"

#include <simdjson.h>

#include <utility>

#include "support/dom_fields.h"
#include "support/openai_sdk.h"

namespace infergate::testing {
namespace {

using dom_fields::Fail;
using dom_fields::GetInt;
using dom_fields::GetString;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// usage: input/output/total tokens and the two details objects ResponseUsage requires.
bool ReadUsage(const object& root, ResponseObject* out, std::string* error) {
  element e;
  if (root["usage"].get(e) != simdjson::SUCCESS || e.is_null()) return true;
  object usage;
  if (e.get_object().get(usage) != simdjson::SUCCESS) return Fail(error, "usage is no object");
  int64_t cached = 0, reasoning = 0;
  if (!GetInt(usage, "input_tokens", &out->input_tokens) ||
      !GetInt(usage, "output_tokens", &out->output_tokens) ||
      !GetInt(usage, "total_tokens", &out->total_tokens) ||
      usage.at_pointer("/input_tokens_details/cached_tokens").get_int64().get(cached) !=
          simdjson::SUCCESS ||
      usage.at_pointer("/output_tokens_details/reasoning_tokens").get_int64().get(reasoning) !=
          simdjson::SUCCESS) {
    return Fail(error, "usage lacks an integer count or its details");
  }
  out->has_usage = true;
  return true;
}

// One message item: its output_text parts' texts appended to `text`.
bool ReadMessage(const object& item, std::string* text, std::string* error) {
  std::string id, role, status;
  if (!GetString(item, "id", &id) || !GetString(item, "role", &role) || role != "assistant" ||
      !GetString(item, "status", &status)) {
    return Fail(error, "a message lacks id, status or the assistant role");
  }
  array content;
  if (item["content"].get_array().get(content) != simdjson::SUCCESS) {
    return Fail(error, "a message's content is not an array");
  }
  for (element part : content) {
    object p;
    std::string type, piece;
    array annotations;
    if (part.get_object().get(p) != simdjson::SUCCESS || !GetString(p, "type", &type)) {
      return Fail(error, "a content part is not a typed object");
    }
    if (type != "output_text") continue;
    if (!GetString(p, "text", &piece) ||
        p["annotations"].get_array().get(annotations) != simdjson::SUCCESS) {
      return Fail(error, "an output_text part lacks text or annotations");
    }
    *text += piece;
  }
  return true;
}

bool ReadResponse(const object& root, ResponseObject* out, std::string* error) {
  std::string object_type, tool_choice;
  if (!GetString(root, "object", &object_type) || object_type != "response") {
    return Fail(error, "object is not \"response\"");
  }
  if (!GetString(root, "id", &out->id)) return Fail(error, "id is not a string");
  if (!GetString(root, "model", &out->model)) return Fail(error, "model is not a string");
  if (!GetString(root, "status", &out->status)) return Fail(error, "status is not a string");
  if (!GetInt(root, "created_at", &out->created_at)) return Fail(error, "created_at is no integer");
  element e;
  if (root["error"].get(e) == simdjson::SUCCESS && !e.is_null()) {
    return Fail(error, "the response carries an error");
  }
  bool parallel = false;
  array tools;
  if (root["parallel_tool_calls"].get_bool().get(parallel) != simdjson::SUCCESS ||
      !GetString(root, "tool_choice", &tool_choice) ||
      root["tools"].get_array().get(tools) != simdjson::SUCCESS) {
    return Fail(error, "parallel_tool_calls, tool_choice or tools is missing");
  }
  array output;
  if (root["output"].get_array().get(output) != simdjson::SUCCESS) {
    return Fail(error, "output is not an array");
  }
  for (element item : output) {
    object o;
    std::string type;
    if (item.get_object().get(o) != simdjson::SUCCESS || !GetString(o, "type", &type)) {
      return Fail(error, "an output item is not a typed object");
    }
    ++out->output_items;
    if (type == "message" && !ReadMessage(o, &out->output_text, error)) return false;
  }
  return ReadUsage(root, out, error);
}

}  // namespace

std::optional<ResponseObject> ParseResponseObject(std::string_view body, std::string* error) {
  simdjson::dom::parser parser;
  element doc;
  object root;
  if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS) {
    Fail(error, "the body is not a JSON object");
    return std::nullopt;
  }
  ResponseObject out;
  if (!ReadResponse(root, &out, error)) return std::nullopt;
  return out;
}

std::optional<ResponseStream> ParseResponseStream(std::string_view body, std::string* error) {
  std::vector<SdkEvent> events;
  if (!SplitSdkEvents(body, &events, error)) return std::nullopt;
  simdjson::dom::parser parser;
  ResponseStream out;
  int64_t last_sequence = -1;
  bool completed = false;
  for (const SdkEvent& event : events) {
    const std::string& data = *event.data;
    element doc;
    object root;
    if (parser.parse(data).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(root) != simdjson::SUCCESS) {
      Fail(error, "an event is not a JSON object: " + data);
      return std::nullopt;
    }
    std::string type;
    int64_t sequence = -1;
    if (!GetString(root, "type", &type) || !GetInt(root, "sequence_number", &sequence)) {
      Fail(error, "an event lacks type or sequence_number: " + data);
      return std::nullopt;
    }
    if (event.event && *event.event != type) {
      Fail(error, "event: " + *event.event + " names another type than its data: " + data);
      return std::nullopt;
    }
    if (sequence <= last_sequence) {
      Fail(error, "sequence_number does not rise: " + data);
      return std::nullopt;
    }
    if (completed) {
      Fail(error, "an event after response.completed (or .incomplete): " + data);
      return std::nullopt;
    }
    last_sequence = sequence;
    out.types.push_back(type);
    if (type == "response.output_text.delta") {
      std::string delta;
      if (!GetString(root, "delta", &delta)) {
        Fail(error, "a delta event has no delta: " + data);
        return std::nullopt;
      }
      out.deltas += delta;
    }
    object response;
    if (root["response"].get_object().get(response) == simdjson::SUCCESS) {
      ResponseObject r;
      if (!ReadResponse(response, &r, error)) return std::nullopt;
      if (type == "response.completed" || type == "response.incomplete") {
        out.completed = std::move(r);
        completed = true;
      }
    }
  }
  if (!completed) {
    Fail(error, "the stream ends without response.completed (or response.incomplete)");
    return std::nullopt;
  }
  if (out.completed.output_text != out.deltas) {
    Fail(error, "the deltas differ from the completed response's output_text");
    return std::nullopt;
  }
  return out;
}

}  // namespace infergate::testing
