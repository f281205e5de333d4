// The mock's embeddings (src/mock/embeddings.h): which bodies it takes, the vectors (unit
// length, deterministic, `dimensions` honoured) and the base64 float32 encoding the official
// SDKs decode.
#include "mock/embeddings.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace infergate::mock {
namespace {

bool Parse(std::string body, EmbeddingsRequest* req, EmbeddingsError* error = nullptr) {
  EmbeddingsError ignored;
  return ParseEmbeddingsRequest(body, req, error != nullptr ? error : &ignored);
}

// Standard base64 (with padding) to bytes, then little-endian float32 values.
std::vector<float> DecodeFloats(std::string_view b64) {
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = std::strchr(alphabet, c);
    EXPECT_NE(at, nullptr) << c;
    if (at == nullptr) return {};
    acc = (acc << 6) | static_cast<uint32_t>(at - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  EXPECT_EQ(bytes.size() % 4, 0u);
  std::vector<float> out;
  for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(bytes[i + k]);
    out.push_back(std::bit_cast<float>(v));
  }
  return out;
}

TEST(Embeddings, TakesEveryInputForm) {
  EmbeddingsRequest r;
  ASSERT_TRUE(Parse(R"({"model":"e","input":"hello world"})", &r));
  EXPECT_EQ(r.model, "e");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0], "hello world");
  EXPECT_EQ(r.prompt_tokens, 3);
  EXPECT_FALSE(r.base64);
  EXPECT_EQ(r.dimensions, kDefaultEmbeddingDimensions);

  r = {};
  ASSERT_TRUE(Parse(R"({"input":["a","bcdefgh"],"encoding_format":"base64","dimensions":3})", &r));
  EXPECT_EQ(r.inputs, (std::vector<std::string>{"a", "bcdefgh"}));
  EXPECT_EQ(r.prompt_tokens, 3);
  EXPECT_TRUE(r.base64);
  EXPECT_EQ(r.dimensions, 3);

  r = {};
  ASSERT_TRUE(Parse(R"({"input":[1,22,333]})", &r));
  EXPECT_EQ(r.inputs, (std::vector<std::string>{"1,22,333"}));
  EXPECT_EQ(r.prompt_tokens, 3);

  r = {};
  ASSERT_TRUE(Parse(R"({"input":[[1,2],[3]],"encoding_format":"float"})", &r));
  EXPECT_EQ(r.inputs, (std::vector<std::string>{"1,2", "3"}));
  EXPECT_EQ(r.prompt_tokens, 3);
}

TEST(Embeddings, RefusesWhatOpenAiRefuses) {
  struct Case {
    const char* body;
    const char* param;
    const char* code;
  };
  for (const Case& c : {
           Case{R"({"model":"e"})", "input", "missing_required_parameter"},
           Case{R"({"input":""})", "input", "invalid_value"},
           Case{R"({"input":[]})", "input", "invalid_value"},
           Case{R"({"input":["a",1]})", "input", "invalid_value"},
           Case{R"({"input":[1,"a"]})", "input", "invalid_value"},
           Case{R"({"input":[[]]})", "input", "invalid_value"},
           Case{R"({"input":[1.5]})", "input", "invalid_value"},
           Case{R"({"input":{"a":1}})", "input", "invalid_value"},
           Case{R"({"input":"a","encoding_format":"int8"})", "encoding_format", "invalid_value"},
           Case{R"({"input":"a","dimensions":0})", "dimensions", "invalid_value"},
           Case{R"({"input":"a","dimensions":5000})", "dimensions", "invalid_value"},
           Case{R"({"input":"a","model":3})", "model", "invalid_value"},
           Case{R"({"input":"a"} x)", "", "invalid_json"},
           Case{R"([1])", "", "invalid_json"},
       }) {
    EmbeddingsRequest r;
    EmbeddingsError error;
    EXPECT_FALSE(Parse(c.body, &r, &error)) << c.body;
    EXPECT_EQ(error.param, c.param) << c.body;
    EXPECT_EQ(error.code, c.code) << c.body;
    EXPECT_FALSE(error.message.empty());
  }
}

TEST(Embeddings, VectorsAreDeterministicUnitLengthAndSized) {
  const std::vector<float> a = EmbeddingVector("hello", 8);
  EXPECT_EQ(a, EmbeddingVector("hello", 8));
  EXPECT_NE(a, EmbeddingVector("hellp", 8));
  ASSERT_EQ(a.size(), 8u);
  double norm = 0;
  for (float x : a) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(EmbeddingVector("hello", 1536).size(), 1536u);
  EXPECT_EQ(EmbeddingVector("hello", 1).size(), 1u);
}

TEST(Embeddings, Base64IsLittleEndianFloat32) {
  const std::vector<float> values = {1.0f, -2.5f, 0.0f};
  std::string b64;
  AppendBase64Floats(b64, values);
  EXPECT_EQ(b64, "AACAPwAAIMAAAAAA");  // 00 00 80 3f | 00 00 20 c0 | 00 00 00 00
  EXPECT_EQ(DecodeFloats(b64), values);
  for (size_t n : {1u, 2u, 5u, 7u}) {  // every padding length
    const std::vector<float> v = EmbeddingVector("x", static_cast<int64_t>(n));
    std::string s;
    AppendBase64Floats(s, v);
    EXPECT_EQ(s.size() % 4, 0u);
    EXPECT_EQ(DecodeFloats(s), v);
  }
}

TEST(Embeddings, ListObjectCarriesOneEmbeddingPerInput) {
  EmbeddingsRequest r;
  ASSERT_TRUE(Parse(R"({"input":["a","b"],"dimensions":4})", &r));
  std::string out;
  AppendEmbeddings(out, r, "embed-1");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
  std::string_view s;
  ASSERT_EQ(doc["object"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "list");
  ASSERT_EQ(doc["model"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "embed-1");
  simdjson::dom::array data;
  ASSERT_EQ(doc["data"].get_array().get(data), simdjson::SUCCESS);
  ASSERT_EQ(data.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    simdjson::dom::element item = data.at(i);
    EXPECT_EQ(item["index"].get_int64().value(), static_cast<int64_t>(i));
    EXPECT_EQ(item["object"].get_string().value(), "embedding");
    simdjson::dom::array v;
    ASSERT_EQ(item["embedding"].get_array().get(v), simdjson::SUCCESS);
    ASSERT_EQ(v.size(), 4u);
    const std::vector<float> expected = EmbeddingVector(r.inputs[i], 4);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_FLOAT_EQ(static_cast<float>(v.at(k).get_double().value()), expected[k]);
    }
  }
  EXPECT_EQ(doc["usage"]["prompt_tokens"].get_int64().value(), 2);
  EXPECT_EQ(doc["usage"]["total_tokens"].get_int64().value(), 2);

  r.base64 = true;
  out.clear();
  AppendEmbeddings(out, r, "embed-1");
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
  ASSERT_EQ(doc.at_pointer("/data/1/embedding").get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(DecodeFloats(s), EmbeddingVector("b", 4));
}

}  // namespace
}  // namespace infergate::mock
