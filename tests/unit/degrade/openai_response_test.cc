// The gateway's own OpenAI answers: body and chunk shapes checked by parsing them with simdjson,
// escaping, the stream's event sequence, legacy completions, path detection and token splitting.
#include "infergate/degrade/openai_response.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "support/openai_sdk.h"

namespace infergate::degrade {
namespace {

// A parsed document that keeps its own parser (elements point into it).
class Json {
 public:
  explicit Json(std::string_view text) : text_(text) {
    ok_ = parser_.parse(text_).get(root_) == simdjson::SUCCESS;
  }
  bool ok() const { return ok_; }
  simdjson::dom::element At(std::string_view pointer) const {
    simdjson::dom::element e;
    EXPECT_EQ(root_.at_pointer(pointer).get(e), simdjson::SUCCESS) << pointer << " in " << text_;
    return e;
  }
  bool Has(std::string_view pointer) const {
    simdjson::dom::element e;
    return root_.at_pointer(pointer).get(e) == simdjson::SUCCESS;
  }
  std::string String(std::string_view pointer) const {
    std::string_view s;
    EXPECT_EQ(At(pointer).get_string().get(s), simdjson::SUCCESS) << pointer << " in " << text_;
    return std::string(s);
  }
  int64_t Int(std::string_view pointer) const {
    int64_t v = -1;
    EXPECT_EQ(At(pointer).get_int64().get(v), simdjson::SUCCESS) << pointer << " in " << text_;
    return v;
  }
  bool IsNull(std::string_view pointer) const { return Has(pointer) && At(pointer).is_null(); }
  size_t Size(std::string_view pointer) const {
    const simdjson::dom::element e = At(pointer);
    if (e.is_array()) return simdjson::dom::array(e).size();
    if (e.is_object()) return simdjson::dom::object(e).size();
    ADD_FAILURE() << pointer << " is neither an array nor an object";
    return 0;
  }

 private:
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

ResponseMeta ChatMeta() {
  return ResponseMeta{"chatcmpl-abc123", "llama-3-8b", 1718000000, Endpoint::kChat};
}
ResponseMeta LegacyMeta() {
  return ResponseMeta{"cmpl-abc123", "llama-3-8b", 1718000000, Endpoint::kCompletions};
}

// The JSON inside one SSE event, checking the framing.
std::string EventJson(const std::string& event) {
  EXPECT_TRUE(event.starts_with("data: ")) << event;
  EXPECT_TRUE(event.ends_with("\n\n")) << event;
  const std::string json = event.substr(6, event.size() - 8);
  EXPECT_EQ(json.find('\n'), std::string::npos) << "a raw newline inside the JSON: " << event;
  EXPECT_EQ(json.find('\r'), std::string::npos) << event;
  return json;
}

TEST(RenderCompletion, ChatBodyHasTheOpenAiShape) {
  const std::string body = RenderCompletion(ChatMeta(), "Hello there.", {0, 3});
  const Json j(body);
  ASSERT_TRUE(j.ok()) << body;
  EXPECT_EQ(j.Size(""), 6u);
  EXPECT_EQ(j.String("/id"), "chatcmpl-abc123");
  EXPECT_EQ(j.String("/object"), "chat.completion");
  EXPECT_EQ(j.Int("/created"), 1718000000);
  EXPECT_EQ(j.String("/model"), "llama-3-8b");
  ASSERT_EQ(j.Size("/choices"), 1u);
  EXPECT_EQ(j.Int("/choices/0/index"), 0);
  EXPECT_EQ(j.Size("/choices/0/message"), 2u);
  EXPECT_EQ(j.String("/choices/0/message/role"), "assistant");
  EXPECT_EQ(j.String("/choices/0/message/content"), "Hello there.");
  EXPECT_TRUE(j.IsNull("/choices/0/logprobs"));
  EXPECT_EQ(j.String("/choices/0/finish_reason"), "stop");
  EXPECT_EQ(j.Int("/usage/prompt_tokens"), 0);
  EXPECT_EQ(j.Int("/usage/completion_tokens"), 3);
  EXPECT_EQ(j.Int("/usage/total_tokens"), 3);

  std::string error;
  const auto parsed = testing::ParseChatCompletion(body, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->id, "chatcmpl-abc123");
  EXPECT_EQ(parsed->model, "llama-3-8b");
  EXPECT_EQ(parsed->created, 1718000000);
  EXPECT_EQ(parsed->content, "Hello there.");
  EXPECT_EQ(parsed->finish_reason, "stop");
}

TEST(RenderCompletion, LegacyBodyIsATextCompletion) {
  const std::string body = RenderCompletion(LegacyMeta(), "Once upon", {0, 2});
  const Json j(body);
  ASSERT_TRUE(j.ok()) << body;
  EXPECT_EQ(j.String("/id"), "cmpl-abc123");
  EXPECT_EQ(j.String("/object"), "text_completion");
  EXPECT_EQ(j.Int("/created"), 1718000000);
  ASSERT_EQ(j.Size("/choices"), 1u);
  EXPECT_EQ(j.Int("/choices/0/index"), 0);
  EXPECT_EQ(j.String("/choices/0/text"), "Once upon");
  EXPECT_FALSE(j.Has("/choices/0/message"));
  EXPECT_TRUE(j.IsNull("/choices/0/logprobs"));
  EXPECT_EQ(j.String("/choices/0/finish_reason"), "stop");
  EXPECT_EQ(j.Int("/usage/completion_tokens"), 2);
  EXPECT_EQ(j.Int("/usage/total_tokens"), 2);
  EXPECT_FALSE(testing::ParseChatCompletion(body, nullptr));  // not a chat body
}

TEST(RenderCompletion, EmptyContentAndLargeCounts) {
  const std::string body = RenderCompletion(ChatMeta(), "", {0, 4294967295u});
  const Json j(body);
  ASSERT_TRUE(j.ok()) << body;
  EXPECT_EQ(j.String("/choices/0/message/content"), "");
  EXPECT_EQ(j.Int("/usage/completion_tokens"), 4294967295);
}

const std::string kNasty =
    "say \"hi\" \\ back\nline two\r\n\ttabbed \x01\x08\x0c\x1f end / "
    "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82 \x7f";

TEST(RenderCompletion, EscapesEverythingJsonNeedsAndPassesUtf8Through) {
  ResponseMeta meta = ChatMeta();
  meta.model = "my \"quoted\"\nmodel";
  meta.id = "chatcmpl-a\\b";
  const std::string body = RenderCompletion(meta, kNasty, {0, 1});
  EXPECT_EQ(body.find('\n'), std::string::npos);
  EXPECT_NE(body.find("\\u0001"), std::string::npos);
  EXPECT_NE(body.find("\\u001f"), std::string::npos);
  EXPECT_NE(body.find("\xF0\x9F\x99\x82"), std::string::npos);  // raw UTF-8, not \u escapes
  const Json j(body);
  ASSERT_TRUE(j.ok()) << body;
  EXPECT_EQ(j.String("/choices/0/message/content"), kNasty);
  EXPECT_EQ(j.String("/model"), meta.model);
  EXPECT_EQ(j.String("/id"), meta.id);
}

TEST(RenderStream, ChatEventSequence) {
  const ResponseMeta meta = ChatMeta();
  const std::string text = "Hello, big world";
  std::vector<std::string> events;
  events.push_back(RenderRoleEvent(meta));
  for (std::string_view piece : SplitTokens(text)) events.push_back(RenderDeltaEvent(meta, piece));
  events.push_back(RenderFinishEvent(meta));
  ASSERT_EQ(events.size(), 5u);

  std::string content;
  for (size_t i = 0; i < events.size(); ++i) {
    const Json j(EventJson(events[i]));
    ASSERT_TRUE(j.ok()) << events[i];
    EXPECT_EQ(j.Size(""), 5u) << events[i];  // id, object, created, model, choices
    EXPECT_EQ(j.String("/id"), meta.id);
    EXPECT_EQ(j.String("/object"), "chat.completion.chunk");
    EXPECT_EQ(j.Int("/created"), meta.created);
    EXPECT_EQ(j.String("/model"), meta.model);
    ASSERT_EQ(j.Size("/choices"), 1u);
    EXPECT_EQ(j.Int("/choices/0/index"), 0);
    EXPECT_TRUE(j.IsNull("/choices/0/logprobs"));
    if (i == 0) {
      EXPECT_EQ(j.Size("/choices/0/delta"), 2u);
      EXPECT_EQ(j.String("/choices/0/delta/role"), "assistant");
      EXPECT_EQ(j.String("/choices/0/delta/content"), "");
      EXPECT_TRUE(j.IsNull("/choices/0/finish_reason"));
    } else if (i + 1 < events.size()) {
      EXPECT_EQ(j.Size("/choices/0/delta"), 1u);
      content += j.String("/choices/0/delta/content");
      EXPECT_TRUE(j.IsNull("/choices/0/finish_reason"));
    } else {
      EXPECT_EQ(j.Size("/choices/0/delta"), 0u);
      EXPECT_EQ(j.String("/choices/0/finish_reason"), "stop");
    }
  }
  EXPECT_EQ(content, text);
  EXPECT_EQ(kDoneEvent, "data: [DONE]\n\n");

  std::string body;
  for (const std::string& e : events) body += e;
  body += kDoneEvent;
  std::string error;
  const auto stream = testing::ParseChatStream(body, &error);
  ASSERT_TRUE(stream) << error;
  EXPECT_EQ(stream->id, meta.id);
  EXPECT_EQ(stream->model, meta.model);
  EXPECT_EQ(stream->content, text);
  EXPECT_EQ(stream->finish_reason, "stop");
  EXPECT_EQ(stream->chunks, 5u);
  EXPECT_TRUE(stream->done);
}

TEST(RenderStream, DeltasEscapeAndRoundTrip) {
  ResponseMeta meta = ChatMeta();
  meta.model = "m\"odel";
  std::string body = RenderRoleEvent(meta);
  for (std::string_view piece : SplitTokens(kNasty)) {
    const std::string event = RenderDeltaEvent(meta, piece);
    const Json j(EventJson(event));
    ASSERT_TRUE(j.ok()) << event;
    EXPECT_EQ(j.String("/choices/0/delta/content"), piece);
    body += event;
  }
  body += RenderFinishEvent(meta);
  body += kDoneEvent;
  std::string error;
  const auto stream = testing::ParseChatStream(body, &error);
  ASSERT_TRUE(stream) << error;
  EXPECT_EQ(stream->content, kNasty);
  EXPECT_EQ(stream->model, meta.model);
}

TEST(RenderStream, LegacyCompletionChunks) {
  const ResponseMeta meta = LegacyMeta();
  EXPECT_EQ(RenderRoleEvent(meta), "");

  const Json delta(EventJson(RenderDeltaEvent(meta, " upon\n")));
  ASSERT_TRUE(delta.ok());
  EXPECT_EQ(delta.String("/id"), meta.id);
  EXPECT_EQ(delta.String("/object"), "text_completion");
  EXPECT_EQ(delta.Int("/created"), meta.created);
  EXPECT_EQ(delta.String("/model"), meta.model);
  ASSERT_EQ(delta.Size("/choices"), 1u);
  EXPECT_EQ(delta.Int("/choices/0/index"), 0);
  EXPECT_EQ(delta.String("/choices/0/text"), " upon\n");
  EXPECT_FALSE(delta.Has("/choices/0/delta"));
  EXPECT_TRUE(delta.IsNull("/choices/0/logprobs"));
  EXPECT_TRUE(delta.IsNull("/choices/0/finish_reason"));

  const Json finish(EventJson(RenderFinishEvent(meta)));
  ASSERT_TRUE(finish.ok());
  EXPECT_EQ(finish.String("/object"), "text_completion");
  EXPECT_EQ(finish.String("/choices/0/text"), "");
  EXPECT_EQ(finish.String("/choices/0/finish_reason"), "stop");
}

TEST(EndpointOf, SuffixOfThePathWithoutItsQuery) {
  EXPECT_EQ(EndpointOf("/v1/chat/completions"), Endpoint::kChat);
  EXPECT_EQ(EndpointOf("/v1/chat/completions?stream=true"), Endpoint::kChat);
  EXPECT_EQ(EndpointOf("/openai/deployments/gpt/chat/completions"), Endpoint::kChat);
  EXPECT_EQ(EndpointOf("/v1/chat/completions?next=/v1/completions"), Endpoint::kChat);
  EXPECT_EQ(EndpointOf("/v1/completions"), Endpoint::kCompletions);
  EXPECT_EQ(EndpointOf("/v1/completions?a=/chat/completions"), Endpoint::kCompletions);
  EXPECT_EQ(EndpointOf("/openai/deployments/gpt/completions"), Endpoint::kCompletions);
  EXPECT_EQ(EndpointOf("/v1/responses"), Endpoint::kResponses);
  EXPECT_EQ(EndpointOf("/v1/responses?x=1"), Endpoint::kResponses);
  EXPECT_EQ(EndpointOf("/v1/embeddings"), Endpoint::kEmbeddings);
  EXPECT_EQ(EndpointOf("/v1/embeddings?a=/v1/responses"), Endpoint::kEmbeddings);
  EXPECT_EQ(EndpointOf("/v1/models"), Endpoint::kOther);
  EXPECT_EQ(EndpointOf("/v1/completions/"), Endpoint::kOther);
  EXPECT_EQ(EndpointOf("/v1/responses/resp_1/cancel"), Endpoint::kOther);
  EXPECT_EQ(EndpointOf(""), Endpoint::kOther);
  EXPECT_EQ(EndpointOf("?/v1/responses"), Endpoint::kOther);
}

TEST(OwnAnswersServe, EverythingButEmbeddingsAndUnknownPaths) {
  EXPECT_TRUE(OwnAnswersServe(Endpoint::kChat));
  EXPECT_TRUE(OwnAnswersServe(Endpoint::kCompletions));
  EXPECT_TRUE(OwnAnswersServe(Endpoint::kResponses));
  EXPECT_FALSE(OwnAnswersServe(Endpoint::kEmbeddings));
  EXPECT_FALSE(OwnAnswersServe(Endpoint::kOther));
}

TEST(OwnAnswerModel, TheEntrysUnlessEmptyOrTheRouteReportsTheRequestedModel) {
  EXPECT_EQ(OwnAnswerModel(false, "canned", "asked"), "canned");  // response_model: backend
  EXPECT_EQ(OwnAnswerModel(false, "", "asked"), "asked");
  EXPECT_EQ(OwnAnswerModel(true, "canned", "asked"), "asked");  // response_model: requested
  EXPECT_EQ(OwnAnswerModel(true, "", "asked"), "asked");
  EXPECT_EQ(OwnAnswerModel(true, "canned", ""), "canned");  // the client named none
  EXPECT_EQ(OwnAnswerModel(false, "", ""), "");
}

TEST(MakeResponseId, PrefixesByEndpoint) {
  EXPECT_EQ(MakeResponseId(Endpoint::kChat, "r-42"), "chatcmpl-r-42");
  EXPECT_EQ(MakeResponseId(Endpoint::kCompletions, "r-42"), "cmpl-r-42");
  EXPECT_EQ(MakeResponseId(Endpoint::kResponses, "r-42"), "resp_r-42");
  EXPECT_EQ(MakeResponseId(Endpoint::kChat, ""), "chatcmpl-");
}

std::vector<std::string> Split(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view piece : SplitTokens(text)) out.emplace_back(piece);
  return out;
}

TEST(SplitTokens, EachWordCarriesItsLeadingWhitespace) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split("Hello, big world"), (V{"Hello,", " big", " world"}));
  EXPECT_TRUE(SplitTokens("").empty());
  EXPECT_EQ(Split("one"), (V{"one"}));
  EXPECT_EQ(Split("  lead"), (V{"  lead"}));
  EXPECT_EQ(Split("a  b\n\nc\td"), (V{"a", "  b", "\n\nc", "\td"}));
  EXPECT_EQ(Split("end "), (V{"end", " "}));  // nothing is lost
  EXPECT_EQ(Split("   "), (V{"   "}));
  EXPECT_EQ(Split("h\xC3\xA9llo w\xC3\xB6rld"), (V{"h\xC3\xA9llo", " w\xC3\xB6rld"}));
}

TEST(SplitTokens, PiecesConcatenateToTheText) {
  for (std::string_view text : {std::string_view("  The quick\tbrown  fox \n"),
                                std::string_view(kNasty), std::string_view("x")}) {
    std::string joined;
    for (std::string_view piece : SplitTokens(text)) {
      EXPECT_FALSE(piece.empty());
      joined += piece;
    }
    EXPECT_EQ(joined, text);
  }
}

}  // namespace
}  // namespace infergate::degrade
