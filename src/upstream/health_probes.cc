// Active probes, inference canaries, warm-ups and load reports, on the control thread.
#include "upstream/health_impl.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "infergate/core/error.h"
#include "infergate/core/log.h"
#include "infergate/core/random.h"
#include "infergate/health/prom_text.h"
#include "infergate/http/h1_codec.h"

namespace infergate::upstream {
namespace {

using boost::system::error_code;
constexpr size_t kMaxLoadPageBytes = 1 << 20;  // a backend's /metrics page

// A response sink that keeps the status and, when given a string, the body up to a limit.
class StatusSink final : public http::ResponseSink {
 public:
  StatusSink() = default;
  StatusSink(std::string* body, size_t max_body) : body_(body), max_body_(max_body) {}
  void OnHead(const http::H1ResponseHead& head) override { status = head.status; }
  void OnBody(std::string_view data) override {
    if (body_ == nullptr || too_large) return;
    if (data.size() > max_body_ - body_->size()) {
      too_large = true;
      return;
    }
    body_->append(data);
  }
  int status = 0;
  bool too_large = false;

 private:
  std::string* body_ = nullptr;
  size_t max_body_ = 0;
};

// The metrics a load report reads, by format: waiting first, then running, then KV-cache usage
// (vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc; the newer name wins).
struct LoadMetrics {
  std::vector<std::string_view> names;
  size_t count_running = 0;  // how many of `names` after waiting are running (0 or 1)
  size_t count_kv = 0;       // how many after those are KV-cache names, in order of preference
};

LoadMetrics MetricsFor(const config::LoadReportConfig& lr) {
  switch (lr.format) {
    case config::LoadReportConfig::Format::kVllm:
      return {{"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
               "vllm:gpu_cache_usage_perc"},
              1,
              2};
    case config::LoadReportConfig::Format::kTgi:
      return {{"tgi_queue_size", "tgi_batch_current_size"}, 1, 0};
    case config::LoadReportConfig::Format::kGauge:
      break;
  }
  return {{lr.queue_gauge}, 0, 0};
}

}  // namespace

asio::awaitable<void> HealthController::Impl::ProbeLoop(std::shared_ptr<Tracker> t,
                                                        uint64_t epoch) {
  asio::steady_timer timer(io);
  std::unique_ptr<BackendSocket> socket;
  while (running && t->epoch == epoch) {
    auto started = std::chrono::steady_clock::now();
    std::string detail;
    bool ok = co_await ProbeOnce(*t, socket, &detail);
    if (!running || t->epoch != epoch) break;
    OnProbe(*t, ok, detail);
    timer.expires_at(started + t->pool_config->health_check.interval);
    co_await timer.async_wait(kNoThrow);
  }
}

asio::awaitable<bool> HealthController::Impl::ProbeOnce(Tracker& t,
                                                        std::unique_ptr<BackendSocket>& socket,
                                                        std::string* detail) {
  const config::HealthCheckConfig hc = t.pool_config->health_check;  // a reload may replace it
  int status = co_await Send(t, t.probe_request, hc.timeout, socket, detail);
  co_return status >= hc.expected_status_min&& status <= hc.expected_status_max;
}

asio::awaitable<bool> HealthController::Impl::InferenceProbe(Tracker& t,
                                                             config::InferenceProbeConfig probe,
                                                             std::string* detail) {
  std::string body = R"({"model":")";
  AppendJsonEscaped(body, probe.model);
  body += R"(","messages":[{"role":"user","content":"ping"}],"max_tokens":1,"stream":false})";
  std::string request =
      "POST " + probe.path + " HTTP/1.1\r\nHost: " + t.config->name +
      "\r\nUser-Agent: infergate-health\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  std::unique_ptr<BackendSocket> socket;
  int status = co_await Send(t, request, probe.timeout, socket, detail);
  co_return status >= 200 && status <= 299;
}

asio::awaitable<int> HealthController::Impl::Send(Tracker& t, const std::string& request,
                                                  Duration timeout,
                                                  std::unique_ptr<BackendSocket>& socket,
                                                  std::string* detail, std::string* body) {
  asio::steady_timer deadline(io);
  bool timed_out = false;
  deadline.expires_after(timeout);
  deadline.async_wait([&](const error_code& ec) {
    if (ec) return;
    timed_out = true;
    if (socket) socket->Close();
  });
  int status = 0;
  // Held for the whole exchange: a reload may give the tracker new ones meanwhile.
  const std::shared_ptr<const std::vector<tcp::endpoint>> endpoints = t.endpoints;
  const std::shared_ptr<TlsTarget> tls = t.tls;
  do {
    if (!socket || !socket->is_open()) {
      socket = std::make_unique<BackendSocket>(io.get_executor());
      if (endpoints->empty()) {
        *detail = "cannot resolve " + t.config->address.host;
        break;
      }
      std::optional<ConnectFailure> failed = co_await socket->Connect(*endpoints, tls);
      if (failed) {
        *detail = timed_out     ? "connect timeout"
                  : failed->tls ? "tls: " + failed->reason
                                : "connect: " + failed->reason;
        break;
      }
    }
    auto [wec, wn] = co_await socket->AsyncWrite(asio::buffer(request), kNoThrow);
    if (wec) {
      *detail = timed_out ? "timeout" : "write: " + wec.message();
      break;
    }
    http::ResponseDecoder decoder;
    decoder.Start(false);
    if (body) body->clear();
    StatusSink sink(body, kMaxLoadPageBytes);
    std::vector<char> buf(body ? 16384 : 4096);
    bool done = false;
    bool reusable = false;
    while (!done) {
      auto [rec, n] = co_await socket->AsyncReadSome(asio::buffer(buf), kNoThrow);
      if (n > 0) {
        size_t used = 0;
        auto st = decoder.Feed(std::string_view(buf.data(), n), &used, sink);
        if (!st) {
          *detail = st.error().message;
          break;
        }
        if (*st == http::ResponseDecoder::Status::kComplete) {
          done = true;
          reusable = decoder.reusable() && used == n;
        }
        continue;
      }
      *detail = timed_out                 ? "timeout"
                : rec == asio::error::eof ? "closed before answering"
                                          : "read: " + rec.message();
      break;
    }
    if (!done) break;
    if (sink.too_large) {
      *detail = "response body over " + std::to_string(kMaxLoadPageBytes) + " bytes";
      break;
    }
    status = sink.status;
    *detail = std::to_string(sink.status);
    if (!reusable) socket.reset();
  } while (false);
  deadline.cancel();
  if (status == 0 && socket) socket.reset();
  co_return status;
}

asio::awaitable<void> HealthController::Impl::LoadReportLoop(std::shared_ptr<Tracker> t,
                                                             uint64_t epoch) {
  asio::steady_timer timer(io);
  // Spread the first scrapes over one interval so backends are not all asked at once.
  timer.expires_after(std::chrono::duration_cast<Duration>(t->pool_config->load_report.interval *
                                                           ThreadRng().NextDouble()));
  co_await timer.async_wait(kNoThrow);
  std::unique_ptr<BackendSocket> socket;
  std::string page;
  while (running && t->epoch == epoch) {
    const config::LoadReportConfig lr = t->pool_config->load_report;
    auto started = std::chrono::steady_clock::now();
    std::string detail;
    int status = co_await Send(*t, t->load_request, lr.timeout, socket, &detail, &page);
    if (!running || t->epoch != epoch) break;
    OnLoadPage(*t, status, page, detail, std::chrono::steady_clock::now());
    timer.expires_at(started + lr.interval);
    co_await timer.async_wait(kNoThrow);
  }
}

void HealthController::Impl::OnLoadPage(Tracker& t, int status, std::string_view page,
                                        const std::string& detail, SteadyTime at) {
  const LoadMetrics wanted = MetricsFor(t.pool_config->load_report);
  std::string failure;
  std::vector<std::optional<double>> found;
  if (status == 0) {
    failure = detail;
  } else if (status < 200 || status > 299) {
    failure = "status " + std::to_string(status);
  } else {
    found = health::SumPromSamples(page, wanted.names);
    if (!found[0]) failure = "no " + std::string(wanted.names[0]) + " on the page";
  }
  if (!failure.empty()) {
    t.load_failures->Inc();
    if (!t.load_failing) {
      t.load_failing = true;
      IG_WARN(
          "backend %s: cannot read its load report from %s (%s); the last report stays in "
          "use until it is older than max_age",
          t.label.c_str(), t.pool_config->load_report.path.c_str(), failure.c_str());
    }
    return;
  }
  if (t.load_failing) {
    t.load_failing = false;
    IG_INFO("backend %s: load reports read again", t.label.c_str());
  }
  double waiting = std::max(0.0, *found[0]);
  double running = wanted.count_running > 0 ? std::max(0.0, found[1].value_or(0.0)) : 0.0;
  double kv = -1;
  for (size_t i = 0; i < wanted.count_kv; ++i) {
    const std::optional<double>& v = found[1 + wanted.count_running + i];
    if (v && *v >= 0) {
      kv = *v;
      break;
    }
  }
  t.state->SetLoad(waiting, running, kv, at);
  PublishLoad(t, waiting, kv);
}

void HealthController::Impl::PublishLoad(Tracker& t, double waiting, double kv) {
  if (t.reported_queue == nullptr) {
    t.reported_queue = metrics.GetGauge(
        "infergate_backend_reported_queue",
        "Requests waiting in a backend's queue, as it last reported on its metrics page.",
        t.labels);
  }
  int64_t queue = std::llround(std::min(waiting, 1e15));
  t.reported_queue->Add(queue - t.published_queue);
  t.published_queue = queue;
  if (kv < 0) return;  // unknown: the last known value stays
  if (t.reported_kv == nullptr) {
    t.reported_kv = metrics.GetGauge(
        "infergate_backend_reported_kv_cache",
        "KV-cache usage a backend last reported on its metrics page, in percent (0-100).",
        t.labels);
  }
  int64_t percent = std::llround(std::min(kv, 1e6) * 100.0);
  t.reported_kv->Add(percent - t.published_kv);
  t.published_kv = percent;
}

bool HealthController::Impl::TakeCanaryToken(SteadyTime now) {
  const double rate = config->canary_budget;
  const double burst = std::max(1.0, rate);
  canary_tokens = std::min(
      burst, canary_tokens + rate * std::chrono::duration<double>(now - canary_refill).count());
  canary_refill = now;
  if (canary_tokens < 1.0) return false;
  canary_tokens -= 1.0;
  return true;
}

asio::awaitable<void> HealthController::Impl::CanaryLoop(std::shared_ptr<Tracker> t,
                                                         uint64_t epoch) {
  asio::steady_timer timer(io);
  // Spread the first canaries over one interval so backends are not all asked at once.
  timer.expires_after(std::chrono::duration_cast<Duration>(
      t->pool_config->health_check.canary.interval * ThreadRng().NextDouble()));
  co_await timer.async_wait(kNoThrow);
  while (running && t->epoch == epoch) {
    const config::InferenceProbeConfig canary = t->pool_config->health_check.canary;
    auto started = std::chrono::steady_clock::now();
    if (!(t->state->flags() & kDraining) && TakeCanaryToken(started)) {
      std::string detail;
      bool ok = co_await InferenceProbe(*t, canary, &detail);
      if (!running || t->epoch != epoch) break;
      OnCanary(*t, ok, detail);
    } else {
      canary_skipped->Inc();
    }
    timer.expires_at(started + canary.interval);
    co_await timer.async_wait(kNoThrow);
  }
}

asio::awaitable<void> HealthController::Impl::WarmupLoop(std::shared_ptr<Tracker> t) {
  asio::steady_timer timer(io);
  while (running && !t->retired) {
    std::string detail;
    bool ok = co_await InferenceProbe(*t, t->pool_config->slow_start.warmup, &detail);
    if (!running || t->retired) break;
    if (ok || !t->pool_config->slow_start.warmup.enabled) {  // answered, or a reload turned it off
      if (ok)
        IG_WARN("backend %s: warm-up request answered; taking traffic again", t->label.c_str());
      break;
    }
    IG_WARN("backend %s: warm-up request failed (%s); trying again", t->label.c_str(),
            detail.c_str());
    timer.expires_after(
        std::max<Duration>(t->pool_config->health_check.interval, std::chrono::seconds(1)));
    co_await timer.async_wait(kNoThrow);
  }
  t->warming = false;
  t->needs_warmup = false;
  t->state->SetFlag(kWarmingUp, false);
}

void HealthController::Impl::OnCanary(Tracker& t, bool ok, const std::string& detail) {
  const auto& hc = t.pool_config->health_check;
  t.last_probe = "canary: " + detail;
  if (ok) {
    t.phi.Evidence(std::chrono::steady_clock::now());
    if (t.shared.OnOwnSuccess(std::chrono::steady_clock::now())) {
      t.state->SetFlag(kSharedSuspect, false);
      IG_WARN("backend %s: a canary answered here; the shared suspicion is lifted",
              t.label.c_str());
      Count(t, "shared_cleared");
    }
    ++t.canary_ok;
    t.canary_fail = 0;
    if (t.canary_down && t.canary_ok >= hc.healthy_threshold) {
      t.canary_down = false;
      t.state->SetFlag(kCanaryDown, false);
      IG_WARN("backend %s: inference canaries pass again", t.label.c_str());
      Count(t, "canary_up");
    }
    return;
  }
  ++t.canary_fail;
  t.canary_ok = 0;
  if (!t.canary_down && t.canary_fail >= hc.unhealthy_threshold) {
    t.canary_down = true;
    t.state->SetFlag(kCanaryDown, true);
    IG_WARN(
        "backend %s: marked down after %u failed inference canaries (last: %s), though /health "
        "may answer",
        t.label.c_str(), t.canary_fail, detail.c_str());
    Count(t, "canary_down");
  }
}

void HealthController::Impl::OnProbe(Tracker& t, bool ok, const std::string& detail) {
  const auto& hc = t.pool_config->health_check;
  auto now = std::chrono::steady_clock::now();
  t.last_probe = detail;
  double phi = t.phi.HasHeartbeat() ? t.phi.Phi(now) : 0.0;
  if (ok) {
    t.phi.Evidence(now);
    phi = t.phi.Phi(now);
    ++t.probe_ok;
    t.probe_fail = 0;
    if (t.probe_down && t.probe_ok >= hc.healthy_threshold) {
      t.probe_down = false;
      t.state->SetFlag(kProbeDown, false);
      IG_WARN("backend %s: health checks pass again (%u in a row)", t.label.c_str(), t.probe_ok);
      Count(t, "probe_up");
    }
  } else {
    ++t.probe_fail;
    t.probe_ok = 0;
    if (!t.probe_down && t.probe_fail >= hc.unhealthy_threshold) {
      t.probe_down = true;
      t.state->SetFlag(kProbeDown, true);
      IG_WARN("backend %s: marked down after %u failed health checks (last: %s)", t.label.c_str(),
              t.probe_fail, detail.c_str());
      Count(t, "probe_down");
    }
  }
  if (t.pool_config->failure_detector.enabled) {
    if (auto tr = t.suspicion.ProbeResult(ok, phi)) Suspicion(t, *tr);
  }
}

}  // namespace infergate::upstream
