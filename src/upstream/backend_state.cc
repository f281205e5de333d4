// Lock-free shared backend state: per-worker outcome slots and the published verdict.
#include "infergate/upstream/backend_state.h"

#include "infergate/observability/metrics.h"

namespace infergate::upstream {

BackendState::BackendState(int shards) : slots_(new Slot[shards]), shards_(shards) {}

BackendState::Slot& BackendState::Mine() {
  int shard = observability::ThreadShard();
  return slots_[shard < shards_ ? shard : 0];
}

void BackendState::RecordSuccess(bool slow) {
  Slot& s = Mine();
  s.success.fetch_add(1, std::memory_order_relaxed);
  if (slow) s.slow.fetch_add(1, std::memory_order_relaxed);
  // Reading first keeps the line shared while all is well: a store only after a failure.
  if (consecutive_.load(std::memory_order_relaxed) != 0)
    consecutive_.store(0, std::memory_order_relaxed);
}

void BackendState::RecordFailure(bool slow) {
  Slot& s = Mine();
  s.failure.fetch_add(1, std::memory_order_relaxed);
  if (slow) s.slow.fetch_add(1, std::memory_order_relaxed);
  consecutive_.fetch_add(1, std::memory_order_relaxed);
}

void BackendState::RecordIgnored() { Mine().ignored.fetch_add(1, std::memory_order_relaxed); }

void BackendState::Evidence(std::chrono::steady_clock::time_point at) {
  Mine().evidence_ns.store(at.time_since_epoch().count(), std::memory_order_relaxed);
}

OutcomeTotals BackendState::Totals() const {
  OutcomeTotals t;
  for (int i = 0; i < shards_; ++i) {
    t.success += slots_[i].success.load(std::memory_order_relaxed);
    t.failure += slots_[i].failure.load(std::memory_order_relaxed);
    t.slow += slots_[i].slow.load(std::memory_order_relaxed);
    t.ignored += slots_[i].ignored.load(std::memory_order_relaxed);
  }
  return t;
}

std::chrono::steady_clock::time_point BackendState::LastEvidence() const {
  int64_t latest = 0;
  for (int i = 0; i < shards_; ++i)
    latest = std::max(latest, slots_[i].evidence_ns.load(std::memory_order_relaxed));
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(latest));
}

void BackendState::RecordError(int error) {
  last_error_.store(error, std::memory_order_relaxed);
  last_error_ns_.store(std::chrono::system_clock::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
}

std::chrono::system_clock::time_point BackendState::last_error_at() const {
  return std::chrono::system_clock::time_point(
      std::chrono::system_clock::duration(last_error_ns_.load(std::memory_order_relaxed)));
}

void BackendState::SetLoad(double waiting, double running, double kv_cache,
                           std::chrono::steady_clock::time_point at) {
  // Seqlock writer (a single thread: the health controller).
  uint32_t seq = load_seq_.load(std::memory_order_relaxed);
  load_seq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  load_waiting_.store(waiting, std::memory_order_relaxed);
  load_running_.store(running, std::memory_order_relaxed);
  load_kv_.store(kv_cache, std::memory_order_relaxed);
  load_at_ns_.store(at.time_since_epoch().count(), std::memory_order_relaxed);
  load_valid_.store(true, std::memory_order_relaxed);
  load_seq_.store(seq + 2, std::memory_order_release);
  dispatched_.store(0, std::memory_order_relaxed);
}

LoadReport BackendState::load() const {
  constexpr int kTries = 4;
  LoadReport r;
  for (int i = 0; i < kTries; ++i) {
    uint32_t before = load_seq_.load(std::memory_order_acquire);
    r.waiting = load_waiting_.load(std::memory_order_relaxed);
    r.running = load_running_.load(std::memory_order_relaxed);
    r.kv_cache = load_kv_.load(std::memory_order_relaxed);
    r.at = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(load_at_ns_.load(std::memory_order_relaxed)));
    r.valid = load_valid_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    uint32_t after = load_seq_.load(std::memory_order_relaxed);
    if (before == after && (before & 1u) == 0) break;  // a consistent snapshot
  }
  return r;
}

void BackendState::SetFlag(uint32_t flag, bool on) {
  if (on) {
    flags_.fetch_or(flag, std::memory_order_relaxed);
  } else {
    flags_.fetch_and(~flag, std::memory_order_relaxed);
  }
}

}  // namespace infergate::upstream
