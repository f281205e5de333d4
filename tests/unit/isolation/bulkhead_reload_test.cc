// Bulkhead::SetOptions (a reload's new limits): holders and waiters stay, new limits apply from
// then on; and StateRegistry keeps a compartment's bulkhead across snapshots.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/isolation/bulkhead.h"
#include "infergate/isolation/runtime.h"

namespace infergate::isolation {
namespace {
using namespace std::chrono_literals;

BulkheadOptions Limits(uint32_t max_concurrent, uint32_t max_queue) {
  BulkheadOptions o;
  o.max_concurrent = max_concurrent;
  o.max_queue = max_queue;
  o.max_wait = 1s;
  return o;
}

TEST(BulkheadReload, MoreRoomAdmitsWaitersAtOnce) {
  ManualClock clock;
  Bulkhead b(Limits(1, 4), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  std::vector<int> admitted;
  for (int id = 1; id <= 3; ++id) {
    ASSERT_TRUE(b.Enqueue(0, [&admitted, id](bool ok, Rejection) {
      if (ok) admitted.push_back(id);
    }));
  }
  EXPECT_EQ(b.queued(), 3u);
  b.SetOptions(Limits(3, 4));
  EXPECT_EQ(admitted, (std::vector<int>{1, 2}));  // oldest first, up to the new limit
  EXPECT_EQ(b.in_flight(), 3u);
  EXPECT_EQ(b.queued(), 1u);
  EXPECT_EQ(b.options().max_concurrent, 3u);
}

TEST(BulkheadReload, LessRoomKeepsHoldersAndAdmitsNobodyUntilUnder) {
  ManualClock clock;
  Bulkhead b(Limits(4, 4), clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.TryAcquire(0));
  b.SetOptions(Limits(2, 4));
  EXPECT_EQ(b.in_flight(), 4u);  // nobody is cut
  EXPECT_FALSE(b.TryAcquire(0));
  b.Release();
  b.Release();
  EXPECT_FALSE(b.TryAcquire(0));  // 2 in flight: at the new limit
  b.Release();
  EXPECT_TRUE(b.TryAcquire(0));
}

TEST(BulkheadReload, ShorterQueueAndWaitApplyFromThenOn) {
  ManualClock clock;
  Bulkhead b(Limits(1, 4), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  std::map<int, Rejection> ended;
  auto cb = [&ended](int id) { return [&ended, id](bool, Rejection why) { ended[id] = why; }; };
  ASSERT_TRUE(b.Enqueue(0, cb(1)));
  ASSERT_TRUE(b.Enqueue(0, cb(2)));
  BulkheadOptions shorter = Limits(1, 1);
  shorter.max_wait = 100ms;
  b.SetOptions(shorter);
  EXPECT_EQ(b.queued(), 2u);                      // waiters keep their place
  EXPECT_FALSE(b.Enqueue(0, cb(3)).has_value());  // but the queue is over its new length
  clock.Advance(150ms);
  b.Expire();
  EXPECT_EQ(ended[1], Rejection::kQueueTimeout);
  EXPECT_EQ(ended[2], Rejection::kQueueTimeout);
}

TEST(BulkheadReload, StateRegistryKeepsTheBulkheadWithNewLimits) {
  StateRegistry state;
  auto first = state.BulkheadFor("big", Limits(2, 0));
  ASSERT_TRUE(first->TryAcquire(0));
  auto again = state.BulkheadFor("big", Limits(5, 3));
  EXPECT_EQ(again.get(), first.get());
  EXPECT_EQ(again->in_flight(), 1u);
  EXPECT_EQ(again->options().max_concurrent, 5u);
  EXPECT_NE(state.BulkheadFor("other", Limits(5, 3)).get(), first.get());
}

}  // namespace
}  // namespace infergate::isolation
