// The watchdog decision: a ping only when every worker's heartbeat moved since the last check.
// Without NOTIFY_SOCKET (as here) sd_notify sends nothing, so only the decision is observed.
#include "server/systemd.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace infergate::server {
namespace {

TEST(SystemdWatchdog, PingsOnlyWhileEveryWorkerMakesProgress) {
  Systemd systemd;
  std::atomic<uint64_t> a{0}, b{0};
  const std::vector<const std::atomic<uint64_t>*> beats = {&a, &b};
  EXPECT_TRUE(systemd.Check(beats));   // the first check sets the baseline and pings
  EXPECT_FALSE(systemd.Check(beats));  // nobody moved
  ++a;
  EXPECT_FALSE(systemd.Check(beats));  // worker 2 is wedged
  ++b;
  EXPECT_FALSE(systemd.Check(beats));  // worker 1 is now the one that did not move
  ++a;
  ++b;
  EXPECT_TRUE(systemd.Check(beats));  // both moved: pings again
  a += 5;
  b += 1;
  EXPECT_TRUE(systemd.Check(beats));
}

TEST(SystemdWatchdog, NoWatchdogWithoutWatchdogUsec) {
  unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(Systemd().watchdog().has_value());
  setenv("WATCHDOG_USEC", "2000000", 1);
  ASSERT_TRUE(Systemd().watchdog().has_value());
  EXPECT_EQ(Systemd().watchdog()->count(), 2000000);
  unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace infergate::server
