// Bulkhead: the concurrency limit, FIFO within a tier, tier priority on hand-over, tier
// reservation of slots and queue, eviction, queue timeout, cancellation, queued_ahead, callbacks
// outside the lock, and a multi-threaded stress run of every operation.
#include "infergate/isolation/bulkhead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "infergate/core/clock.h"

namespace infergate::isolation {
namespace {
using namespace std::chrono_literals;

BulkheadOptions Options(uint32_t max_concurrent, uint32_t max_queue,
                        std::vector<double> reserves = {}) {
  BulkheadOptions o;
  o.max_concurrent = max_concurrent;
  o.max_queue = max_queue;
  o.max_wait = 1s;
  o.tier_reserve_percent = std::move(reserves);
  return o;
}

// Records, per request id, how each callback ended and in which order.
class Outcomes {
 public:
  struct Outcome {
    int calls = 0;
    bool admitted = false;
    Rejection why = Rejection::kNone;
  };

  Bulkhead::Callback For(int id) {
    return [this, id](bool admitted, Rejection why) {
      Outcome& o = by_id_[id];
      ++o.calls;
      o.admitted = admitted;
      o.why = why;
      order_.push_back(id);
    };
  }
  const Outcome& operator[](int id) { return by_id_[id]; }
  const std::vector<int>& order() const { return order_; }

 private:
  std::map<int, Outcome> by_id_;
  std::vector<int> order_;
};

TEST(Bulkhead, AdmitsUpToMaxConcurrent) {
  ManualClock clock;
  Bulkhead b(Options(3, 0), clock);
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_FALSE(b.TryAcquire(0));
  EXPECT_EQ(b.in_flight(), 3u);
  b.Release();
  EXPECT_EQ(b.in_flight(), 2u);
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_FALSE(b.TryAcquire(0));
}

TEST(Bulkhead, ZeroMaxConcurrentCountsAsOne) {
  ManualClock clock;
  Bulkhead b(Options(0, 0), clock);
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_FALSE(b.TryAcquire(0));
}

TEST(Bulkhead, NoQueueRefusesToQueue) {
  ManualClock clock;
  Bulkhead b(Options(1, 0), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  EXPECT_FALSE(b.Enqueue(0, out.For(1)).has_value());
  b.Release();
  EXPECT_EQ(out[1].calls, 0);
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bulkhead, EnqueueWithAFreeSlotAdmitsBeforeReturning) {
  ManualClock clock;
  Bulkhead b(Options(1, 4), clock);
  Outcomes out;
  auto ticket = b.Enqueue(0, out.For(1));
  ASSERT_TRUE(ticket.has_value());
  EXPECT_EQ(out[1].calls, 1);
  EXPECT_TRUE(out[1].admitted);
  EXPECT_EQ(b.in_flight(), 1u);
  EXPECT_EQ(b.queued(), 0u);
  EXPECT_FALSE(b.Cancel(*ticket));  // already admitted: the caller owns a slot
}

TEST(Bulkhead, FifoWithinATier) {
  ManualClock clock;
  Bulkhead b(Options(1, 8), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  for (int id = 1; id <= 4; ++id) ASSERT_TRUE(b.Enqueue(0, out.For(id)));
  EXPECT_EQ(b.queued(), 4u);
  EXPECT_TRUE(out.order().empty());
  for (int n = 1; n <= 4; ++n) {
    b.Release();  // hands the slot to the oldest waiter
    ASSERT_EQ(out.order().size(), static_cast<size_t>(n));
    EXPECT_EQ(out.order().back(), n);
    EXPECT_TRUE(out[n].admitted);
    EXPECT_EQ(out[n].why, Rejection::kNone);
    EXPECT_EQ(b.in_flight(), 1u);
    EXPECT_EQ(b.queued(), static_cast<uint32_t>(4 - n));
  }
  b.Release();
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bulkhead, HigherTierServedFirstOnRelease) {
  ManualClock clock;
  Bulkhead b(Options(1, 8, {0, 0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(2, out.For(20)));
  ASSERT_TRUE(b.Enqueue(1, out.For(10)));
  ASSERT_TRUE(b.Enqueue(2, out.For(21)));
  ASSERT_TRUE(b.Enqueue(0, out.For(0)));
  ASSERT_TRUE(b.Enqueue(1, out.For(11)));
  for (int i = 0; i < 5; ++i) b.Release();
  EXPECT_EQ(out.order(), (std::vector<int>{0, 10, 11, 20, 21}));
  EXPECT_EQ(b.in_flight(), 1u);
}

TEST(Bulkhead, ReleaseHandsTheSlotOverInsteadOfFreeingIt) {
  ManualClock clock;
  Bulkhead b(Options(1, 4), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(0, out.For(1)));
  EXPECT_FALSE(b.TryAcquire(0));  // full, and a waiter of the same tier
  b.Release();
  EXPECT_TRUE(out[1].admitted);
  EXPECT_FALSE(b.TryAcquire(0));  // the slot went to the waiter
  EXPECT_EQ(b.in_flight(), 1u);
}

TEST(Bulkhead, TryAcquireNeverOvertakesAHigherTierWaiter) {
  // Tier 0 may use half the slots, tier 1 all of them (an unusual but legal configuration):
  // a slot is free for tier 1 while a tier-0 request waits for its share.
  ManualClock clock;
  Bulkhead b(Options(2, 4, {50, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(0, out.For(1)));
  EXPECT_EQ(out[1].calls, 0);
  EXPECT_FALSE(b.TryAcquire(1));  // would overtake the tier-0 waiter
  EXPECT_FALSE(b.TryAcquire(0));
  b.Release();
  EXPECT_TRUE(out[1].admitted);
  EXPECT_TRUE(b.TryAcquire(1));  // nobody waits now
  EXPECT_EQ(b.in_flight(), 2u);
}

TEST(Bulkhead, LowerTierWaiterDoesNotBlockAHigherTier) {
  ManualClock clock;
  Bulkhead b(Options(2, 4, {0, 50}), clock);  // tier 1: 1 slot
  ASSERT_TRUE(b.TryAcquire(1));
  EXPECT_FALSE(b.TryAcquire(1));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(1, out.For(1)));
  EXPECT_EQ(out[1].calls, 0);
  EXPECT_TRUE(b.TryAcquire(0));
  b.Release();  // 1 in flight: still tier 1's whole share
  EXPECT_EQ(out[1].calls, 0);
  b.Release();
  EXPECT_TRUE(out[1].admitted);
  EXPECT_EQ(b.in_flight(), 1u);
}

TEST(Bulkhead, TierReservationKeepsSlotsForHigherTiers) {
  ManualClock clock;
  // Free may use 60% of 10 slots; paid gets the remaining 40% even while free floods.
  Bulkhead b(Options(10, 10, {0, 40}), clock);
  int free_admitted = 0;
  for (int i = 0; i < 20; ++i) free_admitted += b.TryAcquire(1) ? 1 : 0;
  EXPECT_EQ(free_admitted, 6);
  Outcomes out;
  for (int id = 100; id < 106; ++id) ASSERT_TRUE(b.Enqueue(1, out.For(id)));
  EXPECT_EQ(out.order().size(), 0u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(b.TryAcquire(0)) << i;
  EXPECT_FALSE(b.TryAcquire(0));
  EXPECT_EQ(b.in_flight(), 10u);
  // A paid slot comes back: at 9 in flight free is still over its share, so nothing is handed on.
  b.Release();
  EXPECT_EQ(out.order().size(), 0u);
  EXPECT_TRUE(b.TryAcquire(0));
  // Down to 5 in flight: free waiters get slots up to 6.
  for (int i = 0; i < 5; ++i) b.Release();
  EXPECT_EQ(out.order(), (std::vector<int>{100}));
  EXPECT_EQ(b.in_flight(), 6u);
}

TEST(Bulkhead, SlotShareIsAtLeastOne) {
  ManualClock clock;
  Bulkhead b(Options(1, 0, {0, 99}), clock);
  EXPECT_TRUE(b.TryAcquire(1));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(Bulkhead, QueueCapPerTier) {
  ManualClock clock;
  // Tier 1 may queue while fewer than 5 wait, tier 0 while fewer than 10.
  Bulkhead b(Options(1, 10, {0, 50}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  for (int id = 0; id < 5; ++id) ASSERT_TRUE(b.Enqueue(1, out.For(id))) << id;
  EXPECT_FALSE(b.Enqueue(1, out.For(5)).has_value());
  EXPECT_EQ(out[5].calls, 0);
  for (int id = 10; id < 15; ++id) ASSERT_TRUE(b.Enqueue(0, out.For(id))) << id;
  EXPECT_EQ(b.queued(), 10u);
  EXPECT_TRUE(out.order().empty());  // room remained for tier 0: nobody was evicted
}

TEST(Bulkhead, FullQueueEvictsTheNewestOfTheLowestTier) {
  ManualClock clock;
  Bulkhead b(Options(1, 4, {0, 0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(2, out.For(20)));
  ASSERT_TRUE(b.Enqueue(2, out.For(21)));
  ASSERT_TRUE(b.Enqueue(1, out.For(10)));
  ASSERT_TRUE(b.Enqueue(1, out.For(11)));
  // Full. Another tier-2 request has nobody lower to push out.
  EXPECT_FALSE(b.Enqueue(2, out.For(22)).has_value());
  // Tier 0 pushes out tier 2's newest, then its oldest, then tier 1's newest.
  ASSERT_TRUE(b.Enqueue(0, out.For(0)));
  EXPECT_EQ(out.order(), (std::vector<int>{21}));
  EXPECT_FALSE(out[21].admitted);
  EXPECT_EQ(out[21].why, Rejection::kEvicted);
  ASSERT_TRUE(b.Enqueue(1, out.For(12)));  // tier 1 may push out tier 2 too
  EXPECT_EQ(out.order(), (std::vector<int>{21, 20}));
  ASSERT_TRUE(b.Enqueue(0, out.For(1)));
  EXPECT_EQ(out.order(), (std::vector<int>{21, 20, 12}));
  EXPECT_EQ(out[12].why, Rejection::kEvicted);
  // Now only tiers 0 and 1 wait: a tier-1 arrival has nobody lower to push out.
  EXPECT_FALSE(b.Enqueue(1, out.For(13)).has_value());
  EXPECT_EQ(b.queued(), 4u);
  EXPECT_EQ(out[22].calls, 0);
  EXPECT_EQ(out[13].calls, 0);
  // The survivors are served in order.
  for (int i = 0; i < 4; ++i) b.Release();
  EXPECT_EQ(out.order(), (std::vector<int>{21, 20, 12, 0, 1, 10, 11}));
}

TEST(Bulkhead, ExpireFailsWaitersAtExactlyMaxWait) {
  ManualClock clock;
  Bulkhead b(Options(1, 8, {0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(1, out.For(1)));
  clock.Advance(400ms);
  ASSERT_TRUE(b.Enqueue(0, out.For(2)));
  ASSERT_TRUE(b.Enqueue(1, out.For(3)));
  clock.Advance(599ms);
  b.Expire();  // the oldest has waited 999 ms
  EXPECT_TRUE(out.order().empty());
  clock.Advance(1ms);
  b.Expire();  // exactly 1 s
  EXPECT_EQ(out.order(), (std::vector<int>{1}));
  EXPECT_FALSE(out[1].admitted);
  EXPECT_EQ(out[1].why, Rejection::kQueueTimeout);
  EXPECT_EQ(b.queued(), 2u);
  clock.Advance(399ms);
  b.Expire();
  EXPECT_EQ(b.queued(), 2u);
  clock.Advance(1ms);
  b.Expire();
  EXPECT_EQ(out.order(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(out[2].why, Rejection::kQueueTimeout);
  EXPECT_EQ(out[3].why, Rejection::kQueueTimeout);
  EXPECT_EQ(b.queued(), 0u);
  b.Release();
  EXPECT_EQ(b.in_flight(), 0u);
  for (int id : {1, 2, 3}) EXPECT_EQ(out[id].calls, 1);
}

TEST(Bulkhead, CancelBeforeGrantDropsTheCallbackUnrun) {
  ManualClock clock;
  Bulkhead b(Options(1, 4), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  auto token = std::make_shared<int>(0);
  int calls = 0;
  auto ticket = b.Enqueue(0, [token, &calls](bool, Rejection) { ++calls; });
  ASSERT_TRUE(ticket.has_value());
  EXPECT_EQ(token.use_count(), 2);
  EXPECT_EQ(b.queued_ahead(0), 1u);
  EXPECT_TRUE(b.Cancel(*ticket));
  EXPECT_EQ(token.use_count(), 1);  // the callback is gone
  EXPECT_FALSE(b.Cancel(*ticket));
  EXPECT_EQ(b.queued(), 0u);
  b.Release();
  clock.Advance(10s);
  b.Expire();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bulkhead, CancelAfterGrantOrEvictionFails) {
  ManualClock clock;
  Bulkhead b(Options(1, 1, {0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  auto low = b.Enqueue(1, out.For(1));
  ASSERT_TRUE(low.has_value());
  auto high = b.Enqueue(0, out.For(2));  // evicts `low`
  ASSERT_TRUE(high.has_value());
  EXPECT_EQ(out[1].why, Rejection::kEvicted);
  EXPECT_FALSE(b.Cancel(*low));
  b.Release();
  EXPECT_TRUE(out[2].admitted);
  EXPECT_FALSE(b.Cancel(*high));  // admitted: the caller must Release()
  EXPECT_EQ(b.in_flight(), 1u);
  EXPECT_FALSE(b.Cancel(12345));
}

TEST(Bulkhead, QueuedAheadCountsSameAndHigherTiers) {
  ManualClock clock;
  Bulkhead b(Options(1, 16, {0, 0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(b.Enqueue(0, out.For(i)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.Enqueue(1, out.For(10 + i)));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.Enqueue(2, out.For(20 + i)));
  EXPECT_EQ(b.queued_ahead(0), 2u);
  EXPECT_EQ(b.queued_ahead(1), 5u);
  EXPECT_EQ(b.queued_ahead(2), 9u);
  EXPECT_EQ(b.queued_ahead(7), 9u);
  EXPECT_EQ(b.queued(), 9u);
  b.Release();
  EXPECT_EQ(b.queued_ahead(0), 1u);
  EXPECT_EQ(b.queued_ahead(2), 8u);
}

TEST(Bulkhead, TiersBeyondTheReserveListKeepTheirOrder) {
  ManualClock clock;
  Bulkhead b(Options(1, 8), clock);  // no reserve entries: every tier has the whole share
  ASSERT_TRUE(b.TryAcquire(0));
  Outcomes out;
  ASSERT_TRUE(b.Enqueue(5, out.For(5)));
  ASSERT_TRUE(b.Enqueue(3, out.For(3)));
  EXPECT_EQ(b.queued_ahead(4), 1u);
  b.Release();
  b.Release();
  EXPECT_EQ(out.order(), (std::vector<int>{3, 5}));
}

TEST(Bulkhead, CallbacksRunOutsideTheLock) {
  // A callback that calls back into the bulkhead would deadlock if it ran under the mutex.
  ManualClock clock;
  Bulkhead b(Options(1, 2, {0, 0}), clock);
  ASSERT_TRUE(b.TryAcquire(0));
  std::vector<uint32_t> seen;
  auto reenter = [&](bool admitted, Rejection) {
    seen.push_back(b.queued_ahead(1));
    if (admitted) b.Release();  // done at once: hands the slot on from inside the callback
  };
  ASSERT_TRUE(b.Enqueue(1, reenter));
  ASSERT_TRUE(b.Enqueue(1, reenter));
  ASSERT_TRUE(b.Enqueue(0, reenter));  // evicts one tier-1 waiter
  b.Release();                         // tier 0, then (released in its callback) tier 1
  EXPECT_EQ(seen, (std::vector<uint32_t>{2, 1, 0}));
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.queued(), 0u);
}

TEST(Bulkhead, DestructionDropsQueuedCallbacksUnrun) {
  ManualClock clock;
  int calls = 0;
  auto token = std::make_shared<int>(0);
  {
    Bulkhead b(Options(1, 2), clock);
    ASSERT_TRUE(b.TryAcquire(0));
    ASSERT_TRUE(b.Enqueue(0, [token, &calls](bool, Rejection) { ++calls; }));
  }
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(token.use_count(), 1);
}

// Every operation from 4 threads at once: the slot count never passes max_concurrent, every
// queued request's callback runs exactly once unless it was cancelled (then never), and
// everything drains to 0.
TEST(Bulkhead, ConcurrentStress) {
  constexpr int kThreads = 4;
  constexpr int kOps = 20000;
  constexpr uint32_t kMax = 4;
  ManualClock clock;
  BulkheadOptions o = Options(kMax, 8, {0, 25, 50});
  o.max_wait = 5ms;
  Bulkhead b(o, clock);

  std::atomic<int> holding{0};  // slots the test knows are held: never above the bulkhead's
  std::atomic<int> owed{0};     // slots granted through callbacks, not yet released
  std::atomic<bool> overflow{false};
  std::atomic<int> admitted_by_callback{0};
  std::atomic<int> evicted{0};
  std::atomic<int> timed_out{0};
  std::vector<std::atomic<int>> fired(kThreads * kOps);
  std::vector<char> queued(kThreads * kOps, 0);     // each id written by its own thread only
  std::vector<char> cancelled(kThreads * kOps, 0);  // likewise

  auto take = [&] {
    if (holding.fetch_add(1) + 1 > static_cast<int>(kMax)) overflow = true;
    if (b.in_flight() > kMax) overflow = true;
  };
  auto give_back = [&] {
    holding.fetch_sub(1);
    b.Release();
  };
  auto release_owed = [&] {
    int n = owed.load();
    while (n > 0) {
      if (owed.compare_exchange_weak(n, n - 1)) {
        give_back();
        return true;
      }
    }
    return false;
  };

  std::atomic<int> ready{0};
  auto worker = [&](int t) {
    ready.fetch_add(1);
    while (ready.load() < kThreads) {
    }  // start together, so the operations overlap
    std::mt19937 rng(1234 + t);
    int held = 0;
    std::vector<std::pair<uint64_t, int>> tickets;  // ticket, id
    for (int i = 0; i < kOps; ++i) {
      const int id = t * kOps + i;
      const size_t tier = rng() % 3;
      switch (rng() % 6) {
        case 0:
        case 1:
          if (b.TryAcquire(tier)) {
            take();
            ++held;
          }
          break;
        case 2: {
          auto ticket = b.Enqueue(tier, [&, id](bool admitted, Rejection why) {
            fired[id].fetch_add(1);
            if (admitted) {
              take();
              owed.fetch_add(1);
              admitted_by_callback.fetch_add(1);
            } else if (why == Rejection::kEvicted) {
              evicted.fetch_add(1);
            } else if (why == Rejection::kQueueTimeout) {
              timed_out.fetch_add(1);
            }
          });
          if (ticket) {
            queued[id] = 1;
            tickets.emplace_back(*ticket, id);
            if (tickets.size() > 8) tickets.erase(tickets.begin());
          }
          break;
        }
        case 3:
          if (!tickets.empty()) {
            const size_t k = rng() % tickets.size();
            const auto [ticket, victim] = tickets[k];
            tickets.erase(tickets.begin() + static_cast<std::ptrdiff_t>(k));
            if (b.Cancel(ticket)) cancelled[victim] = 1;
          }
          break;
        case 4:
          if (held > 0) {
            --held;
            give_back();
          } else {
            release_owed();
          }
          break;
        case 5:
          if (rng() % 8 == 0) {
            clock.Advance(1ms);
            b.Expire();
          }
          break;
      }
    }
    while (held-- > 0) give_back();
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();

  // Drain: release the slots granted through callbacks (which hands them to waiters, whose
  // slots are owed in turn), and expire whatever still waits.
  for (int round = 0; round < 2; ++round) {
    while (release_owed()) {
    }
    clock.Advance(1s);
    b.Expire();
  }
  while (release_owed()) {
  }

  EXPECT_FALSE(overflow.load());
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.queued(), 0u);
  EXPECT_EQ(holding.load(), 0);
  int n_queued = 0;
  int n_cancelled = 0;
  for (size_t id = 0; id < fired.size(); ++id) {
    if (queued[id]) {
      ++n_queued;
      n_cancelled += cancelled[id];
      ASSERT_EQ(fired[id].load() + cancelled[id], 1) << id;
    } else {
      ASSERT_EQ(fired[id].load(), 0) << id;
    }
  }
  // Every path was exercised.
  EXPECT_GT(admitted_by_callback.load(), 0);
  EXPECT_GT(evicted.load(), 0);
  EXPECT_GT(timed_out.load(), 0);
  EXPECT_GT(n_cancelled, 0);
  EXPECT_EQ(admitted_by_callback + evicted + timed_out + n_cancelled, n_queued);
}

}  // namespace
}  // namespace infergate::isolation
