// The mock model server: one Session per connection driven by Asio callbacks, shared counters
// and gauges, and the accept loop. Each connection lives on exactly one io_context thread.
#include "mock/mock_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <simdjson.h>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "infergate/core/http_status.h"
#include "infergate/core/log.h"
#include "mock/http_parse.h"
#include "mock/pacing.h"
#include "mock/responses.h"

namespace infergate::mock {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyTime = std::chrono::steady_clock::time_point;
using namespace std::chrono_literals;

constexpr size_t kMaxHead = 64 * 1024;
constexpr uint64_t kMaxBody = 256ull << 20;
constexpr size_t kInitialBuffer = 16 * 1024;
constexpr size_t kMaxBuffer = 4 << 20;
constexpr size_t kMinRead = 4096;
constexpr auto kLingerTime = 2s;
constexpr std::string_view kJson = "application/json";

simdjson::ondemand::parser& ThreadParser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

// Makes `body` safe for simdjson (padding after the end) and returns a view of it.
simdjson::padded_string_view Padded(std::string& body) {
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  return simdjson::padded_string_view(body.data(), body.size(), body.capacity());
}

// True when the whole document was consumed (no trailing content).
bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

struct CompletionRequest {
  bool has_model = false;
  std::string model;
  bool stream = false;
  bool include_usage = false;
};

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

enum class Endpoint {
  kChat,
  kCompletions,
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

Endpoint Classify(std::string_view method, std::string_view path) {
  bool get = method == "GET" || method == "HEAD";
  bool post = method == "POST";
  auto pick = [&](bool ok, Endpoint e) { return ok ? e : Endpoint::kWrongMethod; };
  if (path == "/v1/chat/completions") return pick(post, Endpoint::kChat);
  if (path == "/v1/completions") return pick(post, Endpoint::kCompletions);
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

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Shared& shared, tcp::socket socket)
      : shared_(shared), socket_(std::move(socket)), timer_(socket_.get_executor()) {
    in_.resize(kInitialBuffer);
  }

  ~Session() {
    EndRequest(false);
    if (state_ != State::kClosed) shared_.connections_open.fetch_sub(1);
  }

  void Start() { Process(); }

 private:
  enum class State {
    kHead,
    kBody,
    kReadDelay,
    kWaiting,
    kHanging,
    kStreaming,
    kWriting,
    kLingering,
    kClosed,
  };

  // ---- Input.

  // Keeps one read outstanding. The buffer is only compacted or grown here, when no read is
  // pending, so a pending read's target never moves.
  void StartRead() {
    if (read_pending_ || eof_ || state_ == State::kClosed) return;
    if (pos_ == len_) {
      pos_ = len_ = 0;
    } else if (pos_ > 0 && in_.size() - len_ < kMinRead) {
      std::memmove(in_.data(), in_.data() + pos_, len_ - pos_);
      len_ -= pos_;
      pos_ = 0;
    }
    if (in_.size() - len_ < kMinRead) {
      if (in_.size() >= kMaxBuffer) return;
      in_.resize(in_.size() * 2);
    }
    read_pending_ = true;
    socket_.async_read_some(
        asio::buffer(in_.data() + len_, in_.size() - len_),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    read_pending_ = false;
    if (state_ == State::kClosed) return;
    if (ec) {
      eof_ = true;
    } else {
      len_ += n;
    }
    switch (state_) {
      case State::kHead:
      case State::kBody:
        Process();
        return;
      case State::kReadDelay:
        if (eof_) ClientGone();
        return;
      case State::kWaiting:
      case State::kHanging:
      case State::kStreaming:
        if (eof_) {
          ClientGone();
        } else {
          StartRead();
        }
        return;
      case State::kWriting:
        return;
      case State::kLingering:
        if (eof_) {
          CloseNow();
        } else {
          pos_ = len_;
          StartRead();
        }
        return;
      case State::kClosed:
        return;
    }
  }

  void Process() {
    while (state_ == State::kHead || state_ == State::kBody) {
      if (state_ == State::kHead) {
        if (pos_ == len_) {
          if (eof_) {
            CloseNow();
          } else {
            StartRead();
          }
          return;
        }
        size_t consumed = 0;
        HeadStatus st = ParseRequestHead(std::string_view(in_.data() + pos_, len_ - pos_), kMaxHead,
                                         &head_, &consumed);
        if (st == HeadStatus::kIncomplete) {
          if (eof_) {
            CloseNow();
          } else {
            StartRead();
          }
          return;
        }
        if (st != HeadStatus::kDone) {
          ProtocolError(st == HeadStatus::kBad ? 400 : 431);
          return;
        }
        pos_ += consumed;
        BeginRequest();
        continue;
      }
      size_t consumed = 0;
      BodyDecoder::Status st = decoder_.Feed(in_.data() + pos_, len_ - pos_, &body_, &consumed);
      pos_ += consumed;
      if (st == BodyDecoder::Status::kError) {
        ProtocolError(400);
        return;
      }
      if (body_.size() > kMaxBody) {
        ProtocolError(413);
        return;
      }
      if (st == BodyDecoder::Status::kNeedMore) {
        if (eof_) {
          ClientGone();
        } else {
          StartRead();
        }
        return;
      }
      OnBodyComplete();
      return;
    }
  }

  void BeginRequest() {
    in_request_ = true;
    keep_alive_ = head_.keep_alive;
    body_.clear();
    endpoint_ = Classify(head_.method, head_.Path());
    counted_ = !IsControlEndpoint(endpoint_);
    if (counted_) {
      shared_.requests.fetch_add(1, std::memory_order_relaxed);
      shared_.active_requests.fetch_add(1, std::memory_order_relaxed);
    }
    ReadControls();
    if (head_.has_content_length && head_.content_length > kMaxBody) {
      ProtocolError(413);
      return;
    }
    decoder_.Reset(head_.chunked, head_.content_length);
    if (head_.HasBody() && controls_.read_delay.count() > 0) {
      state_ = State::kReadDelay;
      read_delay_until_ = ReadDelayUntil(controls_, std::chrono::steady_clock::now());
      PollDuringReadDelay();
      return;
    }
    StartBody();
  }

  // x-mock-* headers steer completions only: control endpoints always get the defaults.
  void ReadControls() {
    controls_ =
        ParseControls(shared_.options(), counted_ ? std::span<const HeaderField>(head_.fields)
                                                  : std::span<const HeaderField>());
  }

  void StartBody() {
    if (head_.expect_continue && head_.HasBody()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      error_code ec;
      asio::write(socket_, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) {
        ClientGone();
        return;
      }
    }
    state_ = State::kBody;
  }

  // Nothing is read during the delay (so a large body backs up in TCP), but the socket is
  // polled for a peer hang-up.
  void PollDuringReadDelay() {
    auto now = std::chrono::steady_clock::now();
    timer_.expires_at(NextReadDelayWake(now, read_delay_until_));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->state_ != State::kReadDelay) return;
      if (self->PeerHungUp()) {
        self->ClientGone();
      } else if (ReadDelayOver(std::chrono::steady_clock::now(), self->read_delay_until_)) {
        self->StartBody();
        self->Process();
      } else {
        self->PollDuringReadDelay();
      }
    });
  }

  bool PeerHungUp() {
    pollfd p{};
    p.fd = socket_.native_handle();
    p.events = POLLIN | POLLRDHUP;
    if (::poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  // ---- Request handling.

  void OnBodyComplete() {
    if (counted_) shared_.Record(head_, body_);
    resp_body_.clear();
    switch (endpoint_) {
      case Endpoint::kMockStats:
        shared_.AppendStats(resp_body_);
        Respond(200, kJson);
        return;
      case Endpoint::kMockReset:
        shared_.Reset();
        resp_body_ = R"({"status":"ok"})";
        Respond(200, kJson);
        return;
      case Endpoint::kMockGauges:
        HandleGauges();
        return;
      case Endpoint::kHealth:
        shared_.health_checks.fetch_add(1, std::memory_order_relaxed);
        resp_body_ = R"({"status":"ok"})";
        Respond(200, kJson);
        return;
      case Endpoint::kMetrics:
        shared_.AppendMetrics(resp_body_);
        Respond(200, "text/plain; version=0.0.4; charset=utf-8");
        return;
      default:
        break;
    }
    if (controls_.hang) {
      state_ = State::kHanging;
      WatchPeer();
      return;
    }
    const bool completion = endpoint_ == Endpoint::kChat || endpoint_ == Endpoint::kCompletions;
    if (controls_.status == 0 && completion)
      controls_.status = static_cast<int>(shared_.fail_status.load());
    if (controls_.status != 0) {
      std::string message = "Mock error: status " + std::to_string(controls_.status);
      if (!controls_.error_body.empty()) {
        resp_body_ = controls_.error_body;
      } else {
        AppendErrorBody(resp_body_, message,
                        controls_.status < 500 ? "invalid_request_error" : "server_error",
                        "mock_status");
      }
      RespondAfter(controls_.status, kJson, controls_.ttft);
      return;
    }
    switch (endpoint_) {
      case Endpoint::kChat:
      case Endpoint::kCompletions:
        HandleCompletion();
        return;
      case Endpoint::kModels:
        HandleModels();
        return;
      case Endpoint::kModel:
        HandleModel();
        return;
      case Endpoint::kWrongMethod:
        ErrorResponse(405,
                      "Method " + std::string(head_.method) + " is not allowed for " +
                          std::string(head_.Path()) + ".",
                      "invalid_request_error", "method_not_allowed");
        return;
      default:
        ErrorResponse(404,
                      "Unknown request URL: " + std::string(head_.method) + " " +
                          std::string(head_.Path()) + ".",
                      "invalid_request_error", "unknown_url");
        return;
    }
  }

  void HandleCompletion() {
    request_.has_model = false;
    request_.model.clear();
    request_.stream = false;
    request_.include_usage = false;
    if (!ParseCompletionRequest(body_, &request_)) {
      ErrorResponse(400, "We could not parse the JSON body of your request.",
                    "invalid_request_error", "invalid_json");
      return;
    }
    if (request_.has_model) shared_.CountModel(request_.model);
    int model_index = request_.has_model ? shared_.FindModel(request_.model) : -1;
    if (model_index < 0) {
      ErrorResponse(404, "The model `" + request_.model + "` does not exist.",
                    "invalid_request_error", "model_not_found");
      return;
    }
    bool chat = endpoint_ == Endpoint::kChat;
    response_id_.assign(chat ? "chatcmpl-mock-" : "cmpl-mock-");
    AppendInt(response_id_, shared_.next_id.fetch_add(1, std::memory_order_relaxed) + 1);
    shape_.chat = chat;
    shape_.id = response_id_;
    shape_.model = shared_.options().models[static_cast<size_t>(model_index)];
    shape_.created = static_cast<int64_t>(std::time(nullptr));
    shape_.tokens = controls_.tokens;
    shape_.prompt_tokens = static_cast<int64_t>(body_.size() / 4) + 1;
    if (request_.stream) {
      StartStream();
      return;
    }
    Duration wait = CompletionDelay(controls_);
    if (controls_.close_after >= 0) {
      abort_after_wait_ = true;
      Wait(wait);
      return;
    }
    AppendCompletion(resp_body_, shape_);
    RespondAfter(200, kJson, wait);
  }

  void HandleModels() {
    resp_body_ = R"({"object":"list","data":[)";
    const auto& models = shared_.options().models;
    for (size_t i = 0; i < models.size(); ++i) {
      if (i > 0) resp_body_ += ',';
      AppendModelObject(models[i]);
    }
    resp_body_ += "]}";
    Respond(200, kJson);
  }

  void HandleModel() {
    std::string_view name = head_.Path().substr(11);
    int index = shared_.FindModel(name);
    if (index < 0) {
      ErrorResponse(404, "The model `" + std::string(name) + "` does not exist.",
                    "invalid_request_error", "model_not_found");
      return;
    }
    AppendModelObject(shared_.options().models[static_cast<size_t>(index)]);
    Respond(200, kJson);
  }

  void AppendModelObject(std::string_view name) {
    resp_body_ += R"({"id":)";
    AppendJsonString(resp_body_, name);
    resp_body_ += R"(,"object":"model","created":1700000000,"owned_by":"infergate-mock"})";
  }

  void HandleGauges() {
    using namespace simdjson;
    ondemand::document doc;
    ondemand::object obj;
    bool ok = ThreadParser().iterate(Padded(body_)).get(doc) == SUCCESS &&
              doc.get_object().get(obj) == SUCCESS;
    int64_t waiting = shared_.waiting.load();
    int64_t running = shared_.running_override.load();
    double kv = shared_.kv_cache_usage.load();
    int64_t fail = shared_.fail_status.load();
    if (ok) {
      for (auto field_result : obj) {
        ondemand::field field;
        std::string_view key;
        double v = 0;
        if (std::move(field_result).get(field) != SUCCESS ||
            field.unescaped_key().get(key) != SUCCESS) {
          ok = false;
          break;
        }
        bool known = key == "waiting" || key == "running" || key == "kv_cache_usage" ||
                     key == "gpu_cache_usage_perc" || key == "fail_status";
        if (!known) continue;
        if (field.value().get_double().get(v) != SUCCESS) {
          ok = false;
          break;
        }
        if (key == "waiting") {
          waiting = static_cast<int64_t>(v);
        } else if (key == "running") {
          running = v < 0 ? -1 : static_cast<int64_t>(v);
        } else if (key == "fail_status") {
          fail = v >= 400 && v <= 599 ? static_cast<int64_t>(v) : 0;
        } else {
          kv = v;
        }
      }
      ok = ok && AtEnd(doc);
    }
    if (!ok) {
      ErrorResponse(400, "We could not parse the JSON body of your request.",
                    "invalid_request_error", "invalid_json");
      return;
    }
    shared_.waiting.store(waiting);
    shared_.running_override.store(running);
    shared_.kv_cache_usage.store(kv);
    shared_.fail_status.store(fail);
    shared_.AppendGauges(resp_body_);
    Respond(200, kJson);
  }

  void ErrorResponse(int status, const std::string& message, std::string_view type,
                     std::string_view code) {
    resp_body_.clear();
    AppendErrorBody(resp_body_, message, type, code);
    Respond(status, kJson);
  }

  // A malformed request: answer and close the connection.
  void ProtocolError(int status) {
    keep_alive_ = false;
    controls_.echo = false;
    resp_body_.clear();
    AppendErrorBody(resp_body_,
                    status == 413   ? "Request body too large."
                    : status == 431 ? "Request header fields too large."
                                    : "Malformed HTTP request.",
                    "invalid_request_error", status == 413 ? "request_too_large" : "bad_request");
    Respond(status, kJson);
  }

  // ---- Responses.

  void FormatResponse(int status, std::string_view content_type) {
    if (controls_.echo && counted_ && !resp_body_.empty() && resp_body_.back() == '}') {
      resp_body_.pop_back();
      resp_body_ += R"(,"echo":)";
      AppendRequestJson(resp_body_, head_, body_);
      resp_body_ += '}';
    }
    out_.clear();
    out_ += "HTTP/1.1 ";
    AppendInt(out_, status);
    out_ += ' ';
    out_ += ReasonPhrase(status);
    out_ += "\r\nContent-Type: ";
    out_ += content_type;
    out_ += "\r\nContent-Length: ";
    AppendInt(out_, static_cast<int64_t>(resp_body_.size()));
    out_ += "\r\n";
    out_ += shared_.server_header();
    if (!keep_alive_) {
      out_ += "Connection: close\r\n";
    } else if (head_.version_minor == 0) {
      out_ += "Connection: keep-alive\r\n";
    }
    out_ += "\r\n";
    if (head_.method != "HEAD") out_ += resp_body_;
  }

  void Respond(int status, std::string_view content_type) {
    FormatResponse(status, content_type);
    WriteResponse();
  }

  void RespondAfter(int status, std::string_view content_type, Duration delay) {
    FormatResponse(status, content_type);
    if (delay.count() <= 0) {
      WriteResponse();
      return;
    }
    Wait(delay);
  }

  // Waits before answering while watching the peer; then writes out_ or, for
  // x-mock-close-after-tokens on a non-streaming request, drops the connection.
  void Wait(Duration delay) {
    state_ = State::kWaiting;
    if (!WatchPeer()) return;
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->state_ != State::kWaiting) return;
      if (self->abort_after_wait_) {
        self->AbortConnection();
      } else {
        self->WriteResponse();
      }
    });
  }

  // Keeps a read pending so a peer close is seen at once. False when the peer is already gone.
  bool WatchPeer() {
    if (eof_) {
      ClientGone();
      return false;
    }
    StartRead();
    return true;
  }

  void WriteResponse() {
    state_ = State::kWriting;
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](const error_code& ec, size_t) { self->OnResponseWritten(ec); });
  }

  void OnResponseWritten(const error_code& ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      ClientGone();
      return;
    }
    EndRequest(true);
    if (!keep_alive_) {
      CloseGracefully();
      return;
    }
    state_ = State::kHead;
    Process();
  }

  // ---- Streaming.

  void StartStream() {
    streaming_ = true;
    shared_.active_streams.fetch_add(1, std::memory_order_relaxed);
    state_ = State::kStreaming;
    stream_start_ = std::chrono::steady_clock::now();
    stream_index_ = 0;
    stream_events_ = StreamEvents(controls_);
    if (!WatchPeer()) return;
    NextStreamStep();
  }

  void NextStreamStep() {
    if (controls_.close_after > 0 && stream_index_ == controls_.close_after) {
      AbortConnection();
      return;
    }
    if (stream_index_ >= stream_events_) {
      WriteStreamTail();
      return;
    }
    SteadyTime due = StreamEventDueAt(controls_, stream_start_, stream_index_);
    if (due > std::chrono::steady_clock::now()) {
      timer_.expires_at(due);
      timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->state_ != State::kStreaming) return;
        self->StreamEventDue();
      });
      return;
    }
    StreamEventDue();
  }

  void StreamEventDue() {
    if (controls_.close_after == 0) {
      AbortConnection();
      return;
    }
    out_.clear();
    if (stream_index_ == 0) AppendStreamHead();
    resp_body_.clear();
    AppendStreamEvent(resp_body_, shape_, stream_index_);
    AppendChunk(out_, resp_body_);
    shared_.tokens_streamed.fetch_add(1);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const error_code& ec, size_t) {
                        if (self->state_ == State::kClosed) return;
                        if (ec) {
                          self->ClientGone();
                          return;
                        }
                        ++self->stream_index_;
                        self->NextStreamStep();
                      });
  }

  void AppendStreamHead() {
    out_ +=
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n";
    out_ += shared_.server_header();
    if (!keep_alive_) out_ += "Connection: close\r\n";
    out_ += "\r\n";
  }

  void WriteStreamTail() {
    out_.clear();
    if (request_.include_usage) {
      resp_body_.clear();
      AppendUsageEvent(resp_body_, shape_);
      AppendChunk(out_, resp_body_);
    }
    AppendChunk(out_, "data: [DONE]\n\n");
    out_ += "0\r\n\r\n";
    WriteResponse();
  }

  // ---- Endings.

  void EndRequest(bool completed) {
    if (!in_request_) return;
    in_request_ = false;
    abort_after_wait_ = false;
    if (counted_) {
      shared_.active_requests.fetch_sub(1, std::memory_order_relaxed);
      if (completed) shared_.completed.fetch_add(1, std::memory_order_relaxed);
    }
    if (streaming_) {
      streaming_ = false;
      shared_.active_streams.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void ClientGone() {
    if (in_request_ && counted_) shared_.client_disconnects.fetch_add(1);
    EndRequest(false);
    CloseNow();
  }

  void AbortConnection() {
    EndRequest(false);
    CloseNow();
  }

  void CloseNow() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    error_code ec;
    timer_.cancel();
    socket_.close(ec);
    shared_.connections_open.fetch_sub(1);
  }

  // After "Connection: close": send FIN, then drain until the peer closes (or a short time
  // passes) so unread input does not turn the close into a reset.
  void CloseGracefully() {
    if (eof_) {
      CloseNow();
      return;
    }
    state_ = State::kLingering;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      CloseNow();
      return;
    }
    if (!read_pending_) pos_ = len_;
    StartRead();
    timer_.expires_after(kLingerTime);
    timer_.async_wait([self = shared_from_this()](const error_code& wait_ec) {
      if (!wait_ec) self->CloseNow();
    });
  }

  Shared& shared_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  State state_ = State::kHead;

  std::string in_;
  size_t pos_ = 0;
  size_t len_ = 0;
  bool read_pending_ = false;
  bool eof_ = false;

  RequestHead head_;
  BodyDecoder decoder_;
  std::string body_;
  Endpoint endpoint_ = Endpoint::kUnknown;
  Controls controls_;
  CompletionRequest request_;
  bool in_request_ = false;
  bool counted_ = false;
  bool keep_alive_ = true;
  bool abort_after_wait_ = false;
  SteadyTime read_delay_until_;

  std::string response_id_;
  CompletionShape shape_;
  std::string resp_body_;
  std::string out_;

  bool streaming_ = false;
  SteadyTime stream_start_;
  int64_t stream_index_ = 0;
  int64_t stream_events_ = 0;
};

// Accepts on one io_context and hands each connection to the next io_context in turn.
class Listener {
 public:
  Listener(Shared& shared, std::vector<std::unique_ptr<asio::io_context>>& contexts)
      : shared_(shared), contexts_(contexts), acceptor_(*contexts[0]), retry_(*contexts[0]) {}

  bool Open(const tcp::endpoint& endpoint, std::string* error) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(4096, ec);
    if (ec) {
      *error = ec.message();
      return false;
    }
    return true;
  }

  tcp::endpoint LocalEndpoint() {
    error_code ec;
    return acceptor_.local_endpoint(ec);
  }

  void Accept() {
    asio::io_context& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target, [this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        IG_WARN("accept failed: %s", ec.message().c_str());
        retry_.expires_after(20ms);
        retry_.async_wait([this](const error_code& wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      shared_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
      shared_.connections_open.fetch_add(1, std::memory_order_relaxed);
      if (contexts_.size() == 1) {
        std::make_shared<Session>(shared_, std::move(socket))->Start();
      } else {
        auto executor = socket.get_executor();
        asio::post(executor, [shared = &shared_, s = std::move(socket)]() mutable {
          std::make_shared<Session>(*shared, std::move(s))->Start();
        });
      }
      Accept();
    });
  }

  void Close() {
    error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
  }

 private:
  Shared& shared_;
  std::vector<std::unique_ptr<asio::io_context>>& contexts_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  size_t next_ = 0;
};

}  // namespace

int RunMockServer(const Options& options) {
  error_code ec;
  std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    std::fprintf(stderr, "infergate-mock: bad listen address '%s'\n", options.host.c_str());
    return 2;
  }
  Shared shared(options);
  int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  int exit_code = 0;
  {
    Listener listener(shared, contexts);
    std::string error;
    if (!listener.Open(tcp::endpoint(address, options.port), &error)) {
      std::fprintf(stderr, "infergate-mock: cannot listen on %s:%u: %s\n", options.host.c_str(),
                   options.port, error.c_str());
      return 1;
    }
    tcp::endpoint local = listener.LocalEndpoint();
    std::string shown = local.address().to_string();
    if (local.address().is_v6()) shown = "[" + shown + "]";
    std::printf("infergate-mock listening on %s:%u\n", shown.c_str(), local.port());
    std::fflush(stdout);

    asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
    signals.async_wait([&](const error_code& sig_ec, int) {
      if (sig_ec) return;
      listener.Close();
      for (auto& ctx : contexts) ctx->stop();
    });
    listener.Accept();

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) {
      guards.push_back(asio::make_work_guard(*contexts[static_cast<size_t>(i)]));
      workers.emplace_back([ctx = contexts[static_cast<size_t>(i)].get(), i] {
        std::string name = "worker-" + std::to_string(i);
        SetThreadLogName(name.c_str());
        ctx->run();
      });
    }
    contexts[0]->run();
    for (auto& ctx : contexts) ctx->stop();
    for (auto& t : workers) t.join();
    listener.Close();
  }
  contexts.clear();
  return exit_code;
}

}  // namespace infergate::mock
