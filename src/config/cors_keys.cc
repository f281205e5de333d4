// A listener's `cors` mapping: the origins, methods and headers browsers are told they may use
// (src/exchange/cors.cc applies it; README "CORS" says how).
#include <algorithm>
#include <cctype>
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kCorsKeys[] = {"allow_origins",  "allow_methods",     "allow_headers",
                                          "expose_headers", "allow_credentials", "max_age"};

// Why `origin` (lower-cased) is not scheme://host[:port], or "" when it is.
std::string OriginProblem(std::string_view origin) {
  const size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return "write scheme://host[:port]";
  const std::string_view scheme = origin.substr(0, sep);
  const bool scheme_ok =
      std::isalpha(static_cast<unsigned char>(scheme[0])) &&
      std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
      });
  if (!scheme_ok) return "the scheme is not valid";
  std::string_view rest = origin.substr(sep + 3);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return "an origin has no path, query or fragment (write scheme://host[:port])";
  }
  if (rest.find('@') != std::string_view::npos) return "an origin has no user information";
  std::string_view host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return "unclosed \"[\" in the host";
    host = rest.substr(0, close + 1);
    rest.remove_prefix(close + 1);
  } else {
    const size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
  }
  if (host.empty()) return "the host is empty";
  if (host.front() != '[' && !std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
      })) {
    return "the host is not a valid host name";
  }
  if (!rest.empty()) {
    const std::string_view port = rest.substr(1);
    if (rest.front() != ':' || port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
        std::stoi(std::string(port)) > 65535) {
      return "the port is not a number from 0 to 65535";
    }
  }
  return "";
}

// Header names: tokens, lower-cased, each once.
std::optional<std::vector<std::string>> HeaderNames(Reader& reader, const Value& v,
                                                    std::string_view if_empty) {
  auto items = reader.StringOrList(v, if_empty);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  for (auto& [name, at] : *items) {
    if (!IsToken(name)) {
      reader.diag().Add(at, Quoted(name) + " is not a valid header name");
      return std::nullopt;
    }
    std::string lower = Lower(name);
    if (std::find(out.begin(), out.end(), lower) != out.end()) {
      reader.diag().Add(at, "listed twice");
      return std::nullopt;
    }
    out.push_back(std::move(lower));
  }
  return out;
}

}  // namespace

void ReadCors(Reader& reader, const Value& v, CorsConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kCorsKeys);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Bool("allow_credentials", out.allow_credentials);
  keys.Time("max_age", out.max_age, /*must_be_positive=*/false);
  if (const Value* origins = map->Require("allow_origins", reader.diag())) {
    if (auto items = reader.StringOrList(*origins, "list the origins browsers may call from")) {
      for (auto& [text, at] : *items) {
        std::string origin = Lower(text);
        if (origin == "*") {
          if (items->size() > 1) {
            reader.diag().Add(at, "\"*\" allows every origin: list it alone");
            continue;
          }
          if (out.allow_credentials) {
            reader.diag().Add(at,
                              "\"*\" cannot be used with allow_credentials: true (browsers refuse "
                              "credentialed answers to any origin; list the origins)");
            continue;
          }
        } else if (std::string why = OriginProblem(origin); !why.empty()) {
          reader.diag().Add(at, Quoted(text) + " is not an origin: " + why +
                                    ", e.g. https://app.example.com or http://localhost:3000");
          continue;
        }
        if (std::find(out.allow_origins.begin(), out.allow_origins.end(), origin) !=
            out.allow_origins.end()) {
          reader.diag().Add(at, "listed twice");
          continue;
        }
        out.allow_origins.push_back(std::move(origin));
      }
    }
  }
  if (const Value* methods = map->Find("allow_methods")) {
    if (auto items = reader.StringOrList(*methods, "list the methods browsers may use")) {
      std::vector<std::string> list;
      bool ok = true;
      for (auto& [method, at] : *items) {
        if (!IsToken(method) || std::any_of(method.begin(), method.end(),
                                            [](char c) { return c >= 'a' && c <= 'z'; })) {
          reader.diag().Add(at, Quoted(method) +
                                    " is not an upper-case method token (methods are "
                                    "case-sensitive: write e.g. GET, POST)");
          ok = false;
          continue;
        }
        if (std::find(list.begin(), list.end(), method) != list.end()) {
          reader.diag().Add(at, "listed twice");
          ok = false;
          continue;
        }
        list.push_back(method);
      }
      if (ok) out.allow_methods = std::move(list);
    }
  }
  if (const Value* h = map->Find("allow_headers")) {
    if (auto names = HeaderNames(reader, *h, "list the request headers browsers may send"))
      out.allow_headers = std::move(*names);
  }
  if (const Value* h = map->Find("expose_headers")) {
    if (auto names = HeaderNames(reader, *h, "omit expose_headers to expose only the defaults"))
      out.expose_headers = std::move(*names);
  }
}

}  // namespace infergate::config::detail
