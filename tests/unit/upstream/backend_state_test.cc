// BackendState's load report: publication, the dispatched count it resets, and readers racing the
// writer.
#include "infergate/upstream/backend_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace infergate::upstream {
namespace {

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;

TEST(BackendStateLoad, NoReportAtFirst) {
  BackendState s(2);
  LoadReport r = s.load();
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.waiting, 0);
  EXPECT_EQ(r.running, 0);
  EXPECT_LT(r.kv_cache, 0);
  EXPECT_EQ(r.at, SteadyTime{});
  EXPECT_EQ(s.dispatched_since_report(), 0u);
}

TEST(BackendStateLoad, SetLoadPublishesAndResetsTheDispatchedCount) {
  BackendState s(2);
  s.NoteDispatched();
  s.NoteDispatched();
  EXPECT_EQ(s.dispatched_since_report(), 2u);
  const SteadyTime at = SteadyTime{} + 42s;
  s.SetLoad(7, 3, 0.5, at);
  LoadReport r = s.load();
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.waiting, 7);
  EXPECT_EQ(r.running, 3);
  EXPECT_EQ(r.kv_cache, 0.5);
  EXPECT_EQ(r.at, at);
  EXPECT_EQ(s.dispatched_since_report(), 0u);
  s.NoteDispatched();
  EXPECT_EQ(s.dispatched_since_report(), 1u);
  s.SetLoad(1, 0, -1, at + 1s);  // KV usage unknown
  r = s.load();
  EXPECT_EQ(r.waiting, 1);
  EXPECT_LT(r.kv_cache, 0);
  EXPECT_EQ(r.at, at + 1s);
  EXPECT_EQ(s.dispatched_since_report(), 0u);
}

TEST(BackendStateLoad, DispatchesFromManyThreadsAllCount) {
  BackendState s(5);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10000; ++k) s.NoteDispatched();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.dispatched_since_report(), 40000u);
}

// Reports n: waiting n, running 2n, kv n / 1e6, at n seconds. Readers never block, each field
// they see is one the writer wrote, and reports never go back.
TEST(BackendStateLoad, ReadersRacingTheWriterSeeWrittenValues) {
  BackendState s(2);
  constexpr int kReports = 100000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int n = 1; n <= kReports; ++n) {
      s.SetLoad(n, 2.0 * n, n / 1e6, SteadyTime{} + std::chrono::seconds(n));
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      double last = 0;
      while (!done) {
        LoadReport r = s.load();
        if (!r.valid) continue;
        ASSERT_EQ(r.waiting, std::floor(r.waiting));
        ASSERT_GE(r.waiting, 1);
        ASSERT_LE(r.waiting, kReports);
        ASSERT_EQ(r.running, std::floor(r.running));
        ASSERT_GE(r.waiting, last);  // one writer: reports never go back
        last = r.waiting;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  LoadReport r = s.load();
  EXPECT_EQ(r.waiting, kReports);
  EXPECT_EQ(r.running, 2.0 * kReports);
  EXPECT_EQ(r.at, SteadyTime{} + std::chrono::seconds(kReports));
}

}  // namespace
}  // namespace infergate::upstream
