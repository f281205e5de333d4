// The byte-level BPE pre-tokenizers: text split into words before merging, as the GPT-2,
// Llama 3 and Qwen2 regular expressions split it. Hand-written scanners rather than a regex
// engine: RE2 cannot express the `\s+(?!\S)` lookahead, and one pass over classified code
// points is cheaper than a regex per word.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace infergate::tokenize {

enum class PreTokenizer {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // As Llama 3 with \p{N} (one digit per word) instead of \p{N}{1,3}.
  kQwen2,
};

// tokenizer.ggml.pre names: llama3, llama-v3, llama-bpe, smaug-bpe; qwen2, deepseek-r1-qwen;
// gpt-2, gpt2, default and an empty name. For "default" (a file that names no pre-tokenizer)
// llama.cpp runs a cruder split of its own and warns that output will be degraded; GPT-2's
// pattern is the better guess for a byte-level BPE vocabulary.
std::optional<PreTokenizer> PreTokenizerNamed(std::string_view name);

// The words of text, in order, covering every byte. A byte that is not UTF-8 is one code
// point of class "other" (neither letter, number nor space).
std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizer kind);

}  // namespace infergate::tokenize
