// The SentencePiece-style tokenizer on a vocabulary small enough to work every merge by hand.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "infergate/tokenize/tokenizer.h"
#include "unit/tokenize/small_vocabs.h"

namespace infergate::tokenize {
namespace {

using Ids = std::vector<TokenId>;

using test_vocabs::SmallSpm;

Tokenizer Make(Vocab v = SmallSpm()) {
  auto t = Tokenizer::Create(std::move(v));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(t).value();
}

constexpr EncodeOptions kPlain{.add_special = false, .parse_special = false};
constexpr EncodeOptions kSpecial{.add_special = false, .parse_special = true};

TEST(Spm, HighestScoreMergesFirst) {
  const Tokenizer t = Make();
  // "abc" -> "▁abc": pairs ▁a -2, ab -1, bc -0.5. bc wins (highest), leaving ▁ a bc: ▁a -2 is
  // the only pair left ("abc" is no token), so ▁a, bc.
  EXPECT_EQ(t.Encode("abc", kPlain), (Ids{265, 264}));
  // "ab" -> "▁ab": ab -1 beats ▁a -2; then ▁ + ab = "▁ab" -3 merges.
  EXPECT_EQ(t.Encode("ab", kPlain), (Ids{266}));
  // Spaces become ▁: "ab ab" -> "▁ab▁ab" -> ▁ab ▁ab.
  EXPECT_EQ(t.Encode("ab ab", kPlain), (Ids{266, 266}));
}

TEST(Spm, BosByDefaultEosWhenAsked) {
  EXPECT_EQ(Make().Encode("ab"), (Ids{1, 266}));
  Vocab v = SmallSpm();
  v.add_bos = false;
  v.add_eos = true;
  EXPECT_EQ(Make(std::move(v)).Encode("ab"), (Ids{266, 2}));
}

TEST(Spm, UnknownCharactersFallBackToBytes) {
  const Tokenizer t = Make();
  // "x": "▁x" is no token, so ▁ then x's byte 0x78 -> 3 + 0x78 = 123.
  EXPECT_EQ(t.Encode("x", kPlain), (Ids{259, 123}));
  // "é" is C3 A9: 3 + 0xC3 = 198, 3 + 0xA9 = 172.
  EXPECT_EQ(t.Encode("\xC3\xA9", kPlain), (Ids{259, 198, 172}));
  // Bytes that are not UTF-8 are symbols of their own and fall back the same way.
  EXPECT_EQ(t.Encode("\xFF\xFE", kPlain), (Ids{259, 258, 257}));
  // A newline has no piece: byte 0x0A -> 13.
  EXPECT_EQ(t.Encode("a\nb", kPlain), (Ids{265, 13, 261}));
}

TEST(Spm, SpecialTokensInText) {
  const Tokenizer t = Make();
  // Parsed: the control token, then "ab" with the space prefix that follows a special token.
  EXPECT_EQ(t.Encode("<|ctl|>ab", kSpecial), (Ids{268, 266}));
  // Not parsed: "▁<|ctl|>ab" is bytes for everything but ▁ and ab: ▁ < | c t l | > ab.
  EXPECT_EQ(t.Encode("<|ctl|>ab", kPlain),
            (Ids{259, 3 + '<', 3 + '|', 262, 3 + 't', 3 + 'l', 3 + '|', 3 + '>', 263}));
  // User-defined tokens are matched either way, as llama.cpp does.
  EXPECT_EQ(t.Encode("ab<|user|>", kPlain), (Ids{266, 267}));
}

TEST(Spm, DecodeStripsTheAddedSpace) {
  const Tokenizer t = Make();
  EXPECT_EQ(t.Decode(Ids{1, 266, 266}), "ab ab");
  EXPECT_EQ(t.Decode(Ids{266, 265}), "ab a");
  // With BOS written out, it is the first piece and the space after it stays (llama.cpp too).
  EXPECT_EQ(t.Decode(Ids{1, 266, 2}, {.skip_special = false}), "<s> ab</s>");
  EXPECT_EQ(t.TokenToPiece(266), " ab");
  EXPECT_EQ(t.TokenToPiece(198), "\xC3");  // half a character: the raw byte
  EXPECT_EQ(t.TokenToPiece(1), "");
  EXPECT_EQ(t.TokenToPiece(9999), "");
}

TEST(Spm, AnyBytesRoundTrip) {
  const Tokenizer t = Make();
  for (std::string s : {std::string("abc bca  cab "), std::string("\xFF\xFE\x00 a\xE4\xB8", 7),
                        std::string("caf\xC3\xA9 \xF0\x9F\x99\x82\n\t")}) {
    EXPECT_EQ(t.Decode(t.Encode(s)), s);
  }
}

TEST(Spm, BadVocabulariesAreErrors) {
  Vocab v = SmallSpm();
  v.scores.pop_back();
  auto t = Tokenizer::Create(std::move(v));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("scores"), std::string::npos);
  v = SmallSpm();
  v.bos_id = 100000;
  EXPECT_FALSE(Tokenizer::Create(std::move(v)).ok());
  v = SmallSpm();
  v.model = "bert";
  auto bert = Tokenizer::Create(std::move(v));
  ASSERT_FALSE(bert.ok());
  EXPECT_NE(bert.error().message.find("llama, gpt2"), std::string::npos);
  EXPECT_FALSE(Tokenizer::Create(Vocab{}).ok());
}

}  // namespace
}  // namespace infergate::tokenize
