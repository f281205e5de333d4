// The protocol-neutral message model: header lookups, hop-by-hop fields, end-to-end copies.
#include "infergate/http/message.h"

namespace infergate::http {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view Request::Get(std::string_view lower_name) const {
  for (const HeaderField& h : headers) {
    if (h.name == lower_name) return h.value;
  }
  return {};
}

bool IsHopByHop(std::string_view name, std::string_view connection) {
  // By length first: this runs for every field of every request and response, and most have a
  // length no hop-by-hop name has (one comparison instead of nine).
  bool fixed = false;
  switch (name.size()) {
    case 2:
      fixed = IEquals(name, "te");
      break;
    case 7:
      fixed = IEquals(name, "upgrade") || IEquals(name, "trailer");
      break;
    case 10:
      fixed = IEquals(name, "connection") || IEquals(name, "keep-alive");
      break;
    case 16:
      fixed = IEquals(name, "proxy-connection");
      break;
    case 17:
      fixed = IEquals(name, "transfer-encoding");
      break;
    case 18:
      fixed = IEquals(name, "proxy-authenticate");
      break;
    case 19:
      fixed = IEquals(name, "proxy-authorization");
      break;
    default:
      break;
  }
  if (fixed) return true;
  // Tokens listed in Connection: "close, x-foo".
  while (!connection.empty()) {
    size_t comma = connection.find(',');
    std::string_view tok = Trim(connection.substr(0, comma));
    if (!tok.empty() && IEquals(tok, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

void CopyEndToEnd(std::span<const HeaderField> from, bool has_body, std::vector<HeaderField>* to) {
  std::string_view connection;
  for (const HeaderField& f : from) {
    if (IEquals(f.name, "connection")) connection = f.value;
  }
  for (const HeaderField& f : from) {
    if (IsHopByHop(f.name, connection) || (has_body && IEquals(f.name, "content-length")) ||
        IEquals(f.name, "x-request-id")) {
      continue;
    }
    to->push_back(f);
  }
}

}  // namespace infergate::http
