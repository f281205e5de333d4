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

bool TokenChannel::Push(std::string_view piece) { return Push(RunPiece{piece}); }

bool TokenChannel::Push(const RunPiece& piece) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_ || closed_) return false;
  pieces_.push_back(
      ChannelPiece{std::string(piece.text), {piece.logprobs.begin(), piece.logprobs.end()}});
  Notify();
  return true;
}

void TokenChannel::Close(bool ok, uint64_t prompt_tokens) {
  RunResult r;
  r.completed = ok;
  r.prompt_tokens = prompt_tokens;
  Close(r);
}

void TokenChannel::Close(const RunResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  result_ = result;
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
  std::vector<std::string> texts;
  for (ChannelPiece& p : TakePieces()) texts.push_back(std::move(p.text));
  return texts;
}

std::vector<ChannelPiece> TokenChannel::TakePieces() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(pieces_, {});
}

bool TokenChannel::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool TokenChannel::ok() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_.completed;
}

uint64_t TokenChannel::prompt_tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_.prompt_tokens;
}

RunResult TokenChannel::result() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_;
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
