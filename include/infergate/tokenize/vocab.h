// The tokenizer's input: what a GGUF file's tokenizer.* metadata holds, as plain data, so the
// tokenizers can be built and tested without a model file (the GGUF reader fills this in).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace infergate::tokenize {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, <|eot_id|>, <|im_start|>: never produced from plain text
  kUserDefined = 4,  // added tokens that are always matched whole in the text
  kUnused = 5,
  kByte = 6,  // SentencePiece byte fallback pieces "<0x00>".."<0xFF>"
};

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) | "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre: "llama3", "llama-bpe", "qwen2", "default", "gpt2", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;         // SentencePiece: higher merges first; may be empty for BPE
  std::vector<int32_t> token_types;  // TokenType values; empty means all normal
  std::vector<std::string> merges;   // BPE: "left right", rank = position
  TokenId bos_id = kNoToken;
  TokenId eos_id = kNoToken;
  TokenId unk_id = kNoToken;
  TokenId pad_id = kNoToken;
  // Unset: llama.cpp's defaults (BOS on for SentencePiece and the Llama 3 pre-tokenizer, off
  // otherwise; EOS off).
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  // tokenizer.ggml.add_space_prefix; unset means on for SentencePiece.
  std::optional<bool> add_space_prefix;
};

}  // namespace infergate::tokenize
