// POST /v1/embeddings for the mock: the request's fields, deterministic vectors derived from a
// hash of each input, and the list object (floats, or base64 of little-endian float32 as the
// official SDKs ask for by default).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::mock {

inline constexpr int64_t kDefaultEmbeddingDimensions = 8;
inline constexpr int64_t kMaxEmbeddingDimensions = 4096;

struct EmbeddingsRequest {
  bool has_model = false;
  std::string model;
  // One entry per input: its text, or for a token array its ids joined with ",".
  std::vector<std::string> inputs;
  int64_t prompt_tokens = 0;  // a string counts size / 4 + 1, a token array its length
  bool base64 = false;
  int64_t dimensions = kDefaultEmbeddingDimensions;
};

// Why a body was refused, as the error object says it.
struct EmbeddingsError {
  std::string message;
  std::string param;  // the offending field; empty when the body is not JSON
  std::string code;   // invalid_json, missing_required_parameter or invalid_value
};

// Parses model, input (a string, an array of strings, an array of token ids or an array of
// such arrays), encoding_format ("float" or "base64") and dimensions (1 to
// kMaxEmbeddingDimensions). On failure returns false and says why in *error.
bool ParseEmbeddingsRequest(std::string& body, EmbeddingsRequest* req, EmbeddingsError* error);

// A unit-length vector of `dimensions` components that depends only on `input`.
std::vector<float> EmbeddingVector(std::string_view input, int64_t dimensions);

// The floats as little-endian IEEE-754 float32 bytes, base64-encoded (with padding).
void AppendBase64Floats(std::string& out, std::span<const float> values);

// {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],"model":...,
//  "usage":{"prompt_tokens":N,"total_tokens":N}}
void AppendEmbeddings(std::string& out, const EmbeddingsRequest& req, std::string_view model);

}  // namespace infergate::mock
