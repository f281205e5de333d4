// Phase: stream. Each piece of the backend's body goes to the server stream as it arrives; the
// head went first, and with it the point of no return for retries. A stream that breaks
// mid-way reaches the client as an abnormal end, never as a clean one.
#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"

namespace infergate::exchange {
namespace asio = boost::asio;

asio::awaitable<void> Exchange::Stream(const config::RouteConfig& route) {
  auto write = [this](std::string_view out) {
    rec_.body_bytes += out.size();
    server_->WriteBody(out);
  };
  while (true) {
    if (up_->complete()) {
      usage_.End(write);  // an event the usage codec still holds
      server_->WriteEnd();
    }
    const bool flushed = co_await server_->Flush();
    if (!flushed) {
      Abort(ErrorKind::kClientAbort);
      rec_.error = ErrorKind::kClientAbort;
      break;
    }
    rec_.response_started = true;
    if (usage_.TakeFirstToken()) rec_.first_token_at = env_.timers->Now();
    if (up_->complete()) break;
    PhaseResult err = std::move(held_read_error_);  // a read that failed before (refusal.cc)
    held_read_error_.reset();
    if (!err) {
      up_deadline_.Set(route.timeouts.idle, Tag(ErrorKind::kIdleTimeout));
      err = co_await up_->Read(*this);
      up_deadline_.Clear();
    }
    if (!err) continue;
    rec_.error = abort_ ? *abort_ : err->kind;
    if (rec_.error != ErrorKind::kClientAbort) {
      IG_WARN(
          "rid=%s route=%s: response cut mid-stream (%s); ending the client's response "
          "abnormally",
          request_id_.c_str(), route.name.c_str(),
          std::string(DescribeError(*rec_.error).name).c_str());
      rec_.error = rec_.error == ErrorKind::kIdleTimeout || rec_.error == ErrorKind::kTotalTimeout
                       ? *rec_.error
                       : ErrorKind::kUpstreamBodyBroken;
      lease_->RecordBroken(*rec_.error, rec_.status);
      // What arrived before the failure is delivered, without an end.
      co_await server_->Reset();
    }
    usage_.Fill(rec_);
    lease_.reset();
    DropUpstream();
    co_return;
  }
  usage_.Fill(rec_);
  // Complete (or the client went away): the backend connection is kept when it can carry
  // another request.
  lease_.reset();
  if (!abort_ && up_->complete()) up_->Finish();
  DropUpstream();
}

}  // namespace infergate::exchange
