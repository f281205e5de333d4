// Top-level "model"/"stream" extraction with simdjson on-demand (no DOM), and the in-place
// model rewrite.
#include "infergate/routing/body_fields.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>

namespace infergate::routing {
namespace {

namespace od = simdjson::ondemand;

Error Malformed(std::string message) {
  return Error{ErrorKind::kMalformedJson, std::move(message)};
}

Error NotJson(simdjson::error_code code) {
  if (code == simdjson::EMPTY) return Malformed("request body is empty; expected a JSON object");
  return Malformed(std::string("request body is not valid JSON: ") + simdjson::error_message(code));
}

std::string_view TrimTrailingSpace(std::string_view token) {
  while (!token.empty()) {
    const char c = token.back();
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    token.remove_suffix(1);
  }
  return token;
}

// The size of a value's raw JSON (an array or object whole, else its token).
simdjson::error_code ValueBytes(od::value value, size_t& bytes) {
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  std::string_view raw;
  if (type == od::json_type::array) {
    od::array a;
    if (auto err = value.get_array().get(a)) return err;
    if (auto err = a.raw_json().get(raw)) return err;
  } else if (type == od::json_type::object) {
    od::object o;
    if (auto err = value.get_object().get(o)) return err;
    if (auto err = o.raw_json().get(raw)) return err;
  } else {
    raw = TrimTrailingSpace(value.raw_json_token());
  }
  bytes = raw.size();
  return simdjson::SUCCESS;
}

// Where "stream_options" and its "include_usage" lie, for the usage injection.
simdjson::error_code ReadStreamOptions(od::value value, const char* buf,
                                       BodyFields::StreamOptions& out) {
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  const std::string_view raw = TrimTrailingSpace(value.raw_json_token());
  out.offset = static_cast<size_t>(raw.data() - buf);
  out.length = raw.size();
  if (type != od::json_type::object) return simdjson::SUCCESS;
  out.object = true;
  out.length = 1;
  od::object object;
  if (auto err = value.get_object().get(object)) return err;
  for (auto field_result : object) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    ++out.members;
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (key != "include_usage") continue;
    od::value v = field.value();
    const std::string_view token = TrimTrailingSpace(v.raw_json_token());
    out.has_include_usage = true;
    out.include_usage_offset = static_cast<size_t>(token.data() - buf);
    out.include_usage_length = token.size();
    out.include_usage.reset();
    bool b = false;
    if (!v.get_bool().get(b)) out.include_usage = b;
  }
  return simdjson::SUCCESS;
}

// `buf` holds `len` bytes of JSON with at least SIMDJSON_PADDING readable bytes after them.
Expected<BodyFields, Error> Parse(const char* buf, size_t len) {
  thread_local od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(buf, len, len + simdjson::SIMDJSON_PADDING).get(doc)) {
    return MakeUnexpected(NotJson(err));
  }
  od::json_type type;
  if (auto err = doc.type().get(type)) return MakeUnexpected(NotJson(err));
  if (type != od::json_type::object) {
    return MakeUnexpected(Malformed("request body must be a JSON object"));
  }
  od::object object;
  if (auto err = doc.get_object().get(object)) return MakeUnexpected(NotJson(err));

  BodyFields out;
  for (auto field_result : object) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return MakeUnexpected(NotJson(err));
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return MakeUnexpected(NotJson(err));
    if (key == "model") {
      if (out.model) {
        return MakeUnexpected(Malformed(
            "duplicate top-level \"model\" key in request body; a body naming two models is "
            "refused"));
      }
      od::value value = field.value();
      od::json_type value_type;
      if (auto err = value.type().get(value_type)) return MakeUnexpected(NotJson(err));
      if (value_type != od::json_type::string) {
        return MakeUnexpected(Malformed("\"model\" in the request body must be a string"));
      }
      const std::string_view raw = TrimTrailingSpace(value.raw_json_token());
      std::string_view model;
      if (auto err = value.get_string().get(model)) return MakeUnexpected(NotJson(err));
      out.model.emplace(model);
      out.model_offset = static_cast<size_t>(raw.data() - buf);
      out.model_length = raw.size();
    } else if (key == "stream") {
      od::value value = field.value();
      od::json_type value_type;
      if (auto err = value.type().get(value_type)) return MakeUnexpected(NotJson(err));
      out.stream.reset();
      if (value_type == od::json_type::boolean) {
        bool stream = false;
        if (auto err = value.get_bool().get(stream)) return MakeUnexpected(NotJson(err));
        out.stream = stream;
      }
    } else if (key == "stream_options") {
      if (out.stream_options) out.duplicate_stream_options = true;
      if (auto err = ReadStreamOptions(field.value(), buf, out.stream_options.emplace())) {
        return MakeUnexpected(NotJson(err));
      }
    } else if (key == "messages" || key == "prompt" || key == "input") {
      size_t bytes = 0;
      if (auto err = ValueBytes(field.value(), bytes)) return MakeUnexpected(NotJson(err));
      out.prompt_bytes += bytes;
    } else if (key == "max_tokens" || key == "max_completion_tokens" ||
               key == "max_output_tokens") {
      od::value value = field.value();
      od::json_type value_type;
      if (auto err = value.type().get(value_type)) return MakeUnexpected(NotJson(err));
      uint64_t n = 0;
      if (value_type == od::json_type::number && !value.get_uint64().get(n)) {
        out.max_tokens = std::max(out.max_tokens.value_or(0), n);
      }
    } else if (key == "user") {
      od::value value = field.value();
      od::json_type value_type;
      if (auto err = value.type().get(value_type)) return MakeUnexpected(NotJson(err));
      out.user.reset();
      if (value_type == od::json_type::string) {
        std::string_view user;
        if (auto err = value.get_string().get(user)) return MakeUnexpected(NotJson(err));
        out.user.emplace(user);
      }
    }
  }
  const char* trailing = nullptr;
  const simdjson::error_code end = doc.current_location().get(trailing);
  if (end != simdjson::OUT_OF_BOUNDS) {
    return MakeUnexpected(Malformed("request body has content after the JSON object"));
  }
  return out;
}

}  // namespace

Expected<BodyFields, Error> ExtractBodyFields(std::string_view body, size_t capacity) {
  if (capacity >= body.size() && capacity - body.size() >= simdjson::SIMDJSON_PADDING) {
    return Parse(body.data(), body.size());
  }
  const simdjson::padded_string padded(body.data(), body.size());
  return Parse(padded.data(), padded.size());
}

void SpliceModel(std::string& body, const BodyFields& fields, std::string_view new_model) {
  if (fields.model_length == 0 || fields.model_offset > body.size() ||
      fields.model_length > body.size() - fields.model_offset) {
    return;
  }
  std::string literal;
  literal.reserve(new_model.size() + 2);
  literal += '"';
  AppendJsonEscaped(literal, new_model);
  literal += '"';
  body.replace(fields.model_offset, fields.model_length, literal);
}

}  // namespace infergate::routing
