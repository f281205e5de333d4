// JSON accessors for test assertions: parse a document and read one value by JSON pointer
// (RFC 6901, e.g. "/choices/0/message/content"; "" is the whole document).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace infergate::testing {

bool JsonValid(std::string_view json);
std::optional<std::string> JsonString(std::string_view json, std::string_view pointer);
std::optional<int64_t> JsonInt(std::string_view json, std::string_view pointer);
std::optional<double> JsonDouble(std::string_view json, std::string_view pointer);
std::optional<bool> JsonBool(std::string_view json, std::string_view pointer);
bool JsonIsNull(std::string_view json, std::string_view pointer);
bool JsonHas(std::string_view json, std::string_view pointer);
// Element count of an array or object.
std::optional<size_t> JsonSize(std::string_view json, std::string_view pointer);
// The value re-serialized as minified JSON.
std::optional<std::string> JsonRaw(std::string_view json, std::string_view pointer);

}  // namespace infergate::testing
