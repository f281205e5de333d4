// Strict UTF-8 decoding and the streaming assembler.
#include "infergate/tokenize/utf8.h"

#include <gtest/gtest.h>

namespace infergate::tokenize {
namespace {

TEST(DecodeUtf8, WellFormedAndNot) {
  EXPECT_EQ(DecodeUtf8("a", 0).value, uint32_t{'a'});
  EXPECT_EQ(DecodeUtf8("\xC3\xA9", 0).value, 0xE9u);
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x99\x82", 0).value, 0x1F642u);
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x99\x82", 0).length, 4u);
  for (const char* bad : {"\xFF", "\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xE4\xB8"}) {
    const CodePoint cp = DecodeUtf8(bad, 0);
    EXPECT_EQ(cp.value, kInvalidCodePoint) << bad;
    EXPECT_EQ(cp.length, 1u);
  }
}

TEST(Utf8Assembler, HoldsASplitCharacterUntilComplete) {
  Utf8Assembler a;
  EXPECT_EQ(a.Push("ab\xF0\x9F"), "ab");
  EXPECT_TRUE(a.pending());
  EXPECT_EQ(a.Push("\x99"), "");
  EXPECT_EQ(a.Push("\x82!"), "\xF0\x9F\x99\x82!");
  EXPECT_FALSE(a.pending());
  EXPECT_EQ(a.Flush(), "");
}

TEST(Utf8Assembler, InvalidBytesBecomeReplacementCharacters) {
  Utf8Assembler a;
  EXPECT_EQ(a.Push("\xFF"
                   "a"),
            "\xEF\xBF\xBD"
            "a");                                       // can never be valid: replaced at once
  EXPECT_EQ(a.Push("\xE4\xB8"), "");                    // could still be valid
  EXPECT_EQ(a.Push("x"), "\xEF\xBF\xBD\xEF\xBF\xBDx");  // it was not: each byte replaced
  EXPECT_EQ(a.Push("\xE4"), "");
  EXPECT_EQ(a.Flush(), "\xEF\xBF\xBD");  // cut off at the end
  EXPECT_FALSE(a.pending());
}

}  // namespace
}  // namespace infergate::tokenize
