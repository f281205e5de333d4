// RetryBudget: the minimum concurrency floor and the percentage of active requests.
#include "infergate/resilience/retry_budget.h"

#include <gtest/gtest.h>

namespace infergate::resilience {
namespace {

TEST(RetryBudget, MinimumConcurrencyWithoutTraffic) {
  RetryBudget budget;
  EXPECT_EQ(budget.Limit(), 3u);
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_FALSE(budget.TryStartRetry());
  EXPECT_EQ(budget.active_retries(), 3u);
  EXPECT_EQ(budget.rejected(), 1u);
  budget.EndRetry();
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_FALSE(budget.TryStartRetry());
}

TEST(RetryBudget, TwentyPercentOfActiveRequests) {
  RetryBudget budget;
  for (int i = 0; i < 100; ++i) budget.RequestStarted();
  EXPECT_EQ(budget.Limit(), 20u);
  int admitted = 0;
  while (budget.TryStartRetry()) ++admitted;
  EXPECT_EQ(admitted, 20);
  // Requests end: the limit shrinks, running retries stay, new ones wait.
  for (int i = 0; i < 50; ++i) budget.RequestEnded();
  EXPECT_EQ(budget.Limit(), 10u);
  EXPECT_EQ(budget.active_retries(), 20u);
  for (int i = 0; i < 10; ++i) budget.EndRetry();
  EXPECT_FALSE(budget.TryStartRetry());  // 10 active retries, limit 10
  budget.EndRetry();
  EXPECT_TRUE(budget.TryStartRetry());
}

TEST(RetryBudget, FloorOfPercentageBelowMinimumUsesMinimum) {
  RetryBudget budget;
  for (int i = 0; i < 19; ++i) budget.RequestStarted();  // 20% of 19 = 3.8 -> 3
  EXPECT_EQ(budget.Limit(), 3u);
  budget.RequestStarted();  // 20
  EXPECT_EQ(budget.Limit(), 4u);
  for (int i = 0; i < 5; ++i) budget.RequestStarted();  // 25 -> 5
  EXPECT_EQ(budget.Limit(), 5u);
}

TEST(RetryBudget, CustomConfigAndSaturation) {
  RetryBudget budget(RetryBudgetConfig{50.0, 0});
  EXPECT_EQ(budget.Limit(), 0u);
  EXPECT_FALSE(budget.TryStartRetry());
  budget.RequestStarted();
  budget.RequestStarted();
  EXPECT_EQ(budget.Limit(), 1u);
  EXPECT_TRUE(budget.TryStartRetry());
  budget.EndRetry();
  budget.EndRetry();  // more ends than starts saturate at zero
  budget.RequestEnded();
  budget.RequestEnded();
  budget.RequestEnded();
  EXPECT_EQ(budget.active_retries(), 0u);
  EXPECT_EQ(budget.active_requests(), 0u);
  RetryBudget clamped(RetryBudgetConfig{250.0, 1});
  for (int i = 0; i < 10; ++i) clamped.RequestStarted();
  EXPECT_EQ(clamped.Limit(), 10u);  // percent clamped to 100
}

}  // namespace
}  // namespace infergate::resilience
