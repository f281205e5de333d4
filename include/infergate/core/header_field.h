// A header as two views into storage owned elsewhere (a request head, a parse buffer).
#pragma once

#include <string_view>

namespace infergate {

struct HeaderField {
  std::string_view name;   // as received; compare case-insensitively
  std::string_view value;  // leading and trailing whitespace already removed
};

// ASCII case-insensitive equality, for header names and tokens.
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace infergate
