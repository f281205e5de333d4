// Per-backend state shared by every worker and the health controller, without locks.
//
// Workers (the data path) read the routing verdict with one relaxed load per pick and record each
// attempt's outcome into their own cache line. The health controller (one control thread) sums
// the per-worker outcomes, runs the state machines (phi detector, probes, breaker, ejection) and
// publishes the verdict, and the load the backend reports on its own /metrics page. Nothing here
// blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>

namespace infergate::upstream {

// Why a backend takes no new requests. Several may hold at once.
enum BackendFlag : uint32_t {
  kProbeDown = 1u << 0,      // active health checks failed unhealthy_threshold times in a row
  kSuspected = 1u << 1,      // phi-accrual detector above its threshold
  kEjected = 1u << 2,        // outlier ejection after consecutive gateway failures
  kBreakerOpen = 1u << 3,    // circuit breaker open
  kDraining = 1u << 4,       // an operator asked for it (admin drain)
  kHalfOpen = 1u << 5,       // breaker half-open: only probe permits pass
  kWarmingUp = 1u << 6,      // back from an outage, waiting for its warm-up request to answer
  kCanaryDown = 1u << 7,     // inference canaries failed unhealthy_threshold times in a row
  kSharedSuspect = 1u << 8,  // another gateway instance convicted it (shared_state.verdicts)
};
inline constexpr uint32_t kUnroutable = kProbeDown | kSuspected | kEjected | kBreakerOpen |
                                        kDraining | kWarmingUp | kCanaryDown | kSharedSuspect;
// This instance's own convictions: what it tells the others (a half-open breaker still counts).
inline constexpr uint32_t kOwnConviction =
    kProbeDown | kSuspected | kEjected | kBreakerOpen | kHalfOpen | kCanaryDown;

// The attempt outcomes one worker saw for one backend; monotonic counters.
struct OutcomeTotals {
  uint64_t success = 0;
  uint64_t failure = 0;  // backend faults only (see resilience::ClassifyForBreaker)
  uint64_t slow = 0;     // successes or failures slower than the breaker's slow-call duration
  uint64_t ignored = 0;  // client faults, aborts: never held against the backend
};

// The load a backend last reported itself (load_report: its Prometheus gauges).
struct LoadReport {
  double waiting = 0;    // requests queued in the backend
  double running = 0;    // requests being served
  double kv_cache = -1;  // KV-cache usage 0..1; < 0 when the backend does not report it
  std::chrono::steady_clock::time_point at{};  // when the report was read
  bool valid = false;                          // false until the first report
};

class BackendState {
 public:
  // `shards`: worker count + 1 (shard 0 for non-worker threads).
  explicit BackendState(int shards);

  // ---- data path (any worker) ----
  uint32_t flags() const { return flags_.load(std::memory_order_relaxed); }
  bool routable() const { return (flags() & kUnroutable) == 0; }
  // Half-open: true for at most the permits the controller granted.
  bool TryTakePermit() { return permits_.fetch_sub(1, std::memory_order_acq_rel) > 0; }
  // Slow-start weight in thousandths of the configured weight (1000 = full).
  uint32_t weight_permille() const { return weight_permille_.load(std::memory_order_relaxed); }
  void RecordSuccess(bool slow);
  void RecordFailure(bool slow);
  void RecordIgnored();
  // Evidence of life (a response head, a streamed chunk): the steady-clock time it arrived.
  void Evidence(std::chrono::steady_clock::time_point at);
  // A request was sent to this backend (counted only for pools with load_report: it makes up
  // for the requests a report cannot show yet).
  void NoteDispatched() { dispatched_.fetch_add(1, std::memory_order_relaxed); }
  // Requests dispatched since the last SetLoad.
  uint64_t dispatched_since_report() const { return dispatched_.load(std::memory_order_relaxed); }
  // The last report; never blocks. The controller publishes under a sequence counter and a
  // reader retries a few times while a publication is in progress; should it still overlap one
  // (the writer preempted mid-publication) it gets fields of two consecutive reports, which is
  // harmless for balancing: each field is itself a whole value.
  LoadReport load() const;

  // ---- control thread ----
  OutcomeTotals Totals() const;
  std::chrono::steady_clock::time_point LastEvidence() const;
  // Consecutive backend faults across all workers (reset by any success).
  uint32_t consecutive_failures() const { return consecutive_.load(std::memory_order_relaxed); }
  void ResetConsecutive() { consecutive_.store(0, std::memory_order_relaxed); }
  void SetFlag(uint32_t flag, bool on);
  void SetPermits(int32_t n) { permits_.store(n, std::memory_order_release); }
  void SetWeightPermille(uint32_t w) { weight_permille_.store(w, std::memory_order_relaxed); }
  void SetPhi(double phi) { phi_.store(phi, std::memory_order_relaxed); }
  void SetEjections(uint32_t n) { ejections_.store(n, std::memory_order_relaxed); }
  // Publishes a report (`kv_cache` < 0: unknown) read at `at`, and restarts the dispatched count:
  // the backend's own numbers include what was sent before it answered (a request sent while the
  // scrape was in flight is forgotten: a slight undercount for one interval).
  void SetLoad(double waiting, double running, double kv_cache,
               std::chrono::steady_clock::time_point at);

  // ---- operator view (admin) ----
  double phi() const { return phi_.load(std::memory_order_relaxed); }
  uint32_t ejections() const { return ejections_.load(std::memory_order_relaxed); }
  // The last backend fault and its wall-clock time: an ErrorKind value (>= 0), or minus the HTTP
  // status a backend failed with (e.g. -503); kNoError when there was none.
  static constexpr int kNoError = INT32_MIN;
  void RecordError(int error);
  int last_error() const { return last_error_.load(std::memory_order_relaxed); }
  std::chrono::system_clock::time_point last_error_at() const;

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> success{0};
    std::atomic<uint64_t> failure{0};
    std::atomic<uint64_t> slow{0};
    std::atomic<uint64_t> ignored{0};
    std::atomic<int64_t> evidence_ns{0};
  };
  Slot& Mine();

  std::unique_ptr<Slot[]> slots_;
  int shards_;
  alignas(64) std::atomic<uint32_t> flags_{0};
  std::atomic<int32_t> permits_{0};
  std::atomic<uint32_t> weight_permille_{1000};
  std::atomic<double> phi_{0};
  std::atomic<uint32_t> ejections_{0};
  alignas(64) std::atomic<uint32_t> consecutive_{0};
  std::atomic<int32_t> last_error_{kNoError};
  std::atomic<int64_t> last_error_ns_{0};
  // Written by every worker on each dispatch: a line of its own.
  alignas(64) std::atomic<uint64_t> dispatched_{0};
  // The load report under a sequence counter (odd while being written); one writer.
  alignas(64) std::atomic<uint32_t> load_seq_{0};
  std::atomic<double> load_waiting_{0};
  std::atomic<double> load_running_{0};
  std::atomic<double> load_kv_{-1};
  std::atomic<int64_t> load_at_ns_{0};
  std::atomic<bool> load_valid_{false};
};

}  // namespace infergate::upstream
