// Strict UTF-8 decoding (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF)
// and the streaming assembler.
#include "infergate/tokenize/utf8.h"

namespace infergate::tokenize {
namespace {

// The length a lead byte announces (0: not a lead byte) and the range its first continuation
// byte must fall in; the ranges are what exclude overlong forms, surrogates and > U+10FFFF.
struct Lead {
  size_t length;
  uint8_t lo;
  uint8_t hi;
};

Lead LeadOf(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// How many bytes from pos agree with a well-formed sequence (at most its length), and the
// length it needs. valid == needed means a complete code point.
struct Prefix {
  size_t valid;
  size_t needed;
};

Prefix CheckPrefix(std::string_view text, size_t pos) {
  const Lead lead = LeadOf(static_cast<uint8_t>(text[pos]));
  if (lead.length == 0) return {0, 1};
  size_t n = 1;
  while (n < lead.length && pos + n < text.size()) {
    const auto b = static_cast<uint8_t>(text[pos + n]);
    const uint8_t lo = n == 1 ? lead.lo : 0x80;
    const uint8_t hi = n == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) break;
    ++n;
  }
  return {n, lead.length};
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

}  // namespace

CodePoint DecodeUtf8(std::string_view text, size_t pos) {
  const Prefix p = CheckPrefix(text, pos);
  if (p.valid != p.needed) return {kInvalidCodePoint, 1};
  const auto* s = reinterpret_cast<const unsigned char*>(text.data() + pos);
  switch (p.needed) {
    case 1:
      return {s[0], 1};
    case 2:
      return {(uint32_t{s[0]} & 0x1F) << 6 | (s[1] & 0x3F), 2};
    case 3:
      return {(uint32_t{s[0]} & 0x0F) << 12 | (uint32_t{s[1]} & 0x3F) << 6 | (s[2] & 0x3F), 3};
    default:
      return {(uint32_t{s[0]} & 0x07) << 18 | (uint32_t{s[1]} & 0x3F) << 12 |
                  (uint32_t{s[2]} & 0x3F) << 6 | (s[3] & 0x3F),
              4};
  }
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string Utf8Assembler::Push(std::string_view bytes) {
  held_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < held_.size()) {
    const Prefix p = CheckPrefix(held_, i);
    if (p.valid == p.needed) {
      out.append(held_, i, p.needed);
      i += p.needed;
    } else if (i + p.valid == held_.size() && p.valid > 0) {
      break;  // a correct start that the next piece may complete
    } else {
      out.append(kReplacement);  // can never become valid: say so now, go on after it
      ++i;
    }
  }
  held_.erase(0, i);
  return out;
}

std::string Utf8Assembler::Flush() {
  if (held_.empty()) return {};
  held_.clear();
  return std::string(kReplacement);
}

}  // namespace infergate::tokenize
