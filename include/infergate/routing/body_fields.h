// Reading the OpenAI request body's top-level "model", "stream", "user" and "stream_options"
// fields without building a DOM (simdjson on-demand), and splicing a new model name into the
// body in place.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "infergate/core/error.h"
#include "infergate/core/expected.h"

namespace infergate::routing {

struct BodyFields {
  std::optional<std::string> model;  // unescaped value of the top-level "model" string
  size_t model_offset = 0;           // byte offset of the raw token, quotes included
  size_t model_length = 0;           // length of the raw token, quotes included
  std::optional<bool> stream;        // top-level "stream" when it is a boolean
  std::optional<std::string> user;   // top-level "user" when it is a string (session affinity)
  // Top-level "stream_options" (stream usage injection, stream_usage.h).
  struct StreamOptions {
    size_t offset = 0;                  // byte offset of its raw value token ('{' for an object)
    size_t length = 0;                  // length of that token (for an object: 1, the brace)
    bool object = false;                // the value is an object
    size_t members = 0;                 // the object's members
    std::optional<bool> include_usage;  // "include_usage" when a boolean
    bool has_include_usage = false;     // "include_usage" present (any type)
    size_t include_usage_offset = 0;    // its raw value token
    size_t include_usage_length = 0;
  };
  std::optional<StreamOptions> stream_options;
  bool duplicate_stream_options = false;
  // For token rate limits: the raw JSON size of "messages", "prompt" and "input" together, and
  // the largest of "max_tokens", "max_completion_tokens", "max_output_tokens" (non-negative
  // integers; nullopt when none is given).
  size_t prompt_bytes = 0;
  std::optional<uint64_t> max_tokens;
};

// `body` must be a complete JSON object. `capacity` is how many bytes starting at
// body.data() may be read (at least body.size()); when it leaves less than simdjson's
// padding after the body, the body is copied into a padded buffer first.
// Errors (kMalformedJson): not JSON, not an object, a duplicate top-level "model", a "model"
// that is not a string.
Expected<BodyFields, Error> ExtractBodyFields(std::string_view body, size_t capacity);

// Replaces the raw model token located by `fields` with `new_model` as a JSON string.
void SpliceModel(std::string& body, const BodyFields& fields, std::string_view new_model);

}  // namespace infergate::routing
