// CORS per listener (the Fetch standard's CORS protocol, as Envoy's CORS filter applies it):
// preflights are answered here before authentication and routing; every other answer to an
// allowed Origin (proxied, the gateway's own, errors) gets the listener's Access-Control-*
// fields through the counting stream. A backend's access-control-* fields never pass on a CORS
// listener: the listener's policy is the only one. Nothing is added for other origins.
#include <algorithm>

#include "infergate/exchange/exchange.h"

namespace infergate::exchange {
namespace asio = boost::asio;

namespace {

// Always readable by scripts on an allowed origin, besides the configured expose_headers.
constexpr std::string_view kExposedByDefault[] = {"x-request-id", "x-infergate-degraded"};

void AppendList(std::string& out, std::string_view item) {
  if (!out.empty()) out += ", ";
  out += item;
}

}  // namespace

bool Exchange::PrepareCors() {
  cors_allowed_ = false;
  const std::optional<config::CorsConfig>& policy = server_->listener().cors;
  if (!policy) return false;
  const std::string_view origin = req_->Get("origin");
  const bool preflight = req_->method == "OPTIONS" && !origin.empty() &&
                         !req_->Get("access-control-request-method").empty();
  const bool any = policy->allow_origins.size() == 1 && policy->allow_origins[0] == "*";
  cors_allowed_ = !origin.empty() &&
                  (any || std::any_of(policy->allow_origins.begin(), policy->allow_origins.end(),
                                      [&](const std::string& o) { return IEquals(o, origin); }));
  if (cors_allowed_)
    cors_origin_.assign(any && !policy->allow_credentials ? std::string_view("*") : origin);
  if (preflight) return true;
  // Every other answer: a backend's access-control-* fields never pass on a CORS listener.
  std::vector<HeaderField> fields;
  if (cors_allowed_) {
    cors_expose_.clear();
    for (std::string_view h : kExposedByDefault) AppendList(cors_expose_, h);
    for (const std::string& h : policy->expose_headers) {
      if (std::find(std::begin(kExposedByDefault), std::end(kExposedByDefault), h) ==
          std::end(kExposedByDefault))
        AppendList(cors_expose_, h);
    }
    fields = {{"access-control-allow-origin", cors_origin_},
              {"access-control-expose-headers", cors_expose_},
              {"vary", "Origin"}};
    if (policy->allow_credentials) fields.push_back({"access-control-allow-credentials", "true"});
  }
  counting_.SetCors(std::move(fields));
  return false;
}

// 204 to every preflight: with the allow fields for an allowed origin, without them otherwise
// (the browser's CORS check then fails; the origin learns nothing a 403 would not tell it).
asio::awaitable<void> Exchange::Preflight() {
  const config::CorsConfig& policy = *server_->listener().cors;
  http::ResponseHead head;
  head.status = 204;
  head.has_body = false;
  std::string methods, headers, max_age;
  if (cors_allowed_) {
    for (const std::string& m : policy.allow_methods) AppendList(methods, m);
    for (const std::string& h : policy.allow_headers) AppendList(headers, h);
    max_age =
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(policy.max_age).count());
    head.headers.push_back({"access-control-allow-origin", cors_origin_});
    if (!methods.empty()) head.headers.push_back({"access-control-allow-methods", methods});
    if (!headers.empty()) head.headers.push_back({"access-control-allow-headers", headers});
    head.headers.push_back({"access-control-max-age", max_age});
    if (policy.allow_credentials)
      head.headers.push_back({"access-control-allow-credentials", "true"});
    head.headers.push_back({"vary", "Origin"});
  }
  head.headers.push_back({"x-request-id", request_id_});
  rec_.status = 204;
  rec_.head_at = env_.timers->Now();
  server_->Discard();
  server_->WriteHead(head);
  server_->WriteEnd();
  co_await Flush();
}

}  // namespace infergate::exchange
