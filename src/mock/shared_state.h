// The mock's process-wide state: configuration, counters and gauges shared by every connection,
// and the /mock/stats, /mock/gauges and /metrics text made from them.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "mock/http_parse.h"
#include "mock/mock_server.h"
#include "mock/responses.h"

namespace infergate::mock {

// Process-wide configuration, counters and gauges. Counters are atomics so any io_context
// thread may update them; the last request is kept under a mutex as raw head bytes and body.
class Shared {
 public:
  explicit Shared(const Options& options)
      : options_(options),
        by_model_(new std::atomic<int64_t>[options.models.size()]),
        server_header_("x-mock-server: " + options.id + "\r\n") {
    for (size_t i = 0; i < options.models.size(); ++i) by_model_[i].store(0);
  }

  const Options& options() const { return options_; }
  const std::string& server_header() const { return server_header_; }

  int FindModel(std::string_view name) const {
    for (size_t i = 0; i < options_.models.size(); ++i) {
      if (options_.models[i] == name) return static_cast<int>(i);
    }
    return -1;
  }

  void CountModel(std::string_view name) {
    int index = FindModel(name);
    if (index >= 0) {
      by_model_[index].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = other_models_.find(name);
    if (it == other_models_.end()) {
      other_models_.emplace(std::string(name), 1);
    } else {
      ++it->second;
    }
  }

  void Record(const RequestHead& head, std::string_view body) {
    std::lock_guard<std::mutex> lock(mu_);
    last_head_.assign(head.text);
    last_body_.assign(body);
    has_last_ = true;
  }

  void Reset() {
    for (auto* c : {&requests, &completed, &client_disconnects, &connections_accepted,
                    &health_checks, &tokens_streamed}) {
      c->store(0);
    }
    for (size_t i = 0; i < options_.models.size(); ++i) by_model_[i].store(0);
    waiting.store(0);
    running_override.store(-1);
    fail_status.store(0);
    kv_cache_usage.store(0);
    std::lock_guard<std::mutex> lock(mu_);
    other_models_.clear();
    has_last_ = false;
    last_head_.clear();
    last_body_.clear();
  }

  int64_t Running() const {
    int64_t forced = running_override.load();
    return forced >= 0 ? forced : active_requests.load();
  }

  void AppendGauges(std::string& out) const {
    out += R"({"waiting":)";
    AppendInt(out, waiting.load());
    out += R"(,"running":)";
    AppendInt(out, Running());
    out += R"(,"kv_cache_usage":)";
    AppendDouble(out, kv_cache_usage.load());
    out += R"(,"fail_status":)";
    AppendInt(out, fail_status.load());
    out += '}';
  }

  void AppendStats(std::string& out) {
    out += R"({"id":)";
    AppendJsonString(out, options_.id);
    auto field = [&out](std::string_view name, const std::atomic<int64_t>& v) {
      out += ",\"";
      out += name;
      out += "\":";
      AppendInt(out, v.load());
    };
    field("requests", requests);
    field("completed", completed);
    field("active_requests", active_requests);
    field("active_streams", active_streams);
    field("client_disconnects", client_disconnects);
    field("connections_accepted", connections_accepted);
    field("connections_open", connections_open);
    field("health_checks", health_checks);
    field("tokens_streamed", tokens_streamed);
    out += R"(,"gauges":)";
    AppendGauges(out);
    out += R"(,"by_model":{)";
    std::lock_guard<std::mutex> lock(mu_);
    bool first = true;
    for (size_t i = 0; i < options_.models.size(); ++i) {
      int64_t n = by_model_[i].load();
      if (n == 0) continue;
      if (!first) out += ',';
      first = false;
      AppendJsonString(out, options_.models[i]);
      out += ':';
      AppendInt(out, n);
    }
    for (const auto& [name, n] : other_models_) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(out, name);
      out += ':';
      AppendInt(out, n);
    }
    out += R"(},"last_request":)";
    size_t consumed = 0;
    if (has_last_ && ParseRequestHead(last_head_, last_head_.size(), &last_parsed_, &consumed) ==
                         HeadStatus::kDone) {
      AppendRequestJson(out, last_parsed_, last_body_);
    } else {
      out += "null";
    }
    out += '}';
  }

  // vLLM's gauges (labelled with the model, as vLLM does; both KV-cache names, as vLLM has used
  // both), then TGI's (unlabelled), from the same numbers.
  void AppendMetrics(std::string& out) const {
    const std::string model = options_.models.empty() ? std::string() : options_.models.front();
    std::string labels = "{model_name=\"";
    for (char c : model) {  // escaped as a label value
      if (c == '\\' || c == '"') labels += '\\';
      if (c == '\n') {
        labels += "\\n";
        continue;
      }
      labels += c;
    }
    labels += "\"} ";
    const int64_t running = Running();
    const int64_t queued = waiting.load();
    const double kv = kv_cache_usage.load();
    out +=
        "# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running";
    out += labels;
    AppendInt(out, running);
    out +=
        "\n# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        "vllm:num_requests_waiting";
    out += labels;
    AppendInt(out, queued);
    out +=
        "\n# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
        "# TYPE vllm:gpu_cache_usage_perc gauge\n"
        "vllm:gpu_cache_usage_perc";
    out += labels;
    AppendDouble(out, kv);
    out +=
        "\n# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        "vllm:kv_cache_usage_perc";
    out += labels;
    AppendDouble(out, kv);
    out +=
        "\n# HELP tgi_queue_size Current queue size\n"
        "# TYPE tgi_queue_size gauge\n"
        "tgi_queue_size ";
    AppendInt(out, queued);
    out +=
        "\n# HELP tgi_batch_current_size Current batch size\n"
        "# TYPE tgi_batch_current_size gauge\n"
        "tgi_batch_current_size ";
    AppendInt(out, running);
    out += '\n';
  }

  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> active_requests{0};
  std::atomic<int64_t> active_streams{0};
  std::atomic<int64_t> client_disconnects{0};
  std::atomic<int64_t> connections_accepted{0};
  std::atomic<int64_t> connections_open{0};
  // GET/HEAD /health answered: a prober's cadence is visible to tests as events.
  std::atomic<int64_t> health_checks{0};
  // Token events of streamed completions, counted as each is handed to the socket (before its
  // bytes can reach anyone), so a client that reads event k and then reads this counter sees at
  // least k + 1.
  std::atomic<int64_t> tokens_streamed{0};
  std::atomic<int64_t> waiting{0};
  std::atomic<int64_t> running_override{-1};
  std::atomic<double> kv_cache_usage{0};
  // Completions fail with this status when set (POST /mock/gauges {"fail_status": 503}): an
  // engine that is wedged while /health still answers. 0 = off; x-mock-status still wins.
  std::atomic<int64_t> fail_status{0};
  std::atomic<int64_t> next_id{0};

 private:
  const Options& options_;
  std::unique_ptr<std::atomic<int64_t>[]> by_model_;
  const std::string server_header_;
  std::mutex mu_;
  std::map<std::string, int64_t, std::less<>> other_models_;
  bool has_last_ = false;
  std::string last_head_;
  std::string last_body_;
  RequestHead last_parsed_;
};

}  // namespace infergate::mock
