// Embeddings for the mock server: request parsing with simdjson's on-demand API, vectors from
// FNV-1a and splitmix64, and the response text.
#include "mock/embeddings.h"

#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "mock/requests.h"
#include "mock/responses.h"

namespace infergate::mock {
namespace {

uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool Fail(EmbeddingsError* error, std::string message, std::string_view field) {
  error->message = std::move(message);
  error->param.assign(field);
  error->code = field.empty() ? "invalid_json" : "invalid_value";
  return false;
}

void AddText(EmbeddingsRequest* req, std::string_view text) {
  req->inputs.emplace_back(text);
  req->prompt_tokens += static_cast<int64_t>(text.size() / 4) + 1;
}

// A token array's ids joined with ","; false when an element is not an integer.
bool ReadTokens(simdjson::ondemand::array tokens, std::string* joined, int64_t* count) {
  for (auto element : tokens) {
    int64_t id = 0;
    if (element.get_int64().get(id) != simdjson::SUCCESS) return false;
    if (*count > 0) *joined += ',';
    AppendInt(*joined, id);
    ++*count;
  }
  return true;
}

bool ReadInput(simdjson::ondemand::value value, EmbeddingsRequest* req) {
  using namespace simdjson;
  ondemand::json_type type;
  if (value.type().get(type) != SUCCESS) return false;
  if (type == ondemand::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text) != SUCCESS || text.empty()) return false;
    AddText(req, text);
    return true;
  }
  ondemand::array items;
  if (type != ondemand::json_type::array || value.get_array().get(items) != SUCCESS) return false;
  std::string single_tokens;  // an array of token ids is one input
  int64_t single_count = 0;
  for (auto item_result : items) {
    ondemand::value item;
    if (std::move(item_result).get(item) != SUCCESS) return false;
    ondemand::json_type item_type;
    if (item.type().get(item_type) != SUCCESS) return false;
    if (item_type == ondemand::json_type::string) {
      if (single_count > 0) return false;
      std::string_view text;
      if (item.get_string().get(text) != SUCCESS || text.empty()) return false;
      AddText(req, text);
    } else if (item_type == ondemand::json_type::number) {
      if (!req->inputs.empty() && single_count == 0) return false;
      int64_t id = 0;
      if (item.get_int64().get(id) != SUCCESS) return false;
      if (single_count > 0) single_tokens += ',';
      AppendInt(single_tokens, id);
      ++single_count;
    } else if (item_type == ondemand::json_type::array) {
      if (single_count > 0) return false;
      ondemand::array tokens;
      std::string joined;
      int64_t count = 0;
      if (item.get_array().get(tokens) != SUCCESS || !ReadTokens(tokens, &joined, &count) ||
          count == 0) {
        return false;
      }
      req->inputs.push_back(std::move(joined));
      req->prompt_tokens += count;
    } else {
      return false;
    }
  }
  if (single_count > 0) {
    req->inputs.push_back(std::move(single_tokens));
    req->prompt_tokens += single_count;
  }
  return !req->inputs.empty();
}

}  // namespace

bool ParseEmbeddingsRequest(std::string& body, EmbeddingsRequest* req, EmbeddingsError* error) {
  using namespace simdjson;
  ondemand::document doc;
  ondemand::object obj;
  if (ThreadParser().iterate(Padded(body)).get(doc) != SUCCESS ||
      doc.get_object().get(obj) != SUCCESS) {
    return Fail(error, "We could not parse the JSON body of your request.", "");
  }
  bool has_input = false;
  for (auto field_result : obj) {
    ondemand::field field;
    std::string_view key;
    if (std::move(field_result).get(field) != SUCCESS ||
        field.unescaped_key().get(key) != SUCCESS) {
      return Fail(error, "We could not parse the JSON body of your request.", "");
    }
    ondemand::value value = field.value();
    if (key == "model") {
      std::string_view model;
      if (value.get_string().get(model) != SUCCESS) {
        return Fail(error, "'model' must be a string.", "model");
      }
      req->has_model = true;
      req->model.assign(model);
    } else if (key == "input") {
      has_input = true;
      if (!ReadInput(value, req)) {
        return Fail(error,
                    "'input' must be a non-empty string, array of strings, array of tokens or "
                    "array of token arrays.",
                    "input");
      }
    } else if (key == "encoding_format") {
      std::string_view format;
      if (value.get_string().get(format) != SUCCESS || (format != "float" && format != "base64")) {
        return Fail(error, "'encoding_format' must be 'float' or 'base64'.", "encoding_format");
      }
      req->base64 = format == "base64";
    } else if (key == "dimensions") {
      int64_t dimensions = 0;
      if (value.get_int64().get(dimensions) != SUCCESS || dimensions < 1 ||
          dimensions > kMaxEmbeddingDimensions) {
        return Fail(error, "'dimensions' must be an integer from 1 to 4096.", "dimensions");
      }
      req->dimensions = dimensions;
    }
  }
  if (!AtEnd(doc)) {
    return Fail(error, "We could not parse the JSON body of your request.", "");
  }
  if (!has_input) {
    Fail(error, "Missing required parameter: 'input'.", "input");
    error->code = "missing_required_parameter";
    return false;
  }
  return true;
}

std::vector<float> EmbeddingVector(std::string_view input, int64_t dimensions) {
  std::vector<float> v(static_cast<size_t>(dimensions));
  uint64_t state = Fnv1a(input);
  double norm = 0;
  for (float& x : v) {
    // 53 random bits to [-1, 1).
    double unit = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;
    x = static_cast<float>(unit * 2 - 1);
    norm += static_cast<double>(x) * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / norm);
  }
  return v;
}

void AppendBase64Floats(std::string& out, std::span<const float> values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (float f : values) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    for (int shift = 0; shift < 32; shift += 8) bytes += static_cast<char>((bits >> shift) & 0xff);
  }
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 0) return;
  uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
  if (rest == 2) n |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
  out += kAlphabet[(n >> 18) & 63];
  out += kAlphabet[(n >> 12) & 63];
  out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
  out += '=';
}

void AppendEmbeddings(std::string& out, const EmbeddingsRequest& req, std::string_view model) {
  out += R"({"object":"list","data":[)";
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"object":"embedding","index":)";
    AppendInt(out, static_cast<int64_t>(i));
    out += R"(,"embedding":)";
    const std::vector<float> v = EmbeddingVector(req.inputs[i], req.dimensions);
    if (req.base64) {
      out += '"';
      AppendBase64Floats(out, v);
      out += '"';
    } else {
      out += '[';
      for (size_t k = 0; k < v.size(); ++k) {
        if (k > 0) out += ',';
        char buf[32];
        auto res = std::to_chars(buf, buf + sizeof(buf), v[k]);
        out.append(buf, res.ptr);
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)";
  AppendJsonString(out, model);
  out += R"(,"usage":{"prompt_tokens":)";
  AppendInt(out, req.prompt_tokens);
  out += R"(,"total_tokens":)";
  AppendInt(out, req.prompt_tokens);
  out += "}}";
}

}  // namespace infergate::mock
