// The strict Responses API parsers of the test support library: what they accept and the
// malformations an SDK would trip on that they reject.
#include "support/openai_responses.h"

#include <gtest/gtest.h>

#include <string>

namespace infergate::testing {
namespace {

const std::string kResponse =
    R"({"id":"resp_1","object":"response","created_at":1,"status":"completed","error":null,)"
    R"("model":"m","output":[{"type":"message","id":"msg_1","status":"completed",)"
    R"("role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],)"
    R"("parallel_tool_calls":true,"tool_choice":"auto","tools":[],)"
    R"("usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2,)"
    R"("input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}})";

std::string Event(const std::string& type, int seq, const std::string& rest) {
  return "event: " + type + "\ndata: {\"type\":\"" + type +
         "\",\"sequence_number\":" + std::to_string(seq) + rest + "}\n\n";
}

TEST(ParseResponseObject, AcceptsAResponseAndComputesOutputText) {
  std::string error;
  const auto r = ParseResponseObject(kResponse, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->output_text, "Hi");
  EXPECT_EQ(r->output_items, 1u);
  EXPECT_EQ(r->total_tokens, 2);
}

TEST(ParseResponseObject, RejectsWhatTheSdkCannotRead) {
  auto without = [](const std::string& from, const std::string& to) {
    std::string s = kResponse;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_FALSE(ParseResponseObject(without(R"("object":"response")", R"("object":"x")"), nullptr));
  EXPECT_FALSE(ParseResponseObject(without(R"("tools":[],)", ""), nullptr));
  EXPECT_FALSE(ParseResponseObject(without(R"(,"annotations":[])", ""), nullptr));
  EXPECT_FALSE(ParseResponseObject(without(R"("error":null)", R"("error":{"code":"x"})"), nullptr));
  EXPECT_FALSE(
      ParseResponseObject(without(R"("input_tokens_details":{"cached_tokens":0},)", ""), nullptr));
  EXPECT_FALSE(ParseResponseObject("[]", nullptr));
}

TEST(ParseResponseStream, ChecksTypesSequenceAndTheEnd) {
  const std::string delta = Event("response.output_text.delta", 1, R"(,"delta":"Hi")");
  const std::string done = Event("response.completed", 2, R"(,"response":)" + kResponse);
  std::string error;
  const auto ok = ParseResponseStream(delta + done, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->deltas, "Hi");
  EXPECT_EQ(ok->types.size(), 2u);
  // Out of order, a renamed event, a [DONE], no end, deltas that differ from the output.
  EXPECT_FALSE(ParseResponseStream(
      Event("response.output_text.delta", 3, R"(,"delta":"Hi")") + done, nullptr));
  std::string renamed = delta + done;
  renamed.replace(0, std::string("event: response.output_text.delta").size(), "event: other");
  EXPECT_FALSE(ParseResponseStream(renamed, nullptr));
  EXPECT_FALSE(ParseResponseStream(delta + done + "data: [DONE]\n\n", nullptr));
  EXPECT_FALSE(ParseResponseStream(delta, nullptr));
  EXPECT_FALSE(ParseResponseStream(done, nullptr));
}

}  // namespace
}  // namespace infergate::testing
