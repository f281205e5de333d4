// Prometheus metrics with per-worker shards: each worker thread increments its own cache line,
// a scrape sums the shards. Creating a series takes a lock (startup, config load); updating one
// never does. Series handles stay valid for the registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::observability {

// The calling thread's shard; workers set 1..N, every other thread uses 0.
void SetThreadShard(int shard);
int ThreadShard();

class Counter {
 public:
  explicit Counter(int shards);
  void Inc(uint64_t n = 1) { slots_[ThreadShard()].v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const;

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> v{0};
  };
  std::unique_ptr<Slot[]> slots_;
  int shards_;
};

// A gauge built from per-shard deltas (in-flight requests, open connections).
class Gauge {
 public:
  explicit Gauge(int shards);
  void Add(int64_t n) { slots_[ThreadShard()].v.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const;

 private:
  struct alignas(64) Slot {
    std::atomic<int64_t> v{0};
  };
  std::unique_ptr<Slot[]> slots_;
  int shards_;
};

// Cumulative histogram with fixed bucket bounds (seconds, or counts such as tokens). The sum is
// kept in millionths, so observations are exact to 1e-6.
class Histogram {
 public:
  Histogram(int shards, std::vector<double> bounds);
  void Observe(double seconds);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  size_t stride_;  // buckets + 1 (+Inf), padded to a cache line multiple
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;     // shards x stride
  std::unique_ptr<std::atomic<uint64_t>[]> sum_micros_;  // shards x 8 (padded)
  int shards_;
};

class Registry {
 public:
  explicit Registry(int shards);
  ~Registry();

  // Get-or-create. `labels` is the Prometheus label body without braces, e.g.
  // `route="chat",code="2xx"`; values must already be escaped (EscapeLabel).
  Counter* GetCounter(std::string_view name, std::string_view help, std::string_view labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, std::string_view labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          std::string_view labels = {});
  // With its own bucket bounds (ascending); a series that exists keeps the bounds it has.
  Histogram* GetHistogram(std::string_view name, std::string_view help, std::string_view labels,
                          const std::vector<double>& bounds);

  // A series whose value is read when the registry renders (process state, a shared atomic):
  // `read` runs on the scraping thread under the registry's lock, so it must be cheap,
  // thread-safe and must not call back into the registry. Setting a series that exists
  // replaces its reader (idempotent). `counter`: TYPE counter (the name should end in _total),
  // else gauge. RemoveCallback drops the series (before what `read` reads goes away).
  enum class CallbackType { kGauge, kCounter };
  void SetCallback(std::string_view name, std::string_view help, CallbackType type,
                   std::string_view labels, std::function<double()> read);
  void RemoveCallback(std::string_view name, std::string_view labels);

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;
  int shards() const { return shards_; }

  static std::string EscapeLabel(std::string_view value);
  static const std::vector<double>& LatencyBounds();

 private:
  struct Series;
  struct Family;
  Family& FamilyFor(std::string_view name, std::string_view help, int type);
  template <typename T, typename Make>
  T* GetSeries(std::string_view name, std::string_view help, std::string_view labels, int type,
               std::unique_ptr<T> Series::*member, Make make);

  int shards_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace infergate::observability
