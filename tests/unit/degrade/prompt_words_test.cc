// The synthetic runner's prompt count: whitespace-separated words of the prompt fields of chat,
// legacy completions and Responses API bodies.
#include "infergate/degrade/prompt_words.h"

#include <gtest/gtest.h>

namespace infergate::degrade {
namespace {

TEST(CountPromptWords, ChatMessagesStringAndPartContents) {
  EXPECT_EQ(CountPromptWords(R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
      {"role":"user","content":"  What is\tthe time?\n"}]})"),
            6u);
  EXPECT_EQ(CountPromptWords(R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"look at"},{"type":"image_url","image_url":{"url":"x y z"}},
      {"type":"text","text":"this"}]}]})"),
            3u);
  EXPECT_EQ(CountPromptWords(R"({"messages":[{"role":"assistant","content":null}]})"), 0u);
}

TEST(CountPromptWords, LegacyPromptStringOrStrings) {
  EXPECT_EQ(CountPromptWords(R"({"model":"m","prompt":"Once upon a time"})"), 4u);
  EXPECT_EQ(CountPromptWords(R"({"prompt":["a b","c"]})"), 3u);
  EXPECT_EQ(CountPromptWords(R"({"prompt":[1,2,3]})"), 0u);  // token ids: not text
}

TEST(CountPromptWords, ResponsesInputStringOrItems) {
  EXPECT_EQ(CountPromptWords(R"({"model":"m","input":"Tell me a joke"})"), 4u);
  EXPECT_EQ(CountPromptWords(R"({"input":[{"role":"user","content":"hi there"},
      {"role":"user","content":[{"type":"input_text","text":"and more"}]}, "bare words"]})"),
            6u);
}

TEST(CountPromptWords, NotAnObjectOrNoPromptCountsNothing) {
  EXPECT_EQ(CountPromptWords(""), 0u);
  EXPECT_EQ(CountPromptWords("not json"), 0u);
  EXPECT_EQ(CountPromptWords(R"(["a b"])"), 0u);
  EXPECT_EQ(CountPromptWords(R"({"model":"two words"})"), 0u);
  EXPECT_EQ(CountPromptWords(R"({"messages":"loose text"})"), 0u);
  // UTF-8 words count as words; only ASCII whitespace separates them.
  EXPECT_EQ(CountPromptWords("{\"prompt\":\"h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C\"}"), 2u);
}

}  // namespace
}  // namespace infergate::degrade
