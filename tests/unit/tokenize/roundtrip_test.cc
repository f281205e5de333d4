// Properties over many seeded random inputs, the tokenizers' counterpart of a fuzz replay: any
// bytes encode without crashing and decode back to themselves, and what Utf8Assembler releases
// is always valid UTF-8. Inputs mix bytes that are not UTF-8, white space runs and pieces of
// special tokens. The real vocabularies of reference_test.cc join in when they have been made.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "infergate/tokenize/tokenizer.h"
#include "infergate/tokenize/utf8.h"
#include "unit/tokenize/small_vocabs.h"
#include "unit/tokenize/vector_file.h"

namespace infergate::tokenize {
namespace {

std::vector<std::string> RandomInputs(size_t count) {
  using namespace std::string_view_literals;
  // clang-format off
  static constexpr std::string_view kPieces[] = {
      "a", "ab", "bc", "hello", " world", " ", "  ", "\n", "\r\n", "\t", "12345", "'s", "'LL", "!",
      "(", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x99\x82", "\xFF", "\xFE", "\x80", "\xC3", "\xE4\xB8",
      "\xF0\x9F", "\xED\xA0\x80", "\xC0\xAF", "\0"sv, "<s>", "</s>", "<|im_start|>", "<|im_end|>",
      "<|", "|>", "<|user|>", "<|ctl|>", "\xE2\x96\x81", "\xC2\xA0", "\xE3\x80\x80"};
  // clang-format on
  std::mt19937 rng(12345);  // fixed: the same inputs every run
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    const size_t n = rng() % 16;
    for (size_t k = 0; k < n; ++k) {
      if (rng() % 8 == 0) {
        s += static_cast<char>(rng() % 256);  // any byte at all
      } else {
        s += kPieces[rng() % std::size(kPieces)];
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool ValidUtf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const CodePoint cp = DecodeUtf8(s, pos);
    if (cp.value == kInvalidCodePoint) return false;
    pos += cp.length;
  }
  return true;
}

void CheckRoundTrips(const Tokenizer& t) {
  const bool spm = t.kind() == TokenizerKind::kSentencePiece;
  for (const std::string& s : RandomInputs(3000)) {
    const std::vector<TokenId> ids = t.Encode(s, {.add_special = true, .parse_special = false});
    // SentencePiece puts its "▁" after every matched token, user-defined ones too (llama.cpp
    // does the same), so text holding one comes back with a space after it; and a "▁" in the
    // text is the piece for a space, so it comes back as one (SentencePiece itself does that).
    const bool exact = !spm || (s.find("<|user|>") == std::string::npos &&
                                s.find("\xE2\x96\x81") == std::string::npos);
    if (exact) {
      ASSERT_EQ(t.Decode(ids), s);
    }
    for (TokenId id : ids) ASSERT_TRUE(id >= 0 && static_cast<size_t>(id) < t.size());
    // Parsed special tokens decode to their own text; byte-level BPE adds nothing around them,
    // so the text comes back whole (SentencePiece puts its space after them).
    const std::vector<TokenId> special = t.Encode(s, {.add_special = false, .parse_special = true});
    if (!spm) {
      ASSERT_EQ(t.Decode(special, {.skip_special = false}), s);
    }
    Utf8Assembler assembler;
    std::string streamed;
    for (TokenId id : ids) {
      const std::string out = assembler.Push(t.TokenToPiece(id));
      ASSERT_TRUE(ValidUtf8(out));
      streamed += out;
    }
    streamed += assembler.Flush();
    ASSERT_TRUE(ValidUtf8(streamed));
    if (exact && ValidUtf8(s)) {
      const std::string prefix = spm && !s.empty() ? " " : "";
      ASSERT_EQ(streamed, prefix + s);
    }
  }
}

Tokenizer Make(Vocab v) {
  auto t = Tokenizer::Create(std::move(v));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(t).value();
}

TEST(RoundTrip, SentencePiece) { CheckRoundTrips(Make(test_vocabs::SmallSpm())); }

TEST(RoundTrip, ByteBpeEachPreTokenizer) {
  for (const char* pre : {"llama3", "qwen2", "gpt2"}) {
    SCOPED_TRACE(pre);
    CheckRoundTrips(Make(test_vocabs::SmallBpe(pre)));
  }
}

TEST(RoundTrip, RealVocabularies) {
  bool any = false;
  for (const char* name : {"llama2-spm", "llama3-bpe"}) {
    if (!std::filesystem::exists(test_vectors::VectorFile(name))) continue;
    SCOPED_TRACE(name);
    Vocab v;
    std::vector<test_vectors::Case> cases;
    ASSERT_TRUE(test_vectors::Load(test_vectors::VectorFile(name), v, cases));
    CheckRoundTrips(Make(std::move(v)));
    any = true;
  }
  if (!any) GTEST_SKIP() << "no reference vocabularies: run `make tokenize-vectors`";
}

TEST(RoundTrip, UnknownIdsDecodeToNothing) {
  const Tokenizer t = Make(test_vocabs::SmallBpe("llama3"));
  const std::vector<TokenId> ids = {-5, 0x68, 1 << 30, kNoToken};
  EXPECT_EQ(t.Decode(ids), "h");
}

}  // namespace
}  // namespace infergate::tokenize
