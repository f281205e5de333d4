// Phases: pick and forward. A backend of the pool through its load balancer (health, breakers,
// ejection filter it), held as a lease; the request through the upstream-stream seam; retries
// before the first byte, within the route's count and the pool's budget.
#include <algorithm>
#include <array>
#include <span>

#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"
#include "infergate/resilience/backoff.h"
#include "infergate/resilience/hash_ring.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {
namespace asio = boost::asio;

namespace {

bool IsRetryStatus(int status, const config::RetryPolicy& policy) {
  return std::find(policy.on_status.begin(), policy.on_status.end(), status) !=
         policy.on_status.end();
}

// The session key for consistent hashing, when the pool asks for affinity.
std::optional<uint64_t> AffinityKey(const config::PoolConfig& pool, const http::Request& req,
                                    routing::BodyModel& model) {
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

// A retry refused by the pool's budget: counted every time, logged at most every 10 s per worker.
void BudgetExhausted(const Snapshot& snap, const config::PoolConfig& pool, TimePoint now) {
  snap.metrics.retry_budget_exhausted->Inc();
  thread_local TimePoint last_log{};
  if (last_log != TimePoint{} && now - last_log < std::chrono::seconds(10)) return;
  last_log = now;
  IG_WARN(
      "pool %s: retry budget spent (%.0f%% of active requests, at least %u): failing without "
      "retrying",
      pool.name.c_str(), pool.retry_budget.budget_percent, pool.retry_budget.min_retry_concurrency);
}

}  // namespace

asio::awaitable<PhaseResult> Exchange::TryPool(const config::RouteConfig& route, size_t pool_index,
                                               routing::BodyModel& model, bool degradable) {
  upstream::PoolRuntime& pool = view_->upstreams->pool(pool_index);
  std::optional<uint64_t> affinity = AffinityKey(pool.config(), *req_, model);
  EndBudget();
  resilience::RetryBudget& budget = pool.retry_budget();
  budget.RequestStarted();
  budget_ = &budget;
  std::array<size_t, 8> tried{};  // the backends to avoid on a retry (the first 8 tried)
  size_t tried_count = 0;
  int retries_left = route.retries;
  bool stale_retry_used = false;
  std::optional<Error> last_error;
  int backend = -1;
  Rng& rng = *env_.rng;
  while (true) {
    if (abort_) break;
    if (backend < 0) {
      backend = pool.Pick(rng, std::span<const size_t>(tried.data(), tried_count), affinity);
      if (backend < 0 && tried_count > 0) backend = pool.Pick(rng, {}, affinity);
      if (backend < 0) {
        last_error = Error{ErrorKind::kNoBackend, "no backend of pool " + pool.config().name +
                                                      " is available (all down, suspected, "
                                                      "ejected, behind open breakers or drained)"};
        break;
      }
    }
    PhaseResult result = co_await Attempt(pool, pool_index, static_cast<size_t>(backend), route);
    std::optional<Duration> wait;
    if (!result) {
      // A response head arrived. Retry it only for a configured status, within the budget.
      if (!IsRetryStatus(rec_.status, route.retry)) break;
      bool may_retry = retries_left > 0;
      if (may_retry && !retry_after_.empty()) {
        wait = resilience::ParseRetryAfter(retry_after_, std::chrono::system_clock::now(),
                                           Duration::max());
        if (wait && *wait > route.retry.max_retry_after) may_retry = false;
      }
      if (may_retry && !budget.TryStartRetry()) {
        BudgetExhausted(*snapshot_, pool.config(), env_.timers->Now());
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
          BudgetExhausted(*snapshot_, pool.config(), env_.timers->Now());
          break;
        }
        ++retries_started_;
      }
    }
    --retries_left;
    if (tried_count < tried.size()) tried[tried_count++] = static_cast<size_t>(backend);
    backend = -1;
    // Exponential backoff with full jitter, or the backend's Retry-After.
    const Duration delay =
        wait ? *wait
             : resilience::BackoffDelay({route.retry.backoff_base, route.retry.backoff_max},
                                        static_cast<uint32_t>(retries_started_), rng);
    co_await Sleep(delay);
  }
  if (rec_.head_at != TimePoint{}) co_return std::nullopt;
  if (abort_ == ErrorKind::kClientAbort) co_return Error{ErrorKind::kClientAbort, ""};
  Error err = abort_ ? Error{*abort_, ""} : last_error.value_or(Error{ErrorKind::kInternal, ""});
  if (err.kind == ErrorKind::kBadUpstreamResponse && err.message.empty())
    err.message = "every retry was refused";
  if (err.message.empty()) err.message = AbortMessage(err.kind, route);
  // A fallback may run next: the attempt's timeouts are over (a total timeout is not).
  if (abort_ != ErrorKind::kTotalTimeout) abort_.reset();
  co_return err;
}

// One upstream attempt up to the response head. nullopt: a head arrived (rec_.head_at set) and
// was written to the server stream, unflushed.
asio::awaitable<PhaseResult> Exchange::Attempt(upstream::PoolRuntime& pool, size_t pool_index,
                                               size_t b, const config::RouteConfig& route) {
  rec_.backend = static_cast<int>(b);
  ++rec_.attempts;
  lease_.emplace(*snapshot_, pool, pool_index, b);
  AttemptRecord attempt;
  attempt.pool = pool_index;
  attempt.backend = b;
  attempt.shared = pool.backend(b).shared;
  const TimePoint attempt_start = env_.timers->Now();

  up_ = env_.upstream->Open(pool, b);
  attempt_reused_ = up_->reused();
  attempt.reused_connection = attempt_reused_;
  PhaseResult failure;
  if (!attempt_reused_) {
    up_deadline_.Set(pool.config().connect_timeout, Tag(ErrorKind::kConnectTimeout));
    failure = co_await up_->Connect();
    up_deadline_.Clear();
    if (abort_) failure = Error{*abort_, ""};
  }
  if (!failure) {
    up_deadline_.Set(route.retry.per_try_timeout > Duration::zero() ? route.retry.per_try_timeout
                                                                    : route.timeouts.first_byte,
                     Tag(ErrorKind::kFirstByteTimeout));
    UpstreamRequest request{req_,
                            {server_->client_address(), server_->secure() ? "https" : "http",
                             request_id_, trace_.traceparent(), !trace_.continued}};
    failure = co_await up_->Send(request, *this);
    if (abort_) failure = Error{*abort_, ""};
  }
  attempt.ttfb = env_.timers->Now() - attempt_start;
  if (failure && rec_.head_at != TimePoint{}) {
    // The head arrived and the body broke in the same read: nothing reached the client yet, so
    // the head is dropped and the attempt counts as failed (it may be retried).
    server_->Discard();
    rec_.head_at = {};
    rec_.status = 0;
  }
  if (failure) {
    attempt.error = failure->kind;
    lease_->Record(attempt);
    lease_.reset();
    DropUpstream();  // closes the connection
    co_return failure;
  }
  attempt.status = rec_.status;
  lease_->Record(attempt);
  co_return std::nullopt;
}

// Drops a response head (and any body) that is about to be retried; the client sees nothing.
void Exchange::DiscardResponse() {
  server_->Discard();
  rec_.head_at = {};
  rec_.status = 0;
  lease_.reset();
  DropUpstream();
}

void Exchange::DropUpstream() {
  if (up_) env_.upstream->Recycle(std::move(up_));
}

// Ends this exchange's claim on a pool's retry budget.
void Exchange::EndBudget() {
  if (!budget_) return;
  for (; retries_started_ > 0; --retries_started_) budget_->EndRetry();
  budget_->RequestEnded();
  budget_ = nullptr;
}

}  // namespace infergate::exchange
