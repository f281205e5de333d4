// ExtractBodyFields and SpliceModel: top-level field lookup, error cases, padding, large bodies
// and model rewriting.
#include "infergate/routing/body_fields.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>

namespace infergate::routing {
namespace {

constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

// Parses `body` from a buffer with room for simdjson's padding.
Expected<BodyFields, Error> Extract(std::string_view body) {
  std::string buffer(body);
  buffer.resize(body.size() + kPadding, '\0');
  auto result = ExtractBodyFields(std::string_view(buffer.data(), body.size()), buffer.size());
  if (result.ok() && result->model) {
    // Offsets are relative to the start of the body, so they hold for any copy of it.
    EXPECT_LE(result->model_offset + result->model_length, body.size());
  }
  return result;
}

BodyFields MustExtract(std::string_view body) {
  auto result = Extract(body);
  EXPECT_TRUE(result.ok()) << body << " -> " << (result.ok() ? "" : result.error().message);
  return result.ok() ? *result : BodyFields{};
}

std::string RawToken(std::string_view body, const BodyFields& f) {
  return std::string(body.substr(f.model_offset, f.model_length));
}

void ExpectMalformed(std::string_view body) {
  auto result = Extract(body);
  ASSERT_FALSE(result.ok()) << "accepted: " << body;
  EXPECT_EQ(result.error().kind, ErrorKind::kMalformedJson);
  EXPECT_FALSE(result.error().message.empty());
}

TEST(BodyFields, PlainChatBody) {
  const std::string body =
      R"({"model":"llama-3.1-70b","messages":[{"role":"user","content":"hi"}],"stream":true})";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "llama-3.1-70b");
  EXPECT_EQ(RawToken(body, f), "\"llama-3.1-70b\"");
  EXPECT_EQ(f.stream, true);
}

// What token rate limits estimate from: the prompt's raw size and the output cap.
TEST(BodyFields, PromptBytesAndMaxTokens) {
  BodyFields chat = MustExtract(
      R"({"model":"m","messages":[{"role":"user","content":"Hello"}],"max_tokens":20})");
  EXPECT_EQ(chat.prompt_bytes, 35u);  // [{"role":"user","content":"Hello"}]
  EXPECT_EQ(chat.max_tokens, 20u);
  BodyFields completion = MustExtract(R"({"model":"m","prompt":"abcd","max_completion_tokens":7,)"
                                      R"("max_output_tokens":9})");
  EXPECT_EQ(completion.prompt_bytes, 6u);  // "abcd" with its quotes
  EXPECT_EQ(completion.max_tokens, 9u);    // the largest cap given
  BodyFields responses = MustExtract(R"({"model":"m","input":["a","b"],"max_tokens":-1})");
  EXPECT_EQ(responses.prompt_bytes, 9u);
  EXPECT_FALSE(responses.max_tokens);  // not a non-negative integer: ignored
  EXPECT_EQ(MustExtract(R"({"model":"m"})").prompt_bytes, 0u);
}

TEST(BodyFields, WhitespaceEverywhere) {
  const std::string body =
      " \n\t{ \r\n \"stream\" \n:\tfalse ,\n  \"model\"  :  \n \"m-1\"  \n\t ,\"n\" : 2 \n}\n \t";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "m-1");
  EXPECT_EQ(RawToken(body, f), "\"m-1\"");
  EXPECT_EQ(f.stream, false);
}

TEST(BodyFields, ModelAsLastFieldWithoutSpace) {
  const std::string body = R"({"a":1,"model":"z"})";
  BodyFields f = MustExtract(body);
  EXPECT_EQ(RawToken(body, f), "\"z\"");
  EXPECT_EQ(f.model_offset, 15u);
}

TEST(BodyFields, EscapedStringsAreUnescaped) {
  const std::string body = R"({"model":"llama\u002d70b\"q\\","x":"y"})";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "llama-70b\"q\\");
  EXPECT_EQ(RawToken(body, f), R"("llama\u002d70b\"q\\")");
}

TEST(BodyFields, EscapedKeyCountsAsModel) {
  const std::string body = R"({"mod\u0065l":"a"})";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "a");
  ExpectMalformed(R"({"model":"a","mod\u0065l":"b"})");
}

TEST(BodyFields, UnicodeModel) {
  const std::string body = R"({"model":"modèle-\u00e9\ud83d\ude00"})";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "modèle-é😀");
}

TEST(BodyFields, NestedModelKeysIgnored) {
  const std::string body = R"({
    "meta": {"model": "inner-before", "deep": [{"model": "deeper"}]},
    "tools": [{"model": "in-array"}, "model", ["model"]],
    "model": "top",
    "extra": {"model": "inner-after"},
    "list": [{"model": 5}, {"stream": "yes"}]
  })";
  BodyFields f = MustExtract(body);
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "top");
  EXPECT_EQ(RawToken(body, f), "\"top\"");
  EXPECT_FALSE(f.stream);
}

TEST(BodyFields, OnlyNestedModelMeansNoModel) {
  BodyFields f = MustExtract(R"({"meta":{"model":"inner"},"arr":[{"model":"x"}]})");
  EXPECT_FALSE(f.model);
  EXPECT_EQ(f.model_length, 0u);
}

TEST(BodyFields, ModelValueLookingLikeKeys) {
  BodyFields f = MustExtract(R"({"note":"\"model\":\"fake\"","model":"real"})");
  ASSERT_TRUE(f.model);
  EXPECT_EQ(*f.model, "real");
}

TEST(BodyFields, NoModelNoStream) {
  BodyFields f = MustExtract(R"({"prompt":"x"})");
  EXPECT_FALSE(f.model);
  EXPECT_FALSE(f.stream);
  f = MustExtract("{}");
  EXPECT_FALSE(f.model);
  EXPECT_FALSE(f.stream);
}

TEST(BodyFields, DuplicateModelRejected) {
  auto result = Extract(R"({"model":"allowed","messages":[],"model":"expensive"})");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, ErrorKind::kMalformedJson);
  EXPECT_NE(result.error().message.find("duplicate"), std::string::npos);
  EXPECT_NE(result.error().message.find("model"), std::string::npos);
  ExpectMalformed(R"({"model":"a","model":"a"})");
  ExpectMalformed(R"({"model":"a","model":5})");
}

TEST(BodyFields, ModelNotAStringRejected) {
  for (const char* body : {R"({"model":5})", R"({"model":null})", R"({"model":true})",
                           R"({"model":["a"]})", R"({"model":{"name":"a"}})"}) {
    auto result = Extract(body);
    ASSERT_FALSE(result.ok()) << body;
    EXPECT_EQ(result.error().kind, ErrorKind::kMalformedJson);
    EXPECT_NE(result.error().message.find("string"), std::string::npos) << body;
  }
}

TEST(BodyFields, StreamValues) {
  EXPECT_EQ(MustExtract(R"({"stream":true})").stream, true);
  EXPECT_EQ(MustExtract(R"({"stream":false})").stream, false);
  EXPECT_FALSE(MustExtract(R"({"model":"m"})").stream);
  EXPECT_FALSE(MustExtract(R"({"stream":"true"})").stream);
  EXPECT_FALSE(MustExtract(R"({"stream":1})").stream);
  EXPECT_FALSE(MustExtract(R"({"stream":null})").stream);
  EXPECT_FALSE(MustExtract(R"({"stream":{"a":true}})").stream);
  EXPECT_FALSE(MustExtract(R"({"x":{"stream":true}})").stream);
  EXPECT_EQ(MustExtract(R"({"stream":false,"stream":true})").stream, true);
}

TEST(BodyFields, MalformedJsonRejected) {
  ExpectMalformed(R"({"model":"x",)");
  ExpectMalformed(R"({"model":"x")");
  ExpectMalformed(R"({"model":"x)");
  ExpectMalformed(R"({"model":"x"} trailing)");
  ExpectMalformed(R"({"model":"x"}})");
  ExpectMalformed(R"({"model":"x"}{})");
  ExpectMalformed(R"({"model":"x","messages":[1,2)");
  ExpectMalformed(R"({"messages":[1,2,"model":"x"})");
  ExpectMalformed(R"({"model" "x"})");
  ExpectMalformed(R"({"model":"x" "y":1})");
  ExpectMalformed(R"({model:"x"})");
  ExpectMalformed(R"({'model':'x'})");
  ExpectMalformed(R"({"model":"x","stream":tru})");
  ExpectMalformed(R"({"model":"bad \q escape"})");
  ExpectMalformed("{\"model\":\"raw\nnewline\"}");
  ExpectMalformed("{\"model\":\"\xff\xfe\"}");
  ExpectMalformed(R"({"a":1,})");
  ExpectMalformed("{");
}

TEST(BodyFields, NonObjectBodiesRejected) {
  for (const char* body :
       {"[]", R"([{"model":"x"}])", R"("model")", "42", "true", "null", "", "   ", "\n"}) {
    auto result = Extract(body);
    ASSERT_FALSE(result.ok()) << "accepted: '" << body << "'";
    EXPECT_EQ(result.error().kind, ErrorKind::kMalformedJson);
  }
  auto empty = Extract("");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);
}

TEST(BodyFields, CapacityWithAndWithoutPadding) {
  const std::string body = R"({"model":"m","stream":true})";
  {
    const std::string exact = body;
    auto result = ExtractBodyFields(exact, exact.size());
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(*result->model, "m");
    EXPECT_EQ(exact.substr(result->model_offset, result->model_length), "\"m\"");
  }
  {
    std::string buffer = body + std::string(kPadding - 1, ' ');
    auto result = ExtractBodyFields(std::string_view(buffer.data(), body.size()), buffer.size());
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(buffer.substr(result->model_offset, result->model_length), "\"m\"");
  }
  {
    std::string buffer = body + std::string(kPadding, '}');
    auto result = ExtractBodyFields(std::string_view(buffer.data(), body.size()), buffer.size());
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(*result->model, "m");
    EXPECT_EQ(result->stream, true);
  }
  {
    std::string buffer = std::string(R"({"model":"m",)") + std::string(kPadding, ' ') + "\"a\":1}";
    auto result = ExtractBodyFields(std::string_view(buffer.data(), 13), buffer.size());
    EXPECT_FALSE(result.ok()) << "the padding must not be parsed as part of the body";
  }
}

std::string BigMessages(size_t target_bytes) {
  std::string out = R"("messages":[)";
  const std::string msg =
      R"({"role":"user","content":"the model said \"model\": {\"model\":1} and more text here"},)";
  while (out.size() + msg.size() < target_bytes) out += msg;
  out.pop_back();
  out += "]";
  return out;
}

TEST(BodyFields, SixteenMiBBody) {
  const std::string messages = BigMessages(16 << 20);
  for (bool model_first : {true, false}) {
    const std::string body = model_first
                                 ? "{\"model\":\"big-model\"," + messages + ",\"stream\":true}"
                                 : "{" + messages + ",\"stream\":true,\"model\":\"big-model\"}";
    ASSERT_GE(body.size(), (16u << 20) - 1024);
    const auto start = std::chrono::steady_clock::now();
    BodyFields f = MustExtract(body);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(f.model);
    EXPECT_EQ(*f.model, "big-model");
    EXPECT_EQ(RawToken(body, f), "\"big-model\"");
    EXPECT_EQ(f.stream, true);
    EXPECT_LT(elapsed, std::chrono::seconds(2));
  }
  const std::string truncated = "{\"model\":\"big-model\"," + messages;
  ExpectMalformed(truncated);
}

std::string SpliceAndCheck(const std::string& body, std::string_view new_model) {
  BodyFields f = MustExtract(body);
  std::string out = body;
  SpliceModel(out, f, new_model);
  BodyFields again = MustExtract(out);
  EXPECT_TRUE(again.model);
  if (again.model) {
    EXPECT_EQ(*again.model, new_model);
  }
  EXPECT_EQ(again.stream, f.stream);
  simdjson::dom::parser dom;
  simdjson::dom::element root;
  EXPECT_EQ(dom.parse(out).get(root), simdjson::SUCCESS) << out;
  return out;
}

TEST(SpliceModel, LongerShorterAndEscapedNames) {
  const std::string body = R"({"model": "llama-70b" ,"messages":[{"model":"keep"}],"stream":true})";
  EXPECT_EQ(
      SpliceAndCheck(body, "meta-llama/Llama-3.1-70B-Instruct"),
      R"({"model": "meta-llama/Llama-3.1-70B-Instruct" ,"messages":[{"model":"keep"}],"stream":true})");
  EXPECT_EQ(SpliceAndCheck(body, "x"),
            R"({"model": "x" ,"messages":[{"model":"keep"}],"stream":true})");
  EXPECT_EQ(SpliceAndCheck(body, ""),
            R"({"model": "" ,"messages":[{"model":"keep"}],"stream":true})");
  EXPECT_EQ(SpliceAndCheck(body, "a\"b\\c\nd"),
            R"({"model": "a\"b\\c\nd" ,"messages":[{"model":"keep"}],"stream":true})");
  SpliceAndCheck(body, std::string("ctl\x01\x1f", 5));
}

TEST(SpliceModel, ReplacesEscapedOriginalToken) {
  const std::string body = R"({"messages":[],"model":"llama\u002d70b"})";
  EXPECT_EQ(SpliceAndCheck(body, "served"), R"({"messages":[],"model":"served"})");
}

TEST(SpliceModel, NoModelLeavesBodyAlone) {
  std::string body = R"({"messages":[]})";
  BodyFields f = MustExtract(body);
  SpliceModel(body, f, "x");
  EXPECT_EQ(body, R"({"messages":[]})");
}

}  // namespace
}  // namespace infergate::routing
