// The exchange: its start and end, the order of its phases, and what every phase shares
// (errors to the client, aborts, the backend's response relayed to the server stream).
#include "infergate/exchange/exchange.h"

#include "infergate/core/log.h"
#include "infergate/degrade/token_channel.h"
#include "infergate/exchange/model_list.h"
#include "infergate/routing/body_model.h"
#include "infergate/routing/error_class.h"

namespace infergate::exchange {
namespace asio = boost::asio;

namespace {

// The triggers that are classes of a backend's refusal (read from its error answer).
constexpr uint32_t kErrorClassBits =
    (1u << static_cast<int>(config::Trigger::kContextLengthExceeded)) |
    (1u << static_cast<int>(config::Trigger::kContentFilter));

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Exchange::Exchange(const Env& env)
    : env_(env),
      up_deadline_(*env.timers, env.executor,
                   [this](int kind) { Abort(static_cast<ErrorKind>(kind)); }),
      total_deadline_(*env.timers, env.executor, [this](int) { Abort(ErrorKind::kTotalTimeout); }),
      wake_(env.executor),
      wake_alarm_(env.timers->MakeAlarm(env.executor)) {}

Exchange::~Exchange() {
  if (runner_channel_) runner_channel_->Cancel();
}

asio::awaitable<void> Exchange::Run(ServerStream& stream) {
  WorkerContext& w = *env_.worker;
  counting_.Wrap(stream);
  server_ = &counting_;
  req_ = &stream.request();
  view_ = w.view;  // this request's snapshot (and the worker's side of it), to its end
  snapshot_ = view_->snapshot;
  rec_ = ExchangeRecord{};
  rec_.start = env_.timers->Now();
  rec_.protocol = stream.protocol();
  abort_.reset();
  active_ = true;
  degraded_value_.clear();
  client_model_.clear();
  stream_requested_ = include_usage_ = served_by_primary_ = full_degrades_ = predicted_wait_ =
      false;
  primary_failure_.clear();
  usage_.Reset();
  extra_name_.clear();
  tenant_.reset();
  identified_ = limits_on_ = false;
  rate_header_count_ = 0;
  rate_headers_due_ = false;
  head_route_.reset();
  ++w.active_requests;
  snapshot_->metrics.active_requests->Add(1);
  request_id_.clear();
  if (std::string_view rid = req_->Get("x-request-id"); ValidRequestId(rid)) {
    request_id_.assign(rid);
  } else {
    NewRequestId(*env_.rng, &request_id_);
  }
  trace_ = http::ContinueTrace(req_->headers, *env_.rng);
  if (w.access_log) {
    rec_.trace_id.assign(trace_.trace_id());
    rec_.client_address.assign(stream.client_address());
    rec_.listener.assign(stream.listener().name);
  }
  // A client that goes away aborts the exchange in whatever phase it is.
  stream.peer_gone().Subscribe([this] { Abort(ErrorKind::kClientAbort); });
  if (stream.peer_gone().fired()) Abort(ErrorKind::kClientAbort);

  co_await Forward();

  stream.peer_gone().Unsubscribe();
  active_ = false;
  up_deadline_.Clear();
  total_deadline_.Clear();
  wake_alarm_->Disarm();
  DropUpstream();  // closes a connection still open (aborted, not reusable)
  lease_.reset();
  EndBudget();
  FinishIsolation();
  if (abort_ == ErrorKind::kClientAbort) rec_.error = ErrorKind::kClientAbort;
  if (limits_on_) SettleLimits();
  CompleteRecord();
  RecordExchange(*snapshot_, rec_, req_->method, req_->path_and_query, request_id_,
                 env_.timers->Now(), w.access_log);
  --w.active_requests;
  snapshot_->metrics.active_requests->Add(-1);
  body_model_.reset();  // it refers to the request's body
  snapshot_.reset();
  view_.reset();
  server_ = nullptr;
  req_ = nullptr;
}

// head-only limits -> body -> route -> admit -> condition triggers and the pool's gate -> the
// primary (pick, forward, stream) -> degrade.
asio::awaitable<void> Exchange::Forward() {
  // The gateway's own answers, before routing: CORS preflights (before authentication too: a
  // browser sends them without credentials), then the model list (after authentication).
  if (PrepareCors()) {
    co_await Preflight();
    co_return;
  }
  if (req_->method == "GET" || req_->method == "HEAD") {
    bool bad_encoding = false;
    std::optional<std::string> model_id = ModelsPathId(req_->path, &bad_encoding);
    if (model_id) {
      co_await AnswerModels(*model_id);
      co_return;
    }
  }
  const Snapshot& snap = *snapshot_;
  // Decided from the head, before the body is received (a refusal costs no body bytes and the
  // transport never reads them): the key's, the tenant's and (when the head decides the route)
  // the route's request limits, and a missing or wrong API key. Then the body, for routing and
  // the limits that read it.
  const bool limited = !snap.isolation->limits().empty();
  PhaseResult refused = limited ? LimitHead() : std::nullopt;
  if (!refused && limited) refused = LimitRouteHead();
  if (!refused && server_->listener().require_api_key) refused = Identify();
  if (!refused) refused = co_await server_->ReceiveBody();
  body_model_.emplace(*req_->body);
  routing::BodyModel& model = *body_model_;
  if (!refused) refused = Route(model);
  if (!refused && limited) refused = LimitRouted(model);
  // The errors are sent from where they are (no copy: each Error in this frame made it too big
  // for Asio's recycled frames, costing an allocation per request; GCC 12: no temporaries in a
  // co_await operand either).
  if (refused) {
    co_await SendError(*refused);
    co_return;
  }
  const config::RouteConfig& route = snap.config->routes[route_index_];
  const size_t pool_index = static_cast<size_t>(rec_.pool);
  if (route.timeouts.total > Duration::zero())
    total_deadline_.Set(route.timeouts.total, Tag(ErrorKind::kTotalTimeout));

  // Admission is skipped, with its coroutine frame, when nothing is configured to admit.
  std::optional<config::Trigger> trigger;
  const config::Config& cfg = *snap.config;
  tier_ = cfg.tenant_identification.anonymous_tier;
  PhaseResult denied;
  if (route.compartment || !cfg.tenants.empty() || server_->listener().require_api_key)
    denied = co_await Admit(route);
  if (denied) {
    if (denied->kind == ErrorKind::kClientAbort) co_return;
    if (predicted_wait_) {
      trigger = config::Trigger::kPredictedWait;  // only asked for with that trigger on
    } else if (denied->kind != ErrorKind::kCompartmentFull || !full_degrades_ ||
               !route.degrade.has(config::Trigger::kCompartmentFull)) {
      if (denied->message.empty()) denied->message = AbortMessage(denied->kind, route);
      co_await SendError(*denied);
      co_return;
    }
    if (!trigger) trigger = config::Trigger::kCompartmentFull;
    primary_failure_ = denied->message;
  }

  // Conditions that send the request to a fallback before the primary is tried.
  if (!trigger) {
    trigger = ConditionTrigger(route, pool_index);
    if (!trigger && !TakeGate(pool_index)) {
      const std::string& pool_name = snap.config->pools[pool_index].name;
      if (route.degrade.has(config::Trigger::kConcurrencyLimit)) {
        trigger = config::Trigger::kConcurrencyLimit;
        primary_failure_ = "pool " + pool_name + " is at its adaptive concurrency limit";
      } else {
        refused.emplace(ErrorKind::kConcurrencyLimit,
                        "pool " + pool_name +
                            " is at its adaptive concurrency limit (its latency is rising); "
                            "retry shortly");
        extra_name_ = "retry-after";
        extra_value_ = "1";
        co_await SendError(*refused);
        co_return;
      }
    }
  }

  // The primary: pick and forward with retries before the first byte, then stream.
  if (!trigger) {
    const bool degradable = !route.fallbacks.empty();
    PrepareStreamUsage(route, pool_index, model.fields());
    refusal_wanted_ = (route.degrade.triggers & kErrorClassBits) != 0;
    PhaseResult failed = co_await TryPool(route, pool_index, model, degradable);
    std::optional<config::Trigger> refused;
    if (!failed && refusal_capture_) refused = co_await ClassifyRefusal(route);
    refusal_wanted_ = refusal_capture_ = false;
    if (!failed && !refused) {
      served_by_primary_ = true;
      co_await Stream(route);
      co_return;
    }
    gate_.reset();
    if (refused) {
      co_await Degrade(route, *refused, model);
      co_return;
    }
    if (failed->kind == ErrorKind::kClientAbort) co_return;
    trigger = degradable ? TriggerForFailure(route, *failed) : std::nullopt;
    if (!trigger) {
      co_await SendError(*failed);
      co_return;
    }
    primary_failure_ = failed->message;
  }

  co_await Degrade(route, *trigger, model);
}

std::optional<config::Trigger> Exchange::TriggerForFailure(const config::RouteConfig& route,
                                                           const Error& err) {
  std::optional<config::Trigger> t;
  switch (err.kind) {
    case ErrorKind::kNoBackend:
      t = config::Trigger::kNoBackend;
      break;
    case ErrorKind::kFirstByteTimeout:
      t = config::Trigger::kFirstByteTimeout;
      break;
    case ErrorKind::kConnectFailed:
    case ErrorKind::kConnectTimeout:
    case ErrorKind::kUpstreamReset:
    case ErrorKind::kBadUpstreamResponse:
    case ErrorKind::kIdleTimeout:
    case ErrorKind::kUpstreamBodyBroken:
      t = config::Trigger::kRetriesExhausted;
      break;
    default:
      return std::nullopt;  // total timeout, client faults: nothing a fallback can fix
  }
  if (!route.degrade.has(*t)) return std::nullopt;
  return t;
}

// ---- what every phase shares

asio::awaitable<void> Exchange::SendError(const Error& err) {
  const ErrorInfo& info = DescribeError(err.kind);
  rec_.error = err.kind;
  if (err.kind == ErrorKind::kClientAbort) co_return;
  rec_.status = info.status;
  const std::string body =
      OpenAiErrorBody(err.kind, err.message.empty() ? std::string(info.code) : err.message,
                      request_id_, trace_.trace_id(), err.param);
  http::ResponseHead head;
  head.status = info.status;
  head.content_length = body.size();
  head.headers = {{"content-type", "application/json"}, {"x-request-id", request_id_}};
  if (!extra_name_.empty()) head.headers.push_back({extra_name_, extra_value_});
  AddRateHeaders(head.headers);
  server_->Discard();
  server_->WriteHead(head);
  server_->WriteBody(body);
  server_->WriteEnd();
  co_await Flush();
  extra_name_.clear();
}

asio::awaitable<bool> Exchange::Flush() {
  const bool sent = co_await server_->Flush();
  if (sent) {
    rec_.response_started = true;
    co_return true;
  }
  Abort(ErrorKind::kClientAbort);
  rec_.error = ErrorKind::kClientAbort;
  co_return false;
}

void Exchange::Abort(ErrorKind kind) {
  if (!active_) return;
  if (!abort_) abort_ = kind;
  wake_.Fire();
  if (runner_channel_) runner_channel_->Cancel();
  if (up_) up_->Abort();  // closing the backend socket makes the model server stop generating
}

std::string Exchange::AbortMessage(ErrorKind kind, const config::RouteConfig& route) const {
  switch (kind) {
    case ErrorKind::kFirstByteTimeout:
      return "the backend did not start answering within " +
             FormatDuration(route.timeouts.first_byte) + " (route " + route.name +
             " timeouts.first_byte)";
    case ErrorKind::kTotalTimeout:
      return "the request did not complete within " + FormatDuration(route.timeouts.total) +
             " (route " + route.name + " timeouts.total)";
    case ErrorKind::kConnectTimeout:
      return "could not connect to a backend within the pool's connect_timeout";
    case ErrorKind::kIdleTimeout:
      return "the backend paused longer than " + FormatDuration(route.timeouts.idle) + " (route " +
             route.name + " timeouts.idle)";
    default:
      return std::string(DescribeError(kind).code);
  }
}

asio::awaitable<void> Exchange::Sleep(Duration d) {
  if (abort_ || d <= Duration::zero()) co_return;
  wake_alarm_->ArmAt(env_.timers->Now() + d, [this] { wake_.Fire(); });
  co_await wake_.Wait();
  wake_alarm_->Disarm();
}

// The head of an answer the gateway writes itself (static or runner): 200, JSON or SSE.
void Exchange::OwnHead(bool stream, size_t content_length) {
  http::ResponseHead head;
  if (stream) {
    head.headers = {{"content-type", "text/event-stream"}, {"cache-control", "no-cache"}};
  } else {
    head.headers = {{"content-type", "application/json"}};
    head.content_length = content_length;
  }
  if (!degraded_value_.empty()) head.headers.push_back({"x-infergate-degraded", degraded_value_});
  head.headers.push_back({"x-request-id", request_id_});
  AddRateHeaders(head.headers);
  server_->Discard();
  server_->WriteHead(head);
  rec_.status = 200;
  rec_.head_at = env_.timers->Now();
}

// ResponseEvents: the backend's head becomes the client's head.
void Exchange::OnHead(const http::ResponseHead& h) {
  rec_.head_at = env_.timers->Now();
  rec_.status = h.status;
  retry_after_.clear();
  for (const HeaderField& f : h.headers) {
    if (IEquals(f.name, "retry-after")) {
      retry_after_.assign(f.value);
      break;
    }
  }
  up_deadline_.Clear();
  head_.status = h.status;
  head_.reason = h.reason;
  head_.content_length = h.content_length;
  head_.has_body = h.has_body;
  head_.headers.clear();
  http::CopyEndToEnd(h.headers, h.has_body, &head_.headers);
  head_.headers.push_back({"x-request-id", request_id_});
  if (!degraded_value_.empty()) head_.headers.push_back({"x-infergate-degraded", degraded_value_});
  AddRateHeaders(head_.headers);
  refusal_capture_ = refusal_wanted_ && routing::IsClassifiedStatus(h.status);
  refusal_body_.clear();
  if (usage_.OnHead(h) && head_.has_body) head_.content_length.reset();  // model rewritten
  server_->WriteHead(head_);
}

void Exchange::OnBody(std::string_view piece) {
  if (refusal_capture_ && refusal_body_.size() <= routing::kMaxClassifiedErrorBody) {
    refusal_body_.append(
        piece.substr(0, routing::kMaxClassifiedErrorBody + 1 - refusal_body_.size()));
  }
  usage_.Relay(piece, [this](std::string_view out) {
    rec_.body_bytes += out.size();
    server_->WriteBody(out);
  });
}

bool Exchange::DueForWarning(TimePoint& last) const {
  const TimePoint now = env_.timers->Now();
  if (last != TimePoint{} && now - last < std::chrono::seconds(10)) return false;
  last = now;
  return true;
}

}  // namespace infergate::exchange
