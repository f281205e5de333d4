// The strict OpenAI-SDK-style parsers of the test support library: what they accept (real
// OpenAI bodies and streams, SSE framing variants) and every malformation they reject.
#include "support/openai_sdk.h"

#include <gtest/gtest.h>

#include <string>

namespace infergate::testing {
namespace {

// A body as api.openai.com sends it, extra fields included.
constexpr std::string_view kOpenAiBody = R"({
  "id": "chatcmpl-9abc", "object": "chat.completion", "created": 1718000000,
  "model": "gpt-4o-2024-05-13", "system_fingerprint": "fp_123",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!", "refusal": null},
               "logprobs": null, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11,
            "completion_tokens_details": {"reasoning_tokens": 0}}
})";

std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

TEST(ParseChatCompletion, AcceptsARealBody) {
  std::string error;
  const auto c = ParseChatCompletion(kOpenAiBody, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->id, "chatcmpl-9abc");
  EXPECT_EQ(c->model, "gpt-4o-2024-05-13");
  EXPECT_EQ(c->created, 1718000000);
  EXPECT_EQ(c->content, "Hi!");
  EXPECT_EQ(c->finish_reason, "stop");
}

TEST(ParseChatCompletion, UsageIsOptional) {
  const std::string body =
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,)"
      R"("message":{"role":"assistant","content":""},"finish_reason":"length"}]})";
  std::string error;
  const auto c = ParseChatCompletion(body, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->finish_reason, "length");
  EXPECT_TRUE(ParseChatCompletion(Replace(body, "]}", R"(],"usage":null})"), &error)) << error;
}

TEST(ParseChatCompletion, RejectsEveryMalformation) {
  const std::vector<std::pair<std::string_view, std::string_view>> edits = {
      {R"("object": "chat.completion")", R"("object": "chat.completion.chunk")"},
      {R"("object": "chat.completion")", R"("object": "text_completion")"},
      {R"("object": "chat.completion")", R"("objekt": "chat.completion")"},
      {R"("id": "chatcmpl-9abc")", R"("id": 7)"},
      {R"("id": "chatcmpl-9abc")", R"("ident": "x")"},
      {R"("created": 1718000000)", R"("created": "1718000000")"},
      {R"("created": 1718000000)", R"("created": 1718000000.5)"},
      {R"("created": 1718000000)", R"("created": null)"},
      {R"("model": "gpt-4o-2024-05-13")", R"("model": null)"},
      {R"("index": 0)", R"("index": 1)"},
      {R"("index": 0)", R"("index": "0")"},
      {R"("role": "assistant")", R"("role": "user")"},
      {R"("role": "assistant")", R"("rolle": "assistant")"},
      {R"("content": "Hi!")", R"("content": null)"},
      {R"("content": "Hi!")", R"("content": ["Hi!"])"},
      {R"("finish_reason": "stop")", R"("finish_reason": null)"},
      {R"("finish_reason": "stop")", R"("finish_reason": 1)"},
      {R"("prompt_tokens": 9)", R"("prompt_tokens": "9")"},
      {R"("completion_tokens": 2)", R"("completion_tokens": 2.0)"},
      {R"("total_tokens": 11)", R"("totals": 11)"},
      {R"("usage": {)", R"("usage": 5, "x": {)"},
      {R"("system_fingerprint": "fp_123")", R"("error": {"message": "boom"})"},
      {"}\n", "},\n"},  // not JSON
  };
  for (const auto& [from, to] : edits) {
    std::string error;
    EXPECT_FALSE(ParseChatCompletion(Replace(kOpenAiBody, from, to), &error)) << to;
    EXPECT_FALSE(error.empty()) << to;
  }
  std::string error;
  EXPECT_FALSE(ParseChatCompletion("[]", &error));
  EXPECT_FALSE(ParseChatCompletion("", &error));
  EXPECT_FALSE(ParseChatCompletion(
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]})", &error));
  EXPECT_FALSE(ParseChatCompletion(
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":{}})", &error));
  EXPECT_FALSE(ParseChatCompletion(R"({"id":"x","object":"chat.completion","created":1,)"
                                   R"("model":"m","choices":[{"index":0,"message":"hi",)"
                                   R"("finish_reason":"stop"}]})",
                                   &error));
  EXPECT_FALSE(ParseChatCompletion("{\"id\":\"\xff\"}", nullptr));  // invalid UTF-8, no crash
}

std::string Chunk(std::string_view delta, std::string_view finish_reason = "null",
                  std::string_view id = "c1", std::string_view model = "m") {
  std::string out = R"({"id":")";
  out += id;
  out += R"(","object":"chat.completion.chunk","created":1,"model":")";
  out += model;
  out += R"(","choices":[{"index":0,"delta":)";
  out += delta;
  out += R"(,"logprobs":null,"finish_reason":)";
  out += finish_reason;
  out += "}]}";
  return out;
}

std::string Data(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }

std::string GoodStream() {
  return Data(Chunk(R"({"role":"assistant","content":""})")) + Data(Chunk(R"({"content":"Hel"})")) +
         Data(Chunk(R"({"content":"lo"})")) + Data(Chunk("{}", R"("stop")")) + "data: [DONE]\n\n";
}

TEST(ParseChatStream, AcceptsAPlainStream) {
  std::string error;
  const auto s = ParseChatStream(GoodStream(), &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->id, "c1");
  EXPECT_EQ(s->model, "m");
  EXPECT_EQ(s->content, "Hello");
  EXPECT_EQ(s->finish_reason, "stop");
  EXPECT_EQ(s->chunks, 4u);
  EXPECT_TRUE(s->done);
}

TEST(ParseChatStream, FramingVariants) {
  // CRLF line ends, comments, other fields, no space after "data:", a payload split across two
  // data lines, blank events and a usage-only chunk.
  const std::string body =
      ": keep-alive\r\n\r\n"
      "event: message\r\nid: 1\r\nretry: 1000\r\ndata:" +
      Chunk(R"({"role":"assistant"})") +
      "\r\n\r\n"
      "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\n"
      "data: \"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"content\":\"a\\nb\"},\"finish_reason\":null}]}\n\n"
      "\n\n" +
      Data(Chunk(R"({"content":null})", R"("length")")) +
      Data(R"({"id":"c1","object":"chat.completion.chunk","created":1,)"
           R"("model":"m","choices":[],"usage":{"prompt_tokens":1,)"
           R"("completion_tokens":2,"total_tokens":3}})") +
      ": trailing comment\n" + "data:[DONE]\r\n\r\n";
  std::string error;
  const auto s = ParseChatStream(body, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->content, "a\nb");
  EXPECT_EQ(s->finish_reason, "length");
  EXPECT_EQ(s->chunks, 4u);
  EXPECT_TRUE(s->done);
}

TEST(ParseChatStream, KeepsTheLastNonNullFinishReason) {
  const std::string body = Data(Chunk(R"({"content":"x"})", R"("length")")) +
                           Data(Chunk(R"({})", "null")) + "data: [DONE]\n\n";
  std::string error;
  const auto s = ParseChatStream(body, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->finish_reason, "length");
}

TEST(ParseChatStream, RejectsEveryMalformation) {
  const std::string done = "data: [DONE]\n\n";
  const std::vector<std::string> bodies = {
      "",
      Data(Chunk(R"({"content":"x"})")),                                 // no [DONE]
      GoodStream() + Data(Chunk(R"({"content":"late"})")),               // data after [DONE]
      GoodStream() + done,                                               // a second [DONE]
      Data(Chunk("{}")) + Data(Chunk("{}", "null", "c2")) + done,        // id changes
      Data(Chunk("{}")) + Data(Chunk("{}", "null", "c1", "m2")) + done,  // model changes
      Data(R"({"error":{"message":"overloaded","type":"server_error"}})") + done,
      Data(Chunk(R"({"content":5})")) + done,
      Data(Chunk(R"({"role":7})")) + done,
      Data(Chunk(R"("text")")) + done,  // delta not an object
      Data(Chunk("{}", "0")) + done,    // finish_reason
      Data(Replace(Chunk("{}"), "chat.completion.chunk", "chat.completion")) + done,
      Data(Replace(Chunk("{}"), R"("index":0)", R"("index":1)")) + done,
      Data(Replace(Chunk("{}"), R"("created":1)", R"("created":"1")")) + done,
      Data(Replace(Chunk("{}"), R"("id":"c1")", R"("id":1)")) + done,
      Data(Replace(Chunk("{}"), R"("model":"m")", R"("model":null)")) + done,
      Data(R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",)"
           R"("choices":[]})") +
          done,  // no choices, no usage
      Data("not json") + done,
      Data("[1,2]") + done,
      Data(Chunk("{}")) + "data: [DONE]",    // unterminated
      Data(Chunk("{}")) + "data: [DONE]\n",  // no blank line
  };
  for (size_t i = 0; i < bodies.size(); ++i) {
    std::string error;
    EXPECT_FALSE(ParseChatStream(bodies[i], &error)) << i << ": " << bodies[i];
    EXPECT_FALSE(error.empty()) << i;
  }
  EXPECT_FALSE(ParseChatStream("data: [DONE]\n\n" + Data(Chunk("{}")), nullptr));
}

TEST(ParseChatStream, ReadsOnlyTheFirstChoice) {
  const std::string two_choices = Replace(Chunk(R"({"content":"a"})"), R"("finish_reason":null)",
                                          R"("finish_reason":null},{"index":1,"delta":5)");
  std::string error;
  const auto s = ParseChatStream(Data(two_choices) + "data: [DONE]\n\n", &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->content, "a");
}

}  // namespace
}  // namespace infergate::testing
