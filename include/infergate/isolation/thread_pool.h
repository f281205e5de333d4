// A bounded thread pool owned by a compartment: work that blocks or burns CPU (the in-process
// model runner, response transformation) runs here, never on an event-loop thread. The queue is
// bounded: a full pool refuses new jobs instead of growing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace infergate::isolation {

class ThreadPool {
 public:
  // Starts `threads` (>= 1; 0 counts as 1) threads named "<name>-N", N from 0 (<name> cut so
  // that the whole fits the kernel's 15 characters).
  ThreadPool(std::string name, uint32_t threads, uint32_t queue_capacity);
  ~ThreadPool();  // Stop()
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `job`; false (and `job` is dropped unrun) when queue_capacity jobs already wait, the
  // pool is stopped, or `job` is empty. Thread-safe. Jobs must not throw (std::terminate).
  bool TrySubmit(std::function<void()> job);
  // Runs the jobs already queued, then joins the threads. Idempotent and thread-safe; never from
  // one of the pool's own threads (it would join itself).
  void Stop();

  uint32_t queued() const;  // waiting for a thread
  uint32_t busy() const;    // running now
  uint32_t threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::isolation
