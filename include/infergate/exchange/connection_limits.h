// Caps on client connections: each listener's count of open connections, shared by every worker,
// against its max_connections; and per worker and listener, the connections that may be closed
// to make room under pressure (idle keep-alive ones first, then the oldest unfinished request
// head), oldest first.
#pragma once

#include <sys/resource.h>

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <cstdint>
#include <string>

#include "infergate/observability/metrics.h"

namespace infergate::exchange {

// A listener's open connections against its cap. Thread-safe; shared by every worker.
class ListenerSlots {
 public:
  explicit ListenerSlots(uint64_t max) : max_(max) {}
  // One more connection, unless the listener is at its cap.
  bool TryTake() {
    if (open_.fetch_add(1, std::memory_order_relaxed) < max()) return true;
    open_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void Give() { open_.fetch_sub(1, std::memory_order_relaxed); }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  // A reload's new cap: connections over it stay; new ones wait for room.
  void set_max(uint64_t max) { max_.store(max, std::memory_order_relaxed); }
  uint64_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> max_;
};

// One listener's process-wide connection state and its metric handles. Its open connections and
// cap are read from `slots` when /metrics is scraped (infergate_listener_connections,
// infergate_listener_max_connections); `registry` must outlive it.
struct ListenerRuntime {
  ListenerRuntime(uint64_t max, observability::Registry& registry, const std::string& name);
  ~ListenerRuntime();
  ListenerRuntime(const ListenerRuntime&) = delete;
  ListenerRuntime& operator=(const ListenerRuntime&) = delete;
  const std::string name;
  // Set when a reload removed the listener: its connections finish their current response and
  // close (HTTP/2: GOAWAY), idle ones at once.
  std::atomic<bool> closed{false};
  ListenerSlots slots;
  observability::Counter* rejected = nullptr;   // closed at accept: at the cap, nothing to shed
  observability::Counter* shed_idle = nullptr;  // idle keep-alive closed to make room
  observability::Counter* shed_head = nullptr;  // unfinished request head closed to make room
  observability::Counter* accept_fd_limit = nullptr;  // accept failed: EMFILE or ENFILE
  observability::Counter* accept_other = nullptr;     // accept failed otherwise (ENOBUFS, ...)
  observability::Counter* tls_timeout = nullptr;      // TLS handshake not done in time
  observability::Counter* tls_failed = nullptr;       // TLS handshake refused

 private:
  observability::Registry& registry_;
  std::string labels_;
};

// What a connection is doing, for shedding: kHead from accept (or from the first byte of a
// later request) until its request head is complete; kIdle between keep-alive requests.
enum class ConnState { kBusy, kHead, kIdle };

// A client connection that can be closed to make room for a new one.
class Sheddable : public boost::intrusive::list_base_hook<
                      boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~Sheddable() = default;
  // Closes the connection now and gives its slot back at once.
  virtual void Shed() = 0;
};

// One worker's sheddable connections of one listener, each list oldest first. Worker-local.
class SheddableLists {
 public:
  // Moves `c` to the back of the list for `state` (kBusy: out of both lists).
  void Enter(Sheddable& c, ConnState state) {
    if (c.is_linked()) c.unlink();
    if (state == ConnState::kIdle) idle_.push_back(c);
    if (state == ConnState::kHead) head_.push_back(c);
  }
  // Closes the oldest idle connection, else the oldest unfinished head. kBusy when none.
  ConnState ShedOne() {
    for (auto* list : {&idle_, &head_}) {
      if (list->empty()) continue;
      Sheddable& victim = list->front();
      victim.unlink();
      victim.Shed();
      return list == &idle_ ? ConnState::kIdle : ConnState::kHead;
    }
    return ConnState::kBusy;
  }
  // Closes every idle connection (their listener was removed); returns how many.
  size_t ShedIdle() {
    size_t n = 0;
    while (!idle_.empty()) {
      Sheddable& victim = idle_.front();
      victim.unlink();
      victim.Shed();
      ++n;
    }
    return n;
  }

 private:
  using List = boost::intrusive::list<Sheddable, boost::intrusive::constant_time_size<false>>;
  List idle_;
  List head_;
};

// The default max_connections of each of `listeners` listeners: half of the descriptors left
// under `fd_limit` after `reserved` (each client connection may hold one upstream socket),
// shared equally; at least 1.
uint64_t DefaultMaxConnections(uint64_t fd_limit, uint64_t reserved, size_t listeners);

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit in force.
uint64_t RaiseFdLimit();

}  // namespace infergate::exchange
