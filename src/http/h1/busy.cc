// The per-worker free list of the HTTP/1.1 transport's per-exchange state (busy.h).
#include "busy.h"

#include "infergate/core/random.h"

namespace infergate::h1 {

namespace {
// The decoded body's and the output buffer's capacity kept on a spare (larger: released).
constexpr size_t kKeepCapacity = 4096;
}  // namespace

Busy::Busy(exchange::WorkerContext& ctx, const boost::asio::any_io_executor& ex)
    : decoder(http::RequestLimits{}),
      read_event(ex),
      exchange(exchange::Env{&ctx, ctx.timers, &ThreadRng(), ctx.connector.get(), ex}) {
  decoder.PauseAtHead(true);  // the body waits for ReceiveBody
}

std::unique_ptr<Busy> BusyPool::Take(exchange::WorkerContext& ctx,
                                     const boost::asio::any_io_executor& ex,
                                     const http::RequestLimits& limits) {
  if (!ctx.h1_spares) ctx.h1_spares = std::make_unique<BusyPool>();
  auto* pool = static_cast<BusyPool*>(ctx.h1_spares.get());
  std::unique_ptr<Busy> busy;
  if (!pool->free_.empty()) {
    busy = std::move(pool->free_.back());
    pool->free_.pop_back();
  } else {
    busy = std::make_unique<Busy>(ctx, ex);
  }
  busy->decoder.set_limits(limits);
  return busy;
}

void BusyPool::Give(exchange::WorkerContext& ctx, std::unique_ptr<Busy> busy) {
  auto* pool = static_cast<BusyPool*>(ctx.h1_spares.get());
  // Null while the worker shuts down (the spares went before the io_context): deleted now.
  if (pool == nullptr || pool->free_.size() >= kMaxSpare) return;
  busy->request = http::Request{};
  busy->peer_gone.Reset();
  if (busy->out.capacity() > kKeepCapacity) std::string().swap(busy->out);
  busy->out.clear();
  if (busy->decoder.body().capacity() > kKeepCapacity) busy->decoder.Reset();  // a large body
  if (busy->in.capacity() > kKeepCapacity) std::vector<char>().swap(busy->in);
  pool->free_.push_back(std::move(busy));
}

}  // namespace infergate::h1
