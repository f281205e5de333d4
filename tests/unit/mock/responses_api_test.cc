// The Responses API text of the mock (src/mock/responses_api.h): the response object and its
// typed event stream, checked as JSON the way the official SDKs read them.
#include "mock/responses_api.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

namespace infergate::mock {
namespace {

ResponsesShape Shape(int64_t tokens) {
  return ResponsesShape{.id = "resp_mock_7",
                        .item_id = "msg_mock_7",
                        .model = "m\"1",
                        .created_at = 1700000000,
                        .tokens = tokens,
                        .input_tokens = 5};
}

std::string_view Str(simdjson::dom::element e, std::string_view pointer) {
  std::string_view s;
  EXPECT_EQ(e.at_pointer(pointer).get_string().get(s), simdjson::SUCCESS) << pointer;
  return s;
}

int64_t Int(simdjson::dom::element e, std::string_view pointer) {
  int64_t v = -1;
  EXPECT_EQ(e.at_pointer(pointer).get_int64().get(v), simdjson::SUCCESS) << pointer;
  return v;
}

TEST(ResponsesApi, ObjectIsACompletedResponseWithOneMessage) {
  std::string out;
  AppendResponseObject(out, Shape(3));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
  EXPECT_EQ(Str(doc, "/id"), "resp_mock_7");
  EXPECT_EQ(Str(doc, "/object"), "response");
  EXPECT_EQ(Int(doc, "/created_at"), 1700000000);
  EXPECT_EQ(Str(doc, "/status"), "completed");
  EXPECT_EQ(Str(doc, "/model"), "m\"1");
  EXPECT_EQ(Str(doc, "/output/0/type"), "message");
  EXPECT_EQ(Str(doc, "/output/0/id"), "msg_mock_7");
  EXPECT_EQ(Str(doc, "/output/0/status"), "completed");
  EXPECT_EQ(Str(doc, "/output/0/role"), "assistant");
  EXPECT_EQ(Str(doc, "/output/0/content/0/type"), "output_text");
  EXPECT_EQ(Str(doc, "/output/0/content/0/text"), "tok0 tok1 tok2");
  simdjson::dom::array annotations;
  ASSERT_EQ(doc.at_pointer("/output/0/content/0/annotations").get(annotations), simdjson::SUCCESS);
  EXPECT_EQ(annotations.size(), 0u);
  EXPECT_EQ(Int(doc, "/usage/input_tokens"), 5);
  EXPECT_EQ(Int(doc, "/usage/output_tokens"), 3);
  EXPECT_EQ(Int(doc, "/usage/total_tokens"), 8);
  EXPECT_EQ(Int(doc, "/usage/input_tokens_details/cached_tokens"), 0);
  EXPECT_EQ(Int(doc, "/usage/output_tokens_details/reasoning_tokens"), 0);
}

struct Event {
  std::string name, data;
};

// The whole stream as the session writes it: events 0..n-1 (one for zero tokens), then the tail.
std::vector<Event> Stream(int64_t tokens) {
  const ResponsesShape shape = Shape(tokens);
  std::string text;
  for (int64_t i = 0; i < std::max<int64_t>(tokens, 1); ++i) {
    AppendResponsesStreamEvent(text, shape, i);
  }
  AppendResponsesStreamTail(text, shape);
  std::vector<Event> events;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "every event ends with a blank line";
    if (end == std::string::npos) break;
    const std::string block = text.substr(pos, end - pos);
    pos = end + 2;
    const size_t nl = block.find('\n');
    EXPECT_TRUE(block.starts_with("event: ")) << block;
    EXPECT_EQ(block.substr(nl + 1, 6), "data: ") << block;
    EXPECT_EQ(block.find('\n', nl + 1), std::string::npos) << "one data line: " << block;
    events.push_back({block.substr(7, nl - 7), block.substr(nl + 7)});
  }
  return events;
}

TEST(ResponsesApi, StreamSendsTheTypedEventsInOrder) {
  const std::vector<Event> events = Stream(3);
  const std::vector<std::string> expected = {
      "response.created",           "response.in_progress",
      "response.output_item.added", "response.content_part.added",
      "response.output_text.delta", "response.output_text.delta",
      "response.output_text.delta", "response.output_text.done",
      "response.content_part.done", "response.output_item.done",
      "response.completed"};
  ASSERT_EQ(events.size(), expected.size());
  simdjson::dom::parser parser;
  std::string deltas;
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(events[i].data);
    EXPECT_EQ(events[i].name, expected[i]);
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(events[i].data).get(doc), simdjson::SUCCESS);
    EXPECT_EQ(Str(doc, "/type"), expected[i]);
    EXPECT_EQ(Int(doc, "/sequence_number"), static_cast<int64_t>(i));
    if (expected[i] == "response.output_text.delta") {
      deltas += Str(doc, "/delta");
      EXPECT_EQ(Str(doc, "/item_id"), "msg_mock_7");
      EXPECT_EQ(Int(doc, "/output_index"), 0);
      EXPECT_EQ(Int(doc, "/content_index"), 0);
    }
    if (i < 2) {
      EXPECT_EQ(Str(doc, "/response/status"), "in_progress");
      EXPECT_TRUE(doc.at_pointer("/response/usage").is_null());
    }
    if (expected[i] == "response.output_text.done") {
      EXPECT_EQ(Str(doc, "/text"), "tok0 tok1 tok2");
    }
    if (expected[i] == "response.output_item.done") {
      EXPECT_EQ(Str(doc, "/item/status"), "completed");
      EXPECT_EQ(Str(doc, "/item/content/0/text"), "tok0 tok1 tok2");
    }
    if (expected[i] == "response.completed") {
      EXPECT_EQ(Str(doc, "/response/status"), "completed");
      EXPECT_EQ(Str(doc, "/response/output/0/content/0/text"), "tok0 tok1 tok2");
      EXPECT_EQ(Int(doc, "/response/usage/total_tokens"), 8);
    }
  }
  EXPECT_EQ(deltas, "tok0 tok1 tok2");
}

TEST(ResponsesApi, ZeroTokensStreamHasNoDeltasAndAnEmptyText) {
  const std::vector<Event> events = Stream(0);
  ASSERT_EQ(events.size(), 8u);
  for (const Event& e : events) EXPECT_NE(e.name, "response.output_text.delta");
  EXPECT_EQ(events.back().name, "response.completed");
  EXPECT_NE(events.back().data.find(R"("text":"")"), std::string::npos) << events.back().data;
  EXPECT_NE(events.back().data.find(R"("sequence_number":7)"), std::string::npos);
}

}  // namespace
}  // namespace infergate::mock
