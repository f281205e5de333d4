// ThreadPool: named std::thread workers over one mutex + condition variable queue, bounded;
// Stop() drains what was queued, then joins.
#include "infergate/isolation/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace infergate::isolation {
namespace {

constexpr size_t kMaxThreadName = 15;  // the kernel's limit, without the terminating NUL

// "<name>-N", the name cut so that the "-N" suffix survives the 15-character limit.
std::string ThreadName(const std::string& name, uint32_t index) {
  const std::string suffix = "-" + std::to_string(index);
  const size_t room = suffix.size() < kMaxThreadName ? kMaxThreadName - suffix.size() : 0;
  return (name.substr(0, room) + suffix).substr(0, kMaxThreadName);
}

}  // namespace

struct ThreadPool::Impl {
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;  // stopping, and everything queued has run
        job = std::move(jobs.front());
        jobs.pop_front();
        busy.fetch_add(1, std::memory_order_relaxed);
      }
      job();
      job = nullptr;  // its captures go before the job counts as done
      busy.fetch_sub(1, std::memory_order_release);
    }
  }

  uint32_t capacity = 0;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;  // guarded by mu
  bool stopping = false;                   // guarded by mu
  std::atomic<uint32_t> busy{0};

  std::mutex join_mu;  // serialises Stop()
  std::vector<std::thread> workers;
};

ThreadPool::ThreadPool(std::string name, uint32_t threads, uint32_t queue_capacity)
    : impl_(std::make_unique<Impl>()) {
  impl_->capacity = queue_capacity;
  threads = std::max<uint32_t>(threads, 1);
  impl_->workers.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->Work(); });
    // Best effort: a name the kernel refuses leaves the inherited one.
    pthread_setname_np(impl_->workers.back().native_handle(), ThreadName(name, i).c_str());
  }
}

ThreadPool::~ThreadPool() { Stop(); }

bool ThreadPool::TrySubmit(std::function<void()> job) {
  if (!job) return false;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping || impl_->jobs.size() >= impl_->capacity) return false;
    impl_->jobs.push_back(std::move(job));
  }
  impl_->cv.notify_one();
  return true;
}

void ThreadPool::Stop() {
  std::lock_guard join_lock(impl_->join_mu);
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->workers) {
    if (t.joinable()) t.join();
  }
}

uint32_t ThreadPool::queued() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<uint32_t>(impl_->jobs.size());
}

uint32_t ThreadPool::busy() const { return impl_->busy.load(std::memory_order_acquire); }

uint32_t ThreadPool::threads() const { return static_cast<uint32_t>(impl_->workers.size()); }

}  // namespace infergate::isolation
