// Phase: route. The route table of this request's snapshot, on exactly the path that is
// forwarded; the body's model is read only when a route asks for it; model rewrites.
#include "infergate/exchange/exchange.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {
namespace {

// The OpenAI endpoints whose requests must name a model.
bool IsInferencePath(std::string_view path) {
  return path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings" ||
         path == "/v1/responses";
}

}  // namespace

PhaseResult Exchange::Route(routing::BodyModel& model) {
  const Snapshot& snap = *snapshot_;
  const http::Request& req = *req_;
  routing::RequestView view{req.method, req.path, req.authority, req.headers};
  // Already found from the head when the route's rate limit was checked there.
  auto found = head_route_ ? Expected<std::optional<routing::RouteMatchResult>, Error>(head_route_)
                           : snap.routes.Find(view, model);
  if (!found) return found.error();
  if (!*found) {
    // A method no route takes on a path some route serves: 405 with the methods it takes.
    const std::vector<std::string> allowed = snap.routes.MethodsFor(view);
    if (!allowed.empty()) {
      extra_name_ = "allow";
      extra_value_.clear();
      for (const std::string& m : allowed) extra_value_ += (extra_value_.empty() ? "" : ", ") + m;
      return Error{ErrorKind::kMethodNotAllowed, std::string(req.method) + " is not allowed on " +
                                                     std::string(req.path) +
                                                     " (allowed: " + extra_value_ + ")"};
    }
    // An inference request without a model, as OpenAI's API answers it (the body is read here
    // when no route asked for it).
    if (req.method == "POST" && IsInferencePath(req.path)) {
      auto asked = model.Model();
      if (asked && !*asked) {
        return Error{ErrorKind::kMissingParameter, "you must provide a model parameter", "model"};
      }
    }
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
  const bool requested = route.response_model == config::RouteConfig::ResponseModel::kRequested;
  if (requested) model.Model();  // the answers name the model the client sent
  if (const auto* f = model.fields(); f && f->model) client_model_ = *f->model;
  if (requested) usage_.SetResponseModel(client_model_);
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
