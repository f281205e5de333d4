// The own answers' shapes per endpoint, as exact bytes: the usage chunk, whole streams of chat
// and legacy completions with and without include_usage, and the Responses API's object and
// typed event stream (order, sequence numbers, the .done events repeating the text).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infergate/degrade/openai_response.h"
#include "infergate/degrade/responses_api.h"
#include "support/openai_responses.h"
#include "support/openai_sdk.h"

namespace infergate::degrade {
namespace {

ResponseMeta Meta(Endpoint e, const char* id) { return ResponseMeta{id, "m", 1700000000, e}; }

constexpr AnswerUsage kUsage{3, 2};

// Runs a whole stream of the pieces "Hi", " there".
std::string Stream(const ResponseMeta& meta, bool include_usage) {
  AnswerStream s(meta, include_usage);
  std::string out = s.Begin();
  out += s.Piece("Hi");
  out += s.Piece(" there");
  out += s.End(kUsage);
  return out;
}

const std::string kChatHead =
    R"(data: {"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1700000000,)"
    R"("model":"m","choices":)";
const std::string kLegacyHead =
    R"(data: {"id":"cmpl-r1","object":"text_completion","created":1700000000,"model":"m",)"
    R"("choices":)";

TEST(RenderUsageEvent, OpenAisUsageChunk) {
  EXPECT_EQ(RenderUsageEvent(Meta(Endpoint::kChat, "chatcmpl-r1"), kUsage),
            kChatHead + R"([],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"
                        "\n\n");
  EXPECT_EQ(RenderUsageEvent(Meta(Endpoint::kCompletions, "cmpl-r1"), {0, 7}),
            kLegacyHead +
                R"([],"usage":{"prompt_tokens":0,"completion_tokens":7,"total_tokens":7}})"
                "\n\n");
}

TEST(AnswerStream, ChatWithoutIncludeUsageHasNoUsageChunk) {
  const std::string want =
      kChatHead +
      R"([{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,)"
      R"("finish_reason":null}]})"
      "\n\n" +
      kChatHead +
      R"([{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]})"
      "\n\n" +
      kChatHead +
      R"([{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}]})"
      "\n\n" +
      kChatHead +
      R"([{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"
      "\n\n"
      "data: [DONE]\n\n";
  const std::string got = Stream(Meta(Endpoint::kChat, "chatcmpl-r1"), false);
  EXPECT_EQ(got, want);
  std::string error;
  const auto parsed = testing::ParseChatStream(got, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->content, "Hi there");
}

TEST(AnswerStream, ChatWithIncludeUsageEndsFinishUsageDone) {
  const std::string got = Stream(Meta(Endpoint::kChat, "chatcmpl-r1"), true);
  const std::string tail =
      kChatHead +
      R"([{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"
      "\n\n" +
      kChatHead +
      R"([],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"
      "\n\n"
      "data: [DONE]\n\n";
  ASSERT_GE(got.size(), tail.size());
  EXPECT_EQ(got.substr(got.size() - tail.size()), tail);
  // The same stream as without include_usage, the usage chunk inserted before [DONE].
  std::string without = Stream(Meta(Endpoint::kChat, "chatcmpl-r1"), false);
  without.insert(without.size() - kDoneEvent.size(),
                 RenderUsageEvent(Meta(Endpoint::kChat, "chatcmpl-r1"), kUsage));
  EXPECT_EQ(got, without);
  std::string error;
  ASSERT_TRUE(testing::ParseChatStream(got, &error)) << error;  // SDKs take the usage chunk
}

TEST(AnswerStream, LegacyCompletionChunks) {
  const std::string text_chunk =
      R"([{"index":0,"text":"Hi","logprobs":null,"finish_reason":null}]})";
  const std::string want = kLegacyHead + text_chunk + "\n\n" + kLegacyHead +
                           R"([{"index":0,"text":" there","logprobs":null,"finish_reason":null}]})"
                           "\n\n" +
                           kLegacyHead +
                           R"([{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]})"
                           "\n\n";
  EXPECT_EQ(Stream(Meta(Endpoint::kCompletions, "cmpl-r1"), false), want + "data: [DONE]\n\n");
  EXPECT_EQ(Stream(Meta(Endpoint::kCompletions, "cmpl-r1"), true),
            want + kLegacyHead +
                R"([],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"
                "\n\ndata: [DONE]\n\n");
}

const std::string kInProgress =
    R"({"id":"resp_r1","object":"response","created_at":1700000000,"status":"in_progress",)"
    R"("error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,)"
    R"("metadata":{},"model":"m","output":[],"parallel_tool_calls":true,)"
    R"("previous_response_id":null,"temperature":null,"text":{"format":{"type":"text"}},)"
    R"("tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","usage":null})";
const std::string kMessage =
    R"({"type":"message","id":"msg_r1","status":"completed","role":"assistant","content":[)"
    R"({"type":"output_text","text":"Hi there","annotations":[]}]})";
const std::string kCompleted =
    R"({"id":"resp_r1","object":"response","created_at":1700000000,"status":"completed",)"
    R"("error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,)"
    R"("metadata":{},"model":"m","output":[)" +
    kMessage +
    R"(],"parallel_tool_calls":true,"previous_response_id":null,"temperature":null,)"
    R"("text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,)"
    R"("truncation":"disabled","usage":{"input_tokens":3,"input_tokens_details":)"
    R"({"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},)"
    R"("total_tokens":5}})";

TEST(RenderResponse, TheCompletedResponseObject) {
  const ResponseMeta meta = Meta(Endpoint::kResponses, "resp_r1");
  EXPECT_EQ(RenderResponse(meta, "Hi there", kUsage), kCompleted);
  EXPECT_EQ(RenderCompletion(meta, "Hi there", kUsage), kCompleted);  // dispatched by endpoint
  EXPECT_EQ(MessageId(meta), "msg_r1");
  std::string error;
  const auto parsed = testing::ParseResponseObject(kCompleted, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->output_text, "Hi there");
  EXPECT_EQ(parsed->status, "completed");
  EXPECT_TRUE(parsed->has_usage);
  EXPECT_EQ(parsed->total_tokens, 5);
}

std::string Event(const std::string& type, int seq, const std::string& rest) {
  return "event: " + type + "\ndata: {\"type\":\"" + type +
         "\",\"sequence_number\":" + std::to_string(seq) + rest + "}\n\n";
}

TEST(AnswerStream, ResponsesEventsInOrderWithUsageAndNoDone) {
  const std::string pos = R"(,"item_id":"msg_r1","output_index":0,"content_index":0)";
  const std::string want =
      Event("response.created", 0, R"(,"response":)" + kInProgress) +
      Event("response.in_progress", 1, R"(,"response":)" + kInProgress) +
      Event("response.output_item.added", 2,
            R"(,"output_index":0,"item":{"type":"message","id":"msg_r1","status":"in_progress",)"
            R"("role":"assistant","content":[]})") +
      Event("response.content_part.added", 3,
            pos + R"(,"part":{"type":"output_text","text":"","annotations":[]})") +
      Event("response.output_text.delta", 4, pos + R"(,"delta":"Hi","logprobs":[])") +
      Event("response.output_text.delta", 5, pos + R"(,"delta":" there","logprobs":[])") +
      Event("response.output_text.done", 6, pos + R"(,"text":"Hi there","logprobs":[])") +
      Event("response.content_part.done", 7,
            pos + R"(,"part":{"type":"output_text","text":"Hi there","annotations":[]})") +
      Event("response.output_item.done", 8, R"(,"output_index":0,"item":)" + kMessage) +
      Event("response.completed", 9, R"(,"response":)" + kCompleted);
  const ResponseMeta meta = Meta(Endpoint::kResponses, "resp_r1");
  EXPECT_EQ(Stream(meta, false), want);
  EXPECT_EQ(Stream(meta, true), want);  // usage always, in response.completed
  std::string error;
  const auto parsed = testing::ParseResponseStream(want, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->types.size(), 10u);
  EXPECT_EQ(parsed->deltas, "Hi there");
  EXPECT_EQ(parsed->completed.input_tokens, 3);
  EXPECT_EQ(parsed->completed.output_tokens, 2);
}

TEST(AnswerStream, ResponsesTextIsEscapedInEveryEvent) {
  AnswerStream s(Meta(Endpoint::kResponses, "resp_x"), false);
  std::string out = s.Begin();
  out += s.Piece("a\"b\n");
  out += s.End({});
  EXPECT_NE(out.find(R"("delta":"a\"b\n")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("text":"a\"b\n")"), std::string::npos) << out;
  EXPECT_EQ(out.find("a\"b\n\""), std::string::npos) << "a raw quote or newline";
}

}  // namespace
}  // namespace infergate::degrade
