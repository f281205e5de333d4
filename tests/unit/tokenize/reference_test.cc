// The tokenizers against real vocabularies and llama.cpp's own ids for them: the files that
// tests/tokenize/make_vectors.mjs writes (make tokenize-vectors; it needs node and the npm
// registry). Skipped, saying why, when they have not been made; the hand-built tests always run.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "infergate/tokenize/tokenizer.h"
#include "infergate/tokenize/utf8.h"
#include "unit/tokenize/vector_file.h"

namespace infergate::tokenize {
namespace {

using test_vectors::Case;
using test_vectors::Load;
using test_vectors::VectorFile;

std::string Show(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

void CheckFile(const std::string& name) {
  const auto file = VectorFile(name);
  if (!std::filesystem::exists(file)) {
    GTEST_SKIP() << file << " not made: run `make tokenize-vectors` (needs node and npm)";
  }
  Vocab v;
  std::vector<Case> cases;
  ASSERT_TRUE(Load(file, v, cases)) << file;
  auto t = Tokenizer::Create(std::move(v));
  ASSERT_TRUE(t.ok()) << t.error().message;
  for (const Case& c : cases) {
    const EncodeOptions options{.add_special = false, .parse_special = c.special};
    const std::vector<TokenId> ids = t->Encode(c.text, options);
    EXPECT_EQ(ids, c.ids) << "text \"" << Show(c.text) << "\" parse_special " << c.special;
    // Plain text round-trips. llama.cpp's own decoding is compared only where special tokens
    // are written: for plain text it also removes spaces before punctuation (" 's" -> "'s")
    // for some vocabularies, which Decode deliberately does not.
    if (c.special) {
      EXPECT_EQ(t->Decode(c.ids, {.skip_special = false}), c.decoded)
          << "ids of \"" << Show(c.text) << "\"";
    } else {
      EXPECT_EQ(t->Decode(c.ids), c.text) << "ids of \"" << Show(c.text) << "\"";
      // Streamed piece by piece through the assembler, the text comes out whole too (Llama 2
      // writes emoji and CJK as byte tokens, so characters do arrive split).
      Utf8Assembler assembler;
      std::string streamed;
      for (TokenId id : c.ids) streamed += assembler.Push(t->TokenToPiece(id));
      streamed += assembler.Flush();
      if (t->kind() == TokenizerKind::kSentencePiece && !streamed.empty() && streamed[0] == ' ') {
        streamed.erase(0, 1);  // the prefix space, which Decode removes
      }
      EXPECT_EQ(streamed, c.text) << "streamed ids of \"" << Show(c.text) << "\"";
    }
  }
}

TEST(ReferenceVectors, Llama2SentencePiece) { CheckFile("llama2-spm"); }
TEST(ReferenceVectors, Llama3Bpe) { CheckFile("llama3-bpe"); }
TEST(ReferenceVectors, Llama3VocabQwen2PreTokenizer) { CheckFile("llama3-vocab-qwen2-pre"); }
TEST(ReferenceVectors, Llama3VocabGpt2PreTokenizer) { CheckFile("llama3-vocab-gpt2-pre"); }

}  // namespace
}  // namespace infergate::tokenize
