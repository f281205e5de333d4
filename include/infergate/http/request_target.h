// Request targets (RFC 9112 3.2): which form a target has and the parts the gateway routes on
// and forwards. Pure; no allocation.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace infergate::http {

// RFC 9112 3.2 request-target forms. authority-form belongs to CONNECT, which is refused.
enum class TargetForm { kOrigin, kAbsolute, kAsterisk };

// A request target parsed once, strictly: origin-form "/path?query", absolute-form with an
// http or https scheme, or "*" for OPTIONS. Views into the target.
struct TargetParts {
  TargetForm form = TargetForm::kOrigin;
  std::string_view scheme;          // absolute-form only ("http" or "https", any case)
  std::string_view authority;       // absolute-form only
  std::string_view path;            // without the query; "*" for asterisk-form
  std::string_view path_and_query;  // what is forwarded (absolute-form: what follows authority)
};
// Parses `target` into `out`; a reason for a 400 when it is not one of the forms above or holds
// a fragment, user information, a character outside RFC 3986's path and query set, a bad
// percent-encoding, or a "." or ".." path segment (plain or percent-encoded).
std::optional<std::string> ParseTarget(std::string_view method, std::string_view target,
                                       TargetParts* out);

}  // namespace infergate::http
