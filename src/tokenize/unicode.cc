// Classification of code points for the pre-tokenizers.
#include "tokenize/unicode.h"

#include <algorithm>

namespace infergate::tokenize {
namespace {

bool InRanges(std::span<const CodePointRange> ranges, uint32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](uint32_t v, const CodePointRange& r) { return v < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}

// \s in the patterns is Unicode's White_Space property (what PCRE and Python's regex module use
// with Unicode, and llama.cpp's whitespace flag): short enough to list by hand.
bool IsWhiteSpace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace

CpClass Classify(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CpClass::kLetter;
    if (cp >= '0' && cp <= '9') return CpClass::kNumber;
    return IsWhiteSpace(cp) ? CpClass::kSpace : CpClass::kOther;
  }
  if (cp > 0x10FFFF) return CpClass::kOther;
  if (IsWhiteSpace(cp)) return CpClass::kSpace;
  if (InRanges(LetterRanges(), cp)) return CpClass::kLetter;
  if (InRanges(NumberRanges(), cp)) return CpClass::kNumber;
  return CpClass::kOther;
}

}  // namespace infergate::tokenize
