// Shared verdicts (shared_state.verdicts): this instance publishes on Redis when it starts and
// stops convicting a backend, and takes the other instances' convictions as a suspicion that
// keeps the backend out of rotation for a bounded hold (health::SharedSuspicion). Everything
// here runs on the control thread, including both Redis connections.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "infergate/core/log.h"
#include "infergate/upstream/health_controller.h"
#include "infergate/upstream/shared_verdict.h"
#include "upstream/health_impl.h"

namespace infergate::upstream {
namespace {

std::string Reasons(uint32_t flags) {
  std::string out;
  auto add = [&](uint32_t bit, const char* name) {
    if (!(flags & bit)) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(kProbeDown, "health_check");
  add(kSuspected, "phi");
  add(kEjected, "ejected");
  add(kBreakerOpen, "breaker_open");
  add(kHalfOpen, "breaker_half_open");
  add(kCanaryDown, "canary");
  return out;
}

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void HealthController::ShareVerdicts(const shared::RedisOptions& redis,
                                     const config::SharedVerdictsConfig& config) {
  if (!config.enabled || impl_->sharing) return;
  auto sharing = std::make_unique<Impl::Sharing>();
  sharing->id = InstanceId();
  sharing->publisher = shared::RedisClient::Create(impl_->io.get_executor(), redis);
  sharing->subscriber = shared::RedisClient::Create(impl_->io.get_executor(), redis);
  Impl* impl = impl_.get();
  sharing->subscriber->Subscribe(std::string(kVerdictChannel), [impl](std::string_view message) {
    impl->OnSharedMessage(message);
  });
  impl_->shared_config = {config.hold, config.quiet};
  {
    std::lock_guard lock(impl_->mu);
    for (auto& t : impl_->trackers) t->shared.Reconfigure(impl_->shared_config);
  }
  // The clients start on the control thread, once it runs.
  asio::post(impl_->io, [p = sharing->publisher, s = sharing->subscriber] {
    p->Start();
    s->Start();
  });
  IG_INFO("shared verdicts: this instance is %s on redis channel %s", sharing->id.c_str(),
          std::string(kVerdictChannel).c_str());
  impl_->sharing = std::move(sharing);
}

asio::awaitable<void> HealthController::Impl::PublishVerdict(std::string message) {
  std::shared_ptr<shared::RedisClient> client = sharing->publisher;
  // Built apart: GCC 12 miscompiles a braced list of temporaries inside co_await.
  std::vector<std::string> command;
  command.emplace_back("PUBLISH");
  command.emplace_back(kVerdictChannel);
  command.push_back(std::move(message));
  shared::RedisResult result = co_await client->Command(std::move(command));
  CountShared(result.ok() ? "published" : "publish_failed");
}

void HealthController::Impl::CountShared(const char* event) {
  metrics
      .GetCounter("infergate_shared_verdicts_total",
                  "Backend verdicts shared with other instances through Redis: published, "
                  "publish_failed; and received: honoured, refreshed, ignored (quiet), cleared, "
                  "unknown_backend, malformed.",
                  std::string("event=\"") + event + "\"")
      ->Inc();
}

void HealthController::Impl::ShareVerdict(Tracker& t, SteadyTime now) {
  if (t.shared.Expire(now)) {
    t.state->SetFlag(kSharedSuspect, false);
    IG_WARN(
        "backend %s: the shared suspicion ran out (%.0f s); it takes traffic again unless this "
        "instance's own detectors convict it",
        t.label.c_str(), Seconds(shared_config.hold));
    Count(t, "shared_expired");
  }
  if (!sharing) return;
  const uint32_t own = t.state->flags() & kOwnConviction;
  if ((own != 0) == t.convicted) return;
  t.convicted = own != 0;
  SharedVerdict v{sharing->id, t.pool_config->name, t.config->name, t.convicted, Reasons(own)};
  asio::co_spawn(io, PublishVerdict(EncodeVerdict(v)), asio::detached);
}

void HealthController::Impl::OnSharedMessage(std::string_view message) {
  std::optional<SharedVerdict> v = DecodeVerdict(message);
  if (!v) {
    CountShared("malformed");
    return;
  }
  if (sharing && v->from == sharing->id) return;  // our own, back from the channel
  Tracker* found = nullptr;
  for (auto& t : trackers) {
    if (!t->retired && t->pool_config->name == v->pool && t->config->name == v->backend) {
      found = t.get();
      break;
    }
  }
  if (found == nullptr) {
    CountShared("unknown_backend");
    return;
  }
  Tracker& t = *found;
  const SteadyTime now = std::chrono::steady_clock::now();
  if (!v->down) {
    if (!t.shared.OnClear(now, v->from)) return;
    t.state->SetFlag(kSharedSuspect, false);
    IG_WARN("backend %s: gateway %s no longer convicts it; the shared suspicion is lifted",
            t.label.c_str(), v->from.c_str());
    Count(t, "shared_cleared");
    CountShared("cleared");
    return;
  }
  switch (t.shared.OnConviction(now, v->from)) {
    case health::SharedSuspicion::Verdict::kHonoured:
      t.state->SetFlag(kSharedSuspect, true);
      IG_WARN(
          "backend %s: gateway %s convicted it (%s); out of rotation here for up to %.0f s "
          "while this instance's own detectors decide",
          t.label.c_str(), v->from.c_str(), v->reason.c_str(), Seconds(shared_config.hold));
      Count(t, "shared_suspected");
      CountShared("honoured");
      break;
    case health::SharedSuspicion::Verdict::kRefreshed:
      CountShared("refreshed");
      break;
    case health::SharedSuspicion::Verdict::kIgnored:
      IG_INFO(
          "backend %s: gateway %s convicted it (%s); ignored: the last shared suspicion was "
          "not borne out here",
          t.label.c_str(), v->from.c_str(), v->reason.c_str());
      CountShared("ignored");
      break;
  }
}

}  // namespace infergate::upstream
