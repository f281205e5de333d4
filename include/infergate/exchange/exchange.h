// The exchange: one request's way through the gateway, as named phases behind the two seams.
//   own      (cors.cc, models.cc)  CORS preflights and GET /v1/models, answered before routing
//   route    (route.cc)     the route table of the snapshot taken for this request
//   admit    (admit.cc)     tenant, compartments (slots that release themselves), the pool gate
//   pick + forward (forward.cc)  a backend lease, the upstream stream, retries before the first
//                                byte within the budget
//   stream   (stream.cc)    each body piece to the server stream as it arrives
//   degrade  (degrade.cc)   the fallback chain: another pool, a runner, a static answer
//   finish   (finish.cc)    one record of how the exchange ended
// The exchange never writes protocol bytes: it talks to a ServerStream and UpstreamStreams.
// Time and randomness come from its Env, so unit tests drive it with fakes and a manual clock.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "infergate/core/error.h"
#include "infergate/core/random.h"
#include "infergate/exchange/context.h"
#include "infergate/exchange/counting_stream.h"
#include "infergate/exchange/finish.h"
#include "infergate/exchange/server_stream.h"
#include "infergate/exchange/timers.h"
#include "infergate/exchange/upstream_stream.h"
#include "infergate/exchange/usage_tap.h"
#include "infergate/http/trace_context.h"
#include "infergate/isolation/runtime.h"
#include "infergate/routing/body_model.h"
#include "infergate/routing/route_table.h"

namespace infergate::degrade {
class TokenChannel;
}

namespace infergate::exchange {

// What an exchange reads from its surroundings.
struct Env {
  WorkerContext* worker = nullptr;
  Timers* timers = nullptr;
  Rng* rng = nullptr;
  UpstreamConnector* upstream = nullptr;
  boost::asio::any_io_executor executor;
};

// The upstream deadlines' tag is the timeout's error kind (connect, first byte, idle, total).
inline int Tag(ErrorKind timeout) { return static_cast<int>(timeout); }

// The result of a phase that can end the exchange: nullopt to go on, or the error that ends it
// (its kind knows its source and whether a retry is allowed: DescribeError).
using PhaseResult = std::optional<Error>;

class Exchange : private ResponseEvents {
 public:
  explicit Exchange(const Env& env);
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Runs one request on `stream` to its end and records how it ended. The config snapshot is
  // the worker's current one when Run starts, kept to the end.
  boost::asio::awaitable<void> Run(ServerStream& stream);

  const ExchangeRecord& record() const { return rec_; }
  std::string_view request_id() const { return request_id_; }

 private:
  enum class AdmitResult { kAdmitted, kFull, kTimeout, kEvicted, kAborted, kPredictedWait };

  // ---- phases
  boost::asio::awaitable<void> Forward();                                       // exchange.cc
  PhaseResult Route(routing::BodyModel& model);                                 // route.cc
  boost::asio::awaitable<PhaseResult> Admit(const config::RouteConfig& route);  // admit.cc
  PhaseResult Identify();  // admit.cc: the tenant; 401 where the listener requires a key
  // limits.cc: rate limits from the head (key, tenant: Identify first; the route's requests
  // when the head alone decides the route), after routing (route, model, tokens), the
  // correction when the exchange ends, and the x-ratelimit-* headers.
  PhaseResult LimitHead();
  PhaseResult LimitRouteHead();
  PhaseResult LimitRouted(routing::BodyModel& model);
  void SettleLimits();
  PhaseResult Refuse(const isolation::RateRefusal& refusal);
  void NoteShadow(const std::optional<isolation::RateRefusal>& shadow);
  void RateHeadersChanged();
  void AddRateHeaders(std::vector<HeaderField>& headers);
  // models.cc: GET and HEAD of /v1/models and /v1/models/{id}, answered after Identify.
  boost::asio::awaitable<void> AnswerModels(std::string_view id);
  // cors.cc: the listener's CORS policy for this request's Origin (the headers every answer
  // gets, through counting_); true when the request is a preflight, answered by Preflight.
  bool PrepareCors();
  boost::asio::awaitable<void> Preflight();
  boost::asio::awaitable<AdmitResult> AdmitTo(isolation::Compartment& comp,
                                              isolation::CompartmentSlot& slot,
                                              double wait_budget = 0);
  bool TakeGate(size_t pool_index);
  // forward.cc: pick and forward on one pool with retries; nullopt: a head arrived and is
  // written (unflushed) to the server stream.
  boost::asio::awaitable<PhaseResult> TryPool(const config::RouteConfig& route, size_t pool,
                                              routing::BodyModel& model, bool degradable);
  boost::asio::awaitable<PhaseResult> Attempt(upstream::PoolRuntime& pool, size_t pool_index,
                                              size_t backend, const config::RouteConfig& route);
  void DiscardResponse();
  void DropUpstream();  // the stream goes back to the connector (its connection closed unless kept)
  void EndBudget();
  boost::asio::awaitable<void> Stream(const config::RouteConfig& route);  // stream.cc
  // degrade.cc
  // Why a fallback did not answer: the reason for the chain's 503, and when the request itself
  // is invalid for it (a runner's RunResult::invalid) the client error that may answer instead.
  struct FallbackFailure {
    FallbackFailure(std::string why, std::optional<Error> bad = std::nullopt)  // NOLINT: implicit
        : reason(std::move(why)), invalid(std::move(bad)) {}
    std::string reason;
    std::optional<Error> invalid;
  };
  using FallbackOutcome = boost::asio::awaitable<std::optional<FallbackFailure>>;
  std::optional<config::Trigger> ConditionTrigger(const config::RouteConfig& route, size_t pool);
  boost::asio::awaitable<void> Degrade(const config::RouteConfig& route, config::Trigger trigger,
                                       routing::BodyModel& model);
  FallbackOutcome FallbackPool(const config::RouteConfig& route, const config::FallbackConfig& f);
  FallbackOutcome FallbackRunner(const config::RouteConfig& route, const config::FallbackConfig& f);
  FallbackOutcome FallbackStatic(const config::RouteConfig& route, const config::FallbackConfig& f);
  // finish.cc
  void FinishIsolation();
  void CompleteRecord();
  // usage.cc: the body carries stream_options.include_usage as the pool wants. `known`: the
  // body's fields when routing parsed them (a body that does not stream is not parsed again).
  void PrepareStreamUsage(const config::RouteConfig& route, size_t pool_index,
                          const routing::BodyFields* known = nullptr);

  // ---- helpers (exchange.cc)
  boost::asio::awaitable<void> SendError(const Error& err);
  boost::asio::awaitable<bool> Flush();  // false: the client is gone (recorded)
  void Abort(ErrorKind kind);
  std::string AbortMessage(ErrorKind kind, const config::RouteConfig& route) const;
  void OwnHead(bool stream, size_t content_length);
  // ResponseEvents: the backend's response goes to the server stream.
  void OnHead(const http::ResponseHead& head) override;
  void OnBody(std::string_view piece) override;
  bool DueForWarning(TimePoint& last) const;
  boost::asio::awaitable<void> Sleep(Duration d);  // interrupted by Abort
  // refusal.cc: a backend's 400/413/422 read to its end (up to routing::kMaxClassifiedErrorBody)
  // and classified; a class the route has a fallback for drops the answer (nothing reached the
  // client) and names the trigger.
  boost::asio::awaitable<std::optional<config::Trigger>> ClassifyRefusal(
      const config::RouteConfig& route);
  static std::optional<config::Trigger> TriggerForFailure(const config::RouteConfig& route,
                                                          const Error& err);

  Env env_;
  ServerStream* server_ = nullptr;  // counting_, in front of the transport's stream
  CountingServerStream counting_;
  std::shared_ptr<WorkerView> view_;          // taken when the exchange starts
  std::shared_ptr<const Snapshot> snapshot_;  // view_->snapshot
  const http::Request* req_ = nullptr;
  Deadline up_deadline_;
  Deadline total_deadline_;
  Wake wake_;  // backoff and queue waits; Abort fires it
  std::unique_ptr<Alarm> wake_alarm_;

  bool active_ = false;
  std::optional<ErrorKind> abort_;
  ExchangeRecord rec_;
  http::ResponseHead head_;  // the backend's head as relayed (fields reused across requests)
  std::string request_id_;
  http::TraceContext trace_;  // continued from the client's traceparent, or a new trace
  std::string retry_after_;
  std::string extra_name_, extra_value_;  // one extra header on a gateway error
  std::unique_ptr<UpstreamStream> up_;
  std::optional<BackendLease> lease_;
  bool attempt_reused_ = false;
  resilience::RetryBudget* budget_ = nullptr;
  int retries_started_ = 0;

  // Isolation and degradation state.
  size_t route_index_ = 0;
  std::optional<size_t> tenant_;
  bool identified_ = false;                  // Identify ran (before routing, for rate limits)
  const std::string* key_sha256_ = nullptr;  // the API key that identified the tenant
  size_t tier_ = 0;
  // Rate limits (limits.cc): this request's limits by isolation::LimitScope, its takes, and
  // the x-ratelimit-* values (bit 0: requests set, bit 1: tokens set).
  bool limits_on_ = false;
  std::array<const isolation::ScopeLimits*, isolation::kLimitScopes> scopes_{};
  isolation::RateTicket rate_;
  uint64_t prompt_estimate_ = 0;
  bool tokens_checked_ = false;  // token limits applied (their takes are settled at the end)
  bool route_taken_ = false;     // the route's requests were taken from the head
  // The route the head alone decided (LimitRouteHead), so Route does not look it up again.
  std::optional<routing::RouteMatchResult> head_route_;
  std::array<std::string, 6> rate_values_;
  unsigned rate_header_count_ = 0;
  bool rate_headers_due_ = false;  // a take since rate_values_ were formatted
  isolation::CompartmentSlot tenant_slot_;
  isolation::CompartmentSlot route_slot_;
  isolation::CompartmentSlot fallback_slot_;  // the fallback being tried (one at a time)
  bool full_degrades_ = false;
  bool predicted_wait_ = false;
  double predicted_queue_wait_ = 0;
  isolation::GateSlot gate_;     // under the pool's adaptive concurrency limit
  std::string degraded_value_;   // x-infergate-degraded on a degraded answer
  std::string primary_failure_;  // why the primary did not serve
  std::string client_model_;
  bool stream_requested_ = false;
  bool include_usage_ = false;  // the client's stream_options.include_usage (own answers)
  bool served_by_primary_ = false;
  std::shared_ptr<degrade::TokenChannel> runner_channel_;
  UsageTap usage_;  // usage injection and the answer's tokens
  // A refusal (400/413/422) on a route with error-class fallbacks: OnBody keeps a copy of its
  // body (up to routing::kMaxClassifiedErrorBody + 1 bytes) for ClassifyRefusal.
  bool refusal_wanted_ = false;
  bool refusal_capture_ = false;
  std::string refusal_body_;
  PhaseResult held_read_error_;  // a read that failed in ClassifyRefusal, for Stream
  // The request body's fields, parsed once on demand (Forward's; a member, not a local, so that
  // Forward's coroutine frame stays small enough for Asio to recycle).
  std::optional<routing::BodyModel> body_model_;

  // CORS (cors.cc): for an allowed Origin, the values of the headers every answer gets.
  bool cors_allowed_ = false;
  std::string cors_origin_;  // Access-Control-Allow-Origin: the origin, or "*"
  std::string cors_expose_;  // Access-Control-Expose-Headers
};

}  // namespace infergate::exchange
