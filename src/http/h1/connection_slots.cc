// A new HTTP/1.1 (or h2c) connection's slot under its listener's max_connections: this worker's
// oldest idle keep-alive connection, else its oldest unfinished request head, is closed to make
// room when the listener is at its cap.
#include "infergate/core/log.h"
#include "infergate/http/h1/transport.h"

namespace infergate::h1 {

bool TakeConnectionSlot(exchange::WorkerContext& ctx, size_t listener) {
  exchange::ListenerRuntime& lr = *ctx.listeners[listener];
  if (lr.slots.TryTake()) return true;
  switch (ctx.sheddable[listener].ShedOne()) {
    case exchange::ConnState::kIdle:
      lr.shed_idle->Inc();
      break;
    case exchange::ConnState::kHead:
      lr.shed_head->Inc();
      break;
    case exchange::ConnState::kBusy:
      break;
  }
  if (lr.slots.TryTake()) return true;
  lr.rejected->Inc();
  thread_local TimePoint last_warn{};
  const TimePoint now = std::chrono::steady_clock::now();
  if (last_warn == TimePoint{} || now - last_warn > std::chrono::seconds(10)) {
    last_warn = now;
    IG_WARN("listener %s is at max_connections (%llu): closing new connections", lr.name.c_str(),
            static_cast<unsigned long long>(lr.slots.max()));
  }
  return false;
}

}  // namespace infergate::h1
