// The health controller: one control thread that probes every backend, runs the failure
// detectors (phi accrual, probe thresholds, circuit breaker, outlier ejection, slow start) over
// the outcomes the workers record, and publishes each backend's verdict in its BackendState.
// Workers never wait for it; it never touches a worker's sockets.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/observability/metrics.h"
#include "infergate/shared/redis_types.h"
#include "infergate/upstream/backend_state.h"
#include "infergate/upstream/model_catalog.h"

namespace infergate::tls {
class ClientContext;
}

namespace infergate::upstream {

// Every backend's shared state, for the whole process: [pool][backend].
class BackendRegistry {
 public:
  // `keep`: the registry of an earlier config; a backend with the same pool name and backend
  // name ("host:port") keeps its state (verdict, phi history, breaker, ejection, slow start) and
  // its resolved addresses. Other backends' names are resolved here (blocking: call it off the
  // event loops); one that does not resolve has no endpoints and is logged.
  BackendRegistry(const config::Config& config, int shards, const BackendRegistry* keep = nullptr);
  // The addresses of every backend, [pool][backend].
  using Addresses = std::vector<std::vector<std::vector<boost::asio::ip::tcp::endpoint>>>;
  // `from` with new addresses (a DNS refresh): same config, states and TLS contexts.
  BackendRegistry(const BackendRegistry& from, Addresses addresses);
  BackendState& state(size_t pool, size_t backend) { return *states_[pool][backend]; }
  const BackendState& state(size_t pool, size_t backend) const { return *states_[pool][backend]; }
  size_t pools() const { return states_.size(); }
  size_t backends(size_t pool) const { return states_[pool].size(); }
  // Finds a backend by pool name and backend name ("host:port"); nullopt when unknown.
  std::optional<std::pair<size_t, size_t>> Find(std::string_view pool,
                                                std::string_view backend) const;
  const config::Config& config() const { return *config_; }
  // The backend's addresses (empty: its name did not resolve).
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints(size_t pool, size_t backend) const {
    return endpoints_[pool][backend];
  }
  // A pool's TLS client context, loaded with the registry (null for an http:// pool), shared by
  // the workers and the probes; tls_error() says why one did not load ("" when all did).
  const std::shared_ptr<tls::ClientContext>& tls(size_t pool) const { return tls_[pool]; }
  const std::string& tls_error() const { return tls_error_; }

 private:
  const config::Config* config_;
  std::vector<std::vector<std::shared_ptr<BackendState>>> states_;
  Addresses endpoints_;
  std::vector<std::shared_ptr<tls::ClientContext>> tls_;
  std::string tls_error_;
};

class HealthController {
 public:
  HealthController(std::shared_ptr<const config::Config> config,
                   std::shared_ptr<BackendRegistry> registry, observability::Registry& metrics);
  ~HealthController();
  HealthController(const HealthController&) = delete;
  HealthController& operator=(const HealthController&) = delete;

  // shared_state.verdicts: publish this instance's convictions on Redis and honour the others'
  // (README "Shared verdicts"). Before Start; read once (a reload keeps it).
  void ShareVerdicts(const shared::RedisOptions& redis, const config::SharedVerdictsConfig& config);

  void Start();  // starts the control thread
  void Stop();   // stops and joins it

  // A reload: watches the backends of `config` from now on, through `registry` (built with the
  // current registry as `keep`). A backend that stays (same pool name, same "host:port") keeps
  // what the controller learned about it: phi history, probe and canary streaks, breaker and
  // ejection state, slow start, an operator's drain. A detector whose settings changed starts
  // over; one turned off lifts its verdict. New backends start as at startup; removed ones stop
  // being probed. Returns once applied. Thread-safe (not from the control thread).
  void Reconcile(std::shared_ptr<const config::Config> config,
                 std::shared_ptr<BackendRegistry> registry);

  // Operator actions (admin endpoints); thread-safe. False when the backend is unknown.
  bool Drain(std::string_view pool, std::string_view backend, bool drain);

  // JSON for GET /admin/backends: per backend its state, phi, breaker state, ejections,
  // in-flight requests, last error and when, and its last load report ("load", null when there
  // is none). Thread-safe.
  std::string BackendsJson() const;

  // The models the backends report on GET /v1/models (polled every models.refresh while no
  // models.list is configured). Thread-safe; lives as long as the controller's holders.
  std::shared_ptr<const ModelCatalog> models() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::upstream
