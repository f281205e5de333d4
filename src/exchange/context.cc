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
  // Connections still in use by exchanges of the older view go, when those exchanges end, to
  // whatever view is current then (a reload does not cost the backends their connections).
  if (ctx.view) {
    upstream::UpstreamSet& old = *ctx.view->upstreams;
    for (size_t p = 0; p < old.size(); ++p) {
      old.pool(p).Retire([&ctx](const upstream::PoolRuntime& from,
                                std::unique_ptr<upstream::UpstreamConnection>& conn) {
        if (ctx.view) ctx.view->upstreams->Adopt(from, conn);
      });
    }
  }
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
