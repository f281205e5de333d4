// Backend error answers as vLLM, TGI, llama.cpp server, OpenAI and Azure OpenAI send them.
#include "infergate/routing/error_class.h"

#include <gtest/gtest.h>

namespace infergate::routing {
namespace {

using config::Trigger;

TEST(ClassifyBackendError, VllmFlatContextLengthError) {
  // vLLM 0.4-0.6: an ErrorResponse object at the top level.
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 4608 tokens (4096 in the messages, 512 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400})"),
      Trigger::kContextLengthExceeded);
}

TEST(ClassifyBackendError, VllmNestedContextLengthError) {
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"message":"This model's maximum context length is 2048 tokens. However, you requested 2100 tokens (2000 in the messages, 100 in the completion). Please reduce the length of the messages or completion. None","type":"BadRequestError","param":null,"code":400}})"),
      Trigger::kContextLengthExceeded);
}

TEST(ClassifyBackendError, TgiValidationErrors) {
  EXPECT_EQ(
      ClassifyBackendError(
          422,
          R"({"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`","error_type":"validation"})"),
      Trigger::kContextLengthExceeded);
  EXPECT_EQ(
      ClassifyBackendError(
          422,
          R"({"error":"Input validation error: `inputs` must have less than 1024 tokens. Given: 2048","error_type":"validation"})"),
      Trigger::kContextLengthExceeded);
  // Another validation error is not a context-length one.
  EXPECT_EQ(
      ClassifyBackendError(
          422,
          R"({"error":"Input validation error: `temperature` must be strictly positive","error_type":"validation"})"),
      std::nullopt);
}

TEST(ClassifyBackendError, LlamaCppContextSizeErrors) {
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}})"),
      Trigger::kContextLengthExceeded);
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"code":400,"message":"the request exceeds the available context size. try increasing the context size or enable context shift","type":"invalid_request_error"}})"),
      Trigger::kContextLengthExceeded);
}

TEST(ClassifyBackendError, OpenAiCodes) {
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})"),
      Trigger::kContextLengthExceeded);
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400}})"),
      Trigger::kContentFilter);
}

TEST(ClassifyBackendError, OtherErrorsAreNotClassified) {
  EXPECT_EQ(
      ClassifyBackendError(
          400,
          R"({"error":{"message":"temperature must be between 0 and 2","type":"invalid_request_error","param":"temperature","code":null}})"),
      std::nullopt);
  // A context-length wording on a server error is the backend's fault, not the request's.
  EXPECT_EQ(ClassifyBackendError(500, R"({"error":{"message":"maximum context length"}})"),
            std::nullopt);
  EXPECT_EQ(ClassifyBackendError(404, R"({"error":{"code":"context_length_exceeded"}})"),
            std::nullopt);
  EXPECT_EQ(ClassifyBackendError(400, ""), std::nullopt);
  EXPECT_EQ(ClassifyBackendError(400, "{"), std::nullopt);
}

TEST(ClassifyBackendError, TextAnswers) {
  EXPECT_EQ(ClassifyBackendError(400, "Prompt is too long for this model"),
            Trigger::kContextLengthExceeded);
  EXPECT_EQ(ClassifyBackendError(413, "maximum context length exceeded"),
            Trigger::kContextLengthExceeded);
}

TEST(ClassifyBackendError, ALongBodyIsNotRead) {
  std::string body = R"({"error":{"code":"context_length_exceeded","message":")";
  body.append(kMaxClassifiedErrorBody, 'x');
  body += R"("}})";
  EXPECT_EQ(ClassifyBackendError(400, body), std::nullopt);
}

}  // namespace
}  // namespace infergate::routing
