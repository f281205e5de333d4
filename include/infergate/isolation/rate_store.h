// Rate counters: the GCRA (generic cell rate algorithm) cell behind every request and token
// limit, and the store that hands out one cell per limit key. README "Rate limits" states the
// semantics at the edges. The store is the seam for sharing limits across instances: the local
// store below keeps cells in this process (shared by its workers); RedisRateStore
// (redis_rate_store.h) hands out cells that spend a local allowance leased from Redis in batches
// (an atomic script per batch, never a round trip per request), and fall back to a local cell
// with a share of the limit when Redis is unreachable (leased_cell.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::isolation {

// `amount` units per `period`; the burst is `amount` (a full cell admits `amount` at once).
struct Rate {
  uint64_t amount = 0;
  Duration period = std::chrono::minutes(1);
  bool operator==(const Rate&) const = default;
};

struct RateDecision {
  bool admitted = false;
  Duration retry_after{};  // refused: until the same take would be admitted (0 when admitted)
  uint64_t remaining = 0;  // units a take could still have at once after this decision
  Duration reset{};        // until the cell is full again (nothing counted)
};

// One counter. Thread-safe: any worker takes and adjusts it.
class RateCell {
 public:
  virtual ~RateCell() = default;
  // Takes `cost` units at `now` when the cell has them. A cost above the burst is admitted only
  // from a full cell (and puts the cell in debt for the rest). A refused take counts nothing.
  virtual RateDecision Take(uint64_t cost, TimePoint now) = 0;
  // Counts `delta` more units (debt allowed) or gives `-delta` back (never above full): the
  // correction of an estimate once the real cost is known.
  virtual void Adjust(int64_t delta, TimePoint now) = 0;
  // The state at `now`, for the x-ratelimit-* headers.
  virtual RateDecision Peek(TimePoint now) const = 0;
  virtual Rate rate() const = 0;
};

// GCRA on one atomic: the theoretical arrival time (TAT) of the next unit. A take of c units is
// admitted when max(TAT, now) + c*T - now <= tau, where T = period / amount (the emission
// interval) and tau = amount * T (the burst); it moves TAT to max(TAT, now) + c*T. Lock-free.
class GcraCell final : public RateCell {
 public:
  explicit GcraCell(const Rate& rate) { SetRate(rate); }
  RateDecision Take(uint64_t cost, TimePoint now) override;
  void Adjust(int64_t delta, TimePoint now) override;
  RateDecision Peek(TimePoint now) const override;
  Rate rate() const override;
  // A new rate from now on (a reload); what was counted stays counted.
  void SetRate(const Rate& rate);

 private:
  RateDecision State(int64_t tat, int64_t now, int64_t interval, int64_t tau) const;
  std::atomic<int64_t> tat_{std::numeric_limits<int64_t>::min() / 2};  // nanoseconds
  std::atomic<int64_t> interval_{1};                                   // T, nanoseconds
  std::atomic<uint64_t> amount_{1};
  std::atomic<int64_t> period_{0};
};

// Hands out the cell of a limit key ("tenant/acme/requests"). Keys come from the config only
// (tenants, keys, routes, models), so the store's size is bounded by the config.
class RateStore {
 public:
  virtual ~RateStore() = default;
  // The same cell for the same key while a snapshot holds it, so counts survive a reload; a
  // changed rate applies from then on.
  virtual std::shared_ptr<RateCell> Cell(const std::string& key, const Rate& rate) = 0;
};

// This process's cells. Thread-safe (a mutex taken when a snapshot is built, never per request).
class LocalRateStore final : public RateStore {
 public:
  std::shared_ptr<RateCell> Cell(const std::string& key, const Rate& rate) override;

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<GcraCell>, std::less<>> cells_;
};

// OpenAI's duration format of x-ratelimit-reset-*: "120ms" under a second, else "1s", "1.5s",
// "6m0s", "1h2m3s" (milliseconds rounded up).
std::string FormatResetDuration(Duration d);
// Retry-After in whole seconds, rounded up, at least 1.
int64_t RetryAfterSeconds(Duration d);

}  // namespace infergate::isolation
