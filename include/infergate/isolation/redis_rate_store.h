// The rate store shared across gateway instances through Redis: LeasedCells whose leases come
// from an atomic GCRA script on one Redis key per limit (README "Rate limits", "Several
// instances"). The store owns one thread running an io_context with one RedisClient: cells wake
// it by posting (never blocking a worker's event loop) and it runs one lease per cell at a time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "infergate/core/clock.h"
#include "infergate/isolation/leased_cell.h"
#include "infergate/isolation/rate_store.h"
#include "infergate/observability/metrics.h"
#include "infergate/shared/redis_client.h"

namespace infergate::isolation {

struct RedisRateStoreOptions {
  shared::RedisOptions redis;
  // The fallback cell's part of each limit while Redis is unreachable (shared_state.local_share).
  double local_share = 1.0;
  std::string prefix = "infergate:rl:";
  // After a failed lease, a cell tries Redis again no sooner than this.
  Duration retry_in = std::chrono::seconds(1);
  // At most one warning per this interval while Redis is unreachable.
  Duration warn_interval = std::chrono::seconds(30);
};

class RedisRateStore final : public RateStore {
 public:
  // `registry` (may be null): infergate_shared_state_available and
  // infergate_shared_state_late_leases_total. Starts the thread and connects.
  RedisRateStore(RedisRateStoreOptions options, observability::Registry* registry,
                 const Clock& clock = SteadyClock::Instance());
  ~RedisRateStore() override;
  RedisRateStore(const RedisRateStore&) = delete;
  RedisRateStore& operator=(const RedisRateStore&) = delete;

  std::shared_ptr<RateCell> Cell(const std::string& key, const Rate& rate) override;
  // The Redis key of a limit key: "tenant/acme/requests" -> "infergate:rl:tenant:acme:requests".
  std::string RedisKey(const std::string& key) const;
  // Whether the last lease (or connection check) reached Redis. Any thread.
  bool available() const { return up_.load(std::memory_order_acquire); }

 private:
  // What a cell's wake reaches: the store, or nothing once the store is gone (a cell a snapshot
  // still holds at shutdown then never leases again).
  struct WakeTarget {
    std::mutex mu;
    RedisRateStore* store = nullptr;
  };
  void Wake(std::weak_ptr<LeasedCell> cell);
  boost::asio::awaitable<void> Refill(std::weak_ptr<LeasedCell> cell);
  boost::asio::awaitable<void> Watch();
  // Run on the store's thread: the metric, and a warning at most once per warn_interval.
  void NoteUp();
  void NoteDown(const std::string& why);
  // A lease in flight past the Redis timeout (cells decided by their local shares meanwhile).
  void NoteLate(Duration took);

  RedisRateStoreOptions options_;
  const Clock& clock_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::shared_ptr<shared::RedisClient> client_;
  observability::Gauge* available_gauge_ = nullptr;
  observability::Counter* late_counter_ = nullptr;
  std::atomic<bool> up_{false};
  std::optional<TimePoint> last_warning_;       // store's thread only
  std::optional<TimePoint> last_late_warning_;  // store's thread only
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<LeasedCell>, std::less<>> cells_;
  std::shared_ptr<WakeTarget> target_ = std::make_shared<WakeTarget>();
  std::thread thread_;  // last: started once everything above is built
};

}  // namespace infergate::isolation
