// Phase: forward, for a backend's refusal. A 400, 413 or 422 on a route with a fallback for an
// error class (context_length_exceeded, content_filter) is read to its end before anything
// reaches the client; its class decides whether the client gets it as it is or the request
// goes on to the fallbacks that serve that class.
#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"
#include "infergate/routing/error_class.h"

namespace infergate::exchange {
namespace asio = boost::asio;

asio::awaitable<std::optional<config::Trigger>> Exchange::ClassifyRefusal(
    const config::RouteConfig& route) {
  // OnBody has kept the body since the head (refusal_capture_); the rest is read into the server
  // stream's buffer, unflushed, as Stream would read it.
  while (!up_->complete() && refusal_body_.size() <= routing::kMaxClassifiedErrorBody) {
    up_deadline_.Set(route.timeouts.idle, Tag(ErrorKind::kIdleTimeout));
    PhaseResult err = co_await up_->Read(*this);
    up_deadline_.Clear();
    if (abort_ && !err) err = Error{*abort_, ""};
    if (err) {
      held_read_error_ = std::move(err);  // Stream ends the client's answer with it
      break;
    }
  }
  refusal_capture_ = false;
  if (held_read_error_ || !up_->complete()) co_return std::nullopt;
  std::optional<config::Trigger> cls = routing::ClassifyBackendError(rec_.status, refusal_body_);
  refusal_body_.clear();
  if (!cls || (route.degrade.triggers & (1u << static_cast<int>(*cls))) == 0)
    co_return std::nullopt;
  const std::string& pool = snapshot_->config->pools[static_cast<size_t>(rec_.pool)].name;
  primary_failure_ = "pool " + pool + " refused the request (" + std::to_string(rec_.status) + " " +
                     std::string(config::TriggerName(*cls)) + ")";
  // Nothing was flushed: the answer is dropped, its connection kept when it can carry another.
  up_->Finish();
  rec_.body_bytes = 0;
  DiscardResponse();
  co_return cls;
}

}  // namespace infergate::exchange
