// Reads an OpenAI request body with simdjson's DOM (a thread's parser reused between requests).
// Text content only: a message part of another type (an image) is refused by name, since the
// runner cannot answer it faithfully.
#include "infergate/runner/request.h"

#include <simdjson.h>

#include <cmath>

namespace infergate::runner {
namespace {

namespace dom = simdjson::dom;
using Fail = Unexpected<RequestError>;

RequestError Bad(std::string param, std::string message) {
  return RequestError{std::move(message), std::move(param), false};
}

// A message's content: a string, or an array of text parts ({"type":"text","text":..}, the
// Responses API's input_text / output_text), joined.
std::optional<RequestError> ReadContent(dom::element e, const std::string& param,
                                        std::string& out) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    out = std::string(s);
    return std::nullopt;
  }
  if (e.is_null()) return std::nullopt;  // an assistant turn with tool calls only
  dom::array parts;
  if (e.get_array().get(parts) != simdjson::SUCCESS)
    return Bad(param, "content must be a string or an array of text parts");
  for (dom::element part : parts) {
    std::string_view type = "text";
    std::ignore = part["type"].get_string().get(type);
    if (type != "text" && type != "input_text" && type != "output_text") {
      return Bad(param, "content part of type \"" + std::string(type) +
                            "\" is not supported by the local model (text only)");
    }
    std::string_view text;
    if (part["text"].get_string().get(text) != simdjson::SUCCESS)
      return Bad(param, "a text content part needs a string \"text\"");
    out += text;
  }
  return std::nullopt;
}

std::optional<RequestError> ReadMessages(dom::element e, const std::string& param,
                                         std::vector<tokenize::ChatMessage>& out) {
  dom::array items;
  if (e.get_array().get(items) != simdjson::SUCCESS)
    return Bad(param, param + " must be an array of messages");
  size_t i = 0;
  for (dom::element item : items) {
    const std::string at = param + "[" + std::to_string(i++) + "]";
    tokenize::ChatMessage m;
    std::string_view role;
    if (item["role"].get_string().get(role) != simdjson::SUCCESS)
      return Bad(at + ".role", "each message needs a string role");
    m.role = std::string(role);
    // "developer" is the newer name OpenAI gives the system role.
    if (m.role == "developer") m.role = "system";
    dom::element content;
    if (item["content"].get(content) == simdjson::SUCCESS) {
      if (auto err = ReadContent(content, at + ".content", m.content)) return err;
    }
    out.push_back(std::move(m));
  }
  if (out.empty()) return Bad(param, param + " is empty");
  return std::nullopt;
}

// An optional number within [min, max]; `field` untouched when absent or null.
std::optional<RequestError> ReadNumber(dom::object o, const char* key, double min, double max,
                                       double& field) {
  dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  double v = 0;
  if (e.get_double().get(v) != simdjson::SUCCESS || !std::isfinite(v) || v < min || v > max) {
    char range[64];
    std::snprintf(range, sizeof(range), "%g..%g", min, max);
    return Bad(key, std::string(key) + " must be a number in " + range);
  }
  field = v;
  return std::nullopt;
}

std::optional<RequestError> ReadInt(dom::object o, const char* key, int64_t min, int64_t max,
                                    std::optional<int64_t>& field) {
  dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  int64_t v = 0;
  if (e.get_int64().get(v) != simdjson::SUCCESS || v < min || v > max) {
    return Bad(key, std::string(key) + " must be an integer in " + std::to_string(min) + ".." +
                        std::to_string(max));
  }
  field = v;
  return std::nullopt;
}

std::optional<RequestError> ReadStop(dom::object o, std::vector<std::string>& out) {
  dom::element e;
  if (o["stop"].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    out.emplace_back(s);
    return std::nullopt;
  }
  dom::array items;
  if (e.get_array().get(items) != simdjson::SUCCESS)
    return Bad("stop", "stop must be a string or an array of up to 4 strings");
  for (dom::element item : items) {
    if (item.get_string().get(s) != simdjson::SUCCESS || out.size() == 4)
      return Bad("stop", "stop must be a string or an array of up to 4 strings");
    out.emplace_back(s);
  }
  return std::nullopt;
}

// The conversation of a Responses API request: instructions as the system message, then
// `input` (a string is one user message; items are messages, other item types refused).
std::optional<RequestError> ReadResponsesInput(dom::object o, GenerationRequest& r) {
  std::string_view s;
  if (o["instructions"].get_string().get(s) == simdjson::SUCCESS)
    r.messages.push_back({"system", std::string(s)});
  dom::element input;
  if (o["input"].get(input) != simdjson::SUCCESS) return Bad("input", "input is required");
  if (input.get_string().get(s) == simdjson::SUCCESS) {
    r.messages.push_back({"user", std::string(s)});
    return std::nullopt;
  }
  dom::array items;
  if (input.get_array().get(items) != simdjson::SUCCESS)
    return Bad("input", "input must be a string or an array of messages");
  for (dom::element item : items) {
    std::string_view type = "message";
    std::ignore = item["type"].get_string().get(type);
    if (type != "message")
      return Bad("input", "input items of type \"" + std::string(type) + "\" are not supported");
  }
  std::vector<tokenize::ChatMessage> turns;
  if (auto err = ReadMessages(input, "input", turns)) return err;
  for (auto& m : turns) r.messages.push_back(std::move(m));
  return std::nullopt;
}

// The Responses API's `include`: "message.output_text.logprobs" asks for logprobs; other values
// name outputs of tools the runner never produces and change nothing.
std::optional<RequestError> ReadResponsesInclude(dom::object o, bool& logprobs) {
  dom::element e;
  if (o["include"].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  dom::array items;
  if (e.get_array().get(items) != simdjson::SUCCESS)
    return Bad("include", "include must be an array of strings");
  for (dom::element item : items) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS)
      return Bad("include", "include must be an array of strings");
    if (s == "message.output_text.logprobs") logprobs = true;
  }
  return std::nullopt;
}

}  // namespace

Expected<GenerationRequest, RequestError> ParseGenerationRequest(std::string_view body,
                                                                 degrade::Endpoint endpoint) {
  thread_local dom::parser parser;
  dom::element root;
  dom::object o;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      root.get_object().get(o) != simdjson::SUCCESS) {
    return Fail{Bad("", "the request body is not a JSON object")};
  }
  GenerationRequest r;
  dom::element e;
  switch (endpoint) {
    case degrade::Endpoint::kCompletions: {
      r.chat = false;
      std::string_view s;
      dom::array one;
      if (o["prompt"].get(e) != simdjson::SUCCESS) return Fail{Bad("prompt", "prompt is required")};
      // A list of one prompt is the same request (several would ask for several choices).
      if (e.get_array().get(one) == simdjson::SUCCESS && one.size() == 1) e = one.at(0).value();
      if (e.get_string().get(s) != simdjson::SUCCESS)
        return Fail{Bad("prompt", "prompt must be a string (or a list of one string)")};
      r.prompt = std::string(s);
      break;
    }
    case degrade::Endpoint::kResponses:
      if (auto err = ReadResponsesInput(o, r)) return Fail{std::move(*err)};
      break;
    default:
      if (o["messages"].get(e) != simdjson::SUCCESS)
        return Fail{Bad("messages", "messages is required")};
      if (auto err = ReadMessages(e, "messages", r.messages)) return Fail{std::move(*err)};
      break;
  }
  std::optional<RequestError> err;
  std::optional<int64_t> i;
  if ((err = ReadNumber(o, "temperature", 0, 2, r.sampling.temperature))) return Fail{*err};
  if ((err = ReadNumber(o, "top_p", 0, 1, r.sampling.top_p))) return Fail{*err};
  if (r.sampling.top_p <= 0) return Fail{Bad("top_p", "top_p must be greater than 0")};
  if ((err = ReadInt(o, "top_k", -1, 1 << 30, i))) return Fail{*err};
  if (i && *i > 0) r.sampling.top_k = static_cast<int>(*i);  // -1 and 0: off, as vLLM takes them
  i.reset();
  if ((err = ReadInt(o, "seed", INT64_MIN, INT64_MAX, i))) return Fail{*err};
  if (i) r.seed = static_cast<uint64_t>(*i);
  for (const char* key : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
    i.reset();
    if ((err = ReadInt(o, key, 1, UINT32_MAX, i))) return Fail{*err};
    if (i) r.max_tokens = static_cast<uint32_t>(*i);
  }
  i.reset();
  if ((err = ReadInt(o, "n", 1, 1, i)))
    return Fail{Bad("n", "the local model answers one choice (n: 1)")};
  if ((err = ReadStop(o, r.stop))) return Fail{*err};
  if (o["logprobs"].get(e) == simdjson::SUCCESS && !e.is_null()) {
    if (endpoint == degrade::Endpoint::kCompletions) {
      // Legacy: logprobs is the number of alternatives (0..5 in OpenAI's API; 20 here).
      i.reset();
      if ((err = ReadInt(o, "logprobs", 0, 20, i))) return Fail{*err};
      r.logprobs = true;
      r.top_logprobs = static_cast<int>(*i);
    } else {
      bool on = false;
      if (e.get_bool().get(on) != simdjson::SUCCESS)
        return Fail{Bad("logprobs", "logprobs must be a boolean")};
      r.logprobs = on;
    }
  }
  if (endpoint == degrade::Endpoint::kResponses) {
    if ((err = ReadResponsesInclude(o, r.logprobs))) return Fail{*err};
  }
  if (endpoint != degrade::Endpoint::kCompletions) {
    i.reset();
    if ((err = ReadInt(o, "top_logprobs", 0, 20, i))) return Fail{*err};
    if (i) {
      // The Responses API takes top_logprobs on its own (what it returns is up to `include`).
      if (!r.logprobs && *i > 0 && endpoint != degrade::Endpoint::kResponses)
        return Fail{Bad("top_logprobs", "top_logprobs needs logprobs: true")};
      r.top_logprobs = static_cast<int>(*i);
    }
  }
  return r;
}

}  // namespace infergate::runner
