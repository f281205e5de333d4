// One client connection: reads requests with the HTTP/1.1 codec and runs each exchange through
// its phases (route, pick, forward, stream, finish). Runs as a C++20 coroutine on its worker's
// io_context; nothing here blocks or throws.
#include "infergate/proxy/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/core/log.h"
#include "infergate/degrade/openai_response.h"
#include "infergate/degrade/token_channel.h"
#include "infergate/http/h1_codec.h"
#include "infergate/resilience/backoff.h"
#include "infergate/resilience/hash_ring.h"
#include "infergate/routing/body_fields.h"
#include "proxy/deadline.h"
#include "proxy/outcome.h"

namespace infergate::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Client-side deadline tags.
enum ClientTag { kTagKeepAlive = 1, kTagHeader, kTagBody, kTagSend, kTagLinger };
// Upstream-side deadline tags map to error kinds.
enum UpstreamTag { kTagConnect = 1, kTagFirstByte, kTagIdle, kTagTotal };

ErrorKind KindForUpstreamTag(int tag) {
  switch (tag) {
    case kTagConnect:
      return ErrorKind::kConnectTimeout;
    case kTagFirstByte:
      return ErrorKind::kFirstByteTimeout;
    case kTagIdle:
      return ErrorKind::kIdleTimeout;
    default:
      return ErrorKind::kTotalTimeout;
  }
}

// Buffer sizes: small enough that 10,000 idle clients or streams cost little memory, large
// enough that a typical chat request (~0.5 KiB) or SSE event needs one read. Both grow on demand.
constexpr size_t kClientBufferInitial = 1024;
constexpr size_t kUpstreamBufferSize = 4096;
// Per-exchange buffers grown past this are released when the connection goes idle.
constexpr size_t kKeepCapacity = 4096;
constexpr size_t kPipelineLimit = 64 * 1024;

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void AppendHex64(std::string& out, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 60; i >= 0; i -= 4) out += kHex[(v >> i) & 0xf];
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out.append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

std::string_view FindHeader(const std::vector<HeaderField>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return {};
}

// The body's model field, parsed at most once and only when a route asks for it.
class BodyModel final : public routing::ModelSource {
 public:
  explicit BodyModel(std::string& body) : body_(body) {}
  Expected<std::optional<std::string_view>, Error> Model() override {
    if (body_.empty()) return std::optional<std::string_view>();  // GET and friends: no model
    if (!fields_ && !error_) {
      auto r = routing::ExtractBodyFields(body_, body_.capacity());
      if (r) {
        fields_ = std::move(*r);
      } else {
        error_ = r.error();
      }
    }
    if (error_) return MakeUnexpected(*error_);
    if (fields_->model) return std::optional<std::string_view>(*fields_->model);
    return std::optional<std::string_view>();
  }
  const routing::BodyFields* fields() const { return fields_ ? &*fields_ : nullptr; }

 private:
  std::string& body_;
  std::optional<routing::BodyFields> fields_;
  std::optional<Error> error_;
};

class Connection final : public std::enable_shared_from_this<Connection>,
                         private http::ResponseSink {
 public:
  Connection(WorkerContext& ctx, size_t listener, tcp::socket socket)
      : ctx_(ctx),
        snapshot_(ctx.snapshot),
        listener_(snapshot_->config->listeners[listener]),
        client_(std::move(socket)),
        decoder_(http::RequestLimits{listener_.max_request_header_bytes,
                                     listener_.max_request_headers,
                                     listener_.max_request_body_bytes}),
        read_event_(client_.get_executor()),
        client_deadline_(client_.get_executor(), [this](int tag) { OnClientDeadline(tag); }),
        up_deadline_(client_.get_executor(), [this](int tag) { Abort(KindForUpstreamTag(tag)); }),
        total_deadline_(client_.get_executor(), [this](int) { Abort(ErrorKind::kTotalTimeout); }) {
    ++ctx_.active_connections;
    snapshot_->metrics.open_connections->Add(1);
    snapshot_->metrics.accepted_connections->Inc();
    error_code ec;
    auto remote = client_.remote_endpoint(ec);
    if (!ec) client_ip_ = remote.address().to_string();
  }

  ~Connection() override {
    if (runner_channel_) runner_channel_->Cancel();
    --ctx_.active_connections;
    snapshot_->metrics.open_connections->Add(-1);
  }

  void Start() { asio::co_spawn(client_.get_executor(), Run(shared_from_this()), asio::detached); }

 private:
  // ---- client reads: one read at a time, shared by request decoding and disconnect watching.

  void StartRead() {
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    if (in_.size() < kClientBufferInitial) in_.resize(kClientBufferInitial);
    if (in_end_ == in_.size()) {
      if (in_begin_ > 0) {
        std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
      } else {
        in_.resize(in_.size() * 2);
      }
    }
    read_pending_ = true;
    client_.async_read_some(
        asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
        [self = shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, size_t n) {
    read_pending_ = false;
    in_end_ += n;
    if (ec) read_ec_ = ec;
    if (exchange_active_) {
      if (ec) {
        Abort(ErrorKind::kClientAbort);
      } else if (in_end_ - in_begin_ < kPipelineLimit) {
        StartRead();  // pipelined bytes: keep them and keep watching for a disconnect
      }
    }
    read_event_.cancel();
  }

  // Waits for the pending (or a new) read to complete. Returns its error, sticky once set.
  asio::awaitable<error_code> AwaitRead() {
    if (!read_pending_) {
      if (read_ec_) co_return read_ec_;
      StartRead();
    }
    while (read_pending_) {
      read_event_.expires_at(asio::steady_timer::time_point::max());
      co_await read_event_.async_wait(kNoThrow);
    }
    co_return read_ec_;
  }

  std::string_view Buffered() const { return {in_.data() + in_begin_, in_end_ - in_begin_}; }

  // Between requests, give back what one large request or response grew.
  void ReleaseIdleMemory() {
    in_begin_ = in_end_ = 0;
    if (in_.size() > kClientBufferInitial) {
      in_.resize(kClientBufferInitial);
      in_.shrink_to_fit();
    }
    if (out_.capacity() > kKeepCapacity) std::string().swap(out_);
    if (up_headers_.capacity() > kKeepCapacity) std::string().swap(up_headers_);
  }

  void OnClientDeadline(int tag) {
    client_timeout_tag_ = tag;
    error_code ignored;
    client_.cancel(ignored);
    if (tag == kTagSend) {
      IG_WARN("client %s stopped reading for %s; closing", client_ip_.c_str(),
              FormatDuration(listener_.send_timeout).c_str());
      client_.close(ignored);
      Abort(ErrorKind::kClientAbort);
    }
  }

  std::shared_ptr<void> Self() { return shared_from_this(); }

  // ---- the connection loop

  static asio::awaitable<void> Run(std::shared_ptr<Connection> self) { co_await self->Loop(); }

  asio::awaitable<void> Loop() {
    while (true) {
      if (!co_await ReadRequest()) break;
      bool keep = co_await Exchange();
      if (!keep || ctx_.draining) break;
    }
    co_await Close();
  }

  asio::awaitable<void> Close() {
    error_code ignored;
    client_deadline_.Cancel();
    up_deadline_.Cancel();
    total_deadline_.Cancel();
    if (linger_) {
      // Lingering close: stop sending, then drain what the client still sends for a short
      // while, so our error response is not destroyed by a reset.
      client_.shutdown(tcp::socket::shutdown_send, ignored);
      client_deadline_.Set(std::chrono::seconds(2), kTagLinger, Self());
      while (client_.is_open()) {
        in_begin_ = in_end_ = 0;
        if (co_await AwaitRead()) break;
      }
      client_deadline_.Cancel();
    }
    client_.close(ignored);
    read_event_.cancel();
  }

  // Reads one complete request (head and body). False: close the connection.
  asio::awaitable<bool> ReadRequest() {
    decoder_.Reset();
    client_timeout_tag_ = 0;
    const bool idle = Buffered().empty();
    if (idle && !read_pending_) ReleaseIdleMemory();
    client_deadline_.Set(idle ? listener_.keepalive_timeout : listener_.header_timeout,
                         idle ? kTagKeepAlive : kTagHeader, Self());
    bool head_done = false;
    while (true) {
      if (!Buffered().empty()) {
        size_t used = 0;
        auto st = decoder_.Feed(Buffered(), &used);
        in_begin_ += used;
        if (!st) {
          Error err = st.error();
          co_await SendError(err, /*close=*/true);
          co_return false;
        }
        if (*st == http::RequestDecoder::Status::kComplete) {
          client_deadline_.Clear();
          co_return true;
        }
        if (*st == http::RequestDecoder::Status::kHeadComplete && !head_done) {
          head_done = true;
          client_deadline_.Set(listener_.body_timeout, kTagBody, Self());
          if (decoder_.head().expect_continue && Buffered().empty()) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
            if (ec) co_return false;
          }
          continue;
        }
      }
      if (!head_done && decoder_.started())
        client_deadline_.Set(listener_.header_timeout, kTagHeader, Self());
      error_code ec = co_await AwaitRead();
      if (ec) {
        if ((client_timeout_tag_ == kTagHeader || client_timeout_tag_ == kTagBody) &&
            decoder_.started()) {
          read_ec_ = {};
          Error err{ErrorKind::kRequestTimeout, client_timeout_tag_ == kTagHeader
                                                    ? "request header not received in time"
                                                    : "request body not received in time"};
          co_await SendError(err, /*close=*/true);
        }
        co_return false;
      }
    }
  }

  // ---- the exchange

  asio::awaitable<bool> Exchange() {
    rec_ = ExchangeRecord{};
    rec_.start = std::chrono::steady_clock::now();
    exchange_active_ = true;
    abort_.reset();
    ++ctx_.active_requests;
    snapshot_->metrics.active_requests->Add(1);
    const http::RequestHead& req = decoder_.head();
    client_keep_alive_ = req.keep_alive && !ctx_.draining;
    client_version_ = req.version;
    std::string_view rid = req.Get("x-request-id");
    request_id_.clear();
    if (ValidRequestId(rid)) {
      request_id_.assign(rid);
    } else {
      Rng& rng = ThreadRng();
      AppendHex64(request_id_, rng.Next());
      AppendHex64(request_id_, rng.Next());
    }
    ResetIsolation();
    // Watch the client while the exchange runs: a close aborts the upstream at once.
    if (!read_pending_ && !read_ec_ && in_end_ - in_begin_ < kPipelineLimit) StartRead();

    bool keep = co_await Forward();

    exchange_active_ = false;
    up_deadline_.Clear();
    total_deadline_.Clear();
    if (up_) {
      ReleaseBackend();
      up_.reset();
    }
    EndBudget();
    FinishIsolation();
    if (rec_.error == ErrorKind::kClientAbort) keep = false;
    RecordExchange(*snapshot_, rec_, req.method, req.target, request_id_);
    --ctx_.active_requests;
    snapshot_->metrics.active_requests->Add(-1);
    co_return keep&& client_keep_alive_;
  }

  void ResetIsolation() {
    held_count_ = 0;
    gate_ = nullptr;
    degraded_header_.clear();
    client_model_.clear();
    stream_requested_ = false;
    served_by_primary_ = false;
    full_degrades_ = false;
    predicted_wait_ = false;
    primary_failure_.clear();
    extra_headers_.clear();
    tenant_.reset();
  }

  // Gives back the exchange's compartment slots and gate slot, and feeds the primary's service
  // time to the predicted-wait trigger.
  void FinishIsolation() {
    const bool normal =
        served_by_primary_ && !rec_.error && rec_.status >= 200 && rec_.status < 500;
    std::optional<std::chrono::nanoseconds> ttfb;
    if (normal && gate_ && rec_.head_at > gate_start_) ttfb = rec_.head_at - gate_start_;
    ReleaseGate(ttfb);
    ReleaseHeld();
    if (runner_channel_) {
      runner_channel_->Cancel();
      runner_channel_.reset();
    }
    // Only routes that predict waits need the service time (a clock read per request).
    if (normal && rec_.route >= 0 && !ctx_.degrade.empty() &&
        snapshot_->config->routes[static_cast<size_t>(rec_.route)].degrade.has(
            config::Trigger::kPredictedWait)) {
      RouteDegradeState& st = ctx_.degrade[static_cast<size_t>(rec_.route)];
      double d =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - rec_.start).count();
      st.service_seconds = st.service_seconds == 0 ? d : 0.8 * st.service_seconds + 0.2 * d;
    }
  }

  // Route, pick, forward, stream. Returns whether the client connection may be reused.
  asio::awaitable<bool> Forward() {
    const Snapshot& snap = *snapshot_;
    const http::RequestHead& req = decoder_.head();

    // Phase: route.
    routing::RequestView view{req.method, req.path, req.host, req.headers};
    BodyModel model(decoder_.body());
    auto found = snap.routes.Find(view, model);
    // GCC 12 destroys non-trivial temporaries inside a co_await operand twice: errors are named
    // locals before they are awaited on.
    if (!found) {
      Error err = found.error();
      bool keep = co_await SendError(err, false);
      co_return keep;
    }
    if (!*found) {
      const auto* f = model.fields();
      Error err = f && f->model
                      ? Error{ErrorKind::kModelNotFound,
                              "The model `" + *f->model + "` does not exist or no route serves it."}
                      : Error{ErrorKind::kRouteNotFound, "no route for " + std::string(req.method) +
                                                             " " + std::string(req.path)};
      bool keep = co_await SendError(err, false);
      co_return keep;
    }
    const config::RouteConfig& route = *(*found)->route;
    rec_.route = static_cast<int>((*found)->route_index);
    route_index_ = (*found)->route_index;
    const size_t pool_index = snap.routes.PickPool(route, ThreadRng());
    rec_.pool = static_cast<int>(pool_index);
    if (const auto* f = model.fields(); f && f->model) client_model_ = *f->model;
    if (route.rewrite_model) {
      const auto* f = model.fields();
      if (f && f->model) routing::SpliceModel(decoder_.body(), *f, *route.rewrite_model);
    }
    BuildUpstreamHead(req);
    if (route.timeouts.total > Duration::zero())
      total_deadline_.Set(route.timeouts.total, kTagTotal, Self());

    // Phase: admit (tenant, the tenant's and the route's compartments).
    std::optional<config::Trigger> trigger;
    // (Skipped, with its coroutine frame, when nothing is configured to admit.)
    std::optional<Error> denied;
    const config::Config& cfg = *snap.config;
    tier_ = cfg.tenant_identification.anonymous_tier;
    if (route.compartment || !cfg.tenants.empty() || listener_.require_api_key)
      denied = co_await Admit(route, req);
    if (denied) {
      if (denied->kind == ErrorKind::kClientAbort) {
        rec_.error = ErrorKind::kClientAbort;
        co_return false;
      }
      if (predicted_wait_) {
        trigger = config::Trigger::kPredictedWait;  // only asked for with that trigger on
      } else if (denied->kind != ErrorKind::kCompartmentFull || !full_degrades_ ||
                 !route.degrade.has(config::Trigger::kCompartmentFull)) {
        Error err = *denied;
        if (err.message.empty()) err.message = AbortMessage(err.kind, route);
        bool keep = co_await SendError(err, false);
        co_return keep;
      }
      if (!trigger) trigger = config::Trigger::kCompartmentFull;
      primary_failure_ = denied->message;
    }

    // Conditions that send the request to a fallback before the primary is tried.
    if (!trigger) {
      trigger = ConditionTrigger(route, pool_index);
      if (!trigger && !TakeGate(pool_index)) {
        if (route.degrade.has(config::Trigger::kConcurrencyLimit)) {
          trigger = config::Trigger::kConcurrencyLimit;
          primary_failure_ = "pool " + snap.config->pools[pool_index].name +
                             " is at its adaptive concurrency limit";
        } else {
          Error err{ErrorKind::kConcurrencyLimit,
                    "pool " + snap.config->pools[pool_index].name +
                        " is at its adaptive concurrency limit (its latency is rising); retry "
                        "shortly"};
          extra_headers_ = "Retry-After: 1\r\n";
          bool keep = co_await SendError(err, false);
          co_return keep;
        }
      }
    }

    // Phases: pick and forward to the primary, with retries before the first byte.
    if (!trigger) {
      const bool degradable = !route.fallbacks.empty();
      std::optional<Error> failed = co_await TryPool(route, pool_index, model, degradable);
      if (!failed) {
        served_by_primary_ = true;
        co_return co_await Stream(route);
      }
      ReleaseGate(std::nullopt);
      if (failed->kind == ErrorKind::kClientAbort) {
        rec_.error = ErrorKind::kClientAbort;
        co_return false;
      }
      trigger = degradable ? TriggerForFailure(route, *failed) : std::nullopt;
      if (!trigger) {
        Error err = *failed;
        bool keep = co_await SendError(err, false);
        co_return keep;
      }
      primary_failure_ = failed->message;
    }

    // Phase: degrade.
    co_return co_await Degrade(route, *trigger, model);
  }

  // ---- admission

  // Identifies the tenant and takes a slot in the tenant's and the route's compartments (waiting
  // in their queues when they have one). An error when the request may not go on.
  asio::awaitable<std::optional<Error>> Admit(const config::RouteConfig& route,
                                              const http::RequestHead& req) {
    const config::Config& cfg = *snapshot_->config;
    IsolationRuntime& iso = *snapshot_->isolation;
    tenant_.reset();
    if (!cfg.tenants.empty()) {
      std::string_view by_header;
      if (!listener_.require_api_key && !cfg.tenant_identification.header.empty())
        by_header = req.Get(cfg.tenant_identification.header);
      isolation::TenantLookup found = iso.tenants().Identify(req.Get("authorization"), by_header);
      tenant_ = found.tenant;
      iso.tenant_requests(tenant_)->Inc();
    }
    if (listener_.require_api_key && !tenant_) {
      extra_headers_ = "WWW-Authenticate: Bearer\r\n";
      co_return Error{ErrorKind::kUnauthorized,
                      req.Get("authorization").empty()
                          ? "Missing API key: send Authorization: Bearer YOUR_KEY."
                          : "Incorrect API key provided."};
    }
    std::optional<size_t> compartments[2];
    if (tenant_) {
      tier_ = cfg.tenants[*tenant_].tier;
      compartments[0] = cfg.tenants[*tenant_].compartment;
    }
    if (route.compartment && route.compartment != compartments[0])
      compartments[1] = route.compartment;
    for (const auto& c : compartments) {
      if (!c) continue;
      Compartment& comp = iso.compartment(*c);
      // The route's queue is not joined when the wait it predicts is over the route's budget.
      double wait_budget = 0;
      if (c == route.compartment && route.degrade.has(config::Trigger::kPredictedWait))
        wait_budget = std::chrono::duration<double>(route.degrade.max_predicted_wait).count();
      AdmitResult r = co_await AdmitTo(comp, wait_budget);
      if (r == AdmitResult::kAdmitted) continue;
      if (r == AdmitResult::kAborted) co_return Error{abort_.value_or(ErrorKind::kClientAbort), ""};
      if (r == AdmitResult::kPredictedWait) {
        predicted_wait_ = true;
        char buf[160];
        std::snprintf(buf, sizeof(buf),
                      "the predicted wait in compartment %s's queue is %.1fs (budget %s)",
                      comp.config->name.c_str(), predicted_queue_wait_,
                      FormatDuration(route.degrade.max_predicted_wait).c_str());
        co_return Error{ErrorKind::kCompartmentFull, buf};
      }
      full_degrades_ = comp.config->on_full == config::CompartmentConfig::OnFull::kDegrade;
      thread_local std::chrono::steady_clock::time_point last_shed{};
      if (DueForWarning(last_shed)) {
        IG_WARN("compartment %s is full: %s tier %s requests (in flight %u, queued %u)",
                comp.config->name.c_str(), full_degrades_ ? "degrading" : "shedding",
                cfg.tiers[tier_].name.c_str(), comp.bulkhead->in_flight(), comp.bulkhead->queued());
      }
      const auto secs = std::chrono::ceil<std::chrono::seconds>(comp.config->retry_after).count();
      extra_headers_ = "Retry-After: " + std::to_string(secs) + "\r\n";
      std::string who = "compartment " + comp.config->name;
      if (cfg.tiers.size() > 1) who += " (tier " + cfg.tiers[tier_].name + ")";
      switch (r) {
        case AdmitResult::kTimeout:
          co_return Error{
              ErrorKind::kCompartmentFull,
              who + " stayed full for " + FormatDuration(comp.config->max_wait) + "; retry later"};
        case AdmitResult::kEvicted:
          co_return Error{ErrorKind::kCompartmentFull,
                          who +
                              " is full and its queue was needed for higher-priority requests; "
                              "retry later"};
        default:
          co_return Error{ErrorKind::kCompartmentFull,
                          who + " is full (" + std::to_string(comp.config->max_concurrent) +
                              " concurrent requests" +
                              (comp.config->max_queue > 0 ? " and a full queue" : "") +
                              "); retry later"};
      }
    }
    co_return std::nullopt;
  }

  enum class AdmitResult { kAdmitted, kFull, kTimeout, kEvicted, kAborted, kPredictedWait };

  // A slot in one compartment: at once, or after waiting in its queue (up to max_wait). With a
  // `wait_budget` (seconds), a request does not queue when the requests ahead of it x the route's
  // recent service time / the slots predict a longer wait (kPredictedWait).
  asio::awaitable<AdmitResult> AdmitTo(Compartment& comp, double wait_budget = 0) {
    isolation::Bulkhead& b = *comp.bulkhead;
    if (b.TryAcquire(tier_)) {
      Hold(comp);
      co_return AdmitResult::kAdmitted;
    }
    if (wait_budget > 0 && comp.config->max_queue > 0) {
      const double service = ctx_.degrade[route_index_].service_seconds;
      predicted_queue_wait_ = (b.queued_ahead(tier_) + 1) * service / comp.config->max_concurrent;
      if (predicted_queue_wait_ > wait_budget) co_return AdmitResult::kPredictedWait;
    }
    struct WaitState {
      bool done = false;
      bool admitted = false;
      isolation::Rejection why = isolation::Rejection::kNone;
    };
    auto state = std::make_shared<WaitState>();
    // A weak reference: a waiter left in the queue at shutdown must not keep the connection (and
    // through it the worker's state) alive. While it waits, its coroutine holds it.
    std::weak_ptr<Connection> weak = shared_from_this();
    auto ex = client_.get_executor();
    std::optional<uint64_t> ticket =
        b.Enqueue(tier_, [state, weak, ex](bool admitted, isolation::Rejection why) {
          asio::post(ex, [state, weak, admitted, why] {
            state->done = true;
            state->admitted = admitted;
            state->why = why;
            if (auto self = weak.lock()) self->backoff_timer_.cancel();
          });
        });
    auto& rejected = comp.metrics.rejected[tier_];
    if (!ticket) {
      rejected[0]->Inc();
      co_return AdmitResult::kFull;
    }
    comp.metrics.queued->Add(1);
    const auto deadline = std::chrono::steady_clock::now() + comp.config->max_wait;
    bool outcome_pending = false;  // the bulkhead decided; its callback is on its way
    std::optional<AdmitResult> gave_up;
    while (!state->done) {
      backoff_timer_.expires_at(outcome_pending ? asio::steady_timer::time_point::max() : deadline);
      co_await backoff_timer_.async_wait(kNoThrow);
      if (state->done || outcome_pending) continue;
      if (abort_) {
        gave_up = AdmitResult::kAborted;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        b.Expire();
        gave_up = AdmitResult::kTimeout;
      } else {
        continue;
      }
      if (b.Cancel(*ticket)) break;
      outcome_pending = true;
      gave_up.reset();
    }
    comp.metrics.queued->Add(-1);
    if (gave_up) {
      if (*gave_up == AdmitResult::kTimeout) rejected[1]->Inc();
      co_return *gave_up;
    }
    if (state->admitted) {
      Hold(comp);
      if (abort_) co_return AdmitResult::kAborted;  // released with the exchange
      comp.metrics.admitted_after_wait->Inc();
      co_return AdmitResult::kAdmitted;
    }
    if (state->why == isolation::Rejection::kEvicted) {
      rejected[2]->Inc();
      co_return AdmitResult::kEvicted;
    }
    rejected[1]->Inc();
    co_return AdmitResult::kTimeout;
  }

  void Hold(Compartment& comp) {
    comp.metrics.in_flight->Add(1);
    held_[held_count_++] = &comp;
  }

  void ReleaseHeld() {
    for (; held_count_ > 0; --held_count_) {
      held_[held_count_ - 1]->Release();
    }
  }

  // A slot under the pool's adaptive concurrency limit; true when the pool has none.
  bool TakeGate(size_t pool_index) {
    isolation::AdaptiveGate* gate = snapshot_->isolation->gate(pool_index);
    if (!gate) return true;
    if (!gate->TryAcquire()) {
      snapshot_->isolation->limited(pool_index)->Inc();
      thread_local std::chrono::steady_clock::time_point last_log{};
      if (DueForWarning(last_log)) {
        IG_WARN(
            "pool %s is at its adaptive concurrency limit (%u in flight): refusing requests "
            "over it",
            snapshot_->config->pools[pool_index].name.c_str(), gate->limit());
      }
      return false;
    }
    gate_ = gate;
    gate_start_ = std::chrono::steady_clock::now();
    return true;
  }

  // `ttfb`: the latency sample, when the gated pool answered normally.
  void ReleaseGate(std::optional<std::chrono::nanoseconds> ttfb) {
    if (!gate_) return;
    gate_->Release(ttfb);
    gate_ = nullptr;
  }

  // ---- degradation

  // The condition triggers (with hysteresis) that skip the primary pool: no backend available,
  // backends reporting saturation, a predicted wait over the route's budget.
  std::optional<config::Trigger> ConditionTrigger(const config::RouteConfig& route,
                                                  size_t pool_index) {
    if (route.fallbacks.empty()) return std::nullopt;
    RouteDegradeState& st = ctx_.degrade[route_index_];
    upstream::PoolRuntime& pool = ctx_.upstreams->pool(pool_index);
    const auto now = std::chrono::steady_clock::now();
    const std::string& name = pool.config().name;
    if (route.degrade.has(config::Trigger::kNoBackend) &&
        st.no_backend.Observe(!pool.HasCandidate(/*allow_panic=*/false), now)) {
      primary_failure_ = "no backend of pool " + name + " is available";
      return config::Trigger::kNoBackend;
    }
    const bool saturation = route.degrade.has(config::Trigger::kSaturation);
    const bool wait = route.degrade.has(config::Trigger::kPredictedWait);
    if (!saturation && !wait) return std::nullopt;
    upstream::PoolLoad load = pool.Load(now);
    if (saturation) {
      // The least loaded backend's queue and KV cache over the thresholds, as one ratio: 1.0
      // enters, and the trigger holds until it is back under 0.8 for recover_after.
      double ratio = 0;
      const auto& sat = route.degrade.saturation;
      if (load.fresh && sat.queue_above)
        ratio = load.min_waiting / std::max(*sat.queue_above, 1e-9);
      if (load.fresh && sat.kv_cache_above && load.min_kv_cache >= 0)
        ratio = std::max(ratio, load.min_kv_cache / *sat.kv_cache_above);
      if (st.saturation.ObserveLevel(ratio, 1.0, 0.8, now)) {
        char buf[160];
        std::snprintf(buf, sizeof(buf),
                      "the backends of pool %s report saturation (least loaded: %.0f waiting, KV "
                      "cache %.0f%%)",
                      name.c_str(), load.min_waiting,
                      load.min_kv_cache < 0 ? 0.0 : load.min_kv_cache * 100);
        primary_failure_ = buf;
        return config::Trigger::kSaturation;
      }
    }
    if (wait) {
      // Queue ahead (the least loaded backend's waiting requests per running one) x the recent
      // service time.
      const double budget = std::chrono::duration<double>(route.degrade.max_predicted_wait).count();
      const double predicted = load.fresh ? load.min_wait_per_running * st.service_seconds : 0;
      if (st.predicted_wait.ObserveLevel(predicted, budget, budget * 0.8, now)) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "the predicted wait on pool %s is %.1fs (budget %s)",
                      name.c_str(), predicted,
                      FormatDuration(route.degrade.max_predicted_wait).c_str());
        primary_failure_ = buf;
        return config::Trigger::kPredictedWait;
      }
    }
    return std::nullopt;
  }

  // Which trigger a failure of the primary (before the first byte) is, when the route degrades
  // on it.
  static std::optional<config::Trigger> TriggerForFailure(const config::RouteConfig& route,
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

  // Tries each fallback in order; the first that answers serves the request, marked with
  // x-infergate-degraded. When all fail, a 503 names the trigger and each fallback's failure.
  asio::awaitable<bool> Degrade(const config::RouteConfig& route, config::Trigger trigger,
                                BodyModel& model) {
    IsolationRuntime& iso = *snapshot_->isolation;
    model.Model();  // the client's model and stream flag, for answers the gateway writes
    if (const auto* f = model.fields()) {
      if (client_model_.empty() && f->model) client_model_ = *f->model;
      stream_requested_ = f->stream.value_or(false);
    }
    std::string reasons;
    for (size_t i = 0; i < route.fallbacks.size(); ++i) {
      const config::FallbackConfig& f = route.fallbacks[i];
      if (abort_) break;
      degraded_header_ = "x-infergate-degraded: ";
      degraded_header_.append(config::TriggerName(trigger));
      degraded_header_.append("; served-by=");
      degraded_header_.append(f.name);
      degraded_header_.append("\r\n");
      bool keep = false;
      std::optional<std::string> failed;
      switch (f.kind) {
        case config::FallbackConfig::Kind::kPool:
          failed = co_await FallbackPool(route, f, &keep);
          break;
        case config::FallbackConfig::Kind::kRunner:
          failed = co_await FallbackRunner(route, f, &keep);
          break;
        case config::FallbackConfig::Kind::kStatic:
          failed = co_await FallbackStatic(f, &keep);
          break;
      }
      if (!failed) {
        if (auto* c = iso.degraded(route_index_, trigger, i)) c->Inc();
        WarnDegraded(route, trigger, f.name);
        co_return keep;
      }
      if (abort_ == ErrorKind::kClientAbort) break;
      reasons += "; fallback " + f.name + ": " + *failed;
    }
    degraded_header_.clear();
    if (abort_ == ErrorKind::kClientAbort) {
      rec_.error = ErrorKind::kClientAbort;
      co_return false;
    }
    if (auto* c = iso.degrade_failed(route_index_, trigger)) c->Inc();
    Error err{ErrorKind::kFallbacksFailed, "route " + route.name + " is degraded (" +
                                               std::string(config::TriggerName(trigger)) + ": " +
                                               primary_failure_ + ")" + reasons};
    IG_WARN("rid=%s %s", request_id_.c_str(), err.message.c_str());
    bool keep = co_await SendError(err, false);
    co_return keep;
  }

  // Logged at most every 10 s per route and worker; every one is counted in
  // infergate_degraded_total.
  void WarnDegraded(const config::RouteConfig& route, config::Trigger trigger,
                    const std::string& served_by) {
    RouteDegradeState& st = ctx_.degrade[route_index_];
    if (!DueForWarning(st.last_warn)) return;
    IG_WARN("route %s degraded (%s: %s): served by %s", route.name.c_str(),
            std::string(config::TriggerName(trigger)).c_str(), primary_failure_.c_str(),
            served_by.c_str());
  }

  // Another pool, with its own compartment, model rewrite and retries. nullopt: it answered and
  // the response was streamed.
  asio::awaitable<std::optional<std::string>> FallbackPool(const config::RouteConfig& route,
                                                           const config::FallbackConfig& f,
                                                           bool* keep) {
    if (f.compartment) {
      Compartment& comp = snapshot_->isolation->compartment(*f.compartment);
      AdmitResult r = co_await AdmitTo(comp);
      if (r == AdmitResult::kAborted) co_return std::string("client went away");
      if (r != AdmitResult::kAdmitted) co_return "compartment " + comp.config->name + " is full";
    }
    if (f.rewrite_model) {
      std::string& body = decoder_.body();
      auto fields = routing::ExtractBodyFields(body, body.capacity());
      if (!fields || !fields->model)
        co_return std::string("the request body has no model to rewrite");
      routing::SpliceModel(body, *fields, *f.rewrite_model);
    }
    BuildUpstreamHead(decoder_.head());
    if (!TakeGate(f.pool)) co_return std::string("at its adaptive concurrency limit");
    BodyModel model(decoder_.body());
    rec_.pool = static_cast<int>(f.pool);
    std::optional<Error> failed = co_await TryPool(route, f.pool, model, /*degradable=*/true);
    if (failed) {
      ReleaseGate(std::nullopt);
      std::string why =
          failed->message.empty() ? std::string(DescribeError(failed->kind).code) : failed->message;
      co_return why;
    }
    *keep = co_await Stream(route);
    co_return std::nullopt;
  }

  // The head of an answer the gateway writes itself (static or runner): 200, JSON or SSE.
  void AppendOwnHead(bool stream, size_t content_length) {
    out_.append("HTTP/1.1 200 OK\r\n");
    if (stream) {
      out_.append("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
      if (client_version_ >= 11) {
        out_.append("Transfer-Encoding: chunked\r\n");
        out_chunked_ = true;
      } else {
        client_keep_alive_ = false;
        out_chunked_ = false;
      }
    } else {
      out_chunked_ = false;
      out_.append("Content-Type: application/json\r\nContent-Length: ");
      AppendUint(out_, content_length);
      out_.append("\r\n");
    }
    out_.append(degraded_header_);
    http::AppendHeader(out_, "x-request-id", request_id_);
    if (!client_keep_alive_) out_.append("Connection: close\r\n");
    out_.append("\r\n");
    rec_.status = 200;
    rec_.head_at = std::chrono::steady_clock::now();
  }

  // Appends response body bytes to out_, framed for the client.
  void AppendBody(std::string_view data) {
    rec_.body_bytes += data.size();
    if (out_chunked_) {
      http::AppendChunk(out_, data);
    } else {
      out_.append(data);
    }
  }

  // A streamed answer of the gateway's own: the head and the role event, in a fresh out_.
  void AppendOwnStreamStart(const degrade::ResponseMeta& meta) {
    out_.clear();
    AppendOwnHead(true, 0);
    AppendBody(degrade::RenderRoleEvent(meta));
  }

  // Its end: the finishing chunk, [DONE], and the chunked terminator.
  void AppendOwnStreamEnd(const degrade::ResponseMeta& meta) {
    AppendBody(degrade::RenderFinishEvent(meta));
    AppendBody(degrade::kDoneEvent);
    if (out_chunked_) out_.append(http::kLastChunk);
  }

  // A whole non-streamed answer of the gateway's own, head and body, in a fresh out_.
  void AppendOwnCompletion(const degrade::ResponseMeta& meta, std::string_view text,
                           size_t tokens) {
    std::string body = degrade::RenderCompletion(meta, text, static_cast<uint32_t>(tokens));
    out_.clear();
    AppendOwnHead(false, body.size());
    AppendBody(body);
  }

  // Writes out_ to the client. False when the client is gone.
  asio::awaitable<bool> FlushOut() {
    if (out_.empty()) co_return true;
    client_deadline_.Set(listener_.send_timeout, kTagSend, Self());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
    client_deadline_.Clear();
    out_.clear();
    if (ec) {
      Abort(ErrorKind::kClientAbort);
      rec_.error = ErrorKind::kClientAbort;
      co_return false;
    }
    rec_.response_started = true;
    co_return true;
  }

  degrade::ResponseMeta OwnMeta(const std::string& model) const {
    degrade::ResponseMeta meta;
    meta.chat = degrade::IsChatPath(decoder_.head().path);
    meta.id = degrade::MakeCompletionId(meta.chat, request_id_);
    meta.model = model;
    meta.created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    return meta;
  }

  // The configured text, in the OpenAI shape, streamed when the request asked for a stream.
  asio::awaitable<std::optional<std::string>> FallbackStatic(const config::FallbackConfig& f,
                                                             bool* keep) {
    degrade::ResponseMeta meta = OwnMeta(f.model.empty() ? client_model_ : f.model);
    std::vector<std::string_view> pieces = degrade::SplitTokens(f.text);
    if (stream_requested_) {
      AppendOwnStreamStart(meta);
      for (std::string_view piece : pieces) AppendBody(degrade::RenderDeltaEvent(meta, piece));
      AppendOwnStreamEnd(meta);
    } else {
      AppendOwnCompletion(meta, f.text, pieces.size());
    }
    bool ok = co_await FlushOut();
    *keep = ok && client_keep_alive_;
    co_return std::nullopt;
  }

  // The in-process runner on its compartment's thread pool; its pieces are streamed as they
  // come. Fails over to the next fallback only before the first piece.
  asio::awaitable<std::optional<std::string>> FallbackRunner(const config::RouteConfig& route,
                                                             const config::FallbackConfig& f,
                                                             bool* keep) {
    IsolationRuntime& iso = *snapshot_->isolation;
    const config::RunnerConfig& rc = snapshot_->config->runners[f.runner];
    Compartment& comp = iso.compartment(rc.compartment);
    if (!comp.bulkhead->TryAcquire(tier_)) {
      comp.metrics.rejected[tier_][0]->Inc();
      co_return "compartment " + comp.config->name + " is full";
    }
    comp.metrics.in_flight->Add(1);
    auto channel = std::make_shared<degrade::TokenChannel>(client_.get_executor());
    degrade::RunRequest run{client_model_, decoder_.body()};
    degrade::Runner* runner = &iso.runner(f.runner);
    Compartment* cp = &comp;
    std::shared_ptr<IsolationRuntime> keep_alive = snapshot_->isolation;
    bool submitted =
        comp.threads->TrySubmit([channel, run = std::move(run), runner, cp, keep_alive] {
          bool ok =
              runner->Generate(run, [&](std::string_view piece) { return channel->Push(piece); });
          channel->Close(ok);
          cp->Release();
        });
    if (!submitted) {
      comp.Release();
      co_return "the thread pool of compartment " + comp.config->name + " is full";
    }
    runner_channel_ = channel;
    degrade::ResponseMeta meta = OwnMeta(rc.model.empty() ? client_model_ : rc.model);
    std::string text;  // non-streamed answers are collected
    size_t pieces = 0;
    bool head_sent = false;
    up_deadline_.Set(route.timeouts.first_byte, kTagFirstByte, Self());
    while (true) {
      co_await channel->Wait();
      if (abort_) break;
      // closed() first: nothing is pushed after Close, so this Take gets every last piece.
      const bool closed = channel->closed();
      std::vector<std::string> got = channel->Take();
      if (!got.empty()) up_deadline_.Set(route.timeouts.idle, kTagIdle, Self());
      if (!head_sent && stream_requested_ && (!got.empty() || (closed && channel->ok()))) {
        AppendOwnStreamStart(meta);
        head_sent = true;
      }
      for (const std::string& piece : got) {
        ++pieces;
        if (stream_requested_) {
          AppendBody(degrade::RenderDeltaEvent(meta, piece));
        } else {
          text += piece;
        }
      }
      if (stream_requested_ && !out_.empty() && !(co_await FlushOut())) break;
      if (closed) break;
    }
    up_deadline_.Clear();
    runner_channel_.reset();
    channel->Cancel();
    if (abort_ == ErrorKind::kClientAbort || (abort_ && head_sent)) {
      rec_.error = *abort_;
      co_return std::nullopt;  // the exchange is over; nothing more can be sent
    }
    if (abort_) {
      std::string why = std::string(DescribeError(*abort_).code);
      abort_.reset();
      co_return "runner " + rc.name + ": " + why;
    }
    if (!channel->ok()) {
      if (!head_sent) co_return "runner " + rc.name + " failed";
      rec_.error = ErrorKind::kUpstreamBodyBroken;  // cut mid-stream: no clean end
      co_return std::nullopt;
    }
    if (stream_requested_) {
      AppendOwnStreamEnd(meta);
    } else {
      AppendOwnCompletion(meta, text, pieces);
    }
    bool ok = co_await FlushOut();
    *keep = ok && client_keep_alive_;
    co_return std::nullopt;
  }

  // Pick and forward on one pool, with the route's retries before the first byte. nullopt: a
  // response head arrived and is in out_, ready to stream. With `degradable`, a retryable status
  // left after the last try is a failure (the next fallback may answer) rather than forwarded.
  asio::awaitable<std::optional<Error>> TryPool(const config::RouteConfig& route, size_t pool_index,
                                                BodyModel& model, bool degradable) {
    const http::RequestHead& req = decoder_.head();
    upstream::PoolRuntime& pool = ctx_.upstreams->pool(pool_index);
    std::optional<uint64_t> affinity = AffinityKey(pool.config(), req, model);
    EndBudget();
    resilience::RetryBudget& budget = pool.retry_budget();
    budget.RequestStarted();
    budget_ = &budget;
    std::array<size_t, 8> tried{};
    size_t tried_count = 0;
    int retries_left = route.retries;
    bool stale_retry_used = false;
    std::optional<Error> last_error;
    int backend = -1;
    while (true) {
      if (abort_) break;
      if (backend < 0) {
        backend =
            pool.Pick(ThreadRng(), std::span<const size_t>(tried.data(), tried_count), affinity);
        if (backend < 0 && tried_count > 0) backend = pool.Pick(ThreadRng(), {}, affinity);
        if (backend < 0) {
          last_error =
              Error{ErrorKind::kNoBackend, "no backend of pool " + pool.config().name +
                                               " is available (all down, suspected, ejected, "
                                               "behind open breakers or drained)"};
          break;
        }
      }
      auto result = co_await Attempt(pool, pool_index, static_cast<size_t>(backend), route);
      std::optional<Duration> wait;
      if (!result) {
        // A response head arrived. Retry it only for a configured status, within the budget.
        if (!IsRetryStatus(rec_.status, route.retry)) break;
        std::optional<Duration> retry_after;
        bool may_retry = retries_left > 0;
        if (may_retry && !retry_after_.empty()) {
          retry_after = resilience::ParseRetryAfter(retry_after_, std::chrono::system_clock::now(),
                                                    Duration::max());
          if (retry_after && *retry_after > route.retry.max_retry_after) may_retry = false;
        }
        if (may_retry && !budget.TryStartRetry()) {
          BudgetExhausted(pool.config());
          may_retry = false;
        }
        if (!may_retry) {
          if (!degradable) break;  // forward it as it is
          last_error = Error{ErrorKind::kBadUpstreamResponse,
                             "pool " + pool.config().name + " answered " +
                                 std::to_string(rec_.status) + " on every try"};
          DiscardResponse();
          break;
        }
        ++retries_started_;
        wait = retry_after;
        DiscardResponse();
        last_error = Error{ErrorKind::kBadUpstreamResponse, ""};
      } else {
        last_error = *result;
        if (abort_ == ErrorKind::kClientAbort || abort_ == ErrorKind::kTotalTimeout) break;
        abort_.reset();
        const bool retryable = DescribeError(last_error->kind).retryable ||
                               (last_error->kind == ErrorKind::kFirstByteTimeout &&
                                route.retry.per_try_timeout > Duration::zero());
        if (!retryable) break;
        if (attempt_reused_ && !stale_retry_used && last_error->kind == ErrorKind::kUpstreamReset) {
          // A kept-alive connection reset before any answer: the backend had closed it while idle
          // (its other idle connections are likely stale too), or it died. One fresh connection
          // to the same backend, free of retries and budget, tells which: if it died, that
          // connect is refused and retried elsewhere without drawing on the budget.
          stale_retry_used = true;
          pool.backend(static_cast<size_t>(backend)).idle.clear();
          continue;
        }
        if (retries_left <= 0) break;
        // A request that never reached a backend (refused, connect timeout) adds no work to any
        // backend when retried: only `retries` bounds it. The budget caps retries of requests a
        // backend may have worked on, so a backend crash with many requests in flight fails over
        // without errors while an overload is not multiplied.
        const bool reached_backend = last_error->kind != ErrorKind::kConnectFailed &&
                                     last_error->kind != ErrorKind::kConnectTimeout;
        if (reached_backend) {
          if (!budget.TryStartRetry()) {
            BudgetExhausted(pool.config());
            break;
          }
          ++retries_started_;
        }
      }
      --retries_left;
      if (tried_count < tried.size()) tried[tried_count++] = static_cast<size_t>(backend);
      backend = -1;
      // Exponential backoff with full jitter, or the backend's Retry-After.
      Duration delay =
          wait ? *wait
               : resilience::BackoffDelay({route.retry.backoff_base, route.retry.backoff_max},
                                          static_cast<uint32_t>(retries_started_), ThreadRng());
      if (delay > Duration::zero()) {
        backoff_timer_.expires_after(delay);
        co_await backoff_timer_.async_wait(kNoThrow);
      }
    }
    if (rec_.head_at.time_since_epoch().count()) co_return std::nullopt;
    if (abort_ == ErrorKind::kClientAbort) co_return Error{ErrorKind::kClientAbort, ""};
    Error err = abort_ ? Error{*abort_, ""} : last_error.value_or(Error{ErrorKind::kInternal, ""});
    if (err.kind == ErrorKind::kBadUpstreamResponse && err.message.empty())
      err.message = "every retry was refused";
    if (err.message.empty()) err.message = AbortMessage(err.kind, route);
    // A fallback may run next: the attempt's timeouts are over (a total timeout is not).
    if (abort_ != ErrorKind::kTotalTimeout) abort_.reset();
    co_return err;
  }

  // Ends this exchange's claim on a pool's retry budget.
  void EndBudget() {
    if (!budget_) return;
    for (; retries_started_ > 0; --retries_started_) budget_->EndRetry();
    budget_->RequestEnded();
    budget_ = nullptr;
  }

  // A retry refused by the pool's budget: counted every time, logged at most every 10 s per worker.
  // True at most once per 10 s per worker for each `last` clock (a rate limit for warnings).
  static bool DueForWarning(std::chrono::steady_clock::time_point& last) {
    auto now = std::chrono::steady_clock::now();
    if (last != std::chrono::steady_clock::time_point{} && now - last < std::chrono::seconds(10))
      return false;
    last = now;
    return true;
  }

  void BudgetExhausted(const config::PoolConfig& pool) {
    snapshot_->metrics.retry_budget_exhausted->Inc();
    thread_local std::chrono::steady_clock::time_point last_log{};
    if (DueForWarning(last_log)) {
      IG_WARN(
          "pool %s: retry budget spent (%.0f%% of active requests, at least %u): failing without "
          "retrying",
          pool.name.c_str(), pool.retry_budget.budget_percent,
          pool.retry_budget.min_retry_concurrency);
    }
  }

  static bool IsRetryStatus(int status, const config::RetryPolicy& policy) {
    return std::find(policy.on_status.begin(), policy.on_status.end(), status) !=
           policy.on_status.end();
  }

  // The session key for consistent hashing, when the pool asks for affinity.
  static std::optional<uint64_t> AffinityKey(const config::PoolConfig& pool,
                                             const http::RequestHead& req, BodyModel& model) {
    using Source = config::AffinityConfig::Source;
    if (pool.affinity.source == Source::kHeader) {
      std::string_view v = req.Get(pool.affinity.header);
      if (!v.empty()) return resilience::Hash64(v);
    } else if (pool.affinity.source == Source::kBodyUser) {
      model.Model();  // parses the body once if no route did
      const auto* f = model.fields();
      if (f && f->user) return resilience::Hash64(*f->user);
    }
    return std::nullopt;
  }

  // Drops a response head (and any body) that is about to be retried; the client sees nothing.
  void DiscardResponse() {
    out_.clear();
    rec_.head_at = {};
    rec_.status = 0;
    ReleaseBackend();
    up_.reset();
  }

  std::string AbortMessage(ErrorKind kind, const config::RouteConfig& route) {
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
        return "the backend paused longer than " + FormatDuration(route.timeouts.idle) +
               " (route " + route.name + " timeouts.idle)";
      default:
        return std::string(DescribeError(kind).code);
    }
  }

  // One upstream attempt up to the response head. nullopt: a head arrived (rec_.head_at set).
  asio::awaitable<std::optional<Error>> Attempt(upstream::PoolRuntime& pool, size_t pool_index,
                                                size_t b, const config::RouteConfig& route) {
    upstream::BackendRuntime& be = pool.backend(b);
    rec_.backend = static_cast<int>(b);
    ++rec_.attempts;
    pool_ = &pool;
    pool_index_ = pool_index;
    ++be.in_flight;
    backend_released_ = false;
    snapshot_->metrics.backends[pool_index][b].in_flight->Add(1);
    AttemptRecord attempt;
    attempt.pool = pool_index;
    attempt.backend = b;
    attempt.shared = be.shared;
    const auto attempt_start = std::chrono::steady_clock::now();

    up_ = pool.TakeIdle(b);
    attempt_reused_ = up_ != nullptr;
    attempt.reused_connection = attempt_reused_;
    std::optional<Error> failure;
    if (!up_) {
      up_ = std::make_unique<upstream::UpstreamConnection>(client_.get_executor(), b);
      if (be.endpoints.empty()) {
        failure = Error{ErrorKind::kConnectFailed,
                        "backend " + be.config->name + " could not be resolved"};
      } else {
        up_deadline_.Set(pool.config().connect_timeout, kTagConnect, Self());
        auto [ec, ep] = co_await asio::async_connect(up_->socket, be.endpoints, kNoThrow);
        up_deadline_.Clear();
        if (abort_) {
          failure = Error{*abort_, ""};
        } else if (ec) {
          failure = Error{ErrorKind::kConnectFailed,
                          "could not connect to backend " + be.config->name + ": " + ec.message()};
        } else {
          error_code ignored;
          up_->socket.set_option(tcp::no_delay(true), ignored);
        }
      }
    }
    if (!failure) {
      up_deadline_.Set(route.retry.per_try_timeout > Duration::zero() ? route.retry.per_try_timeout
                                                                      : route.timeouts.first_byte,
                       kTagFirstByte, Self());
      std::array<asio::const_buffer, 4> bufs = {
          asio::buffer(up_request_line_), asio::buffer(be.host_header), asio::buffer(up_headers_),
          asio::buffer(decoder_.body())};
      auto [ec, n] = co_await asio::async_write(up_->socket, bufs, kNoThrow);
      if (abort_) {
        failure = Error{*abort_, ""};
      } else if (ec) {
        failure = Error{ErrorKind::kUpstreamReset,
                        "backend " + be.config->name + " reset the connection: " + ec.message()};
      }
    }
    if (!failure) {
      ++up_->requests;
      resp_.Start(req_is_head_);
      out_.clear();
      informational_ = false;
      while (!resp_.head_done() || informational_) {
        if (informational_) {
          // A 1xx (e.g. 103 Early Hints) ended; the real response may already be buffered.
          resp_.Start(req_is_head_);
          informational_ = false;
          feed_buffered_ = up_->begin < up_->end;
        }
        auto err = co_await ReadUpstreamOnce();
        if (err) {
          failure = std::move(err);
          break;
        }
      }
    }
    attempt.ttfb = std::chrono::steady_clock::now() - attempt_start;
    if (failure) {
      attempt.error = failure->kind;
      RecordAttempt(*snapshot_, attempt);
      ReleaseBackend();
      up_.reset();  // closes the socket
      co_return failure;
    }
    attempt.status = rec_.status;
    RecordAttempt(*snapshot_, attempt);
    co_return std::nullopt;
  }

  // Reads once from the backend and feeds the response decoder (the sink fills out_).
  asio::awaitable<std::optional<Error>> ReadUpstreamOnce() {
    auto& c = *up_;
    if (feed_buffered_) {
      feed_buffered_ = false;
      co_return FeedUpstream();
    }
    if (c.buf.empty()) c.buf.resize(kUpstreamBufferSize);
    if (c.begin == c.end) {
      c.begin = c.end = 0;
    } else if (c.end == c.buf.size()) {
      std::memmove(c.buf.data(), c.buf.data() + c.begin, c.end - c.begin);
      c.end -= c.begin;
      c.begin = 0;
      if (c.end == c.buf.size()) c.buf.resize(c.buf.size() * 2);
    }
    auto [ec, n] = co_await c.socket.async_read_some(
        asio::buffer(c.buf.data() + c.end, c.buf.size() - c.end), kNoThrow);
    if (abort_) co_return Error{*abort_, ""};
    c.end += n;
    if (n > 0) {
      if (auto* shared = pool_->backend(c.backend).shared)
        shared->Evidence(std::chrono::steady_clock::now());
      co_return FeedUpstream();
    }
    if (ec == asio::error::eof) {
      auto st = resp_.FeedEof(*this);
      if (!st) co_return st.error();
      resp_complete_ = true;
      co_return std::nullopt;
    }
    if (!resp_.head_done()) {
      co_return Error{ErrorKind::kUpstreamReset,
                      "backend " + CurrentBackendName() + " reset the connection: " + ec.message()};
    }
    co_return Error{ErrorKind::kUpstreamBodyBroken,
                    "backend " + CurrentBackendName() + " broke the response: " + ec.message()};
  }

  // Feeds the backend's buffered bytes to the response decoder; the sink fills out_.
  std::optional<Error> FeedUpstream() {
    auto& c = *up_;
    size_t used = 0;
    auto st = resp_.Feed(std::string_view(c.buf.data() + c.begin, c.end - c.begin), &used, *this);
    c.begin += used;
    if (!st) return st.error();
    if (*st == http::ResponseDecoder::Status::kComplete) resp_complete_ = true;
    return std::nullopt;
  }

  std::string CurrentBackendName() {
    return up_ && pool_ ? pool_->backend(up_->backend).config->name : std::string("?");
  }

  // Streams the rest of the response. The head is in out_ already.
  asio::awaitable<bool> Stream(const config::RouteConfig& route) {
    while (true) {
      if (resp_complete_ && out_chunked_) out_.append(http::kLastChunk);
      if (!(co_await FlushOut())) co_return false;
      if (resp_complete_) break;
      up_deadline_.Set(route.timeouts.idle, kTagIdle, Self());
      auto err = co_await ReadUpstreamOnce();
      up_deadline_.Clear();
      if (err) {
        // Mid-stream failure: the client must see an abnormal end, never a clean one.
        rec_.error = abort_ ? *abort_ : err->kind;
        if (rec_.error != ErrorKind::kClientAbort) {
          IG_WARN("rid=%s route=%s: response cut mid-stream (%s); closing the client connection",
                  request_id_.c_str(), route.name.c_str(),
                  std::string(DescribeError(*rec_.error).name).c_str());
          rec_.error =
              rec_.error == ErrorKind::kIdleTimeout || rec_.error == ErrorKind::kTotalTimeout
                  ? *rec_.error
                  : ErrorKind::kUpstreamBodyBroken;
          AttemptRecord broken;
          broken.pool = pool_index_;
          broken.backend = up_->backend;
          broken.shared = pool_->backend(up_->backend).shared;
          broken.error = rec_.error;
          broken.status = rec_.status;
          RecordAttempt(*snapshot_, broken);
        }
        if (!out_.empty() && rec_.error != ErrorKind::kClientAbort) {
          // Deliver what arrived before the failure (without any terminator).
          client_deadline_.Set(listener_.send_timeout, kTagSend, Self());
          co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
          client_deadline_.Clear();
        }
        ReleaseBackend();
        up_.reset();
        co_return false;
      }
    }
    // Complete: keep the backend connection when it can carry another request.
    const bool reusable = resp_.reusable() && up_->begin == up_->end && !abort_;
    ReleaseBackend();
    if (reusable) {
      pool_->ReturnIdle(std::move(up_));
    } else {
      up_.reset();
    }
    co_return !close_delimited_out_;
  }

  void ReleaseBackend() {
    if (!up_ || !pool_ || backend_released_) return;
    auto& be = pool_->backend(up_->backend);
    if (be.in_flight > 0) --be.in_flight;
    snapshot_->metrics.backends[pool_index_][up_->backend].in_flight->Add(-1);
    backend_released_ = true;
  }

  // Ends the exchange early: timeouts, client disconnects. Closing the backend socket makes
  // the model server stop generating.
  void Abort(ErrorKind kind) {
    if (!exchange_active_) return;
    if (!abort_) abort_ = kind;
    backoff_timer_.cancel();
    if (runner_channel_) runner_channel_->Cancel();
    if (up_) {
      error_code ignored;
      up_->socket.close(ignored);
    }
  }

  // ---- building messages

  void BuildUpstreamHead(const http::RequestHead& req) {
    req_is_head_ = req.method == "HEAD";
    up_request_line_.clear();
    up_request_line_.append(req.method);
    up_request_line_ += ' ';
    std::string_view target = req.target;
    if (!target.empty() && target.front() != '/') {
      size_t at = target.find(req.path);
      target = at == std::string_view::npos ? req.path : target.substr(at);
    }
    up_request_line_.append(target);
    up_request_line_.append(" HTTP/1.1\r\nHost: ");
    up_headers_.clear();
    up_headers_.append("\r\n");
    std::string_view connection = req.Get("connection");
    std::string_view xff;
    bool has_xfh = false;
    for (const auto& h : req.headers) {
      std::string_view n = h.name;
      if (http::IsHopByHop(n, connection) || IEquals(n, "host") || IEquals(n, "content-length") ||
          IEquals(n, "expect") || IEquals(n, "x-request-id") || IEquals(n, "x-forwarded-proto")) {
        continue;
      }
      if (IEquals(n, "x-forwarded-for")) {
        xff = h.value;
        continue;
      }
      if (IEquals(n, "x-forwarded-host")) has_xfh = true;
      http::AppendHeader(up_headers_, n, h.value);
    }
    up_headers_.append("x-forwarded-for: ");
    if (!xff.empty()) {
      up_headers_.append(xff);
      up_headers_.append(", ");
    }
    up_headers_.append(client_ip_);
    up_headers_.append("\r\nx-forwarded-proto: http\r\n");
    if (!has_xfh && !req.host.empty())
      http::AppendHeader(up_headers_, "x-forwarded-host", req.host);
    http::AppendHeader(up_headers_, "x-request-id", request_id_);
    const std::string& body = decoder_.body();
    if (!body.empty() || req.content_length || req.chunked) {
      up_headers_.append("content-length: ");
      AppendUint(up_headers_, body.size());
      up_headers_.append("\r\n");
    }
    up_headers_.append("\r\n");
  }

  // ResponseSink: the backend's head becomes the client's head.
  void OnHead(const http::ResponseHead& h) override {
    if (h.status < 200) {
      informational_ = true;  // 1xx from the backend: not forwarded
      return;
    }
    rec_.head_at = std::chrono::steady_clock::now();
    rec_.status = h.status;
    retry_after_.assign(FindHeader(h.headers, "retry-after"));
    up_deadline_.Clear();
    out_chunked_ = false;
    close_delimited_out_ = false;
    resp_complete_ = false;
    out_.append("HTTP/1.1 ");
    AppendUint(out_, static_cast<uint64_t>(h.status));
    out_ += ' ';
    out_.append(h.reason.empty() ? http::ReasonPhrase(h.status) : h.reason);
    out_.append("\r\n");
    std::string_view connection = FindHeader(h.headers, "connection");
    for (const auto& f : h.headers) {
      if (http::IsHopByHop(f.name, connection) || IEquals(f.name, "x-request-id")) continue;
      if (IEquals(f.name, "content-length") && h.has_body) continue;
      http::AppendHeader(out_, f.name, f.value);
    }
    if (h.has_body) {
      if (h.content_length) {
        out_.append("Content-Length: ");
        AppendUint(out_, *h.content_length);
        out_.append("\r\n");
      } else if (client_version_ >= 11) {
        out_.append("Transfer-Encoding: chunked\r\n");
        out_chunked_ = true;
      } else {
        close_delimited_out_ = true;
        client_keep_alive_ = false;
      }
    }
    http::AppendHeader(out_, "x-request-id", request_id_);
    out_.append(degraded_header_);
    if (!client_keep_alive_) {
      out_.append("Connection: close\r\n");
    } else if (client_version_ < 11) {
      out_.append("Connection: keep-alive\r\n");
    }
    out_.append("\r\n");
  }

  void OnBody(std::string_view data) override {
    if (!informational_) AppendBody(data);
  }

  // Sends a gateway error in the OpenAI shape. Returns whether the connection may be reused.
  asio::awaitable<bool> SendError(const Error& err, bool close) {
    const ErrorInfo& info = DescribeError(err.kind);
    rec_.error = err.kind;
    if (!exchange_active_) {
      // Errors while reading the request are recorded here; exchanges record in Exchange().
      ExchangeRecord r;
      r.start = std::chrono::steady_clock::now();
      r.status = info.status;
      r.error = err.kind;
      request_id_.clear();
      AppendHex64(request_id_, ThreadRng().Next());
      AppendHex64(request_id_, ThreadRng().Next());
      RecordExchange(*snapshot_, r, "-", "-", request_id_);
    }
    if (err.kind == ErrorKind::kClientAbort) co_return false;
    rec_.status = info.status;
    if (close) client_keep_alive_ = false;
    std::string body =
        OpenAiErrorBody(err.kind, err.message.empty() ? std::string(info.code) : err.message);
    out_.clear();
    out_.append("HTTP/1.1 ");
    AppendUint(out_, static_cast<uint64_t>(info.status));
    out_ += ' ';
    out_.append(http::ReasonPhrase(info.status));
    out_.append("\r\nContent-Type: application/json\r\nContent-Length: ");
    AppendUint(out_, body.size());
    out_.append("\r\n");
    http::AppendHeader(out_, "x-request-id", request_id_);
    out_.append(extra_headers_);
    extra_headers_.clear();
    if (!client_keep_alive_) out_.append("Connection: close\r\n");
    out_.append("\r\n");
    out_.append(body);
    client_deadline_.Set(listener_.send_timeout, kTagSend, Self());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
    client_deadline_.Clear();
    out_.clear();
    if (ec) co_return false;
    rec_.response_started = true;
    if (close) linger_ = true;
    co_return client_keep_alive_;
  }

  WorkerContext& ctx_;
  std::shared_ptr<const Snapshot> snapshot_;
  const config::ListenerConfig& listener_;
  tcp::socket client_;
  std::string client_ip_;
  http::RequestDecoder decoder_;

  // Client reads.
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  bool read_pending_ = false;
  error_code read_ec_;
  asio::steady_timer read_event_;

  Deadline client_deadline_;
  Deadline up_deadline_;
  Deadline total_deadline_;
  int client_timeout_tag_ = 0;

  // Exchange state.
  bool exchange_active_ = false;
  std::optional<ErrorKind> abort_;
  ExchangeRecord rec_;
  std::string request_id_;
  bool client_keep_alive_ = true;
  int client_version_ = 11;
  bool req_is_head_ = false;
  std::string up_request_line_;
  std::string up_headers_;
  upstream::PoolRuntime* pool_ = nullptr;
  size_t pool_index_ = 0;
  std::unique_ptr<upstream::UpstreamConnection> up_;
  bool attempt_reused_ = false;
  bool backend_released_ = false;
  http::ResponseDecoder resp_;
  bool informational_ = false;
  bool feed_buffered_ = false;
  bool resp_complete_ = false;
  bool out_chunked_ = false;
  bool close_delimited_out_ = false;
  std::string out_;
  bool linger_ = false;
  std::string retry_after_;
  asio::steady_timer backoff_timer_{client_.get_executor()};
  resilience::RetryBudget* budget_ = nullptr;
  int retries_started_ = 0;

  // Isolation and degradation state of the exchange.
  size_t route_index_ = 0;
  std::optional<size_t> tenant_;
  size_t tier_ = 0;
  std::array<Compartment*, 3> held_{};  // compartment slots held (tenant, route, fallback)
  size_t held_count_ = 0;
  bool full_degrades_ = false;       // the full compartment degrades rather than rejects
  bool predicted_wait_ = false;      // the route's queue predicted a wait over its budget
  double predicted_queue_wait_ = 0;  // seconds
  isolation::AdaptiveGate* gate_ = nullptr;
  std::chrono::steady_clock::time_point gate_start_{};
  std::string extra_headers_;    // added to the next gateway error (Retry-After, ...)
  std::string degraded_header_;  // "x-infergate-degraded: ...\r\n" on a degraded answer
  std::string primary_failure_;  // why the primary did not serve, for logs and the 503
  std::string client_model_;     // the model the client asked for
  bool stream_requested_ = false;
  bool served_by_primary_ = false;
  std::shared_ptr<degrade::TokenChannel> runner_channel_;
};

}  // namespace

void ServeConnection(WorkerContext& ctx, size_t listener, tcp::socket socket) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Connection>(ctx, listener, std::move(socket))->Start();
}

}  // namespace infergate::proxy
