// ThreadPool: jobs run off the caller's thread on named threads, the queue is bounded, the
// busy/queued counts, Stop() draining then joining, and refusal after Stop(). No sleeps: jobs
// block on a gate the test opens.
#include "infergate/isolation/thread_pool.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace infergate::isolation {
namespace {

// Jobs that block until the test opens the gate; the test can wait until n of them started.
class Gate {
 public:
  std::function<void()> BlockingJob() {
    return [this] {
      std::unique_lock lock(mu_);
      ++started_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
      ++finished_;
    };
  }
  void WaitStarted(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  int finished_ = 0;
  bool open_ = false;
};

std::string CurrentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST(ThreadPool, RunsJobsOffTheCallerThreadOnNamedThreads) {
  ThreadPool pool("runner", 2, 8);
  EXPECT_EQ(pool.threads(), 2u);
  std::promise<std::pair<std::thread::id, std::string>> where;
  auto future = where.get_future();
  ASSERT_TRUE(pool.TrySubmit([&] {
    where.set_value({std::this_thread::get_id(), CurrentThreadName()});
  }));
  const auto [id, name] = future.get();
  EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_TRUE(name == "runner-0" || name == "runner-1") << name;
}

TEST(ThreadPool, LongNamesKeepTheIndex) {
  ThreadPool pool("a-very-long-compartment-name", 1, 1);
  std::promise<std::string> name;
  auto future = name.get_future();
  ASSERT_TRUE(pool.TrySubmit([&] { name.set_value(CurrentThreadName()); }));
  EXPECT_EQ(future.get(), "a-very-long-c-0");
}

TEST(ThreadPool, ZeroThreadsMeansOne) {
  ThreadPool pool("p", 0, 1);
  EXPECT_EQ(pool.threads(), 1u);
  std::promise<void> ran;
  ASSERT_TRUE(pool.TrySubmit([&] { ran.set_value(); }));
  ran.get_future().get();
}

TEST(ThreadPool, BoundedQueueRefusesBeyondThreadsPlusCapacity) {
  Gate gate;
  ThreadPool pool("bounded", 2, 3);
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob()));
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob()));
  gate.WaitStarted(2);  // both threads busy, the queue empty
  EXPECT_EQ(pool.busy(), 2u);
  EXPECT_EQ(pool.queued(), 0u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob())) << i;
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_FALSE(pool.TrySubmit(gate.BlockingJob()));  // the 6th
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_EQ(pool.busy(), 2u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(gate.finished(), 5);
  EXPECT_EQ(pool.busy(), 0u);
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(ThreadPool, StopRunsQueuedJobsThenJoinsAndRefusesMore) {
  Gate gate;
  std::atomic<int> ran{0};
  ThreadPool pool("stop", 1, 10);
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob()));
  gate.WaitStarted(1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  EXPECT_EQ(pool.queued(), 5u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(ran.load(), 5);  // joined: every queued job ran
  EXPECT_EQ(gate.finished(), 1);
  EXPECT_FALSE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  pool.Stop();  // idempotent
  EXPECT_EQ(ran.load(), 5);
}

TEST(ThreadPool, RefusesEmptyJobs) {
  ThreadPool pool("empty", 1, 4);
  EXPECT_FALSE(pool.TrySubmit(nullptr));
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(ThreadPool, DestructorDrainsAndJoins) {
  std::atomic<int> ran{0};
  std::set<std::thread::id> seen;
  std::mutex mu;
  {
    ThreadPool pool("dtor", 3, 100);
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(pool.TrySubmit([&] {
        ran.fetch_add(1);
        std::lock_guard lock(mu);
        seen.insert(std::this_thread::get_id());
      }));
    }
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_LE(seen.size(), 3u);
  EXPECT_EQ(seen.count(std::this_thread::get_id()), 0u);
}

TEST(ThreadPool, ConcurrentSubmittersNeverExceedTheBound) {
  Gate gate;
  ThreadPool pool("many", 2, 16);
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob()));
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingJob()));
  gate.WaitStarted(2);
  std::atomic<int> accepted{0};
  std::atomic<int> ran{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (pool.TrySubmit([&] { ran.fetch_add(1); })) accepted.fetch_add(1);
      }
    });
  }
  for (auto& s : submitters) s.join();
  EXPECT_EQ(accepted.load(), 16);  // the threads were blocked the whole time
  gate.Open();
  pool.Stop();
  EXPECT_EQ(ran.load(), 16);
}

}  // namespace
}  // namespace infergate::isolation
