// Request targets (RFC 9112 3.2) parsed once and strictly, so that the path routes match is the
// path forwarded.
#include "infergate/http/request_target.h"

#include "infergate/core/header_field.h"

namespace infergate::http {

namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 pchar and the '/' and '?' of a path and query; '%' is checked apart.
constexpr bool IsTargetCharSlow(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':  // unreserved
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':  // sub-delims
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
    case '?':
      return true;
    default:
      return false;
  }
}

struct TargetCharTable {
  bool ok[256] = {};
  constexpr TargetCharTable() {
    for (int c = 0; c < 256; ++c) ok[c] = IsTargetCharSlow(static_cast<char>(c));
  }
};
constexpr TargetCharTable kTargetChars;

inline bool IsTargetChar(char c) { return kTargetChars.ok[static_cast<unsigned char>(c)]; }

// A path segment of only "." or ".." (also percent-encoded), which backends would collapse into
// another path than the one routed.
bool IsDotSegment(std::string_view seg) {
  size_t dots = 0;
  for (size_t i = 0; i < seg.size();) {
    if (seg[i] == '.') {
      ++i;
    } else if (seg.substr(i, 3) == "%2e" || seg.substr(i, 3) == "%2E") {
      i += 3;
    } else {
      return false;
    }
    ++dots;
  }
  return dots == 1 || dots == 2;
}

// Checks an absolute path with an optional query (origin-form, or what follows the authority).
std::optional<std::string> CheckPathAndQuery(std::string_view pq) {
  for (size_t i = 0; i < pq.size(); ++i) {
    const char c = pq[i];
    if (c == '%') {
      if (i + 2 >= pq.size() || !IsHex(pq[i + 1]) || !IsHex(pq[i + 2]))
        return "invalid percent-encoding in the request target";
      i += 2;
    } else if (!IsTargetChar(c)) {
      return c == '#' ? "a fragment (#) in the request target"
                      : "invalid character in the request target";
    }
  }
  std::string_view path = pq.substr(0, pq.find('?'));
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const size_t next = path.find('/');
    if (IsDotSegment(path.substr(0, next))) return "a dot-segment (. or ..) in the request path";
    if (next == std::string_view::npos) break;
    path.remove_prefix(next);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ParseTarget(std::string_view method, std::string_view target,
                                       TargetParts* out) {
  *out = TargetParts{};
  if (target.empty()) return "empty request target";
  if (target.front() == '/') {
    if (auto bad = CheckPathAndQuery(target)) return bad;
    out->form = TargetForm::kOrigin;
    out->path_and_query = target;
    out->path = target.substr(0, target.find('?'));
    return std::nullopt;
  }
  if (target == "*") {
    if (method != "OPTIONS") return "the asterisk-form target (*) is only for OPTIONS";
    out->form = TargetForm::kAsterisk;
    out->path_and_query = out->path = target;
    return std::nullopt;
  }
  const size_t colon = target.find("://");
  if (colon == std::string_view::npos) {
    return "request target must be a path (/...) or an absolute http(s) URL";
  }
  const std::string_view scheme = target.substr(0, colon);
  if (!IEquals(scheme, "http") && !IEquals(scheme, "https"))
    return "request target must be a path (/...) or an absolute http(s) URL";
  std::string_view rest = target.substr(colon + 3);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  if (authority.empty()) return "an absolute-form target without a host";
  for (char c : authority) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == ':' || c == '[' || c == ']' || c == '_' ||
                    c == '~';
    if (!ok) {
      return c == '@' ? "user information (@) in the request target"
                      : "invalid character in the request target's host";
    }
  }
  const std::string_view pq = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (!pq.empty() && pq.front() == '#') return "a fragment (#) in the request target";
  if (auto bad = CheckPathAndQuery(pq)) return bad;
  out->form = TargetForm::kAbsolute;
  out->scheme = scheme;
  out->authority = authority;
  out->path_and_query = pq;  // "" or "?q" when the path is empty: the caller makes it "/"
  out->path = pq.substr(0, pq.find('?'));
  return std::nullopt;
}

}  // namespace infergate::http
