// UTF-8 helpers for tokenizers and for streaming token text to clients: a decoder that never
// fails (an invalid byte is one code point of its own) and an assembler that releases only
// complete characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::tokenize {

inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;

// Decodes the code point at text[pos]: its value and length in bytes (>= 1). A byte that does
// not begin a well-formed sequence (stray continuation, overlong form, surrogate, > U+10FFFF,
// truncated) gives kInvalidCodePoint with length 1.
struct CodePoint {
  uint32_t value;
  size_t length;
};
CodePoint DecodeUtf8(std::string_view text, size_t pos);

void AppendUtf8(uint32_t cp, std::string& out);

// Buffers the bytes of token pieces and releases complete, valid UTF-8 only: a character split
// across two tokens comes out whole with the second. Bytes that can never become valid are
// released as U+FFFD at once; an incomplete sequence left at the end becomes U+FFFD in Flush.
// Holds at most 3 bytes between calls. Not thread safe (one per generated sequence).
class Utf8Assembler {
 public:
  std::string Push(std::string_view bytes);
  std::string Flush();
  bool pending() const { return !held_.empty(); }

 private:
  std::string held_;
};

}  // namespace infergate::tokenize
