// Byte-level BPE on a vocabulary whose merges can be followed by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infergate/tokenize/tokenizer.h"
#include "infergate/tokenize/utf8.h"
#include "tokenize/tokenizer_data.h"
#include "unit/tokenize/small_vocabs.h"

namespace infergate::tokenize {
namespace {

using Ids = std::vector<TokenId>;

using test_vocabs::Mapped;

TEST(ByteToUnicode, GptTwoMapping) {
  // Printable bytes stand for themselves; the 68 others take U+0100.. in byte order: 0x00..0x20
  // are U+0100..U+0120 (space is U+0120 "Ġ", newline U+010A "Ċ"), 0x7F is U+0121, 0x80..0xA0
  // are U+0122..U+0142 and 0xAD is U+0143.
  EXPECT_EQ(ByteToUnicode('a'), uint32_t{'a'});
  EXPECT_EQ(ByteToUnicode(0xE9), 0xE9u);
  EXPECT_EQ(ByteToUnicode(0x00), 0x100u);
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);
  EXPECT_EQ(ByteToUnicode(0x7F), 0x121u);
  EXPECT_EQ(ByteToUnicode(0x80), 0x122u);
  EXPECT_EQ(ByteToUnicode(0xA0), 0x142u);
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(UnicodeToByte(ByteToUnicode(uint8_t(b))), b);
  EXPECT_EQ(UnicodeToByte(0x144), -1);
}

using test_vocabs::SmallBpe;

Tokenizer Make(Vocab v) {
  auto t = Tokenizer::Create(std::move(v));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(t).value();
}

constexpr EncodeOptions kPlain{.add_special = false, .parse_special = false};

TEST(Bpe, MergesByRank) {
  const Tokenizer t = Make(SmallBpe("gpt2"));
  // "hello": h e l l o; ll (0) first, then he (1), he+ll (2), hell+o (3).
  // " world": Ġ w o r l d; Ġw (4), or (5), Ġw+or (6), ld (7), Ġwor+ld (8).
  EXPECT_EQ(t.Encode("hello world", kPlain), (Ids{259, 264}));
  // "hold": no pair but "l d" (7): h o ld.
  EXPECT_EQ(t.Encode("hold", kPlain), (Ids{'h', 'o', 263}));
  // Pre-tokenized apart, "hel" and "lo" never merge across the space: h e l, then " lo" -> Ġ l o.
  EXPECT_EQ(t.Encode("hel lo", kPlain), (Ids{257, 'l', ' ', 'l', 'o'}));
}

TEST(Bpe, BosOnlyForLlama3ByDefault) {
  EXPECT_EQ(Make(SmallBpe("qwen2")).Encode("hello"), (Ids{259}));
  EXPECT_EQ(Make(SmallBpe("llama-bpe")).Encode("hello"), (Ids{265, 259}));
}

TEST(Bpe, SpecialTokensWhenParsed) {
  const Tokenizer t = Make(SmallBpe("qwen2"));
  const EncodeOptions special{.add_special = false, .parse_special = true};
  EXPECT_EQ(t.Encode("<|im_start|>hello<|im_end|>", special), (Ids{266, 259, 267}));
  // Unparsed, "<|" is plain punctuation: < | i m _ s t a r t | > h e l l o ...
  const Ids plain = t.Encode("<|im_start|>hello", kPlain);
  EXPECT_EQ(plain.size(), 13u);  // "<|" 2, "im" 2, "_start" 6, "|>" 2 bytes, hello 1
  EXPECT_EQ(t.Decode(plain), "<|im_start|>hello");
}

TEST(Bpe, InvalidBytesRoundTrip) {
  const Tokenizer t = Make(SmallBpe("llama3"));
  // Each byte's mapped character is a token, so any bytes encode and decode back.
  const std::string s("\xFF\xFE hello \xC3 world\x00\n", 18);
  const Ids ids = t.Encode(s, kPlain);
  EXPECT_EQ(t.Decode(ids), s);
  EXPECT_EQ(t.Encode("\xFF\xFE", kPlain), (Ids{0xFF, 0xFE}));
  EXPECT_EQ(t.TokenToPiece(0xC3), "\xC3");
}

TEST(Bpe, DecodeSkipsControlTokens) {
  const Tokenizer t = Make(SmallBpe("qwen2"));
  EXPECT_EQ(t.Decode(Ids{266, 259, 264, 267}), "hello world");
  EXPECT_EQ(t.Decode(Ids{266, 259, 267}, {.skip_special = false}), "<|im_start|>hello<|im_end|>");
  EXPECT_TRUE(t.IsEndOfGeneration(265));
  EXPECT_TRUE(t.IsEndOfGeneration(267));
  EXPECT_FALSE(t.IsEndOfGeneration(259));
}

TEST(Bpe, UnknownPreTokenizerIsAnError) {
  auto t = Tokenizer::Create(SmallBpe("falcon"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("falcon"), std::string::npos);
  Vocab bad = SmallBpe("gpt2");
  bad.merges.push_back("nospace");
  EXPECT_FALSE(Tokenizer::Create(std::move(bad)).ok());
}

}  // namespace
}  // namespace infergate::tokenize
