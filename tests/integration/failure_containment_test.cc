// Integration: failure detection and recovery end to end - a killed, a stopped and a restarted
// backend, priority failover and failback, the slow-start ramp, and the gateway's own stall.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "integration/failure_containment_util.h"

namespace infergate::testing::containment {
namespace {

std::unique_ptr<Gateway> StartGateway(const std::string& yaml) {
  std::string why;
  auto gw = Gateway::Start(yaml, {}, &why);
  EXPECT_TRUE(gw) << why;
  return gw;
}

// Scenario 1: SIGKILL of one of three backends under steady load. Connect failures and resets
// before the first byte are retried on another backend until probes remove the dead one.
TEST(FailureContainment, SigkillOfOneOfThreeBackendsUnderLoadCausesNoClientErrors) {
  std::vector<std::unique_ptr<MockServer>> mocks;
  for (const char* id : {"a", "b", "c"}) {
    mocks.push_back(StartMock(id));
    ASSERT_TRUE(mocks.back());
  }
  // Default settings: requests refused by the dead backend are retried elsewhere without
  // drawing on the retry budget, however many are in flight when it dies.
  auto gw = StartGateway(ContainmentYaml(BackendItems(mocks), ""));
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 5s)) << Describe(AdminBackends(*gw));
  const std::string victim = mocks[0]->address();

  Load load(gw->port(), Load::With(4, 2ms, 8s, 1500));
  ASSERT_TRUE(WaitUntil([&] { return load.sent() >= 200; }, 5s));
  const auto killed_at = Clock::now();
  mocks[0]->process().Signal(SIGKILL);
  const bool removed = WaitForState(*gw, victim, "unavailable", 5s);
  const double removed_ms = MillisSince(killed_at);
  EXPECT_TRUE(removed) << Describe(AdminBackends(*gw));
  // Keep the load going with the backend gone (about another second of it).
  const int64_t after_removal = load.sent();
  WaitUntil([&] { return load.sent() >= after_removal + 400; }, 3s);
  Tally t = load.StopAndResult();

  std::printf(
      "[ scenario 1 ] dead backend unavailable after %.0f ms; retries %.0f, budget exhausted "
      "%.0f; %s\n",
      removed_ms, MetricOr0(*gw, "infergate_retries_total", "route=\"chat\""),
      MetricOr0(*gw, "infergate_retry_budget_exhausted_total"), t.Summary().c_str());
  EXPECT_GT(t.sent, 600);
  EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
  EXPECT_GT(t.Server("a"), 0) << "the victim took traffic before it died";
  EXPECT_GT(t.Server("b"), 0);
  EXPECT_GT(t.Server("c"), 0);
  EXPECT_GE(MetricOr0(*gw, "infergate_retries_total", "route=\"chat\""), 1);
  EXPECT_GE(MetricOr0(*gw, "infergate_upstream_failures_total", BackendLabels(victim)), 1);
  EXPECT_EQ(MetricOr0(*gw, "infergate_backend_available", BackendLabels(victim)), 0);
}

// Scenario 2: a SIGSTOPped backend (alive to the kernel, silent to everyone) is detected by the
// phi-accrual detector and takes no new requests within 1 s; after SIGCONT it comes back and
// slow start ramps its weight from 10% to 100% over the 2 s window.
TEST(FailureContainment, StoppedBackendTakesNoNewRequestsWithinOneSecondAndRampsBack) {
  std::vector<std::unique_ptr<MockServer>> mocks;
  for (const char* id : {"a", "b", "c"}) {
    mocks.push_back(StartMock(id));
    ASSERT_TRUE(mocks.back());
  }
  auto gw = StartGateway(ContainmentYaml(BackendItems(mocks), "    slow_start: {window: 2s}\n"));
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 5s)) << Describe(AdminBackends(*gw));
  MockServer& victim = *mocks[1];
  const std::string name = victim.address();

  // Light steady traffic; requests picked for the stopped backend wait until SIGCONT.
  Load load(gw->port(), Load::With(6, 30ms, 30s, 2000, {}, 20s));
  // Warm-up: let the detector learn the probe and traffic cadence (deliberate passage of time).
  std::this_thread::sleep_for(3s);
  ASSERT_GT(load.sent(), 50);
  auto before = victim.Stats();
  ASSERT_TRUE(before);

  double unavailable_ms = -1;
  double last_new_request_ms = 0;  // when the victim's in-flight count last went up
  int64_t in_flight_at_stop = -1;
  int64_t in_flight_peak = -1;
  {
    ResumeOnExit resume(victim.process());
    auto v0 = AdminBackend(*gw, name);
    ASSERT_TRUE(v0);
    in_flight_at_stop = in_flight_peak = v0->in_flight;
    int64_t prev = v0->in_flight;
    const auto stopped_at = Clock::now();
    victim.process().Signal(SIGSTOP);
    while (MillisSince(stopped_at) < 1500) {
      auto v = AdminBackend(*gw, name);
      const double at = MillisSince(stopped_at);
      if (!v) continue;
      if (unavailable_ms < 0 && v->state == "unavailable") unavailable_ms = at;
      if (v->in_flight > prev) last_new_request_ms = at;
      prev = v->in_flight;
      in_flight_peak = std::max(in_flight_peak, v->in_flight);
      std::this_thread::sleep_for(5ms);
    }
    auto v = AdminBackend(*gw, name);
    std::printf(
        "[ scenario 2 ] unavailable after %.0f ms (reasons %s); last new request picked at "
        "<= %.0f ms; in flight at stop %lld, peak %lld\n",
        unavailable_ms, v ? v->reasons.c_str() : "?", last_new_request_ms,
        static_cast<long long>(in_flight_at_stop), static_cast<long long>(in_flight_peak));
  }  // SIGCONT
  const auto resumed_at = Clock::now();
  EXPECT_GE(unavailable_ms, 0) << "still available 1.5 s after SIGSTOP";
  EXPECT_LE(unavailable_ms, 1000);
  EXPECT_LE(last_new_request_ms, 1000);

  // Back: available again, with the slow-start weight ramping from its floor to 100%.
  double first_weight = -1, available_ms = -1;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto v = AdminBackend(*gw, name);
        if (!v || v->state != "available") return false;
        available_ms = MillisSince(resumed_at);
        first_weight = v->weight_percent;
        return true;
      },
      10s, 5ms))
      << Describe(AdminBackends(*gw));
  const auto available_at = Clock::now();
  double mid_weight = -1;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto v = AdminBackend(*gw, name);
        if (!v) return false;
        if (v->weight_percent > 30 && v->weight_percent < 90) mid_weight = v->weight_percent;
        return v->weight_percent >= 100;
      },
      10s, 20ms));
  const double ramp_ms = MillisSince(available_at);
  auto after = victim.Stats();
  ASSERT_TRUE(after);
  Tally t = load.StopAndResult();
  std::printf(
      "[ scenario 2 ] available %.0f ms after SIGCONT at weight %.1f%%, full weight %.0f ms "
      "later (seen %.1f%% on the way); %lld requests reached it while stopped or after\n",
      available_ms, first_weight, ramp_ms, mid_weight,
      static_cast<long long>(after->requests - before->requests));
  EXPECT_LE(first_weight, 40);
  EXPECT_GT(mid_weight, 0) << "no intermediate weight seen";
  EXPECT_GE(ramp_ms, 1000);
  EXPECT_LE(ramp_ms, 6000);
  EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
  EXPECT_EQ(Changes(*gw, {name}, "suspected"), 1);
  EXPECT_EQ(Changes(*gw, {name}, "recovered"), 1);
}

// Scenario 6: priority 1 takes the traffic only while priority 0 is gone, and gives it back.
TEST(FailureContainment, PriorityFailoverAndFailback) {
  auto p0a = StartMock("p0a");
  auto p0b = StartMock("p0b");
  auto p1 = StartMock("p1");
  ASSERT_TRUE(p0a && p0b && p1);
  const std::string a = p0a->address(), b = p0b->address();
  auto gw = StartGateway(
      ContainmentYaml(BackendItem(a, 0) + BackendItem(b, 0) + BackendItem(p1->address(), 1)));
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 5s)) << Describe(AdminBackends(*gw));

  auto run = [&](int n) {
    Load load(gw->port(), Load::With(3, 0ms, 20s, n));
    return load.Result();
  };
  Tally healthy = run(20);
  EXPECT_EQ(healthy.Status(200), 60) << healthy.Summary();
  EXPECT_EQ(healthy.Server("p1"), 0) << healthy.Summary();
  EXPECT_GT(healthy.Server("p0a"), 0);
  EXPECT_GT(healthy.Server("p0b"), 0);

  // Both priority-0 backends die.
  p0a->process().Signal(SIGKILL);
  p0b->process().Signal(SIGKILL);
  p0a.reset();
  p0b.reset();
  ASSERT_TRUE(WaitForState(*gw, a, "unavailable", 5s) && WaitForState(*gw, b, "unavailable", 5s))
      << Describe(AdminBackends(*gw));
  Tally failover = run(20);
  std::printf("[ scenario 6 ] failover: %s\n", failover.Summary().c_str());
  EXPECT_EQ(failover.Status(200), 60) << failover.Summary();
  EXPECT_EQ(failover.Server("p1"), 60) << failover.Summary();

  // They come back on the same ports.
  p0a = StartMock("p0a", a);
  p0b = StartMock("p0b", b);
  ASSERT_TRUE(p0a && p0b);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 10s)) << Describe(AdminBackends(*gw));
  Tally failback = run(20);
  std::printf("[ scenario 6 ] failback: %s\n", failback.Summary().c_str());
  EXPECT_EQ(failback.Status(200), 60) << failback.Summary();
  EXPECT_EQ(failback.Server("p1"), 0) << failback.Summary();
  EXPECT_EQ(failback.Server("p0a") + failback.Server("p0b"), 60);
  // Priority 1 absorbed the loss, so the pool never panicked (which would have sent traffic to
  // the dead priority-0 backends).
  EXPECT_EQ(MetricOr0(*gw, "infergate_panic_mode_total", "pool=\"main\""), 0);
}

// Scenario 7: the slow-start ramp shows in the requests a returning backend receives.
TEST(FailureContainment, SlowStartRampShowsInTheReturningBackendsShare) {
  auto a = StartMock("a");
  auto b = StartMock("b");
  ASSERT_TRUE(a && b);
  const std::string name = b->address();
  auto gw = StartGateway(ContainmentYaml(BackendItem(a->address()) + BackendItem(name),
                                         "    load_balancing: weighted_round_robin\n"
                                         "    slow_start: {window: 3s, min_weight_percent: 10}\n"));
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 5s)) << Describe(AdminBackends(*gw));

  {
    Load warm(gw->port(), Load::With(4, 1ms, 10s, 50));
    Tally t = warm.Result();
    ASSERT_EQ(t.Status(200), t.sent) << t.Summary();
  }
  // Killed and restarted without traffic meanwhile: requests that failed on the dead backend
  // would eject it (30 s), which is not what this test is about.
  b->process().Signal(SIGKILL);
  b.reset();
  ASSERT_TRUE(WaitForState(*gw, name, "unavailable", 5s)) << Describe(AdminBackends(*gw));
  b = StartMock("b", name);
  ASSERT_TRUE(b);
  // The load runs from before the backend is back, so its first moments are measured.
  Load load(gw->port(), Load::With(4, 1ms, 40s, 100000));
  ASSERT_TRUE(WaitForState(*gw, name, "available", 10s)) << Describe(AdminBackends(*gw));
  const auto back_at = Clock::now();

  // Requests each backend received in [from, to) after the return.
  auto window = [&](Millis from, Millis to) {
    std::this_thread::sleep_until(back_at + from);  // pacing the measurement, not awaiting
    auto a0 = a->Stats(), b0 = b->Stats();
    std::this_thread::sleep_until(back_at + to);
    auto a1 = a->Stats(), b1 = b->Stats();
    if (!a0 || !b0 || !a1 || !b1) return std::pair<int64_t, int64_t>(-1, -1);
    return std::pair<int64_t, int64_t>(a1->requests - a0->requests, b1->requests - b0->requests);
  };
  auto early = window(0ms, 500ms);
  auto late = window(3500ms, 4500ms);
  Tally t = load.StopAndResult();
  const double early_share =
      static_cast<double>(early.second) / static_cast<double>(early.first + early.second);
  const double late_share =
      static_cast<double>(late.second) / static_cast<double>(late.first + late.second);
  std::printf(
      "[ scenario 7 ] returning backend share: first 0.5 s %.1f%% (%lld of %lld), 3.5-4.5 s "
      "%.1f%% (%lld of %lld)\n",
      100 * early_share, static_cast<long long>(early.second),
      static_cast<long long>(early.first + early.second), 100 * late_share,
      static_cast<long long>(late.second), static_cast<long long>(late.first + late.second));
  ASSERT_GT(early.first + early.second, 20);
  ASSERT_GT(late.first + late.second, 20);
  EXPECT_LT(early_share, 0.35);
  EXPECT_GT(late_share, 0.40);
  EXPECT_LT(late_share, 0.60);
  EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
}

// Scenario 9: the gateway itself stopped for 3 s sees every backend silent for 3 s; its stall
// guard must forgive that span instead of convicting them all.
TEST(FailureContainment, GatewayStallConvictsNoBackend) {
  std::vector<std::unique_ptr<MockServer>> mocks;
  for (const char* id : {"a", "b", "c"}) {
    mocks.push_back(StartMock(id));
    ASSERT_TRUE(mocks.back());
  }
  auto gw = StartGateway(ContainmentYaml(BackendItems(mocks)));
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitForState(*gw, "", "available", 5s)) << Describe(AdminBackends(*gw));
  std::vector<std::string> names;
  for (const auto& m : mocks) names.push_back(m->address());
  {
    Load warm(gw->port(), Load::With(2, 20ms, 2s, 1000));
    std::this_thread::sleep_for(2s);  // the detector learns the cadence
    Tally t = warm.Result();
    EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
  }
  {
    ResumeOnExit resume(gw->process());
    gw->process().Signal(SIGSTOP);
    std::this_thread::sleep_for(3s);  // the stall itself
  }
  const auto resumed_at = Clock::now();
  ASSERT_TRUE(WaitUntil([&] { return MetricOr0(*gw, "infergate_gateway_stalls_total") >= 1; }, 5s));
  // Watch for 2 s: nobody convicted, everybody available, traffic flows.
  Load after(gw->port(), Load::With(2, 20ms, 2s, 1000));
  bool all_available = true;
  std::string last;
  while (MillisSince(resumed_at) < 2000) {
    auto views = AdminBackends(*gw);
    for (const auto& v : views) all_available &= v.state == "available";
    if (views.empty()) all_available = false;
    if (!all_available) {
      last = Describe(views);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  Tally t = after.Result();
  EXPECT_TRUE(all_available) << last;
  EXPECT_EQ(Changes(*gw, names, "suspected"), 0);
  EXPECT_EQ(Changes(*gw, names, "probe_down"), 0);
  EXPECT_GE(MetricOr0(*gw, "infergate_gateway_stalls_total"), 1);
  EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
  EXPECT_GT(t.sent, 10);
}

}  // namespace
}  // namespace infergate::testing::containment
