#include "infergate/exchange/model_rewrite.h"

#include <gtest/gtest.h>

namespace infergate::exchange {
namespace {

// Feeds `body` in pieces of `step` bytes.
std::string Rewrite(ModelRewriter::Format format, std::string_view body, size_t step,
                    std::string model = "client-model") {
  ModelRewriter r;
  r.Start(format, std::move(model));
  std::string out;
  for (size_t i = 0; i < body.size(); i += step) r.Feed(body.substr(i, step), &out);
  r.End(&out);
  return out;
}

TEST(ModelRewriter, ChatCompletionBodyInAnyPieces) {
  const std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama-3-8b-instruct",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"the \"model\": \"x\""}}]})";
  const std::string want =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"client-model",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"the \"model\": \"x\""}}]})";
  for (size_t step = 1; step <= body.size(); ++step) {
    ASSERT_EQ(Rewrite(ModelRewriter::Format::kJson, body, step), want) << "step " << step;
  }
}

TEST(ModelRewriter, OnlyTheTopLevelModelAndResponsesModel) {
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson,
                    R"({"metadata":{"model":"a"},"model" : "b","list":[{"model":"c"}]})", 3),
            R"({"metadata":{"model":"a"},"model" : "client-model","list":[{"model":"c"}]})");
  EXPECT_EQ(
      Rewrite(ModelRewriter::Format::kJson,
              R"({"type":"response.created","response":{"id":"r","model":"b","x":{"model":"c"}}})",
              1),
      R"({"type":"response.created","response":{"id":"r","model":"client-model","x":{"model":"c"}}})");
  // A value that is not a string, and keys that only look like "model".
  EXPECT_EQ(
      Rewrite(ModelRewriter::Format::kJson, R"({"model":null,"models":"y","\"model":"z"})", 2),
      R"({"model":null,"models":"y","\"model":"z"})");
  // An escaped key is the key it decodes to (as clients' parsers read it); the first model is
  // the one swapped (a backend does not repeat keys).
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson, R"({"mod\u0065l":"x","model":"y"})", 1),
            R"({"mod\u0065l":"client-model","model":"y"})");
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson, R"({"mod\u00e9l":"x","m\u006Fdel":"y"})", 3),
            R"({"mod\u00e9l":"x","m\u006Fdel":"client-model"})");
}

TEST(ModelRewriter, EscapesTheNewName) {
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson, R"({"model":"a\"b"})", 1, "q\"uote"),
            R"({"model":"q\"uote"})");
}

TEST(ModelRewriter, EventStreamDataLines) {
  const std::string stream =
      "data: "
      "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"backend\",\"choices\":[]}\n\n"
      ": a comment with \"model\":\"backend\"\n"
      "event: response.created\r\n"
      "data: {\"type\":\"response.created\",\"response\":{\"model\":\"backend\"}}\r\n\r\n"
      "data: [DONE]\n\n";
  const std::string want =
      "data: "
      "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"client-model\",\"choices\":[]"
      "}\n\n"
      ": a comment with \"model\":\"backend\"\n"
      "event: response.created\r\n"
      "data: {\"type\":\"response.created\",\"response\":{\"model\":\"client-model\"}}\r\n\r\n"
      "data: [DONE]\n\n";
  for (size_t step = 1; step <= stream.size(); step += 7) {
    ASSERT_EQ(Rewrite(ModelRewriter::Format::kSse, stream, step), want) << "step " << step;
  }
}

TEST(ModelRewriter, ALongLinePassesUnchanged) {
  std::string line = "data: {\"model\":\"backend\",\"pad\":\"";
  line.append(ModelRewriter::kMaxLine, 'x');
  line += "\"}\n";
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kSse, line + "data: {\"model\":\"b\"}\n", 4096),
            line + "data: {\"model\":\"client-model\"}\n");
}

TEST(ModelRewriter, DeepNestingIsPassedOver) {
  std::string body = "{\"a\":";
  for (int i = 0; i < 100; ++i) body += "[{\"model\":\"x\",\"b\":";
  body += "1";
  for (int i = 0; i < 100; ++i) body += "}]";
  body += ",\"model\":\"backend\"}";
  std::string want = body;
  want.replace(want.rfind("backend"), 7, "client-model");
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson, body, 5), want);
}

TEST(ModelRewriter, OffOrNoModelPassesEverything) {
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kOff, R"({"model":"a"})", 1), R"({"model":"a"})");
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kJson, R"({"model":"a"})", 1, ""), R"({"model":"a"})");
  EXPECT_EQ(Rewrite(ModelRewriter::Format::kSse, "data: {\"model\":\"a\"}", 1),
            "data: {\"model\":\"a\"}");  // an unfinished line goes out as it came
}

}  // namespace
}  // namespace infergate::exchange
