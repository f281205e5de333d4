// Code point classes for the BPE pre-tokenizers: \p{L}, \p{N} and \s as the Llama 3, Qwen2 and
// GPT-2 patterns use them. A compact range table generated from unicodedata (binary search,
// ASCII by a direct test) rather than RE2 per code point: no regex compile, no allocation,
// and the same answer whatever RE2 version the system has.
#pragma once

#include <cstdint>
#include <span>

namespace infergate::tokenize {

struct CodePointRange {
  uint32_t first;
  uint32_t last;
};

enum class CpClass : uint8_t { kOther, kLetter, kNumber, kSpace };

// kInvalidCodePoint (a byte that is not UTF-8) is kOther: one non-letter code point.
CpClass Classify(uint32_t cp);

std::span<const CodePointRange> LetterRanges();
std::span<const CodePointRange> NumberRanges();

}  // namespace infergate::tokenize
