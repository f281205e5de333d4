// The pre-tokenizer scanners. Each step below is one alternative of the pattern, tried in the
// pattern's order at the current position (leftmost-first, as PCRE and Python's regex do).
#include "tokenize/pretokenize.h"

#include <cstdint>

#include "infergate/tokenize/utf8.h"
#include "tokenize/unicode.h"

namespace infergate::tokenize {
namespace {

struct Cp {
  size_t offset;  // byte offset in the text
  uint32_t value;
  CpClass cls;
};

std::vector<Cp> Classified(std::string_view text) {
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const CodePoint cp = DecodeUtf8(text, pos);
    cps.push_back({pos, cp.value, Classify(cp.value)});
    pos += cp.length;
  }
  return cps;
}

uint32_t Lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

class Scanner {
 public:
  Scanner(std::vector<Cp> cps, PreTokenizer kind) : cps_(std::move(cps)), kind_(kind) {}

  // The number of code points of the word starting at i (>= 1).
  size_t WordAt(size_t i) const {
    if (size_t n = Contraction(i)) return n;
    if (kind_ == PreTokenizer::kGpt2) {
      // " ?\p{L}+", " ?\p{N}+"
      const size_t s = Is(i, ' ') && Cls(i + 1) != CpClass::kOther ? 1 : 0;
      if (Cls(i + s) == CpClass::kLetter) return s + Run(i + s, CpClass::kLetter);
      if (Cls(i + s) == CpClass::kNumber) return s + Run(i + s, CpClass::kNumber);
    } else {
      // "[^\r\n\p{L}\p{N}]?\p{L}+"
      const CpClass c = Cls(i);
      if (c == CpClass::kLetter) return Run(i, CpClass::kLetter);
      if (c != CpClass::kNumber && !IsNewline(i) && Cls(i + 1) == CpClass::kLetter) {
        return 1 + Run(i + 1, CpClass::kLetter);
      }
      // "\p{N}{1,3}" or "\p{N}"
      if (c == CpClass::kNumber) {
        const size_t max = kind_ == PreTokenizer::kQwen2 ? 1 : 3;
        const size_t n = Run(i, CpClass::kNumber);
        return n < max ? n : max;
      }
    }
    // " ?[^\s\p{L}\p{N}]+" and, for Llama 3 and Qwen2, "[\r\n]*" after it.
    const size_t s = Is(i, ' ') && Cls(i + 1) == CpClass::kOther ? 1 : 0;
    if (Cls(i + s) == CpClass::kOther) {
      size_t n = s + Run(i + s, CpClass::kOther);
      if (kind_ != PreTokenizer::kGpt2) {
        while (IsNewline(i + n)) ++n;
      }
      return n;
    }
    // Only white space is left at i.
    const size_t run = Run(i, CpClass::kSpace);
    if (kind_ != PreTokenizer::kGpt2) {
      // "\s*[\r\n]+": the greedy \s* gives back until the last newline of the run.
      for (size_t n = run; n > 0; --n) {
        if (IsNewline(i + n - 1)) return n;
      }
    }
    // "\s+(?!\S)": all of a run that ends the text; else all but its last space, which then
    // starts the next word (" word"); a single space before a word falls to "\s+".
    if (i + run == cps_.size() || run == 1) return run;
    return run - 1;
  }

  size_t size() const { return cps_.size(); }
  size_t Offset(size_t i) const { return cps_[i].offset; }

 private:
  // "'s|'t|'re|'ve|'m|'ll|'d": case-insensitive for Llama 3 and Qwen2, lower case for GPT-2.
  size_t Contraction(size_t i) const {
    if (!Is(i, '\'') || i + 1 >= cps_.size()) return 0;
    const bool fold = kind_ != PreTokenizer::kGpt2;
    auto ch = [&](size_t k) { return fold ? Lower(cps_[k].value) : cps_[k].value; };
    const uint32_t a = ch(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= cps_.size()) return 0;
    const uint32_t b = ch(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  bool Is(size_t i, uint32_t c) const { return i < cps_.size() && cps_[i].value == c; }
  bool IsNewline(size_t i) const { return Is(i, '\r') || Is(i, '\n'); }
  // Past the end reads as a space so that no class test matches it.
  CpClass Cls(size_t i) const { return i < cps_.size() ? cps_[i].cls : CpClass::kSpace; }
  size_t Run(size_t i, CpClass c) const {
    size_t n = 0;
    while (i + n < cps_.size() && cps_[i + n].cls == c) ++n;
    return n;
  }

  std::vector<Cp> cps_;
  PreTokenizer kind_;
};

}  // namespace

std::optional<PreTokenizer> PreTokenizerNamed(std::string_view name) {
  if (name == "llama3" || name == "llama-v3" || name == "llama-bpe" || name == "smaug-bpe") {
    return PreTokenizer::kLlama3;
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen") return PreTokenizer::kQwen2;
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2") {
    return PreTokenizer::kGpt2;
  }
  return std::nullopt;
}

std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizer kind) {
  const Scanner scanner(Classified(text), kind);
  std::vector<std::string_view> words;
  for (size_t i = 0; i < scanner.size();) {
    const size_t n = scanner.WordAt(i);
    const size_t begin = scanner.Offset(i);
    const size_t end = i + n < scanner.size() ? scanner.Offset(i + n) : text.size();
    words.push_back(text.substr(begin, end - begin));
    i += n;
  }
  return words;
}

}  // namespace infergate::tokenize
