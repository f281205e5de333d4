#include "mock/requests.h"

#include <utility>

namespace infergate::mock {

simdjson::ondemand::parser& ThreadParser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

simdjson::padded_string_view Padded(std::string& body) {
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  return simdjson::padded_string_view(body.data(), body.size(), body.capacity());
}

bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

bool ParseCompletionRequest(std::string& body, CompletionRequest* req) {
  using namespace simdjson;
  ondemand::document doc;
  if (ThreadParser().iterate(Padded(body)).get(doc) != SUCCESS) return false;
  ondemand::object obj;
  if (doc.get_object().get(obj) != SUCCESS) return false;
  for (auto field_result : obj) {
    ondemand::field field;
    if (std::move(field_result).get(field) != SUCCESS) return false;
    std::string_view key;
    if (field.unescaped_key().get(key) != SUCCESS) return false;
    ondemand::value value = field.value();
    if (key == "model") {
      std::string_view model;
      if (value.get_string().get(model) != SUCCESS) return false;
      req->has_model = true;
      req->model.assign(model);
    } else if (key == "stream") {
      bool is_null = false;
      if (value.is_null().get(is_null) != SUCCESS) return false;
      if (!is_null && value.get_bool().get(req->stream) != SUCCESS) return false;
    } else if (key == "stream_options") {
      bool is_null = false;
      if (value.is_null().get(is_null) != SUCCESS) return false;
      if (is_null) continue;
      ondemand::object options;
      if (value.get_object().get(options) != SUCCESS) return false;
      for (auto option_result : options) {
        ondemand::field option;
        if (std::move(option_result).get(option) != SUCCESS) return false;
        std::string_view option_key;
        if (option.unescaped_key().get(option_key) != SUCCESS) return false;
        if (option_key == "include_usage") {
          ondemand::value v = option.value();
          if (v.get_bool().get(req->include_usage) != SUCCESS) return false;
        }
      }
    }
  }
  return AtEnd(doc);
}

Endpoint Classify(std::string_view method, std::string_view path) {
  bool get = method == "GET" || method == "HEAD";
  bool post = method == "POST";
  auto pick = [&](bool ok, Endpoint e) { return ok ? e : Endpoint::kWrongMethod; };
  if (path == "/v1/chat/completions") return pick(post, Endpoint::kChat);
  if (path == "/v1/completions") return pick(post, Endpoint::kCompletions);
  if (path == "/v1/responses") return pick(post, Endpoint::kResponses);
  if (path == "/v1/embeddings") return pick(post, Endpoint::kEmbeddings);
  if (path == "/v1/models") return pick(get, Endpoint::kModels);
  if (path.starts_with("/v1/models/") && path.size() > 11) return pick(get, Endpoint::kModel);
  if (path == "/health") return pick(get, Endpoint::kHealth);
  if (path == "/metrics") return pick(get, Endpoint::kMetrics);
  if (path == "/mock/gauges") return pick(post, Endpoint::kMockGauges);
  if (path == "/mock/stats") return pick(get, Endpoint::kMockStats);
  if (path == "/mock/reset") return pick(post, Endpoint::kMockReset);
  return Endpoint::kUnknown;
}

bool IsControlEndpoint(Endpoint e) {
  return e == Endpoint::kHealth || e == Endpoint::kMetrics || e == Endpoint::kMockGauges ||
         e == Endpoint::kMockStats || e == Endpoint::kMockReset;
}

}  // namespace infergate::mock
