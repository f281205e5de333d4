// LeasedCell's allowance logic with a fake lease source (the test answers the wakes) and a
// manual clock.
#include "infergate/isolation/leased_cell.h"

#include <gtest/gtest.h>

namespace infergate::isolation {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct FakeSource {
  int wakes = 0;
  std::shared_ptr<LeasedCell> Make(const Rate& rate, double share,
                                   Duration late_after = Duration::max()) {
    return std::make_shared<LeasedCell>(
        "tenant/acme/requests", rate, share, [this](std::weak_ptr<LeasedCell>) { ++wakes; },
        late_after);
  }
};

constexpr Rate k100{100, std::chrono::minutes(1)};

TEST(LeasedCell, StartsLocalThenSpendsLeasesWithoutAskingPerTake) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  EXPECT_EQ(cell->batch(), 10u);
  EXPECT_FALSE(cell->shared());
  // Before the first lease answers, the local cell admits and the fleet is told afterwards.
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
  EXPECT_EQ(source.wakes, 1);  // one lease outstanding at a time
  LeaseRequest asked = cell->BeginLease();
  EXPECT_EQ(asked.want, 10u);
  EXPECT_EQ(asked.correction, 2);
  cell->OnLease(asked, Lease{10, 80, {}}, clock.Now());
  EXPECT_TRUE(cell->shared());
  // 10 leased: the first 5 takes ask nothing; the one that leaves less than half a batch asks.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;
  EXPECT_EQ(source.wakes, 1);
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
  EXPECT_EQ(source.wakes, 2);
  EXPECT_EQ(cell->allowance(), 4);
  asked = cell->BeginLease();
  EXPECT_EQ(asked.correction, 0);
  cell->OnLease(asked, Lease{10, 70, {}}, clock.Now());
  EXPECT_EQ(cell->allowance(), 14);
  EXPECT_EQ(cell->Peek(clock.Now()).remaining, 14u + 70u);
}

// The allowance spent while the next lease is on its way, the fleet having had room at the last
// one: up to a batch is taken on credit (sent as a correction), not refused; past it, refused.
TEST(LeasedCell, ALeaseOnItsWayIsBridgedByABatchOfCredit) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  cell->Take(1, clock.Now());
  LeaseRequest asked = cell->BeginLease();
  cell->OnLease(asked, Lease{10, 50, {}}, clock.Now());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;
  EXPECT_EQ(cell->allowance(), 0);
  // The lease asked at half a batch has not come back: 10 more on credit, then refusals.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);
  asked = cell->BeginLease();
  EXPECT_EQ(asked.correction, 10);  // the credit, counted by the fleet with this lease
  cell->OnLease(asked, Lease{10, 30, {}}, clock.Now());
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
  // With no room at the fleet, nothing is taken on credit.
  auto empty = source.Make(k100, 1.0);
  empty->Take(1, clock.Now());
  asked = empty->BeginLease();
  empty->OnLease(asked, Lease{1, 0, milliseconds(600)}, clock.Now());
  EXPECT_TRUE(empty->Take(1, clock.Now()).admitted);
  EXPECT_FALSE(empty->Take(1, clock.Now()).admitted);
}

// A cell with half the limit as its local share, a late_after of 50 ms, one local take, and its
// first lease answered with `first`.
std::shared_ptr<LeasedCell> HalfShareLeased(FakeSource& source, TimePoint now, Lease first) {
  auto cell = source.Make(k100, 0.5, milliseconds(50));
  cell->Take(1, now);
  cell->OnLease(cell->BeginLease(), first, now);
  return cell;
}

// A lease in flight longer than late_after (the Redis timeout): past the allowance and the credit
// the local share decides, as when Redis is down, and what it admits goes to the fleet with the
// next lease; nothing waits and nothing more is asked of the fleet meanwhile.
TEST(LeasedCell, ALateLeaseLeavesTheDecisionToTheLocalShare) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = HalfShareLeased(source, clock.Now(), Lease{10, 50, {}});
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;
  EXPECT_EQ(source.wakes, 2);
  const LeaseRequest asked = cell->BeginLease();  // the store sends it; the answer is slow
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;  // credit
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);  // not late yet
  clock.Advance(milliseconds(49));
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);
  clock.Advance(milliseconds(1));
  // Late: the local share (50 a minute at once) less the 21 this instance took.
  int admitted = 0;
  for (int i = 0; i < 60; ++i) admitted += cell->Take(1, clock.Now()).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 29);
  EXPECT_EQ(cell->late_admitted(), 29u);
  EXPECT_EQ(source.wakes, 2);  // still the one lease in flight
  cell->OnLease(asked, Lease{10, 10, {}}, clock.Now());
  EXPECT_TRUE(cell->shared());
  EXPECT_EQ(cell->BeginLease().correction, 10 + 29);  // the credit and the late admissions
}

// With the fleet empty at the last lease nothing is taken on credit; a lease asked when a unit is
// due and then late leaves the decision to the local share too.
TEST(LeasedCell, ALateLeaseAfterAnEmptyFleetLeavesTheDecisionToTheLocalShare) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = HalfShareLeased(source, clock.Now(), Lease{0, 0, milliseconds(600)});
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);
  clock.Advance(milliseconds(600));
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);  // a lease is asked, not late
  EXPECT_EQ(source.wakes, 2);
  clock.Advance(milliseconds(50));
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
  EXPECT_EQ(cell->late_admitted(), 1u);
}

TEST(LeasedCell, FleetEmptyRefusesAndAsksAgainOnlyWhenAUnitIsDue) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  cell->Take(1, clock.Now());
  LeaseRequest asked = cell->BeginLease();
  cell->OnLease(asked, Lease{0, 0, milliseconds(600)}, clock.Now());
  RateDecision d = cell->Take(1, clock.Now());
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after, milliseconds(600));
  EXPECT_EQ(source.wakes, 1);  // not before the fleet has a unit
  clock.Advance(milliseconds(600));
  EXPECT_FALSE(cell->Take(1, clock.Now()).admitted);
  EXPECT_EQ(source.wakes, 2);
  asked = cell->BeginLease();
  cell->OnLease(asked, Lease{1, 0, milliseconds(600)}, clock.Now());
  EXPECT_TRUE(cell->Take(1, clock.Now()).admitted);
}

TEST(LeasedCell, FallsBackToItsShareAndRejoinsWithoutRefusals) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 0.5);
  cell->Take(1, clock.Now());
  LeaseRequest asked = cell->BeginLease();
  cell->OnLeaseFailed(clock.Now(), seconds(1));
  EXPECT_FALSE(cell->shared());
  // The local share: 50 at once (one already taken), then refused.
  int admitted = 1;
  for (int i = 0; i < 60; ++i) admitted += cell->Take(1, clock.Now()).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 50);
  EXPECT_EQ(source.wakes, 1);  // no lease asked before retry_in
  clock.Advance(seconds(1));
  cell->Take(1, clock.Now());
  EXPECT_EQ(source.wakes, 2);
  asked = cell->BeginLease();
  EXPECT_EQ(asked.correction, 0);  // what the outage admitted is not charged to the fleet
  cell->OnLease(asked, Lease{10, 90, {}}, clock.Now());
  EXPECT_TRUE(cell->shared());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cell->Take(1, clock.Now()).admitted) << i;
}

TEST(LeasedCell, RejoinAsksForALeaseAtOnce) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  cell->Take(1, clock.Now());
  cell->BeginLease();
  cell->OnLeaseFailed(clock.Now(), seconds(1));
  cell->Take(1, clock.Now());
  EXPECT_EQ(source.wakes, 1);
  cell->Rejoin(clock.Now());
  EXPECT_EQ(source.wakes, 2);
  cell->Rejoin(clock.Now());  // one lease outstanding at a time
  EXPECT_EQ(source.wakes, 2);
}

TEST(LeasedCell, CorrectionsAreBatchedIntoTheNextLease) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  cell->Take(1, clock.Now());
  LeaseRequest asked = cell->BeginLease();
  cell->OnLease(asked, Lease{10, 89, {}}, clock.Now());
  cell->Adjust(3, clock.Now());
  EXPECT_EQ(source.wakes, 1);  // under half a batch: waits for the next lease
  cell->Adjust(-1, clock.Now());
  cell->Adjust(4, clock.Now());
  EXPECT_EQ(source.wakes, 2);
  EXPECT_EQ(cell->BeginLease().correction, 6);
}

TEST(LeasedCell, ATakeAboveTheBatchAsksForItsSize) {
  ManualClock clock(TimePoint(seconds(1000)));
  FakeSource source;
  auto cell = source.Make(k100, 1.0);
  cell->Take(1, clock.Now());
  LeaseRequest asked = cell->BeginLease();
  cell->OnLease(asked, Lease{10, 89, {}}, clock.Now());
  EXPECT_FALSE(cell->Take(30, clock.Now()).admitted);
  asked = cell->BeginLease();
  EXPECT_EQ(asked.want, 30u);
  cell->OnLease(asked, Lease{30, 59, {}}, clock.Now());
  EXPECT_TRUE(cell->Take(30, clock.Now()).admitted);
  EXPECT_EQ(cell->allowance(), 10);
}

}  // namespace
}  // namespace infergate::isolation
