// GET /admin/backends: each backend's verdict, detectors and last load report.
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

namespace infergate::upstream {
namespace {

std::string Iso8601(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "12", "0.25": short and JSON-safe for the finite values a report holds.
std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

void HealthController::Impl::AppendLoadJson(std::string& out, const Tracker& t, SteadyTime now) {
  const auto& lr = t.pool_config->load_report;
  LoadReport r = t.state->load();
  if (!lr.enabled || !r.valid) {
    out += ",\"load\":null";
    return;
  }
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - r.at);
  out += ",\"load\":{\"waiting\":" + JsonNumber(r.waiting);
  out += ",\"running\":" + JsonNumber(r.running);
  out += ",\"kv_cache\":" + (r.kv_cache >= 0 ? JsonNumber(r.kv_cache) : std::string("null"));
  out += ",\"age_ms\":" + std::to_string(std::max<int64_t>(0, age.count()));
  out += ",\"fresh\":";
  out += now - r.at <= lr.max_age ? "true" : "false";
  out += ",\"dispatched_since_report\":" + std::to_string(t.state->dispatched_since_report());
  out += ",\"failures\":" + std::to_string(t.load_failures ? t.load_failures->Value() : 0);
  out += "}";
}

std::string HealthController::Impl::Json() const {
  std::lock_guard lock(mu);
  const SteadyTime now = std::chrono::steady_clock::now();
  std::string out = "{\"backends\":[";
  bool first = true;
  for (const auto& tp : trackers) {
    const Tracker& t = *tp;
    const BackendState& s = *t.state;
    uint32_t flags = s.flags();
    if (!first) out += ",";
    first = false;
    out += "{\"pool\":\"";
    AppendJsonEscaped(out, t.pool_config->name);
    out += "\",\"backend\":\"";
    AppendJsonEscaped(out, t.config->name);
    out += "\",\"url\":\"";
    AppendJsonEscaped(out, t.config->url);
    out += "\",\"priority\":" + std::to_string(t.config->priority) +
           ",\"weight\":" + std::to_string(t.config->weight);
    out += ",\"state\":\"";
    out += (flags & kUnroutable) ? "unavailable" : (flags & kHalfOpen) ? "half_open" : "available";
    out += "\",\"reasons\":[";
    bool rf = true;
    auto reason = [&](uint32_t bit, const char* name) {
      if (!(flags & bit)) return;
      if (!rf) out += ",";
      rf = false;
      out += "\"";
      out += name;
      out += "\"";
    };
    reason(kProbeDown, "health_check");
    reason(kSuspected, "phi");
    reason(kEjected, "ejected");
    reason(kBreakerOpen, "breaker_open");
    reason(kDraining, "draining");
    reason(kWarmingUp, "warming_up");
    reason(kCanaryDown, "canary");
    reason(kSharedSuspect, "shared");
    char phi[32];
    std::snprintf(phi, sizeof(phi), "%.3f", s.phi());
    out += "],\"phi\":";
    out += phi;
    out += ",\"breaker\":\"";
    out += (flags & kBreakerOpen) ? "open" : (flags & kHalfOpen) ? "half_open" : "closed";
    out += "\",\"ejections\":" + std::to_string(s.ejections());
    out += ",\"consecutive_failures\":" + std::to_string(s.consecutive_failures());
    out += ",\"in_flight\":" + std::to_string(std::max<int64_t>(0, t.in_flight->Value()));
    out += ",\"weight_percent\":" + std::to_string(s.weight_permille() / 10.0).substr(0, 5);
    int err = s.last_error();
    if (err != BackendState::kNoError) {
      out += ",\"last_error\":\"";
      out += err >= 0 ? std::string(DescribeError(static_cast<ErrorKind>(err)).name)
                      : "status_" + std::to_string(-err);
      out += "\",\"last_error_at\":\"" + Iso8601(s.last_error_at()) + "\"";
    } else {
      out += ",\"last_error\":null,\"last_error_at\":null";
    }
    AppendLoadJson(out, t, now);
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace infergate::upstream
