// GenAI metrics: bounded model labels per route, series made on first use, handles cached.
#include "infergate/exchange/genai_metrics.h"

#include <algorithm>

#include "infergate/exchange/finish.h"

namespace infergate::exchange {
namespace {

using observability::Registry;

// Bucket bounds from the OpenTelemetry GenAI semantic conventions (gen-ai-metrics.md).
const std::vector<double> kDurationBounds = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                             1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
const std::vector<double> kTtftBounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                         0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
const std::vector<double> kTpotBounds = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                         0.3,  0.4,   0.5,  0.75,  1.0, 2.5};
const std::vector<double> kTokenBounds = {
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};

constexpr size_t kFixedLabels = 2;  // "" (none) and "other"

bool IsLiteral(std::string_view name) {
  return !name.empty() && name.find_first_of("*?") == std::string_view::npos;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct GenAiMetrics::Series {
  observability::Histogram* duration = nullptr;
  observability::Histogram* ttft = nullptr;
  observability::Histogram* tpot = nullptr;
  observability::Histogram* input = nullptr;
  observability::Histogram* output = nullptr;
};

GenAiMetrics::GenAiMetrics(Registry& registry, const config::Config& config) : registry_(registry) {
  size_t slots = 0;
  for (const config::RouteConfig& route : config.routes) {
    std::vector<std::string> names = {"", "other"};
    auto add = [&names](std::string_view name) {
      if (!IsLiteral(name) || names.size() >= kMaxModelsPerRoute + kFixedLabels) return;
      if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
    };
    for (const std::string& m : route.match.models) add(m);
    if (route.rewrite_model) add(*route.rewrite_model);
    for (const config::FallbackConfig& f : route.fallbacks) {
      if (f.rewrite_model) add(*f.rewrite_model);
      if (f.kind == config::FallbackConfig::Kind::kStatic) add(f.model);
      if (f.kind == config::FallbackConfig::Kind::kRunner && f.runner < config.runners.size())
        add(config.runners[f.runner].model);
    }
    slot_base_.push_back(slots);
    slots += kOperationCount * names.size() * names.size();
    route_names_.push_back(route.name);
    models_.push_back(std::move(names));
  }
  slots_ = std::make_unique<std::atomic<Series*>[]>(slots);
  for (size_t i = 0; i < slots; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
}

GenAiMetrics::~GenAiMetrics() = default;

std::optional<GenAiMetrics::Operation> GenAiMetrics::OperationFor(std::string_view path) {
  if (path.ends_with("/chat/completions")) return Operation::kChat;
  if (path.ends_with("/completions")) return Operation::kTextCompletion;
  if (path.ends_with("/embeddings")) return Operation::kEmbeddings;
  // The Responses API: the conventions name no operation for it; it is a chat.
  if (path.ends_with("/responses")) return Operation::kChat;
  return std::nullopt;
}

std::string_view GenAiMetrics::OperationName(Operation op) {
  switch (op) {
    case Operation::kChat:
      return "chat";
    case Operation::kTextCompletion:
      return "text_completion";
    case Operation::kEmbeddings:
      return "embeddings";
  }
  return "chat";
}

size_t GenAiMetrics::ModelIndex(size_t route, std::string_view model) const {
  if (model.empty()) return 0;
  const std::vector<std::string>& names = models_[route];
  for (size_t i = kFixedLabels; i < names.size(); ++i) {
    if (names[i] == model) return i;
  }
  return 1;
}

std::string_view GenAiMetrics::ModelLabel(size_t route, std::string_view model) const {
  return models_[route][ModelIndex(route, model)];
}

const GenAiMetrics::Series& GenAiMetrics::Get(size_t route, Operation op, size_t request,
                                              size_t response) const {
  const size_t n = models_[route].size();
  std::atomic<Series*>& slot =
      slots_[slot_base_[route] + (static_cast<size_t>(op) * n + request) * n + response];
  if (Series* s = slot.load(std::memory_order_acquire)) return *s;
  std::lock_guard lock(mu_);
  if (Series* s = slot.load(std::memory_order_acquire)) return *s;
  const std::vector<std::string>& names = models_[route];
  const std::string labels = "gen_ai_operation_name=\"" + std::string(OperationName(op)) +
                             "\",gen_ai_request_model=\"" + Registry::EscapeLabel(names[request]) +
                             "\",gen_ai_response_model=\"" +
                             Registry::EscapeLabel(names[response]) + "\",route=\"" +
                             Registry::EscapeLabel(route_names_[route]) + "\"";
  auto s = std::make_unique<Series>();
  s->duration = registry_.GetHistogram(
      "gen_ai_server_request_duration_seconds",
      "GenAI server request duration: from the complete request to the last byte of a successful "
      "answer (OpenTelemetry gen_ai.server.request.duration).",
      labels, kDurationBounds);
  s->ttft = registry_.GetHistogram(
      "gen_ai_server_time_to_first_token_seconds",
      "Time from the complete request to the first content token sent to the client, for "
      "successful streamed answers (OpenTelemetry gen_ai.server.time_to_first_token).",
      labels, kTtftBounds);
  s->tpot = registry_.GetHistogram(
      "gen_ai_server_time_per_output_token_seconds",
      "Time per output token after the first, for successful streamed answers: (duration - time "
      "to first token) / (output tokens - 1) (OpenTelemetry gen_ai.server.time_per_output_token).",
      labels, kTpotBounds);
  const char* token_help =
      "Tokens per request by type (input: the prompt; output: generated), from the backend's "
      "usage, else counted from streamed content (OpenTelemetry gen_ai.client.token.usage).";
  s->input = registry_.GetHistogram("gen_ai_client_token_usage", token_help,
                                    labels + ",gen_ai_token_type=\"input\"", kTokenBounds);
  s->output = registry_.GetHistogram("gen_ai_client_token_usage", token_help,
                                     labels + ",gen_ai_token_type=\"output\"", kTokenBounds);
  Series* raw = s.get();
  owned_.push_back(std::move(s));
  slot.store(raw, std::memory_order_release);
  return *raw;
}

void GenAiMetrics::Record(const ExchangeRecord& r, std::string_view path,
                          std::chrono::steady_clock::time_point end) const {
  if (r.route < 0 || static_cast<size_t>(r.route) >= models_.size()) return;
  const std::optional<Operation> op = OperationFor(path);
  if (!op) return;
  const size_t route = static_cast<size_t>(r.route);
  const Series& s =
      Get(route, *op, ModelIndex(route, r.request_model), ModelIndex(route, r.response_model));
  if (r.input_tokens) s.input->Observe(static_cast<double>(*r.input_tokens));
  if (r.output_tokens) s.output->Observe(static_cast<double>(*r.output_tokens));
  const bool ok = !r.error && r.status >= 200 && r.status < 300;
  if (!ok) return;
  s.duration->Observe(Seconds(end - r.start));
  if (r.first_token_at == std::chrono::steady_clock::time_point{}) return;
  s.ttft->Observe(Seconds(r.first_token_at - r.start));
  if (r.output_tokens && *r.output_tokens > 1) {
    s.tpot->Observe(Seconds(end - r.first_token_at) / static_cast<double>(*r.output_tokens - 1));
  }
}

}  // namespace infergate::exchange
