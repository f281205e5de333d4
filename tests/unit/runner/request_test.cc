// Request bodies of the three endpoints read into a GenerationRequest, and each refusal naming
// its parameter.
#include "infergate/runner/request.h"

#include <gtest/gtest.h>

namespace infergate::runner {
namespace {

using degrade::Endpoint;

GenerationRequest Ok(std::string_view body, Endpoint e = Endpoint::kChat) {
  auto r = ParseGenerationRequest(body, e);
  EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : GenerationRequest{};
}

RequestError Bad(std::string_view body, Endpoint e = Endpoint::kChat) {
  auto r = ParseGenerationRequest(body, e);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? RequestError{} : r.error();
}

TEST(Request, ChatMessagesStringAndTextParts) {
  const GenerationRequest r = Ok(R"({"model":"m","messages":[
      {"role":"developer","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]},
      {"role":"assistant","content":null}]})");
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Be brief.");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_DOUBLE_EQ(r.sampling.temperature, 1.0);
  EXPECT_FALSE(r.seed);
  EXPECT_FALSE(r.max_tokens);
  EXPECT_FALSE(r.logprobs);
}

TEST(Request, EveryParameter) {
  const GenerationRequest r =
      Ok(R"({"messages":[{"role":"user","content":"x"}],"temperature":0,"top_p":0.5,"top_k":40,
             "seed":-1,"max_completion_tokens":7,"stop":["a","b"],"logprobs":true,
             "top_logprobs":3,"n":1,"stream":true})");
  EXPECT_DOUBLE_EQ(r.sampling.temperature, 0.0);
  EXPECT_DOUBLE_EQ(r.sampling.top_p, 0.5);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.seed, UINT64_MAX);
  EXPECT_EQ(r.max_tokens, 7u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
}

TEST(Request, LegacyPromptAndIntegerLogprobs) {
  const GenerationRequest r =
      Ok(R"({"prompt":["Once upon"],"max_tokens":5,"logprobs":2,"stop":"\n"})",
         Endpoint::kCompletions);
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.prompt, "Once upon");
  EXPECT_EQ(r.max_tokens, 5u);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(Ok(R"({"prompt":"x","logprobs":0})", Endpoint::kCompletions).top_logprobs, 0);
}

TEST(Request, ResponsesInstructionsAndInput) {
  GenerationRequest r = Ok(R"({"instructions":"Be kind.","input":"Hello","max_output_tokens":9})",
                           Endpoint::kResponses);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "Hello");
  EXPECT_EQ(r.max_tokens, 9u);
  r = Ok(R"({"input":[{"role":"user","content":[{"type":"input_text","text":"Q"}]},
                      {"type":"message","role":"assistant","content":"A"}]})",
         Endpoint::kResponses);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].content, "Q");
  EXPECT_EQ(r.messages[1].content, "A");
}

// The Responses API asks for logprobs with include: ["message.output_text.logprobs"]; its
// top_logprobs stands on its own.
TEST(Request, ResponsesLogprobsByInclude) {
  GenerationRequest r = Ok(R"({"input":"Hi","include":["message.output_text.logprobs"],)"
                           R"("top_logprobs":3})",
                           Endpoint::kResponses);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  r = Ok(R"({"input":"Hi","include":["file_search_call.results"],"top_logprobs":2})",
         Endpoint::kResponses);
  EXPECT_FALSE(r.logprobs);
  EXPECT_FALSE(Ok(R"({"input":"Hi","include":null})", Endpoint::kResponses).logprobs);
  EXPECT_EQ(
      Bad(R"({"input":"Hi","include":"message.output_text.logprobs"})", Endpoint::kResponses).param,
      "include");
  EXPECT_EQ(Bad(R"({"input":"Hi","include":[1]})", Endpoint::kResponses).param, "include");
  EXPECT_EQ(Bad(R"({"input":"Hi","include":["message.output_text.logprobs"],)"
                R"("top_logprobs":21})",
                Endpoint::kResponses)
                .param,
            "top_logprobs");
}

TEST(Request, RefusalsNameTheParameter) {
  EXPECT_EQ(Bad("[1]").param, "");
  EXPECT_EQ(Bad(R"({"model":"m"})").param, "messages");
  EXPECT_EQ(Bad(R"({"messages":[]})").param, "messages");
  EXPECT_EQ(Bad(R"({"messages":[{"content":"x"}]})").param, "messages[0].role");
  const RequestError image = Bad(
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_EQ(image.param, "messages[0].content");
  EXPECT_NE(image.message.find("image_url"), std::string::npos);
  const std::string m = R"({"messages":[{"role":"user","content":"x"}],)";
  EXPECT_EQ(Bad(m + R"("temperature":3})").param, "temperature");
  EXPECT_EQ(Bad(m + R"("top_p":0})").param, "top_p");
  EXPECT_EQ(Bad(m + R"("max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(Bad(m + R"("stop":["a","b","c","d","e"]})").param, "stop");
  EXPECT_EQ(Bad(m + R"("stop":5})").param, "stop");
  EXPECT_EQ(Bad(m + R"("n":2})").param, "n");
  EXPECT_EQ(Bad(m + R"("logprobs":3})").param, "logprobs");
  EXPECT_EQ(Bad(m + R"("top_logprobs":21,"logprobs":true})").param, "top_logprobs");
  EXPECT_EQ(Bad(m + R"("top_logprobs":2})").param, "top_logprobs");
  EXPECT_EQ(Bad(R"({"prompt":7})", Endpoint::kCompletions).param, "prompt");
  EXPECT_EQ(Bad(R"({"prompt":"x","logprobs":true})", Endpoint::kCompletions).param, "logprobs");
  EXPECT_EQ(Bad(R"({"input":[{"type":"function_call"}]})", Endpoint::kResponses).param, "input");
}

}  // namespace
}  // namespace infergate::runner
