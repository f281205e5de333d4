// The backends' model lists: GET /v1/models on each backend once at start (and when a reload
// adds it), then every models.refresh, into the ModelCatalog the gateway's own /v1/models
// answers from. A failed poll keeps the backend's last good list; it is logged once until the
// backend answers again.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <ctime>

#include "infergate/core/log.h"
#include "upstream/health_impl.h"

namespace infergate::upstream {
namespace {

constexpr Duration kModelsTimeout = std::chrono::seconds(10);  // one poll, connect to last byte

bool Wanted(const config::ModelsConfig& m) {
  return m.list.empty() && m.refresh > Duration::zero();
}

}  // namespace

void HealthController::Impl::StartModelsLoop(const std::shared_ptr<Tracker>& t) {
  if (t->models_loop || t->retired || !Wanted(config->models)) return;
  t->models_loop = true;
  asio::co_spawn(io, ModelsLoop(t), asio::detached);
}

void HealthController::Impl::ReconcileModels(const config::ModelsConfig& before) {
  models->Retain(*config);
  const config::ModelsConfig& now = config->models;
  if (!running || (before.refresh == now.refresh && before.list.empty() == now.list.empty()))
    return;
  for (auto& t : trackers) {  // ask again at once with the new settings
    t->models_due = SteadyTime{};
    if (t->models_timer != nullptr) t->models_timer->cancel();
  }
}

asio::awaitable<void> HealthController::Impl::ModelsLoop(std::shared_ptr<Tracker> t) {
  asio::steady_timer timer(io);
  std::string body;
  while (running && !t->retired && Wanted(config->models)) {
    const auto now = std::chrono::steady_clock::now();
    if (t->models_due <= now) {
      const std::string request = "GET /v1/models HTTP/1.1\r\nHost: " + t->config->name +
                                  "\r\nUser-Agent: infergate-models\r\nAccept: "
                                  "application/json\r\nConnection: close\r\n\r\n";
      std::unique_ptr<BackendSocket> socket;
      std::string detail;
      const int status = co_await Send(*t, request, kModelsTimeout, socket, &detail, &body);
      if (!running || t->retired) break;
      OnModelList(*t, status, body, detail);
      t->models_due = now + config->models.refresh;
      continue;
    }
    timer.expires_at(t->models_due);
    t->models_timer = &timer;
    co_await timer.async_wait(kNoThrow);
    t->models_timer = nullptr;
  }
  t->models_timer = nullptr;
  t->models_loop = false;
}

void HealthController::Impl::OnModelList(Tracker& t, int status, std::string_view body,
                                         const std::string& detail) {
  std::string failure;
  std::optional<std::vector<ReportedModel>> list;
  if (status == 0) {
    failure = detail;
  } else if (status < 200 || status > 299) {
    failure = "status " + std::to_string(status);
  } else {
    list = ParseModelList(body, static_cast<int64_t>(std::time(nullptr)));
    if (!list) failure = "the body is not an OpenAI model list";
  }
  if (!list) {
    if (!t.models_failing) {
      t.models_failing = true;
      IG_WARN(
          "backend %s: cannot read its model list from GET /v1/models (%s); its last list "
          "stays in /v1/models",
          t.label.c_str(), failure.c_str());
    }
    return;
  }
  if (t.models_failing) {
    t.models_failing = false;
    IG_INFO("backend %s: model list read again", t.label.c_str());
  }
  models->Set(t.pool_config->name, t.config->name, std::move(*list));
}

}  // namespace infergate::upstream
