// Backend error classification: the error object's code and type first (OpenAI's
// "context_length_exceeded" and "content_filter", llama.cpp's "exceed_context_size_error"), then
// the message's wording, lower-cased, against what each server is known to say.
#include "infergate/routing/error_class.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <string>

namespace infergate::routing {
namespace {

using config::Trigger;

// Phrases in messages (lower-case). vLLM: "This model's maximum context length is 4096 tokens.
// However, you requested ..."; TGI: "Input validation error: `inputs` tokens + `max_new_tokens`
// must be <= 4096" and "`inputs` must have less than 4096 tokens"; llama.cpp: "the request
// exceeds the available context size, try increasing it"; others: "prompt is too long".
constexpr std::array<std::string_view, 6> kContextPhrases = {
    "maximum context length",  "context length exceeded",
    "context_length_exceeded", "exceeds the available context size",
    "exceed_context_size",     "prompt is too long",
};
constexpr std::array<std::string_view, 5> kFilterPhrases = {
    "content_filter", "content management policy",     "content_policy_violation",
    "content policy", "flagged by the content filter",
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

template <size_t N>
bool ContainsAny(std::string_view haystack, const std::array<std::string_view, N>& phrases) {
  return std::any_of(phrases.begin(), phrases.end(), [&](std::string_view p) {
    return haystack.find(p) != std::string_view::npos;
  });
}

std::optional<Trigger> FromText(std::string_view lower) {
  if (ContainsAny(lower, kFilterPhrases)) return Trigger::kContentFilter;
  if (ContainsAny(lower, kContextPhrases)) return Trigger::kContextLengthExceeded;
  // TGI's validation error names the two token counts it compared.
  if (lower.find("input validation error") != std::string_view::npos &&
      lower.find("tokens") != std::string_view::npos &&
      (lower.find("must be <=") != std::string_view::npos ||
       lower.find("less than") != std::string_view::npos)) {
    return Trigger::kContextLengthExceeded;
  }
  return std::nullopt;
}

// The strings of an error document that say what went wrong: error.code, error.type,
// error.message, and the flat forms ({"message":..,"type":..}, TGI's {"error":"..",
// "error_type":..}), joined and lower-cased.
std::optional<std::string> ErrorStrings(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::object top;
  if (doc.get_object().get(top) != simdjson::SUCCESS) return std::nullopt;
  std::string out;
  auto add = [&out](simdjson::dom::element e) {
    std::string_view s;
    if (e.get_string().get(s) == simdjson::SUCCESS) {
      out += Lower(s);
      out += '\n';
    }
  };
  auto add_fields = [&](simdjson::dom::object o) {
    for (std::string_view key : {"code", "type", "error_type", "message", "detail"}) {
      simdjson::dom::element e;
      if (o.at_key(key).get(e) == simdjson::SUCCESS) add(e);
    }
  };
  add_fields(top);
  simdjson::dom::element err;
  if (top.at_key("error").get(err) == simdjson::SUCCESS) {
    simdjson::dom::object inner;
    if (err.get_object().get(inner) == simdjson::SUCCESS) {
      add_fields(inner);
    } else {
      add(err);
    }
  }
  return out;
}

}  // namespace

bool IsClassifiedStatus(int status) { return status == 400 || status == 413 || status == 422; }

std::optional<Trigger> ClassifyBackendError(int status, std::string_view body) {
  if (!IsClassifiedStatus(status) || body.size() > kMaxClassifiedErrorBody) return std::nullopt;
  if (std::optional<std::string> strings = ErrorStrings(body)) return FromText(*strings);
  return FromText(Lower(body));  // a text answer
}

}  // namespace infergate::routing
