// The small vocabularies of the hand-derived tests (spm_test.cc, bpe_test.cc), shared with the
// round-trip test.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "infergate/tokenize/utf8.h"
#include "infergate/tokenize/vocab.h"
#include "tokenize/tokenizer_data.h"

namespace infergate::tokenize::test_vocabs {

// 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens <0x00>..<0xFF> (byte b is id 3 + b), then:
// 259 "▁" -100, 260 "a" -10, 261 "b" -10, 262 "c" -10, 263 "ab" -1, 264 "bc" -0.5,
// 265 "▁a" -2, 266 "▁ab" -3, 267 "<|user|>" (user-defined), 268 "<|ctl|>" (control).
inline Vocab SmallSpm() {
  Vocab v;
  v.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0, TokenType::kByte);
  }
  add("\xE2\x96\x81", -100, TokenType::kNormal);
  add("a", -10, TokenType::kNormal);
  add("b", -10, TokenType::kNormal);
  add("c", -10, TokenType::kNormal);
  add("ab", -1, TokenType::kNormal);
  add("bc", -0.5, TokenType::kNormal);
  add("\xE2\x96\x81"
      "a",
      -2, TokenType::kNormal);
  add("\xE2\x96\x81"
      "ab",
      -3, TokenType::kNormal);
  add("<|user|>", 0, TokenType::kUserDefined);
  add("<|ctl|>", 0, TokenType::kControl);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  return v;
}

inline std::string Mapped(uint8_t b) {
  std::string s;
  AppendUtf8(ByteToUnicode(b), s);
  return s;
}

// Ids 0..255: the mapped character of byte b is token b. Merges, rank in order:
// 0 "l l", 1 "h e", 2 "he ll", 3 "hell o", 4 "Ġ w", 5 "o r", 6 "Ġw or", 7 "l d", 8 "Ġwor ld",
// making tokens 256 ll, 257 he, 258 hell, 259 hello, 260 Ġw, 261 or, 262 Ġwor, 263 ld,
// 264 Ġworld; then 265 <|endoftext|>, 266 <|im_start|>, 267 <|im_end|> (control).
inline Vocab SmallBpe(std::string pre) {
  Vocab v;
  v.model = "gpt2";
  v.pre = std::move(pre);
  for (int b = 0; b < 256; ++b) v.tokens.push_back(Mapped(uint8_t(b)));
  const std::string g = Mapped(' ');
  for (const std::string& t : std::vector<std::string>{"ll", "he", "hell", "hello", g + "w", "or",
                                                       g + "wor", "ld", g + "world"}) {
    v.tokens.push_back(t);
  }
  v.merges = {"l l", "h e", "he ll", "hell o", g + " w", "o r", g + "w or", "l d", g + "wor ld"};
  for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) v.tokens.push_back(t);
  v.token_types.assign(v.tokens.size(), 1);
  for (size_t i = 265; i < v.tokens.size(); ++i) v.token_types[i] = 3;
  v.eos_id = 265;
  v.bos_id = 265;
  return v;
}

}  // namespace infergate::tokenize::test_vocabs
