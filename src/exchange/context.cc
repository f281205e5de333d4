// Installing a config snapshot on a worker: its side of the snapshot, with the state that
// outlives a snapshot resolved by identity.
#include "infergate/exchange/context.h"

namespace infergate::exchange {

void InstallSnapshot(WorkerContext& ctx, std::shared_ptr<const Snapshot> snapshot,
                     boost::asio::any_io_executor ex, upstream::BackendRegistry* backends,
                     observability::Registry* metrics) {
  auto view = std::make_shared<WorkerView>();
  view->snapshot = snapshot;
  view->upstreams = std::make_unique<upstream::UpstreamSet>(
      *snapshot->config, ex, backends, metrics, &ctx.pool_states,
      ctx.view ? ctx.view->upstreams.get() : nullptr);
  for (const config::RouteConfig& route : snapshot->config->routes) {
    auto it = ctx.route_states.find(route.name);
    if (it == ctx.route_states.end())
      it = ctx.route_states.emplace(route.name, std::make_shared<RouteDegradeState>(route)).first;
    view->degrade.push_back(it->second);
  }
  ctx.snapshot = std::move(snapshot);
  ctx.view = std::move(view);
}

}  // namespace infergate::exchange
