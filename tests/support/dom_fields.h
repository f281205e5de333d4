// Small readers of simdjson DOM objects shared by the test parsers of OpenAI answers
// (openai_sdk.cc, openai_responses.cc).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace infergate::testing::dom_fields {

// Records `message` in `error` (when given) and returns false.
inline bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

inline bool GetString(const simdjson::dom::object& obj, std::string_view key, std::string* out) {
  std::string_view s;
  if (obj[key].get_string().get(s) != simdjson::SUCCESS) return false;
  *out = std::string(s);
  return true;
}

inline bool GetInt(const simdjson::dom::object& obj, std::string_view key, int64_t* out) {
  return obj[key].get_int64().get(*out) == simdjson::SUCCESS;
}

}  // namespace infergate::testing::dom_fields
