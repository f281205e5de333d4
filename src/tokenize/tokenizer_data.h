// What a Tokenizer derives from its Vocab once, at Create, and shares read-only between the
// SentencePiece and BPE encoders (spm.cc, bpe.cc) and the special-token splitter.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "infergate/tokenize/tokenizer.h"
#include "infergate/tokenize/vocab.h"
#include "tokenize/pretokenize.h"

namespace infergate::tokenize {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Merge {
  int32_t rank;
  TokenId result;
};

struct TokenizerData {
  Vocab vocab;
  TokenizerKind kind = TokenizerKind::kSentencePiece;
  PreTokenizer pre = PreTokenizer::kGpt2;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  // Llama 3: a whole pre-tokenized word that is a token is taken as is, not merged (the
  // tokenizer.json "ignore_merges" that llama.cpp follows).
  bool ignore_merges = false;
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> ids;
  std::vector<TokenType> types;
  // SentencePiece: the <0xXX> token of each byte. BPE: the token of each byte's mapped character.
  std::array<TokenId, 256> byte_tokens{};
  // BPE: (left id << 32 | right id) -> rank and the merged token.
  std::unordered_map<uint64_t, Merge> merges;
  // Control, user-defined and unknown tokens, longest text first: matched in text before
  // ordinary tokenization.
  std::vector<TokenId> specials;
  std::vector<TokenId> end_of_generation;

  TokenId Find(std::string_view text) const {
    auto it = ids.find(text);
    return it == ids.end() ? kNoToken : it->second;
  }
  TokenType Type(TokenId id) const { return types[static_cast<size_t>(id)]; }
};

// The part of the text between special tokens, or one special token (text empty).
struct Fragment {
  TokenId special = kNoToken;
  std::string_view text;
};
std::vector<Fragment> SplitSpecial(const TokenizerData& data, std::string_view text,
                                   bool parse_special);

// Appends the tokens of one piece of plain text.
void SpmEncode(const TokenizerData& data, std::string_view text, std::vector<TokenId>& out);
void BpeEncode(const TokenizerData& data, std::string_view text, std::vector<TokenId>& out);

// GPT-2's byte-level mapping: every byte to a printable code point and back.
uint32_t ByteToUnicode(uint8_t b);
// -1 for a code point that no byte maps to.
int UnicodeToByte(uint32_t cp);

}  // namespace infergate::tokenize
