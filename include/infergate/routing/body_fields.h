// Reading the OpenAI request body's top-level "model" and "stream" fields without building a
// DOM (simdjson on-demand), and splicing a new model name into the body in place.
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
