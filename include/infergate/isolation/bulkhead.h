// A compartment's admission control (bulkhead): `max_concurrent` slots shared by every worker,
// a bounded wait queue ordered by priority tier then arrival, and tier reservation (a tier may
// use only part of the slots and of the queue; the rest is held for higher tiers).
//
// Thread-safe. Taking a free slot while nobody waits is one compare-and-swap; the mutex is taken
// only to queue, hand over or expire waiters, i.e. only while the compartment is saturated.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "infergate/core/clock.h"

namespace infergate::isolation {

struct BulkheadOptions {
  uint32_t max_concurrent = 64;                   // >= 1
  uint32_t max_queue = 0;                         // 0: nobody waits
  std::chrono::nanoseconds max_wait{1000000000};  // longest wait in the queue
  // By tier (0 = highest). Tier t may hold at most floor(max_concurrent * (100 - r[t]) / 100)
  // slots (at least 1) and may queue only while fewer than floor(max_queue * (100 - r[t]) / 100)
  // requests wait. Both count the whole compartment: a tier-t request takes a slot only while
  // fewer than its share are in flight in all tiers together. Missing entries mean 0. Values in
  // [0, 100) (out-of-range values are clamped). Tiers above 65535 count as 65535.
  std::vector<double> tier_reserve_percent;
  bool operator==(const BulkheadOptions&) const = default;
};

// How a queued request ended without a slot.
enum class Rejection {
  kNone,
  kQueueTimeout,  // waited max_wait
  kEvicted,       // pushed out of a full queue by a higher tier
};

class Bulkhead {
 public:
  // Called exactly once per queued request, from the thread that decided (the one releasing a
  // slot, expiring or evicting), never under the bulkhead's lock. `admitted`: the request now
  // holds a slot and must Release() it.
  using Callback = std::function<void(bool admitted, Rejection why)>;

  // `clock` must outlive the bulkhead.
  Bulkhead(BulkheadOptions options, const Clock& clock);
  // Drops the callbacks of requests still queued, unrun.
  ~Bulkhead();
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  // A slot now, when the tier's share has room and no request of the same or a higher tier waits
  // (no overtaking).
  bool TryAcquire(size_t tier);

  // Queues the request. nullopt (and the callback is not kept) when it may not wait: no queue,
  // or the queue is full for its tier and holds no lower-tier request to evict. Evicting calls
  // the evicted request's callback with kEvicted (the newest of the lowest tier goes first).
  // Callers try TryAcquire() first; Enqueue() then hands any slot free for the queue's order (one
  // freed meanwhile) at once, so the callback may run, admitted, before Enqueue returns (the
  // ticket is still returned, and Cancel() of it answers false).
  std::optional<uint64_t> Enqueue(size_t tier, Callback callback);

  // Gives a slot back (only from a holder of one) and hands it to the highest-tier, oldest waiter
  // whose share allows it.
  void Release();

  // Fails every waiter queued for max_wait or longer (callback: kQueueTimeout). Callers arm a
  // timer for max_wait after queueing and call this when it fires.
  void Expire();

  // Withdraws a queued request (its client went away). False when it is no longer queued: its
  // callback has run or is running (if it was admitted, the caller must Release()).
  bool Cancel(uint64_t ticket);

  uint32_t in_flight() const;
  uint32_t queued() const;
  // Requests queued ahead of a new arrival of `tier` (same or higher tiers). Lock-taking.
  uint32_t queued_ahead(size_t tier) const;
  // New limits from now on (a reload): holders keep their slots and waiters their place. More
  // room admits waiters at once; less admits nobody until enough slots are given back; a shorter
  // queue refuses newcomers while it is over, and a shorter max_wait applies at the next Expire.
  void SetOptions(const BulkheadOptions& options);
  BulkheadOptions options() const;

 private:
  struct Impl;
  BulkheadOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::isolation
