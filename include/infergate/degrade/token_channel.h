// Hands pieces of text from a producer thread (a runner on a thread pool) to the connection
// coroutine that streams them, without blocking either side. Thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/degrade/runner.h"

namespace infergate::degrade {

// A piece as the channel holds it: its text and its tokens' logprobs (when asked for).
struct ChannelPiece {
  std::string text;
  std::vector<TokenLogprob> logprobs;
};

class TokenChannel : public std::enable_shared_from_this<TokenChannel> {
 public:
  // `ex`: the consumer's executor (where Wait runs); it must be serialized (one thread or a
  // strand). Create with std::make_shared. The consumer calls Cancel() (or sees closed()) before
  // it goes away; the executor's context must outlive the channel (it owns a timer there).
  explicit TokenChannel(boost::asio::any_io_executor ex);

  // ---- producer (any thread) ----
  // Appends a piece; false when the consumer has cancelled (stop generating).
  bool Push(std::string_view piece);
  bool Push(const RunPiece& piece);
  // No more pieces. `ok`: the generation completed (false: it failed). `prompt_tokens`: what
  // the runner counted for the prompt.
  void Close(bool ok, uint64_t prompt_tokens = 0);
  // No more pieces; the generation's whole result (ok() is its `completed`).
  void Close(const RunResult& result);

  // ---- consumer (the executor's thread) ----
  // Suspends until a piece is available or the channel is closed.
  boost::asio::awaitable<void> Wait();
  // Moves out every piece pushed so far: their texts, or the pieces with their logprobs.
  std::vector<std::string> Take();
  std::vector<ChannelPiece> TakePieces();
  // Read closed() before Take(): once it is true, that Take() returns every remaining piece.
  bool closed() const;
  bool ok() const;
  uint64_t prompt_tokens() const;  // as Close set it
  RunResult result() const;        // as Close set it
  // The consumer is gone: later Push calls return false.
  void Cancel();

 private:
  void Notify();
  mutable std::mutex mu_;
  std::vector<ChannelPiece> pieces_;
  bool closed_ = false;
  RunResult result_;
  bool cancelled_ = false;
  bool notify_pending_ = false;
  boost::asio::steady_timer event_;
};

}  // namespace infergate::degrade
