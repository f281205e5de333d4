// JSON pointer accessors over simdjson's DOM parser.
#include "support/json.h"

#include <simdjson.h>

namespace infergate::testing {
namespace {

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// The element at `pointer`, valid until the next parse on this thread.
std::optional<simdjson::dom::element> Find(std::string_view json, std::string_view pointer) {
  simdjson::dom::element root;
  if (Parser().parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  if (pointer.empty()) return root;
  simdjson::dom::element e;
  if (root.at_pointer(pointer).get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

}  // namespace

bool JsonValid(std::string_view json) { return Find(json, "").has_value(); }

std::optional<std::string> JsonString(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  std::string_view s;
  if (!e || e->get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return std::string(s);
}

std::optional<int64_t> JsonInt(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  int64_t v;
  if (!e || e->get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

std::optional<double> JsonDouble(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  if (!e) return std::nullopt;
  double d;
  if (e->get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (e->get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  return std::nullopt;
}

std::optional<bool> JsonBool(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  bool b;
  if (!e || e->get_bool().get(b) != simdjson::SUCCESS) return std::nullopt;
  return b;
}

bool JsonIsNull(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  return e && e->is_null();
}

bool JsonHas(std::string_view json, std::string_view pointer) {
  return Find(json, pointer).has_value();
}

std::optional<size_t> JsonSize(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  if (!e) return std::nullopt;
  simdjson::dom::array a;
  if (e->get_array().get(a) == simdjson::SUCCESS) return a.size();
  simdjson::dom::object o;
  if (e->get_object().get(o) == simdjson::SUCCESS) return o.size();
  return std::nullopt;
}

std::optional<std::string> JsonRaw(std::string_view json, std::string_view pointer) {
  auto e = Find(json, pointer);
  if (!e) return std::nullopt;
  return simdjson::minify(*e);
}

}  // namespace infergate::testing
