// A rate cell whose units are leased in batches from a fleet-wide counter (Redis), spent here
// without a round trip, with a local GCRA cell holding this instance's share of the limit as the
// fallback while the fleet's counter is unreachable. README "Rate limits", "Several instances".
//
// The cell itself never talks to Redis: it asks for a lease through `wake` (at most one
// outstanding) and the lease source answers with OnLease or OnLeaseFailed. Unit tests drive it
// with a fake source and a manual clock; RedisRateStore is the real source.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "infergate/isolation/rate_store.h"

namespace infergate::isolation {

// What a lease source is asked for: `want` more units, and `correction` units to count (> 0) or
// give back (< 0) on the fleet's counter first (the batched Adjust calls).
struct LeaseRequest {
  uint64_t want = 0;
  int64_t correction = 0;
};

// The fleet's answer: `granted` units (0..want), the units the fleet's counter still had after
// the grant, and, when it granted less than asked, how long until it has one more.
struct Lease {
  uint64_t granted = 0;
  uint64_t room = 0;
  Duration retry_after{};
};

class LeasedCell final : public RateCell, public std::enable_shared_from_this<LeasedCell> {
 public:
  using Wake = std::function<void(std::weak_ptr<LeasedCell>)>;
  // `local_share` (0, 1]: the fallback cell's part of `rate`. `wake` is called from Take or
  // Adjust (any thread, never blocking) when the cell wants a lease and none is outstanding.
  // `late_after`: a lease in flight longer than this (from the wake; the Redis timeout) is late:
  // takes past the allowance and the credit are then decided by the local share, as when Redis
  // is down, and counted by the fleet with the next lease, rather than refused.
  LeasedCell(std::string key, const Rate& rate, double local_share, Wake wake,
             Duration late_after = Duration::max());

  RateDecision Take(uint64_t cost, TimePoint now) override;
  void Adjust(int64_t delta, TimePoint now) override;
  RateDecision Peek(TimePoint now) const override;
  Rate rate() const override;
  void SetRate(const Rate& rate);

  // The lease source's side. BeginLease hands over the pending corrections; exactly one of
  // OnLease and OnLeaseFailed follows.
  LeaseRequest BeginLease();
  void OnLease(const LeaseRequest& asked, const Lease& lease, TimePoint now);
  // The fleet could not be reached: units leased and not spent are dropped (they stay counted
  // in the fleet), pending corrections are dropped, and Take uses the local cell until a later
  // lease succeeds (tried again no sooner than `retry_in`).
  void OnLeaseFailed(TimePoint now, Duration retry_in);
  // The fleet is reachable again: a cell on the fallback asks for a lease now rather than at its
  // next take past retry_in (so its first takes are not refused by a spent local share).
  void Rejoin(TimePoint now);

  const std::string& key() const { return key_; }
  // True while the cell spends leases (the fleet's count); false on the local fallback.
  bool shared() const { return shared_.load(std::memory_order_acquire); }
  // Units asked for per lease: 10% of the limit, at least 1.
  uint64_t batch() const { return batch_.load(std::memory_order_relaxed); }
  int64_t allowance() const { return allowance_.load(std::memory_order_acquire); }
  // When the lease in flight was asked for (its wake); meaningful while one is in flight.
  TimePoint lease_began() const {
    return TimePoint(Duration(lease_began_.load(std::memory_order_acquire)));
  }
  // Takes the local share admitted while a lease was late.
  uint64_t late_admitted() const { return late_admitted_.load(std::memory_order_relaxed); }

 private:
  void MaybeWake(TimePoint now);
  RateDecision SharedTake(uint64_t cost, TimePoint now);
  bool LeaseLate(TimePoint now) const;

  const std::string key_;
  const double share_;
  const Duration late_after_;
  Wake wake_;
  GcraCell local_;  // this instance's share: the fallback, and what it took while shared
  std::atomic<uint64_t> amount_{1};
  std::atomic<int64_t> period_{0};
  std::atomic<uint64_t> batch_{1};
  std::atomic<int64_t> allowance_{0};   // leased units not yet spent
  std::atomic<int64_t> correction_{0};  // Adjust deltas (and startup takes) not yet sent
  std::atomic<int64_t> need_{0};        // the largest take refused for want of allowance
  std::atomic<uint64_t> fleet_room_{0};
  // Units taken on credit since the last lease (the allowance spent, a lease on its way, the
  // fleet having had room at the last lease): at most a batch; sent as a correction.
  std::atomic<int64_t> credit_{0};
  std::atomic<bool> rejoining_{false};      // Redis is back; the first lease is on its way
  std::atomic<int64_t> fleet_retry_at_{0};  // ns: the fleet has no unit before this
  std::atomic<int64_t> next_lease_at_{0};   // ns: no lease asked before this
  std::atomic<bool> shared_{false};
  std::atomic<bool> leasing_{false};
  // ns: the wake of the lease in flight (max when none: a reader that sees leasing_ before the
  // new value never takes a lease just asked for as late).
  std::atomic<int64_t> lease_began_{INT64_MAX};
  std::atomic<uint64_t> late_admitted_{0};
  std::atomic<bool> ever_failed_{false};  // before the first failure, local takes are sent
};

}  // namespace infergate::isolation
