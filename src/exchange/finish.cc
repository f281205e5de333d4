// Outcome recording: metrics and the access log from one record per attempt and per exchange.
#include "infergate/exchange/finish.h"

#include "infergate/degrade/token_channel.h"
#include "infergate/exchange/exchange.h"

#include <chrono>

#include "infergate/core/log.h"
#include "infergate/observability/access_log.h"
#include "infergate/observability/process_metrics.h"
#include "infergate/resilience/outcome.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {
namespace {
double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// The exchange's access log line, from its record and the names in its snapshot.
void LogExchange(const config::Config& cfg, const ExchangeRecord& r, std::string_view method,
                 std::string_view target, std::string_view request_id, SteadyTime end,
                 observability::AccessLog& log) {
  observability::AccessLogEntry e;
  e.time = std::chrono::system_clock::now();
  e.request_id = request_id;
  e.trace_id = r.trace_id;
  e.client = r.client_address;
  e.listener = r.listener;
  e.protocol = r.protocol == http::Protocol::kH2 ? "HTTP/2" : "HTTP/1.1";
  if (method != "-") e.method = method;  // "-": a transport refused a request it did not read
  if (target != "-") e.path = target;
  e.model = r.model;
  e.model_served = r.response_model.empty() ? std::string_view(r.model_sent) : r.response_model;
  const config::RouteConfig* route = nullptr;
  if (r.route >= 0) {
    route = &cfg.routes[static_cast<size_t>(r.route)];
    e.route = route->name;
  }
  if (r.pool >= 0) {
    const config::PoolConfig& pool = cfg.pools[static_cast<size_t>(r.pool)];
    e.pool = pool.name;
    if (r.backend >= 0) e.backend = pool.backends[static_cast<size_t>(r.backend)].name;
  }
  if (r.tenant) e.tenant = cfg.tenants[*r.tenant].name;
  e.status = r.status;
  if (r.error) e.error = DescribeError(*r.error).name;
  e.attempts = r.attempts;
  if (r.degraded) e.degraded = config::TriggerName(*r.degraded);
  if (route != nullptr && r.fallback >= 0) {
    e.fallback = route->fallbacks[static_cast<size_t>(r.fallback)].name;
  }
  if (r.head_at != SteadyTime{}) e.ttfb_ms = Millis(r.head_at - r.start);
  if (r.first_token_at != SteadyTime{}) e.ttft_ms = Millis(r.first_token_at - r.start);
  e.duration_ms = Millis(end - r.start);
  e.bytes = r.bytes_sent;
  e.input_tokens = r.input_tokens;
  e.output_tokens = r.output_tokens;
  e.tokens_estimated = r.tokens_estimated;
  log.Log(e);
}
}  // namespace

ProxyMetrics BuildProxyMetrics(observability::Registry& reg, const config::Config& config) {
  using observability::Registry;
  ProxyMetrics m;
  auto route_metrics = [&reg](const std::string& name) {
    RouteMetrics r;
    std::string base = "route=\"" + Registry::EscapeLabel(name) + "\"";
    static const char* kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t p = 0; p < http::kProtocolCount; ++p) {
      for (int i = 0; i < 6; ++i) {
        r.responses[p][i] =
            reg.GetCounter("infergate_responses_total",
                           "Responses sent to clients by route, status class (none: the client "
                           "got no status) and protocol.",
                           base + ",code=\"" + kClasses[i] + "\",protocol=\"" +
                               http::ProtocolName(static_cast<http::Protocol>(p)) + "\"");
      }
    }
    r.retries = reg.GetCounter("infergate_retries_total", "Upstream retries by route.", base);
    r.duration =
        reg.GetHistogram("infergate_request_duration_seconds",
                         "Time from the complete request to the end of the response.", base);
    r.first_byte =
        reg.GetHistogram("infergate_upstream_first_byte_seconds",
                         "Time from the complete request to the backend's response head.", base);
    return r;
  };
  for (const auto& route : config.routes) m.routes.push_back(route_metrics(route.name));
  m.unrouted = route_metrics("");
  for (const auto& pool : config.pools) {
    std::vector<BackendMetrics> bm;
    for (const auto& b : pool.backends) {
      std::string labels = "pool=\"" + Registry::EscapeLabel(pool.name) + "\",backend=\"" +
                           Registry::EscapeLabel(b.name) + "\"";
      BackendMetrics x;
      x.attempts = reg.GetCounter("infergate_upstream_attempts_total",
                                  "Requests sent to each backend, retries included.", labels);
      x.failures = reg.GetCounter(
          "infergate_upstream_failures_total",
          "Backend faults (connect failures, resets, timeouts, broken streams) per backend.",
          labels);
      x.in_flight =
          reg.GetGauge("infergate_upstream_in_flight", "Requests in flight per backend.", labels);
      bm.push_back(x);
    }
    m.backends.push_back(std::move(bm));
  }
  for (size_t k = 0; k < kErrorKindCount; ++k) {
    const ErrorInfo& info = DescribeError(static_cast<ErrorKind>(k));
    m.errors[k] = reg.GetCounter("infergate_errors_total",
                                 "Exchanges that ended in an error, by kind (timeouts, connect "
                                 "failures, client aborts, ...).",
                                 "kind=\"" + std::string(info.name) + "\"");
  }
  m.open_connections = reg.GetGauge("infergate_client_connections", "Open client connections.");
  m.accepted_connections =
      reg.GetCounter("infergate_client_connections_total", "Accepted client connections.");
  m.active_requests = reg.GetGauge("infergate_active_requests", "Requests being served.");
  for (size_t p = 0; p < http::kProtocolCount; ++p) {
    const std::string label =
        std::string("protocol=\"") + http::ProtocolName(static_cast<http::Protocol>(p)) + "\"";
    m.protocol_connections[p] = reg.GetCounter(
        "infergate_protocol_connections_total",
        "Client connections by the protocol they spoke (decided by their first bytes).", label);
    m.protocol_open[p] = reg.GetGauge("infergate_protocol_connections",
                                      "Open client connections by protocol.", label);
  }
  m.h2_streams =
      reg.GetCounter("infergate_h2_streams_total", "HTTP/2 request streams opened by clients.");
  static const char* kCauses[] = {"client", "upstream_broken", "send_timeout", "protocol",
                                  "refused"};
  for (size_t i = 0; i < std::size(kCauses); ++i) {
    m.h2_resets[i] = reg.GetCounter(
        "infergate_h2_resets_total",
        "HTTP/2 streams reset, by cause (client: RST_STREAM from the client; upstream_broken: the "
        "backend's response broke mid-stream; send_timeout: the client did not read; protocol: "
        "a malformed stream; refused: over max_concurrent_streams).",
        std::string("cause=\"") + kCauses[i] + "\"");
  }
  static const char* kFloods[] = {"resets",         "pings",        "settings", "priority",
                                  "window_updates", "empty_frames", "library"};
  for (size_t i = 0; i < std::size(kFloods); ++i) {
    m.h2_floods[i] = reg.GetCounter(
        "infergate_h2_flood_goaways_total",
        "HTTP/2 connections closed with GOAWAY(ENHANCE_YOUR_CALM) by a flood defence, by kind.",
        std::string("kind=\"") + kFloods[i] + "\"");
  }
  m.retry_budget_exhausted = reg.GetCounter("infergate_retry_budget_exhausted_total",
                                            "Retries not made because the pool's retry budget was "
                                            "spent (retries would have multiplied load).");
  m.genai = std::make_unique<GenAiMetrics>(reg, config);
  observability::RegisterProcessMetrics(reg);  // process-wide; registering again is a no-op
  return m;
}

void RecordAttempt(const Snapshot& snapshot, const AttemptRecord& a) {
  const BackendMetrics& bm = snapshot.metrics.backends[a.pool][a.backend];
  bm.attempts->Inc();
  const config::PoolConfig& pool = snapshot.config->pools[a.pool];
  // Only backend faults count against a backend: a flood of client 4xx opens nothing.
  auto result = resilience::ClassifyForBreaker(a.error, a.status, pool.circuit_breaker.count_429);
  if (result == resilience::CallResult::kFailure) bm.failures->Inc();
  if (!a.shared) return;
  const bool slow = a.ttfb >= pool.circuit_breaker.slow_call_duration;
  switch (result) {
    case resilience::CallResult::kSuccess:
      a.shared->RecordSuccess(slow);
      break;
    case resilience::CallResult::kFailure:
      a.shared->RecordFailure(slow);
      a.shared->RecordError(a.error ? static_cast<int>(*a.error) : -a.status);
      break;
    case resilience::CallResult::kIgnored:
      a.shared->RecordIgnored();
      break;
  }
}

BackendLease::BackendLease(const Snapshot& snapshot, upstream::PoolRuntime& pool, size_t pool_index,
                           size_t backend)
    : snapshot_(snapshot), pool_(pool), pool_index_(pool_index), backend_(backend) {
  ++pool_.backend(backend_).in_flight;
  snapshot_.metrics.backends[pool_index_][backend_].in_flight->Add(1);
}

void BackendLease::Release() {
  if (released_) return;
  released_ = true;
  auto& be = pool_.backend(backend_);
  if (be.in_flight > 0) --be.in_flight;
  snapshot_.metrics.backends[pool_index_][backend_].in_flight->Add(-1);
}

upstream::BackendRuntime& BackendLease::runtime() const { return pool_.backend(backend_); }

void BackendLease::Record(const AttemptRecord& attempt) {
  if (recorded_) return;
  recorded_ = true;
  RecordAttempt(snapshot_, attempt);
}

void BackendLease::RecordBroken(ErrorKind error, int status) {
  if (broken_recorded_) return;
  broken_recorded_ = true;
  AttemptRecord broken;
  broken.pool = pool_index_;
  broken.backend = backend_;
  broken.shared = runtime().shared;
  broken.error = error;
  broken.status = status;
  RecordAttempt(snapshot_, broken);
}

void RecordExchange(const Snapshot& snapshot, const ExchangeRecord& r, std::string_view method,
                    std::string_view target, std::string_view request_id, SteadyTime end,
                    observability::AccessLog* access_log) {
  if (access_log) LogExchange(*snapshot.config, r, method, target, request_id, end, *access_log);
  const auto& m = snapshot.metrics;
  const RouteMetrics& rm = r.route >= 0 ? m.routes[static_cast<size_t>(r.route)] : m.unrouted;
  int cls = r.status >= 100 && r.status < 600 ? r.status / 100 : 0;
  rm.responses[static_cast<size_t>(r.protocol)][cls]->Inc();
  rm.duration->Observe(Seconds(end - r.start));
  if (r.head_at != SteadyTime{}) rm.first_byte->Observe(Seconds(r.head_at - r.start));
  if (r.attempts > 1) rm.retries->Inc(static_cast<uint64_t>(r.attempts - 1));
  if (r.error) m.errors[static_cast<size_t>(*r.error)]->Inc();
  if (m.genai) m.genai->Record(r, target.substr(0, target.find('?')), end);
  if (GetLogLevel() <= LogLevel::kDebug) {
    const char* route =
        r.route >= 0 ? snapshot.config->routes[static_cast<size_t>(r.route)].name.c_str() : "-";
    const char* backend = "-";
    if (r.pool >= 0 && r.backend >= 0) {
      backend = snapshot.config->pools[static_cast<size_t>(r.pool)]
                    .backends[static_cast<size_t>(r.backend)]
                    .name.c_str();
    }
    IG_DEBUG(
        "access rid=%.*s \"%.*s %.*s\" route=%s backend=%s status=%d error=%s attempts=%d "
        "bytes=%llu dur_ms=%.3f",
        static_cast<int>(request_id.size()), request_id.data(), static_cast<int>(method.size()),
        method.data(), static_cast<int>(target.size()), target.data(), route, backend, r.status,
        r.error ? std::string(DescribeError(*r.error).name).c_str() : "-", r.attempts,
        static_cast<unsigned long long>(r.body_bytes), Seconds(end - r.start) * 1e3);
  }
}

void NewRequestId(Rng& rng, std::string* id) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Formatted on the stack and assigned once (one append per digit cost ~700 instructions).
  char out[32];
  for (int k = 0; k < 2; ++k) {
    const uint64_t v = rng.Next();
    for (int i = 0; i < 16; ++i) out[k * 16 + i] = kHex[(v >> (60 - 4 * i)) & 0xf];
  }
  id->assign(out, sizeof(out));
}

std::string RecordTransportError(const Snapshot& snapshot, TimePoint now, const Error& err,
                                 http::Protocol protocol, std::string* request_id,
                                 const RequestSite& site) {
  NewRequestId(ThreadRng(), request_id);
  const ErrorInfo& info = DescribeError(err.kind);
  ExchangeRecord r;
  r.start = now;
  r.status = info.status;
  r.error = err.kind;
  r.protocol = protocol;
  if (site.access_log) {
    r.client_address.assign(site.client_address);
    r.listener.assign(site.listener);
  }
  RecordExchange(snapshot, r, "-", "-", *request_id, now, site.access_log);
  return OpenAiErrorBody(err.kind, err.message.empty() ? std::string(info.code) : err.message,
                         *request_id);
}

// What the access log reads besides the phases' own record: the client's model (the body is
// read for it when no phase did), the tenant and the body bytes sent.
void Exchange::CompleteRecord() {
  rec_.tenant = tenant_;
  rec_.bytes_sent = counting_.bytes();
  if (!env_.worker->access_log) return;
  if (client_model_.empty() && !req_->body->empty()) {
    // No phase rewrote the body without reading its model first: it is the client's.
    routing::BodyModel model(*req_->body);
    if (auto found = model.Model(); found && *found) client_model_.assign(**found);
  }
  rec_.model = client_model_;
}

// The exchange's part of finishing: its compartment slots and gate slot go back, and the
// primary's service time feeds the predicted-wait trigger.
void Exchange::FinishIsolation() {
  const bool normal = served_by_primary_ && !rec_.error && rec_.status >= 200 && rec_.status < 500;
  gate_.Release(normal ? std::optional<TimePoint>(rec_.head_at) : std::nullopt);
  fallback_slot_.reset();
  route_slot_.reset();
  tenant_slot_.reset();
  if (runner_channel_) {
    runner_channel_->Cancel();
    runner_channel_.reset();
  }
  // Only routes that predict waits need the service time.
  if (normal && rec_.route >= 0 && !view_->degrade.empty() &&
      snapshot_->config->routes[static_cast<size_t>(rec_.route)].degrade.has(
          config::Trigger::kPredictedWait)) {
    RouteDegradeState& st = *view_->degrade[static_cast<size_t>(rec_.route)];
    const double d = std::chrono::duration<double>(env_.timers->Now() - rec_.start).count();
    st.service_seconds = st.service_seconds == 0 ? d : 0.8 * st.service_seconds + 0.2 * d;
  }
}

}  // namespace infergate::exchange
