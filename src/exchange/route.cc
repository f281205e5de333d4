// Phase: route. The route table of this request's snapshot, on exactly the path that is
// forwarded; the body's model is read only when a route asks for it; model rewrites.
#include "infergate/exchange/exchange.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {

PhaseResult Exchange::Route(routing::BodyModel& model) {
  const Snapshot& snap = *snapshot_;
  const http::Request& req = *req_;
  routing::RequestView view{req.method, req.path, req.authority, req.headers};
  auto found = snap.routes.Find(view, model);
  if (!found) return found.error();
  if (!*found) {
    const auto* f = model.fields();
    if (f && f->model) {
      return Error{ErrorKind::kModelNotFound,
                   "The model `" + *f->model + "` does not exist or no route serves it."};
    }
    return Error{ErrorKind::kRouteNotFound,
                 "no route for " + std::string(req.method) + " " + std::string(req.path)};
  }
  const config::RouteConfig& route = *(*found)->route;
  route_index_ = (*found)->route_index;
  rec_.route = static_cast<int>(route_index_);
  rec_.pool = static_cast<int>(snap.routes.PickPool(route, *env_.rng));
  if (const auto* f = model.fields(); f && f->model) client_model_ = *f->model;
  rec_.request_model = client_model_;
  if (route.rewrite_model) {
    const auto* f = model.fields();
    if (f && f->model) {
      routing::SpliceModel(*req.body, *f, *route.rewrite_model);
      rec_.model_sent = *route.rewrite_model;
      rec_.request_model = *route.rewrite_model;
    }
  }
  return std::nullopt;
}

}  // namespace infergate::exchange
