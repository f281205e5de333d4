// What a request to the mock asks for: its endpoint (from method and path) and the fields of its
// JSON body the completion endpoints read, parsed with simdjson's on-demand API.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace infergate::mock {

// One on-demand parser per thread, reused across requests.
simdjson::ondemand::parser& ThreadParser();

// Makes `body` safe for simdjson (padding after the end) and returns a view of it.
simdjson::padded_string_view Padded(std::string& body);

// True when the whole document was consumed (no trailing content).
bool AtEnd(simdjson::ondemand::document& doc);

struct CompletionRequest {
  bool has_model = false;
  std::string model;
  bool stream = false;
  bool include_usage = false;
};

// The model, stream and stream_options.include_usage of a completion body; false when the body
// is not a JSON object or one of those fields has the wrong type.
bool ParseCompletionRequest(std::string& body, CompletionRequest* req);

enum class Endpoint {
  kChat,
  kCompletions,
  kResponses,
  kEmbeddings,
  kModels,
  kModel,
  kHealth,
  kMetrics,
  kMockGauges,
  kMockStats,
  kMockReset,
  kUnknown,
  kWrongMethod,
};

Endpoint Classify(std::string_view method, std::string_view path);
bool IsControlEndpoint(Endpoint e);

}  // namespace infergate::mock
