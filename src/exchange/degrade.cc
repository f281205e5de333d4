// Phase: degrade. The condition triggers that skip the primary (with hysteresis), and the
// route's fallback chain: another pool, the in-process runner, a static answer, each marked
// with x-infergate-degraded. A fallback that fails gives back what it took before the next one
// takes its own.
#include <cstdio>

#include "infergate/core/log.h"
#include "infergate/degrade/openai_response.h"
#include "infergate/degrade/token_channel.h"
#include "infergate/exchange/exchange.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {
namespace asio = boost::asio;

std::optional<config::Trigger> Exchange::ConditionTrigger(const config::RouteConfig& route,
                                                          size_t pool_index) {
  if (route.fallbacks.empty()) return std::nullopt;
  RouteDegradeState& st = *view_->degrade[route_index_];
  upstream::PoolRuntime& pool = view_->upstreams->pool(pool_index);
  const TimePoint now = env_.timers->Now();
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
    if (load.fresh && sat.queue_above) ratio = load.min_waiting / std::max(*sat.queue_above, 1e-9);
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

// Tries each fallback in order; the first that answers serves the request. When all fail, a 503
// names the trigger and each fallback's failure, unless the last steps tried all refused the
// request itself as invalid (a prompt longer than a runner's context, a parameter out of its
// range): then the client gets that refusal's 400, as OpenAI's API would answer it. A step that
// fails for another reason (a pool down, a full compartment) resets this, since it might have
// answered the same request.
asio::awaitable<void> Exchange::Degrade(const config::RouteConfig& route, config::Trigger trigger,
                                        routing::BodyModel& model) {
  isolation::IsolationRuntime& iso = *snapshot_->isolation;
  model.Model();  // the client's model and stream flag, for answers the gateway writes
  if (const auto* f = model.fields()) {
    if (client_model_.empty() && f->model) client_model_ = *f->model;
    stream_requested_ = f->stream.value_or(false);
    // The client's own ask: a body the primary's usage injection changed did not ask.
    include_usage_ =
        !usage_.injected() && f->stream_options && f->stream_options->include_usage == true;
  }
  rec_.degraded = trigger;
  std::string reasons;
  std::optional<Error> invalid;  // the trailing steps' refusal of the request as invalid
  for (size_t i = 0; i < route.fallbacks.size(); ++i) {
    const config::FallbackConfig& f = route.fallbacks[i];
    if (abort_) break;
    if (!f.serves(trigger, route.degrade.route_on)) continue;  // its `on` names other triggers
    degraded_value_.assign(config::TriggerName(trigger));
    degraded_value_.append("; served-by=");
    degraded_value_.append(f.name);
    std::optional<FallbackFailure> failed;
    // The gateway's own answers (a runner, a static text) take the shape of chat completions,
    // legacy completions or the Responses API; embeddings (or an unknown path) would get a 200
    // of the wrong shape, which no SDK parses. Such a fallback is skipped; the chain goes on.
    if (f.kind != config::FallbackConfig::Kind::kPool &&
        !degrade::OwnAnswersServe(degrade::EndpointOf(req_->path))) {
      reasons += "; fallback " + f.name + ": cannot answer " + std::string(req_->path) +
                 " (own answers serve chat completions, completions and responses)";
      invalid.reset();
      continue;
    }
    switch (f.kind) {
      case config::FallbackConfig::Kind::kPool:
        failed = co_await FallbackPool(route, f);
        break;
      case config::FallbackConfig::Kind::kRunner:
        failed = co_await FallbackRunner(route, f);
        break;
      case config::FallbackConfig::Kind::kStatic:
        failed = co_await FallbackStatic(route, f);
        break;
    }
    if (!failed) {
      rec_.fallback = static_cast<int>(i);
      if (auto* c = iso.degraded(route_index_, trigger, i)) c->Inc();
      RouteDegradeState& st = *view_->degrade[route_index_];
      if (DueForWarning(st.last_warn)) {
        IG_WARN("route %s degraded (%s: %s): served by %s", route.name.c_str(),
                std::string(config::TriggerName(trigger)).c_str(), primary_failure_.c_str(),
                f.name.c_str());
      }
      co_return;
    }
    fallback_slot_.reset();  // a failed fallback gives back what it took
    if (abort_ == ErrorKind::kClientAbort) break;
    reasons += "; fallback " + f.name + ": " + failed->reason;
    invalid = std::move(failed->invalid);
  }
  degraded_value_.clear();
  if (abort_ == ErrorKind::kClientAbort) {
    rec_.error = ErrorKind::kClientAbort;
    co_return;
  }
  if (invalid) {
    // The client's fault, not a degraded mode: no warning (a client could flood the log), and
    // the runner's refusal counts it (infergate_runner_refused_total{reason="request"}).
    co_await SendError(*invalid);
    co_return;
  }
  if (auto* c = iso.degrade_failed(route_index_, trigger)) c->Inc();
  Error err{ErrorKind::kFallbacksFailed, "route " + route.name + " is degraded (" +
                                             std::string(config::TriggerName(trigger)) + ": " +
                                             primary_failure_ + ")" + reasons};
  IG_WARN("rid=%s %s", request_id_.c_str(), err.message.c_str());
  co_await SendError(err);
}

// Another pool, with its own compartment, model rewrite and retries. nullopt: it answered and
// the response was streamed.
Exchange::FallbackOutcome Exchange::FallbackPool(const config::RouteConfig& route,
                                                 const config::FallbackConfig& f) {
  fallback_slot_.reset();
  // A compartment the exchange already holds (the route's or the tenant's) is not taken twice:
  // the request would queue behind itself.
  isolation::Compartment* comp =
      f.compartment ? &snapshot_->isolation->compartment(*f.compartment) : nullptr;
  if (comp && !route_slot_.holds(*comp) && !tenant_slot_.holds(*comp)) {
    AdmitResult r = co_await AdmitTo(*comp, fallback_slot_);
    if (r == AdmitResult::kAborted) co_return std::string("client went away");
    if (r != AdmitResult::kAdmitted) co_return "compartment " + comp->config->name + " is full";
  }
  PrepareStreamUsage(route, f.pool);
  if (f.rewrite_model) {
    std::string& body = *req_->body;
    auto fields = routing::ExtractBodyFields(body, body.capacity());
    if (!fields || !fields->model)
      co_return std::string("the request body has no model to rewrite");
    routing::SpliceModel(body, *fields, *f.rewrite_model);
    rec_.model_sent = *f.rewrite_model;
    rec_.request_model = *f.rewrite_model;
  }
  if (!TakeGate(f.pool)) co_return std::string("at its adaptive concurrency limit");
  routing::BodyModel model(*req_->body);
  rec_.pool = static_cast<int>(f.pool);
  PhaseResult failed = co_await TryPool(route, f.pool, model, /*degradable=*/true);
  if (failed) {
    gate_.reset();
    co_return failed->message.empty() ? std::string(DescribeError(failed->kind).code)
                                      : failed->message;
  }
  co_await Stream(route);
  co_return std::nullopt;
}

namespace {

// An own answer's id, endpoint and `model` (the route's response_model decides).
degrade::ResponseMeta OwnMeta(const http::Request& req, std::string_view request_id,
                              const config::RouteConfig& route, const std::string& entry_model,
                              const std::string& client_model) {
  degrade::ResponseMeta meta;
  meta.endpoint = degrade::EndpointOf(req.path);
  meta.id = degrade::MakeResponseId(meta.endpoint, request_id);
  meta.model = degrade::OwnAnswerModel(
      route.response_model == config::RouteConfig::ResponseModel::kRequested, entry_model,
      client_model);
  meta.created = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  return meta;
}

// What the GenAI metrics and the access log read of an own answer: its real counts.
void RecordUsage(ExchangeRecord& rec, const degrade::ResponseMeta& meta,
                 const degrade::AnswerUsage& usage) {
  rec.input_tokens = usage.prompt_tokens;
  rec.output_tokens = usage.completion_tokens;
  rec.tokens_estimated = false;
  rec.response_model = meta.model;
}

}  // namespace

// The configured text, in the endpoint's shape, streamed when the request asked for a stream.
// Usage: a completion token per piece sent; prompt tokens 0 (the gateway does not tokenize).
Exchange::FallbackOutcome Exchange::FallbackStatic(const config::RouteConfig& route,
                                                   const config::FallbackConfig& f) {
  degrade::ResponseMeta meta = OwnMeta(*req_, request_id_, route, f.model, client_model_);
  rec_.model_sent = meta.model;
  std::vector<std::string_view> pieces = degrade::SplitTokens(f.text);
  const degrade::AnswerUsage usage{0, pieces.size()};
  RecordUsage(rec_, meta, usage);
  if (!pieces.empty()) rec_.first_token_at = env_.timers->Now();
  if (stream_requested_) {
    OwnHead(true, 0);
    degrade::AnswerStream stream(std::move(meta), include_usage_);
    server_->WriteBody(stream.Begin());
    for (std::string_view piece : pieces) server_->WriteBody(stream.Piece(piece));
    server_->WriteBody(stream.End(usage));
  } else {
    std::string body = degrade::RenderCompletion(meta, f.text, usage);
    OwnHead(false, body.size());
    server_->WriteBody(body);
  }
  server_->WriteEnd();
  co_await Flush();
  co_return std::nullopt;
}

// The in-process runner on its compartment's thread pool; its pieces are streamed as they come.
// Fails over to the next fallback only before the first piece.
Exchange::FallbackOutcome Exchange::FallbackRunner(const config::RouteConfig& route,
                                                   const config::FallbackConfig& f) {
  isolation::IsolationRuntime& iso = *snapshot_->isolation;
  const config::RunnerConfig& rc = snapshot_->config->runners[f.runner];
  isolation::Compartment& comp = iso.compartment(rc.compartment);
  if (!comp.bulkhead->TryAcquire(tier_)) {
    comp.metrics.rejected[tier_][0]->Inc();
    co_return "compartment " + comp.config->name + " is full";
  }
  comp.metrics.in_flight->Add(1);
  auto channel = std::make_shared<degrade::TokenChannel>(env_.executor);
  degrade::RunRequest run{client_model_, *req_->body, degrade::EndpointOf(req_->path)};
  degrade::Runner* runner = &iso.runner(f.runner);
  isolation::Compartment* cp = &comp;
  std::shared_ptr<isolation::IsolationRuntime> keep_alive = snapshot_->isolation;
  bool submitted = comp.threads->TrySubmit([channel, run = std::move(run), runner, cp, keep_alive] {
    const degrade::RunResult r =
        runner->Generate(run, [&](const degrade::RunPiece& piece) { return channel->Push(piece); });
    channel->Close(r);
    cp->Release();
  });
  if (!submitted) {
    comp.Release();
    co_return "the thread pool of compartment " + comp.config->name + " is full";
  }
  runner_channel_ = channel;
  degrade::ResponseMeta meta = OwnMeta(*req_, request_id_, route, rc.model, client_model_);
  rec_.model_sent = meta.model;
  degrade::AnswerStream stream(meta, include_usage_);
  std::string text;  // non-streamed answers are collected
  std::vector<degrade::TokenLogprob> logprobs;
  size_t pieces = 0;
  bool head_sent = false;
  up_deadline_.Set(route.timeouts.first_byte, Tag(ErrorKind::kFirstByteTimeout));
  while (true) {
    co_await channel->Wait();
    if (abort_) break;
    // closed() first: nothing is pushed after Close, so this Take gets every last piece.
    const bool closed = channel->closed();
    std::vector<degrade::ChannelPiece> got = channel->TakePieces();
    if (!got.empty()) up_deadline_.Set(route.timeouts.idle, Tag(ErrorKind::kIdleTimeout));
    if (!head_sent && stream_requested_ && (!got.empty() || (closed && channel->ok()))) {
      OwnHead(true, 0);
      server_->WriteBody(stream.Begin());
      head_sent = true;
    }
    for (degrade::ChannelPiece& piece : got) {
      if (pieces++ == 0) rec_.first_token_at = env_.timers->Now();
      if (stream_requested_) {
        // A piece with logprobs comes from a request that asked for them.
        server_->WriteBody(stream.Piece(piece.text, !piece.logprobs.empty(), piece.logprobs));
      } else {
        text += piece.text;
        for (auto& lp : piece.logprobs) logprobs.push_back(std::move(lp));
      }
    }
    if (head_sent) {
      const bool flushed = co_await Flush();
      if (!flushed) break;
    }
    if (closed) break;
  }
  up_deadline_.Clear();
  runner_channel_.reset();
  channel->Cancel();
  if (abort_ == ErrorKind::kClientAbort || (abort_ && head_sent)) {
    rec_.error = *abort_;
    if (abort_ != ErrorKind::kClientAbort) {
      co_await server_->Reset();
    }
    co_return std::nullopt;  // the exchange is over; nothing more can be sent
  }
  if (abort_) {
    std::string why = std::string(DescribeError(*abort_).code);
    abort_.reset();
    co_return "runner " + rc.name + ": " + why;
  }
  const degrade::RunResult result = channel->result();
  if (!result.completed) {
    if (!head_sent) {
      co_return FallbackFailure{
          "runner " + rc.name + " failed" + (result.error.empty() ? "" : ": " + result.error),
          result.invalid};
    }
    rec_.error = ErrorKind::kUpstreamBodyBroken;  // cut mid-stream: no clean end
    co_await server_->Reset();
    co_return std::nullopt;
  }
  // Usage: the prompt tokens the runner counted; the tokens it generated, or a completion token
  // per piece when it does not count them (the synthetic runner).
  const degrade::AnswerUsage usage{result.prompt_tokens, result.completion_tokens.value_or(pieces)};
  RecordUsage(rec_, meta, usage);
  const std::string_view finish = degrade::FinishReasonName(result.finish_reason);
  if (stream_requested_) {
    server_->WriteBody(stream.End(usage, finish, result.logprobs));
  } else {
    const degrade::AnswerDetails details{finish, result.logprobs, logprobs};
    std::string body = degrade::RenderCompletion(meta, text, usage, details);
    OwnHead(false, body.size());
    server_->WriteBody(body);
  }
  server_->WriteEnd();
  co_await Flush();
  co_return std::nullopt;
}

}  // namespace infergate::exchange
