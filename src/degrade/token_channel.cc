// TokenChannel: a mutex-guarded piece queue plus a never-expiring steady_timer used as the
// consumer's wake-up event (the producer posts a cancel of the timer onto the consumer's executor).
#include "infergate/degrade/token_channel.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

namespace infergate::degrade {

namespace asio = boost::asio;

TokenChannel::TokenChannel(asio::any_io_executor ex) : event_(std::move(ex)) {
  event_.expires_at(asio::steady_timer::time_point::max());
}

bool TokenChannel::Push(std::string_view piece) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_ || closed_) return false;
  pieces_.emplace_back(piece);
  Notify();
  return true;
}

void TokenChannel::Close(bool ok, uint64_t prompt_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  ok_ = ok;
  prompt_tokens_ = prompt_tokens;
  Notify();
}

// Called with mu_ held. Posting under the lock means that once Cancel() has returned, the
// producer never touches the consumer's executor again. post() never runs the handler inline.
void TokenChannel::Notify() {
  if (cancelled_ || notify_pending_) return;
  notify_pending_ = true;
  asio::post(event_.get_executor(), [self = shared_from_this()] {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->notify_pending_ = false;
    }
    // Wakes a waiting consumer; a no-op when none waits (Wait checks the state first).
    self->event_.cancel();
  });
}

asio::awaitable<void> TokenChannel::Wait() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pieces_.empty() || closed_ || cancelled_) co_return;
    }
    // Checking the state and starting the wait happen in one step on the executor, and the
    // notification handler runs on the same executor, so a wake-up cannot be lost in between.
    co_await event_.async_wait(asio::as_tuple(asio::use_awaitable));
    // The awaiting coroutine's own cancellation (a timeout racing this wait): give up.
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

std::vector<std::string> TokenChannel::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(pieces_, {});
}

bool TokenChannel::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool TokenChannel::ok() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ok_;
}

uint64_t TokenChannel::prompt_tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return prompt_tokens_;
}

void TokenChannel::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    pieces_.clear();
  }
  event_.cancel();
}

}  // namespace infergate::degrade
