// Logprobs and finish_reason in the runner's answers, field by field against OpenAI's documented
// shapes: chat choices[0].logprobs.content[] items {token, logprob, bytes, top_logprobs[]} (and per
// chunk when streamed), legacy logprobs {tokens, token_logprobs, top_logprobs, text_offset}; the
// Responses API's output_text logprobs and its incomplete answer (max_output_tokens).
#include "infergate/degrade/logprobs.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "infergate/degrade/openai_response.h"
#include "support/openai_responses.h"

namespace infergate::degrade {
namespace {

namespace dom = simdjson::dom;

class Doc {
 public:
  explicit Doc(std::string text) : text_(std::move(text)) {
    EXPECT_EQ(parser_.parse(text_).get(root_), simdjson::SUCCESS) << text_;
  }
  dom::element At(std::string_view pointer) const {
    dom::element e;
    EXPECT_EQ(root_.at_pointer(pointer).get(e), simdjson::SUCCESS) << pointer << " in " << text_;
    return e;
  }
  std::string Str(std::string_view p) const { return std::string(At(p).get_string().value()); }
  double Num(std::string_view p) const { return At(p).get_double().value(); }
  int64_t Int(std::string_view p) const { return At(p).get_int64().value(); }
  size_t Size(std::string_view p) const {
    dom::element e = At(p);
    return e.is_array() ? e.get_array().value().size() : e.get_object().value().size();
  }
  bool Null(std::string_view p) const { return At(p).is_null(); }

 private:
  std::string text_;
  dom::parser parser_;
  dom::element root_;
};

std::vector<TokenLogprob> Tokens() {
  return {{" Hi", -0.25f, {{" Hi", -0.25f}, {" Hello", -1.5f}}},
          {"\xC3", -0.5f, {{"\xC3", -0.5f}}},  // half of a character
          {"!", -3.0f, {}}};
}

ResponseMeta Meta(Endpoint e) { return {"x-1", "tiny", 1700000000, e}; }

TEST(Logprobs, ChatCompletionContentItems) {
  const auto tokens = Tokens();
  const Doc d(RenderCompletion(Meta(Endpoint::kChat), " Hi!", {5, 3}, {"length", true, tokens}));
  EXPECT_EQ(d.Str("/choices/0/finish_reason"), "length");
  EXPECT_TRUE(d.Null("/choices/0/logprobs/refusal"));
  ASSERT_EQ(d.Size("/choices/0/logprobs/content"), 3u);
  EXPECT_EQ(d.Str("/choices/0/logprobs/content/0/token"), " Hi");
  EXPECT_DOUBLE_EQ(d.Num("/choices/0/logprobs/content/0/logprob"), -0.25);
  ASSERT_EQ(d.Size("/choices/0/logprobs/content/0/bytes"), 3u);
  EXPECT_EQ(d.Int("/choices/0/logprobs/content/0/bytes/0"), 32);
  EXPECT_EQ(d.Int("/choices/0/logprobs/content/0/bytes/2"), 105);
  ASSERT_EQ(d.Size("/choices/0/logprobs/content/0/top_logprobs"), 2u);
  EXPECT_EQ(d.Str("/choices/0/logprobs/content/0/top_logprobs/1/token"), " Hello");
  EXPECT_DOUBLE_EQ(d.Num("/choices/0/logprobs/content/0/top_logprobs/1/logprob"), -1.5);
  EXPECT_EQ(d.Size("/choices/0/logprobs/content/0/top_logprobs/1/bytes"), 6u);
  // Bytes that are not UTF-8 on their own: shown as OpenAI does, exact in `bytes`.
  EXPECT_EQ(d.Str("/choices/0/logprobs/content/1/token"), "bytes:\\xc3");
  EXPECT_EQ(d.Int("/choices/0/logprobs/content/1/bytes/0"), 0xC3);
  EXPECT_EQ(d.Size("/choices/0/logprobs/content/2/top_logprobs"), 0u);
  EXPECT_EQ(d.Int("/usage/completion_tokens"), 3);
}

TEST(Logprobs, NotAskedIsNull) {
  const Doc d(RenderCompletion(Meta(Endpoint::kChat), "x", {1, 1}));
  EXPECT_TRUE(d.Null("/choices/0/logprobs"));
  EXPECT_EQ(d.Str("/choices/0/finish_reason"), "stop");
  const Doc empty(RenderCompletion(Meta(Endpoint::kChat), "", {1, 1}, {"stop", true, {}}));
  EXPECT_EQ(empty.Size("/choices/0/logprobs/content"), 0u);  // asked, no tokens: []
}

TEST(Logprobs, LegacyCompletionArrays) {
  const auto tokens = Tokens();
  const Doc d(
      RenderCompletion(Meta(Endpoint::kCompletions), " Hi!", {5, 3}, {"stop", true, tokens}));
  EXPECT_EQ(d.Str("/object"), "text_completion");
  EXPECT_EQ(d.Size("/choices/0/logprobs/tokens"), 3u);
  EXPECT_EQ(d.Str("/choices/0/logprobs/tokens/0"), " Hi");
  EXPECT_DOUBLE_EQ(d.Num("/choices/0/logprobs/token_logprobs/2"), -3.0);
  ASSERT_EQ(d.Size("/choices/0/logprobs/top_logprobs"), 3u);
  EXPECT_EQ(d.Size("/choices/0/logprobs/top_logprobs/0"), 2u);
  EXPECT_DOUBLE_EQ(d.Num("/choices/0/logprobs/top_logprobs/0/ Hello"), -1.5);
  EXPECT_EQ(d.Size("/choices/0/logprobs/top_logprobs/2"), 0u);
  EXPECT_EQ(d.Int("/choices/0/logprobs/text_offset/0"), 0);
  EXPECT_EQ(d.Int("/choices/0/logprobs/text_offset/1"), 3);
  EXPECT_EQ(d.Int("/choices/0/logprobs/text_offset/2"), 4);
}

std::string Data(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  return event.substr(6, event.find("\n\n") - 6);
}

TEST(Logprobs, ChatStreamCarriesEachDeltasTokens) {
  const auto tokens = Tokens();
  AnswerStream s(Meta(Endpoint::kChat), false);
  s.Begin();
  const Doc first(Data(s.Piece(" Hi", true, std::span(tokens).first(1))));
  EXPECT_EQ(first.Str("/choices/0/delta/content"), " Hi");
  ASSERT_EQ(first.Size("/choices/0/logprobs/content"), 1u);
  EXPECT_EQ(first.Str("/choices/0/logprobs/content/0/top_logprobs/0/token"), " Hi");
  const Doc plain(Data(s.Piece("x")));
  EXPECT_TRUE(plain.Null("/choices/0/logprobs"));
  const std::string end = s.End({1, 2}, "length");
  const Doc finish(Data(end.substr(0, end.find("\n\n") + 2)));
  EXPECT_EQ(finish.Str("/choices/0/finish_reason"), "length");
}

TEST(Logprobs, LegacyStreamTextOffsetsContinue) {
  const auto tokens = Tokens();
  AnswerStream s(Meta(Endpoint::kCompletions), false);
  EXPECT_EQ(s.Begin(), "");
  s.Piece(" Hi", true, std::span(tokens).first(1));
  // (A piece is whole characters; its first token here is half of one.)
  const Doc second(Data(s.Piece("\xC3\xA9", true, std::span(tokens).subspan(1, 1))));
  EXPECT_EQ(second.Str("/choices/0/logprobs/tokens/0"), "bytes:\\xc3");
  EXPECT_EQ(second.Int("/choices/0/logprobs/text_offset/0"), 3);
}

// The Responses API: the output_text part's logprobs (the chat items), and an answer cut at
// max_output_tokens is "incomplete" (the response and its message).
TEST(Logprobs, ResponsesObjectIncompleteWithLogprobsOnTheTextPart) {
  const auto tokens = Tokens();
  const Doc d(RenderCompletion(Meta(Endpoint::kResponses), " Hi\xC3\xA9!", {2, 3},
                               {"length", true, tokens}));
  EXPECT_EQ(d.Str("/status"), "incomplete");
  EXPECT_EQ(d.Str("/incomplete_details/reason"), "max_output_tokens");
  EXPECT_EQ(d.Str("/output/0/status"), "incomplete");
  ASSERT_EQ(d.Size("/output/0/content/0/logprobs"), 3u);
  EXPECT_EQ(d.Str("/output/0/content/0/logprobs/0/token"), " Hi");
  EXPECT_DOUBLE_EQ(d.Num("/output/0/content/0/logprobs/0/logprob"), -0.25);
  EXPECT_EQ(d.Size("/output/0/content/0/logprobs/0/bytes"), 3u);
  EXPECT_EQ(d.Str("/output/0/content/0/logprobs/0/top_logprobs/1/token"), " Hello");
  EXPECT_EQ(d.Str("/output/0/content/0/logprobs/1/token"), "bytes:\\xc3");
  const Doc done(RenderCompletion(Meta(Endpoint::kResponses), "x", {1, 1}, {"stop", false, {}}));
  EXPECT_EQ(done.Str("/status"), "completed");
  EXPECT_TRUE(done.Null("/incomplete_details"));
  EXPECT_EQ(done.Str("/output/0/status"), "completed");
  dom::element none;
  EXPECT_NE(Doc(RenderCompletion(Meta(Endpoint::kResponses), "x", {1, 1}))
                .At("/output/0/content/0")
                .at_pointer("/logprobs")
                .get(none),
            simdjson::SUCCESS);  // not asked: the part has none
}

// The data of the Responses event of `type` in a stream.
std::string EventData(const std::string& stream, const std::string& type) {
  const size_t at = stream.find("event: " + type + "\ndata: ");
  EXPECT_NE(at, std::string::npos) << type << " in " << stream;
  if (at == std::string::npos) return "{}";
  const size_t begin = at + type.size() + 14;
  return stream.substr(begin, stream.find("\n\n", begin) - begin);
}

TEST(Logprobs, ResponsesStreamEndsIncompleteWithEachDeltasLogprobs) {
  const auto tokens = Tokens();
  AnswerStream s(Meta(Endpoint::kResponses), false);
  s.Begin();
  const std::string first = s.Piece(" Hi", true, std::span(tokens).first(1));
  const Doc delta(EventData(first, "response.output_text.delta"));
  ASSERT_EQ(delta.Size("/logprobs"), 1u);
  EXPECT_EQ(delta.Str("/logprobs/0/token"), " Hi");
  EXPECT_EQ(delta.Size("/logprobs/0/top_logprobs"), 2u);
  s.Piece("\xC3\xA9!", true, std::span(tokens).subspan(1));
  const std::string end = s.End({2, 3}, "length", true);
  EXPECT_EQ(end.find("response.completed"), std::string::npos) << end;
  const Doc last(EventData(end, "response.incomplete"));
  EXPECT_EQ(last.Str("/response/status"), "incomplete");
  EXPECT_EQ(last.Str("/response/incomplete_details/reason"), "max_output_tokens");
  EXPECT_EQ(last.Size("/response/output/0/content/0/logprobs"), 3u);
  EXPECT_EQ(Doc(EventData(end, "response.output_text.done")).Size("/logprobs"), 3u);
  EXPECT_EQ(Doc(EventData(end, "response.content_part.done")).Size("/part/logprobs"), 3u);
  EXPECT_EQ(Doc(EventData(end, "response.output_item.done")).Str("/item/status"), "incomplete");
  // The end of the stream is the incomplete response (the last event).
  EXPECT_EQ(end.rfind("event: "), end.find("event: response.incomplete"));
  // A whole stream as the SDKs read it: it ends with response.incomplete.
  AnswerStream whole(Meta(Endpoint::kResponses), false);
  std::string all = whole.Begin();
  all += whole.Piece("Hi");
  all += whole.End({1, 1}, "length");
  std::string error;
  const auto parsed = testing::ParseResponseStream(all, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->types.back(), "response.incomplete");
  EXPECT_EQ(parsed->completed.status, "incomplete");
  EXPECT_EQ(parsed->completed.output_text, "Hi");
}

TEST(Logprobs, TokenDisplay) {
  EXPECT_EQ(TokenDisplay("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(TokenDisplay("\xE2\x80"), "bytes:\\xe2\\x80");
  EXPECT_EQ(TokenDisplay("\xC0\x80"), "bytes:\\xc0\\x80");  // overlong
  EXPECT_EQ(TokenDisplay(""), "");
}

}  // namespace
}  // namespace infergate::degrade
