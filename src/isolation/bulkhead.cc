// Bulkhead: lock-free slot taking while nobody waits; a wait queue ordered by tier then arrival,
// with per-tier shares, eviction of lower tiers, expiry and cancellation under one mutex.
#include "infergate/isolation/bulkhead.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace infergate::isolation {
namespace {

// A ticket is also the waiter's key in the queue: the tier in the top 16 bits, a per-bulkhead
// arrival number below, so the map's order is "highest tier first, then oldest first" and
// Cancel() finds a waiter by its ticket alone.
constexpr int kSeqBits = 48;
constexpr uint64_t kSeqMask = (uint64_t{1} << kSeqBits) - 1;
constexpr size_t kMaxTier = 0xffff;

size_t ClampTier(size_t tier) { return std::min(tier, kMaxTier); }
uint64_t Key(size_t tier, uint64_t seq) {
  return (static_cast<uint64_t>(tier) << kSeqBits) | (seq & kSeqMask);
}
size_t TierOf(uint64_t key) { return static_cast<size_t>(key >> kSeqBits); }

// floor(total * (100 - reserve) / 100) with `reserve` clamped into [0, 100].
uint32_t Share(uint32_t total, double reserve) {
  if (!(reserve > 0.0)) reserve = 0.0;  // negative or NaN
  if (reserve > 100.0) reserve = 100.0;
  // The epsilon keeps exact products (10 x 60 / 100) from rounding down through FP error.
  const double v = std::floor(static_cast<double>(total) * (100.0 - reserve) / 100.0 + 1e-9);
  return static_cast<uint32_t>(std::clamp(v, 0.0, static_cast<double>(total)));
}

// A decision taken under the lock, run after it is released.
struct Fired {
  Bulkhead::Callback callback;
  bool admitted;
  Rejection why;
};

void RunAll(std::vector<Fired>& fired) {
  for (Fired& f : fired) f.callback(f.admitted, f.why);
}

}  // namespace

struct Bulkhead::Impl {
  struct Waiter {
    TimePoint since;
    Callback callback;
  };

  // The limits in force: replaced whole by SetOptions (readers take the pointer once per
  // decision); every set ever published stays allocated until the bulkhead goes, so a reader
  // never sees one freed under it (a few bytes per reload that changed this compartment).
  struct Limits {
    explicit Limits(const BulkheadOptions& options)
        : max_concurrent(std::max<uint32_t>(options.max_concurrent, 1)),
          max_queue(options.max_queue),
          max_wait(options.max_wait) {
      for (double r : options.tier_reserve_percent) {
        slot_cap.push_back(std::max<uint32_t>(Share(max_concurrent, r), 1));
        queue_cap.push_back(Share(max_queue, r));
      }
    }
    uint32_t SlotCap(size_t tier) const {
      return tier < slot_cap.size() ? slot_cap[tier] : max_concurrent;
    }
    uint32_t QueueCap(size_t tier) const {
      return tier < queue_cap.size() ? queue_cap[tier] : max_queue;
    }
    uint32_t max_concurrent;
    uint32_t max_queue;
    std::chrono::nanoseconds max_wait;
    std::vector<uint32_t> slot_cap;   // by tier, for the tiers with a reserve entry
    std::vector<uint32_t> queue_cap;  // likewise
  };

  Impl(const BulkheadOptions& options, const Clock& c) : clock(c) { Publish(options); }

  const Limits& limits() const { return *current.load(std::memory_order_acquire); }
  // Requires mu (or no other thread yet).
  void Publish(const BulkheadOptions& options) {
    history.push_back(std::make_unique<const Limits>(options));
    current.store(history.back().get(), std::memory_order_release);
  }

  // Takes a slot while fewer than `cap` are in flight. Sequentially consistent so that a
  // Release() that sees no waiter and an Enqueue() that sees no free slot cannot both happen
  // (see Release()).
  bool TakeSlot(uint32_t cap) {
    uint32_t v = in_flight.load(std::memory_order_seq_cst);
    while (v < cap) {
      if (in_flight.compare_exchange_weak(v, v + 1, std::memory_order_seq_cst)) return true;
    }
    return false;
  }

  // Removes a waiter, moving its callback out. Requires mu.
  Callback Remove(std::map<uint64_t, Waiter>::iterator it) {
    Callback cb = std::move(it->second.callback);
    --queued_by_tier[TierOf(it->first)];
    queue.erase(it);
    return cb;
  }

  // Hands free slots to waiters: per tier from the highest, oldest first, while the tier's share
  // allows. Requires mu; publishes the new queue length.
  void Dispatch(std::vector<Fired>& fired) {
    const Limits& l = limits();
    auto it = queue.begin();
    while (it != queue.end()) {
      if (in_flight.load(std::memory_order_seq_cst) >= l.max_concurrent) break;
      const size_t tier = TierOf(it->first);
      if (TakeSlot(l.SlotCap(tier))) {
        auto next = std::next(it);
        fired.push_back({Remove(it), true, Rejection::kNone});
        it = next;
        continue;
      }
      if (tier == kMaxTier) break;
      it = queue.lower_bound(Key(tier + 1, 0));  // this tier is at its share: try lower ones
    }
    waiting.store(static_cast<uint32_t>(queue.size()), std::memory_order_seq_cst);
  }

  const Clock& clock;
  std::atomic<const Limits*> current{nullptr};
  std::vector<std::unique_ptr<const Limits>> history;  // under mu

  alignas(64) std::atomic<uint32_t> in_flight{0};
  alignas(64) std::atomic<uint32_t> waiting{0};  // queue.size(), written under mu

  mutable std::mutex mu;
  std::map<uint64_t, Waiter> queue;      // by Key(tier, arrival)
  std::vector<uint32_t> queued_by_tier;  // grown to the highest tier seen
  uint64_t next_seq = 0;
};

Bulkhead::Bulkhead(BulkheadOptions options, const Clock& clock)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, clock)) {}

Bulkhead::~Bulkhead() = default;

bool Bulkhead::TryAcquire(size_t tier) {
  tier = ClampTier(tier);
  const uint32_t cap = impl_->limits().SlotCap(tier);
  // Fast path: nobody waits, so nobody can be overtaken. (An Enqueue() racing with this call is
  // a concurrent arrival; either order is correct.)
  if (impl_->waiting.load(std::memory_order_seq_cst) == 0) return impl_->TakeSlot(cap);
  std::lock_guard lock(impl_->mu);
  if (!impl_->queue.empty() && TierOf(impl_->queue.begin()->first) <= tier) return false;
  return impl_->TakeSlot(cap);
}

std::optional<uint64_t> Bulkhead::Enqueue(size_t tier, Callback callback) {
  tier = ClampTier(tier);
  Impl& m = *impl_;
  std::vector<Fired> fired;
  uint64_t ticket = 0;
  {
    std::lock_guard lock(m.mu);
    const Impl::Limits& l = m.limits();
    if (l.max_queue == 0) return std::nullopt;
    if (m.queue.size() >= l.QueueCap(tier)) {
      // Full for this tier: push out the newest waiter of the lowest tier, if lower than ours.
      if (m.queue.empty()) return std::nullopt;
      auto newest = std::prev(m.queue.end());
      if (TierOf(newest->first) <= tier) return std::nullopt;
      fired.push_back({m.Remove(newest), false, Rejection::kEvicted});
    }
    ticket = Key(tier, ++m.next_seq);
    m.queue.emplace(ticket, Impl::Waiter{m.clock.Now(), std::move(callback)});
    if (m.queued_by_tier.size() <= tier) m.queued_by_tier.resize(tier + 1, 0);
    ++m.queued_by_tier[tier];
    m.waiting.store(static_cast<uint32_t>(m.queue.size()), std::memory_order_seq_cst);
    // A slot freed since the caller's TryAcquire() (its Release() may have seen no waiter yet).
    m.Dispatch(fired);
  }
  RunAll(fired);
  return ticket;
}

void Bulkhead::Release() {
  Impl& m = *impl_;
  m.in_flight.fetch_sub(1, std::memory_order_seq_cst);
  // Either this load sees a waiter queued concurrently, or that Enqueue()'s Dispatch() sees the
  // slot just freed (both sides are seq_cst: store, then load the other's variable).
  if (m.waiting.load(std::memory_order_seq_cst) == 0) return;
  std::vector<Fired> fired;
  {
    std::lock_guard lock(m.mu);
    m.Dispatch(fired);
  }
  RunAll(fired);
}

void Bulkhead::Expire() {
  Impl& m = *impl_;
  std::vector<Fired> fired;
  {
    std::lock_guard lock(m.mu);
    const TimePoint now = m.clock.Now();
    const auto max_wait = m.limits().max_wait;
    // Within a tier the oldest comes first, so each tier stops at its first young waiter.
    auto it = m.queue.begin();
    while (it != m.queue.end()) {
      const size_t tier = TierOf(it->first);
      if (now - it->second.since >= max_wait) {
        auto next = std::next(it);
        fired.push_back({m.Remove(it), false, Rejection::kQueueTimeout});
        it = next;
        continue;
      }
      if (tier == kMaxTier) break;
      it = m.queue.lower_bound(Key(tier + 1, 0));
    }
    m.waiting.store(static_cast<uint32_t>(m.queue.size()), std::memory_order_seq_cst);
  }
  RunAll(fired);
}

bool Bulkhead::Cancel(uint64_t ticket) {
  Impl& m = *impl_;
  Callback dropped;  // destroyed after the lock is released
  {
    std::lock_guard lock(m.mu);
    auto it = m.queue.find(ticket);
    if (it == m.queue.end()) return false;
    dropped = m.Remove(it);
    m.waiting.store(static_cast<uint32_t>(m.queue.size()), std::memory_order_seq_cst);
  }
  return true;
}

void Bulkhead::SetOptions(const BulkheadOptions& options) {
  Impl& m = *impl_;
  std::vector<Fired> fired;
  {
    std::lock_guard lock(m.mu);
    options_ = options;
    m.Publish(options);
    m.Dispatch(fired);  // more room: waiters go in now
  }
  RunAll(fired);
}

BulkheadOptions Bulkhead::options() const {
  std::lock_guard lock(impl_->mu);
  return options_;
}

uint32_t Bulkhead::in_flight() const { return impl_->in_flight.load(std::memory_order_relaxed); }

uint32_t Bulkhead::queued() const { return impl_->waiting.load(std::memory_order_relaxed); }

uint32_t Bulkhead::queued_ahead(size_t tier) const {
  tier = ClampTier(tier);
  std::lock_guard lock(impl_->mu);
  uint32_t n = 0;
  const auto& by_tier = impl_->queued_by_tier;
  for (size_t t = 0; t <= tier && t < by_tier.size(); ++t) n += by_tier[t];
  return n;
}

}  // namespace infergate::isolation
