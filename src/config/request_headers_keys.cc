// A pool's request_headers: header fields set, added or removed on every request to its
// backends, with ${env:NAME} expanded in values at load (credentials stay out of the YAML and
// out of every message: errors name the variable, never its value).
// config/infergate.yaml documents the keys.
#include <cstdlib>
#include <map>
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kRequestHeaderKeys[] = {"set", "add", "remove"};

// Fields the gateway frames or manages itself: a rule may not touch them.
bool Managed(std::string_view name) {
  static constexpr std::string_view kManaged[] = {
      "host",    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
      "trailer", "expect",         "proxy-connection"};
  for (std::string_view m : kManaged) {
    if (m == name) return true;
  }
  return false;
}

bool EnvNameChar(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

// `text` with each ${env:NAME} replaced by the variable's value; nullopt (reported at `at`) when
// a reference is malformed, a variable is not set, or a value holds a byte a header cannot.
std::optional<std::string> Expand(Reader& reader, const Value& at, std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t ref = text.find("${", i);
    if (ref == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, ref - i));
    const size_t close = text.find('}', ref);
    const std::string_view inner = close == std::string_view::npos
                                       ? std::string_view()
                                       : text.substr(ref + 2, close - ref - 2);
    bool valid = inner.starts_with("env:") && inner.size() > 4;
    for (size_t k = 4; valid && k < inner.size(); ++k) valid = EnvNameChar(inner[k], k == 4);
    if (!valid) {
      reader.diag().Add(at, "write an environment variable as ${env:NAME} (letters, digits and _)");
      return std::nullopt;
    }
    const std::string name(inner.substr(4));
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      reader.diag().Add(at, "environment variable " + name + " is not set");
      return std::nullopt;
    }
    out.append(value);
    i = close + 1;
  }
  for (char c : out) {
    if (c == '\r' || c == '\n' || c == '\0' ||
        (static_cast<unsigned char>(c) < 0x20 && c != '\t')) {
      reader.diag().Add(at,
                        "the value holds a control character (line break or NUL) once "
                        "expanded; a header value cannot");
      return std::nullopt;
    }
  }
  return out;
}

// A header name as a key: a token, lower-cased, not managed by the gateway, not seen before in
// any of the three lists. "" when refused (reported).
std::string RuleName(Reader& reader, const MapEntry& entry, std::string_view key, const Value& at,
                     std::map<std::string, int>& seen) {
  if (!IsToken(key)) {
    reader.diag().Add(entry.key_pos, at.path,
                      Quoted(std::string(key)) + " is not a valid header name");
    return "";
  }
  std::string name = Lower(std::string(key));
  if (Managed(name)) {
    reader.diag().Add(entry.key_pos, at.path,
                      "header " + Quoted(name) + " is framed or managed by the gateway itself");
    return "";
  }
  auto [it, inserted] = seen.emplace(name, entry.key_pos.line);
  if (!inserted) {
    reader.diag().Add(entry.key_pos, at.path,
                      "header " + Quoted(name) + " already has a rule at line " +
                          std::to_string(it->second) + " (header names are case-insensitive)");
    return "";
  }
  return name;
}

void ReadFields(Reader& reader, const Value& v, std::map<std::string, int>& seen,
                std::vector<std::pair<std::string, std::string>>& out) {
  std::optional<Map> map = reader.AnyKeyMapping(v);
  if (!map) return;
  for (const MapEntry& entry : map->entries()) {
    std::string name = RuleName(reader, entry, entry.key, entry.value, seen);
    if (name.empty()) continue;
    std::optional<std::string> text = reader.String(entry.value);
    if (!text) continue;
    std::optional<std::string> value = Expand(reader, entry.value, *text);
    if (value) out.emplace_back(std::move(name), std::move(*value));
  }
}

}  // namespace

void ReadRequestHeaders(Reader& reader, const Value& v, RequestHeaderRules& out) {
  std::optional<Map> map = reader.Mapping(v, kRequestHeaderKeys);
  if (!map) return;
  std::map<std::string, int> seen;
  if (const Value* set = map->Find("set")) ReadFields(reader, *set, seen, out.set);
  if (const Value* add = map->Find("add")) ReadFields(reader, *add, seen, out.add);
  if (const Value* remove = map->Find("remove")) {
    auto names = reader.StringOrList(*remove, "name the header fields to remove");
    if (!names) return;
    for (const auto& [text, at] : *names) {
      MapEntry entry;
      entry.key_pos = at.pos;
      std::string name = RuleName(reader, entry, text, at, seen);
      if (!name.empty()) out.remove.push_back(std::move(name));
    }
  }
}

}  // namespace infergate::config::detail
