// The pre-tokenizer scanners against the patterns they stand for. Each expectation is what
// Python's `regex` module gives for the pattern in pretokenize.h (checked by hand once with
// regex.findall); the invalid-byte cases follow the rule that such a byte is one code point
// that is neither letter, number nor space.
#include "tokenize/pretokenize.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenize/unicode.h"

namespace infergate::tokenize {
namespace {

std::vector<std::string> Words(std::string_view text, PreTokenizer kind) {
  std::vector<std::string> out;
  for (std::string_view w : PreTokenize(text, kind)) out.emplace_back(w);
  return out;
}

using V = std::vector<std::string>;

TEST(Classify, LettersNumbersSpaces) {
  EXPECT_EQ(Classify('a'), CpClass::kLetter);
  EXPECT_EQ(Classify(0xE9), CpClass::kLetter);    // é
  EXPECT_EQ(Classify(0x4E16), CpClass::kLetter);  // 世 (Lo)
  EXPECT_EQ(Classify(0x0663), CpClass::kNumber);  // ARABIC-INDIC DIGIT THREE (Nd)
  EXPECT_EQ(Classify(0x00BD), CpClass::kNumber);  // ½ (No)
  EXPECT_EQ(Classify(0x3000), CpClass::kSpace);   // IDEOGRAPHIC SPACE
  EXPECT_EQ(Classify(0x00A0), CpClass::kSpace);   // NO-BREAK SPACE
  EXPECT_EQ(Classify(0x1F642), CpClass::kOther);  // 🙂 (So)
  EXPECT_EQ(Classify('!'), CpClass::kOther);
  EXPECT_EQ(Classify(0x1C), CpClass::kOther);  // not White_Space, though Python's isspace says so
}

TEST(PreTokenizeLlama3, Basics) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(Words("Hello world", k), (V{"Hello", " world"}));
  EXPECT_EQ(Words("I'm don't", k), (V{"I", "'m", " don", "'t"}));
  EXPECT_EQ(Words("I'M", k), (V{"I", "'M"}));
  EXPECT_EQ(Words("don'T'll've", k), (V{"don", "'T", "'ll", "'ve"}));
  EXPECT_EQ(Words("12345", k), (V{"123", "45"}));
  EXPECT_EQ(Words("a  b", k), (V{"a", " ", " b"}));
  EXPECT_EQ(Words("a\n\nb", k), (V{"a", "\n\n", "b"}));
  EXPECT_EQ(Words("  trailing  ", k), (V{" ", " trailing", "  "}));
  EXPECT_EQ(Words("hello!!\n\nworld", k), (V{"hello", "!!\n\n", "world"}));
  EXPECT_EQ(Words("(word", k), (V{"(word"}));
  EXPECT_EQ(Words(" \t\n x", k), (V{" \t\n", " x"}));
  EXPECT_EQ(Words("世界 你好", k), (V{"世界", " 你好"}));
  EXPECT_EQ(Words("🙂🙂 ok", k), (V{"🙂🙂", " ok"}));
  EXPECT_EQ(Words("café", k), (V{"café"}));
  EXPECT_EQ(Words("x = 1234567;\r\n\ty", k),
            (V{"x", " =", " ", "123", "456", "7", ";\r\n", "\ty"}));
  EXPECT_EQ(Words("", k), V{});
}

TEST(PreTokenizeQwen2, OneDigitPerWord) {
  const auto k = PreTokenizer::kQwen2;
  EXPECT_EQ(Words("12345", k), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Words("x = 1234567;\r\n\ty", k),
            (V{"x", " =", " ", "1", "2", "3", "4", "5", "6", "7", ";\r\n", "\ty"}));
  EXPECT_EQ(Words("I'M", k), (V{"I", "'M"}));
}

TEST(PreTokenizeGpt2, Basics) {
  const auto k = PreTokenizer::kGpt2;
  EXPECT_EQ(Words("I'M", k), (V{"I", "'", "M"}));  // contractions are lower case only
  EXPECT_EQ(Words("don'T'll've", k), (V{"don", "'", "T", "'ll", "'ve"}));
  EXPECT_EQ(Words("12345", k), (V{"12345"}));
  EXPECT_EQ(Words("a\n\nb", k), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(Words("hello!!\n\nworld", k), (V{"hello", "!!", "\n", "\n", "world"}));
  EXPECT_EQ(Words("(word", k), (V{"(", "word"}));
  EXPECT_EQ(Words("x = 1234567;\r\n\ty", k), (V{"x", " =", " 1234567", ";", "\r\n", "\t", "y"}));
}

TEST(PreTokenize, InvalidBytesAreOtherCodePoints) {
  // \xff and \xfe are two "other" code points: one run of punctuation-like characters.
  EXPECT_EQ(Words("\xff\xfe"
                  "ab",
                  PreTokenizer::kLlama3),
            (V{"\xff\xfe", "ab"}));
  // Before letters, one of them is the optional prefix of the letter run (like "(word").
  EXPECT_EQ(Words("\xff"
                  "ab",
                  PreTokenizer::kLlama3),
            (V{"\xff"
               "ab"}));
  EXPECT_EQ(Words(" \xff"
                  "1",
                  PreTokenizer::kGpt2),
            (V{" \xff", "1"}));
  // A truncated sequence: the lead byte alone is invalid, then the letters.
  EXPECT_EQ(Words("\xe4"
                  "ab",
                  PreTokenizer::kGpt2),
            (V{"\xe4", "ab"}));
}

}  // namespace
}  // namespace infergate::tokenize
