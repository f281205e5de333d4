// The OpenTelemetry GenAI metrics in Prometheus form, per route, operation and model:
//   gen_ai_server_request_duration_seconds      histogram, successful answers
//   gen_ai_server_time_to_first_token_seconds   histogram, successful streams with content
//   gen_ai_server_time_per_output_token_seconds histogram, (duration - ttft) / (output - 1)
//   gen_ai_client_token_usage{gen_ai_token_type="input"|"output"}  histogram, whenever known
// with the semantic conventions' bucket bounds and the labels gen_ai_operation_name (chat,
// text_completion, embeddings; the Responses API counts as chat), gen_ai_request_model (the
// model as forwarded, after rewrites), gen_ai_response_model (the model the answer named) and
// route.
// Model names come from clients and backends, so the model labels are bounded: a name is its
// own label value only when the route's config names it literally (match.models without
// globs, rewrite_model, its fallbacks' rewrite_model and models; at most kMaxModelsPerRoute),
// else "other"; "" when there was none. A route thus has at most
// 3 x (names + 2)^2 series per metric; they are made on first use and their handles cached, so
// recording does no lookup by name in the registry.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/observability/metrics.h"

namespace infergate::exchange {

struct ExchangeRecord;

class GenAiMetrics {
 public:
  static constexpr size_t kMaxModelsPerRoute = 64;
  enum class Operation : uint8_t { kChat, kTextCompletion, kEmbeddings };
  static constexpr size_t kOperationCount = 3;

  // `registry` must outlive this.
  GenAiMetrics(observability::Registry& registry, const config::Config& config);
  ~GenAiMetrics();
  GenAiMetrics(const GenAiMetrics&) = delete;
  GenAiMetrics& operator=(const GenAiMetrics&) = delete;

  // The operation of an OpenAI endpoint path; nullopt for the others (no GenAI metrics).
  static std::optional<Operation> OperationFor(std::string_view path);
  static std::string_view OperationName(Operation op);

  // Records an exchange of a routed request to a GenAI path. Thread-safe.
  void Record(const ExchangeRecord& r, std::string_view path,
              std::chrono::steady_clock::time_point end) const;

  // The label value `model` gets on `route` (tests).
  std::string_view ModelLabel(size_t route, std::string_view model) const;

 private:
  struct Series;
  size_t ModelIndex(size_t route, std::string_view model) const;
  const Series& Get(size_t route, Operation op, size_t request, size_t response) const;

  observability::Registry& registry_;
  std::vector<std::string> route_names_;
  std::vector<std::vector<std::string>> models_;  // per route: "", "other", then its names
  std::vector<size_t> slot_base_;                 // per route: its first slot
  std::unique_ptr<std::atomic<Series*>[]> slots_;
  mutable std::mutex mu_;  // making a series
  mutable std::vector<std::unique_ptr<Series>> owned_;
};

}  // namespace infergate::exchange
