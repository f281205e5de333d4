// GCRA cells driven by a manual clock (exact admit/refuse sequences, Retry-After, refunds, debt),
// the reset-duration format, and RateTicket (give-back on a later refusal, shadow, settling).
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/isolation/rate_limiter.h"
#include "infergate/isolation/rate_store.h"

namespace infergate::isolation {
namespace {

using namespace std::chrono_literals;

Rate PerMinute(uint64_t n) { return Rate{n, std::chrono::minutes(1)}; }

TEST(Gcra, AdmitsTheBurstThenRefusesWithRetryAfter) {
  ManualClock clock;
  GcraCell cell(PerMinute(30));  // T = 2s, burst 30
  for (int i = 0; i < 30; ++i) {
    RateDecision d = cell.Take(1, clock.Now());
    ASSERT_TRUE(d.admitted) << i;
    EXPECT_EQ(d.remaining, static_cast<uint64_t>(29 - i)) << i;
    EXPECT_EQ(d.reset, std::chrono::seconds(2 * (i + 1))) << i;
  }
  RateDecision refused = cell.Take(1, clock.Now());
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, 2s);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.reset, 60s);
  EXPECT_EQ(RetryAfterSeconds(refused.retry_after), 2);
  // A refusal counts nothing: one unit comes back every 2 s.
  clock.Advance(1999ms);
  RateDecision early = cell.Take(1, clock.Now());
  EXPECT_FALSE(early.admitted);
  EXPECT_EQ(early.retry_after, 1ms);
  EXPECT_EQ(RetryAfterSeconds(early.retry_after), 1);  // rounded up, at least 1
  clock.Advance(1ms);
  EXPECT_TRUE(cell.Take(1, clock.Now()).admitted);
  EXPECT_FALSE(cell.Take(1, clock.Now()).admitted);
  // A minute idle fills the cell again, and no more than full.
  clock.Advance(10min);
  int admitted = 0;
  while (cell.Take(1, clock.Now()).admitted) ++admitted;
  EXPECT_EQ(admitted, 30);
}

TEST(Gcra, TokensCostTheirCount) {
  ManualClock clock;
  GcraCell cell(PerMinute(600));  // T = 100 ms
  EXPECT_TRUE(cell.Take(500, clock.Now()).admitted);
  RateDecision d = cell.Take(101, clock.Now());
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.remaining, 100u);
  EXPECT_EQ(d.retry_after, 100ms);  // one more token's interval
  EXPECT_TRUE(cell.Take(100, clock.Now()).admitted);
  EXPECT_EQ(cell.Peek(clock.Now()).remaining, 0u);
  EXPECT_EQ(cell.Peek(clock.Now()).reset, 60s);
}

TEST(Gcra, CostAboveTheBurstOnlyFromAFullCellAndLeavesDebt) {
  ManualClock clock;
  GcraCell cell(PerMinute(60));  // T = 1s
  EXPECT_TRUE(cell.Take(1, clock.Now()).admitted);
  EXPECT_FALSE(cell.Take(90, clock.Now()).admitted);  // not full
  clock.Advance(1s);
  RateDecision d = cell.Take(90, clock.Now());  // full: admitted, 30 s of debt
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset, 90s);
  RateDecision next = cell.Take(1, clock.Now());
  EXPECT_FALSE(next.admitted);
  EXPECT_EQ(next.retry_after, 31s);
}

TEST(Gcra, AdjustRefundsAndDebits) {
  ManualClock clock;
  GcraCell cell(PerMinute(100));  // T = 600 ms
  EXPECT_TRUE(cell.Take(100, clock.Now()).admitted);
  EXPECT_FALSE(cell.Take(1, clock.Now()).admitted);
  cell.Adjust(-40, clock.Now());  // the estimate was 40 too high
  EXPECT_EQ(cell.Peek(clock.Now()).remaining, 40u);
  cell.Adjust(-1000, clock.Now());  // never above full
  EXPECT_EQ(cell.Peek(clock.Now()).remaining, 100u);
  EXPECT_EQ(cell.Peek(clock.Now()).reset, 0s);
  cell.Adjust(150, clock.Now());  // more than the burst: debt
  EXPECT_EQ(cell.Peek(clock.Now()).remaining, 0u);
  EXPECT_EQ(cell.Peek(clock.Now()).reset, 90s);
  RateDecision d = cell.Take(1, clock.Now());
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after, 30s + 600ms);
}

TEST(Gcra, HugeDebtSaturatesInsteadOfWrappingAround) {
  ManualClock clock;
  GcraCell cell(PerMinute(1));  // T = 60 s
  for (int i = 0; i < 1000; ++i) cell.Adjust(1'000'000'000, clock.Now());
  EXPECT_FALSE(cell.Take(1, clock.Now()).admitted);
  EXPECT_EQ(cell.Peek(clock.Now()).remaining, 0u);
  EXPECT_GT(cell.Peek(clock.Now()).reset, std::chrono::hours(24 * 365));
}

TEST(Gcra, StoreKeepsCellsByKeyAndAppliesNewRates) {
  ManualClock clock;
  LocalRateStore store;
  auto a = store.Cell("tenant/a/requests", PerMinute(2));
  EXPECT_TRUE(a->Take(2, clock.Now()).admitted);
  auto again = store.Cell("tenant/a/requests", PerMinute(4));  // a reload raising the limit
  EXPECT_EQ(a.get(), again.get());
  EXPECT_EQ(again->rate().amount, 4u);
  EXPECT_NE(store.Cell("tenant/b/requests", PerMinute(2)).get(), a.get());
}

TEST(Gcra, ResetDurationFormat) {
  EXPECT_EQ(FormatResetDuration(0s), "0s");
  EXPECT_EQ(FormatResetDuration(120ms), "120ms");
  EXPECT_EQ(FormatResetDuration(119500us), "120ms");  // milliseconds rounded up
  EXPECT_EQ(FormatResetDuration(1s), "1s");
  EXPECT_EQ(FormatResetDuration(1500ms), "1.5s");
  EXPECT_EQ(FormatResetDuration(6min), "6m0s");
  EXPECT_EQ(FormatResetDuration(61s + 250ms), "1m1.25s");
  EXPECT_EQ(FormatResetDuration(1h + 2min + 3s), "1h2m3s");
  EXPECT_EQ(FormatResetDuration(999ms), "999ms");
  EXPECT_EQ(FormatResetDuration(1001ms), "1.001s");
  EXPECT_EQ(FormatResetDuration(1010ms), "1.01s");
  EXPECT_EQ(FormatResetDuration(1050ms), "1.05s");
  EXPECT_EQ(FormatResetDuration(2h), "2h0m0s");
  EXPECT_EQ(FormatResetDuration(-5s), "0s");
}

ScopeLimits Scope(LocalRateStore& store, LimitScope scope, const char* name, uint64_t requests,
                  uint64_t tokens, bool shadow = false) {
  ScopeLimits s;
  s.scope = scope;
  s.name = name;
  s.shadow = shadow;
  if (requests) s.cells[0] = store.Cell(std::string(name) + "/requests", PerMinute(requests));
  if (tokens) s.cells[1] = store.Cell(std::string(name) + "/tokens", PerMinute(tokens));
  return s;
}

TEST(RateTicket, RefusalGivesBackEarlierTakes) {
  ManualClock clock;
  LocalRateStore store;
  ScopeLimits tenant = Scope(store, LimitScope::kTenant, "t", 10, 1000);
  ScopeLimits route = Scope(store, LimitScope::kRoute, "r", 10, 100);
  TenantLimitMetrics metrics;  // no series: nothing counted
  const ScopeLimits* scopes[] = {&tenant, &route};
  RateTicket ticket;
  ASSERT_FALSE(ticket.Take(scopes, LimitKind::kRequests, 1, clock.Now(), metrics));
  EXPECT_EQ(ticket.requests().remaining, 9u);
  ASSERT_FALSE(ticket.Take(scopes, LimitKind::kTokens, 50, clock.Now(), metrics));
  EXPECT_EQ(ticket.tokens().remaining, 50u);  // the route's, the tighter
  auto refused = ticket.Take(scopes, LimitKind::kTokens, 60, clock.Now(), metrics);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->scope, &route);
  EXPECT_EQ(refused->kind, LimitKind::kTokens);
  EXPECT_EQ(refused->limit, 100u);
  // The tenant's request and tokens went back.
  EXPECT_EQ(tenant.cell(LimitKind::kRequests)->Peek(clock.Now()).remaining, 10u);
  EXPECT_EQ(tenant.cell(LimitKind::kTokens)->Peek(clock.Now()).remaining, 1000u);
}

TEST(RateTicket, ShadowRefusesNothingAndReports) {
  ManualClock clock;
  LocalRateStore store;
  ScopeLimits tenant = Scope(store, LimitScope::kTenant, "t", 1, 0, /*shadow=*/true);
  TenantLimitMetrics metrics;
  const ScopeLimits* scopes[] = {&tenant};
  for (int i = 0; i < 3; ++i) {
    RateTicket ticket;
    std::optional<RateRefusal> shadow;
    EXPECT_FALSE(ticket.Take(scopes, LimitKind::kRequests, 1, clock.Now(), metrics, &shadow));
    EXPECT_EQ(shadow.has_value(), i > 0) << i;
    EXPECT_EQ(ticket.requests().remaining, 0u);
  }
}

TEST(RateTicket, SettleChargesTheRealTokens) {
  ManualClock clock;
  LocalRateStore store;
  ScopeLimits tenant = Scope(store, LimitScope::kTenant, "t", 0, 1000);
  TenantLimitMetrics metrics;
  const ScopeLimits* scopes[] = {&tenant};
  RateTicket ticket;
  ASSERT_FALSE(ticket.Take(scopes, LimitKind::kTokens, 300, clock.Now(), metrics));
  EXPECT_EQ(ticket.tokens().remaining, 700u);
  ticket.Settle(120, 20, clock.Now());  // the answer used 120: 180 come back
  EXPECT_EQ(tenant.cell(LimitKind::kTokens)->Peek(clock.Now()).remaining, 880u);
  RateTicket more;
  ASSERT_FALSE(more.Take(scopes, LimitKind::kTokens, 100, clock.Now(), metrics));
  more.Settle(500, 400, clock.Now());  // 400 more than estimated
  EXPECT_EQ(tenant.cell(LimitKind::kTokens)->Peek(clock.Now()).remaining, 380u);
  RateTicket unknown;
  ASSERT_FALSE(unknown.Take(scopes, LimitKind::kTokens, 80, clock.Now(), metrics));
  unknown.Settle(std::nullopt, std::nullopt, clock.Now());  // the estimate stands
  EXPECT_EQ(tenant.cell(LimitKind::kTokens)->Peek(clock.Now()).remaining, 300u);
}

}  // namespace
}  // namespace infergate::isolation
