// Integration: backend verdicts shared by gateway instances through a real redis-server
// (shared_state.verdicts). A backend hung behind two instances and convicted by one is avoided by
// the other, whose own detectors are all off here, so they would never have convicted it; the
// convicting instance's all-clear lifts it. A conviction no instance here bears out (the test
// plays a confused instance on the channel) keeps a healthy backend out for one hold, then is
// ignored.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "integration/failure_containment_util.h"
#include "support/redis_server.h"

namespace infergate::testing::containment {
namespace {

// Publishes `message` on the verdict channel with a blocking RESP exchange of its own; returns
// the number of subscribers that got it (-1 on failure).
int64_t Publish(const RedisServer& redis, const std::string& message) {
  namespace asio = boost::asio;
  try {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), redis.port()});
    const std::string channel = "infergate:verdicts";
    const std::string command = "*3\r\n$7\r\nPUBLISH\r\n$" + std::to_string(channel.size()) +
                                "\r\n" + channel + "\r\n$" + std::to_string(message.size()) +
                                "\r\n" + message + "\r\n";
    asio::write(socket, asio::buffer(command));
    asio::streambuf reply;
    asio::read_until(socket, reply, "\r\n");
    std::string line(asio::buffers_begin(reply.data()), asio::buffers_end(reply.data()));
    if (line.empty() || line[0] != ':') return -1;
    return std::stoll(line.substr(1));
  } catch (const std::exception&) {
    return -1;
  }
}

std::string Verdict(const std::string& from, const std::string& backend, bool down) {
  return R"({"v":1,"from":")" + from + R"(","pool":"main","backend":")" + backend +
         R"(","state":")" + (down ? "down" : "up") + R"(","reason":"test"})";
}

std::string SharedYaml(const RedisServer& redis, const std::string& hold) {
  return "shared_state:\n  redis: {address: " + redis.address() +
         ", timeout: 500ms}\n  verdicts: {hold: " + hold + ", quiet: 10m}\n";
}

// B's pool: no detector that could convict a backend on its own.
constexpr const char* kBlind =
    "    failure_detector: {enabled: false}\n"
    "    health_check: {enabled: false}\n"
    "    circuit_breaker: {enabled: false}\n"
    "    outlier_ejection: {enabled: false}\n";

double Events(Gateway& gw, const std::string& event) {
  return MetricOr0(gw, "infergate_shared_verdicts_total", "event=\"" + event + "\"");
}

class SharedVerdictsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::Installed()) GTEST_SKIP() << "redis-server is not installed";
    redis_ = RedisServer::Start();
    ASSERT_TRUE(redis_);
    for (const char* id : {"a", "b", "c"}) {
      mocks_.push_back(StartMock(id));
      ASSERT_TRUE(mocks_.back());
    }
  }

  std::unique_ptr<Gateway> Start(const std::string& pool_extra, const std::string& hold) {
    std::string why;
    auto gw = Gateway::Start(
        ContainmentYaml(BackendItems(mocks_), pool_extra) + SharedYaml(*redis_, hold), {}, &why);
    EXPECT_TRUE(gw) << why;
    return gw;
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<MockServer>> mocks_;
};

TEST_F(SharedVerdictsTest, AHungBackendConvictedByOneInstanceIsAvoidedByTheOther) {
  auto a = Start("", "30s");  // default detectors: phi convicts a stopped backend
  auto b = Start(kBlind, "30s");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WaitForState(*a, "", "available", 5s)) << Describe(AdminBackends(*a));
  ASSERT_TRUE(WaitForState(*b, "", "available", 5s)) << Describe(AdminBackends(*b));
  MockServer& victim = *mocks_[1];
  const std::string name = victim.address();

  // A learns the probe and traffic cadence (as in FailureContainment scenario 2).
  Load load(a->port(), Load::With(6, 30ms, 60s, 5000, {}, 30s));
  ASSERT_TRUE(WaitForProbes(mocks_, 12, 15s));
  double a_marked_ms = -1, b_marked_ms = -1;
  {
    ResumeOnExit resume(victim.process());
    const auto stopped_at = Clock::now();
    victim.process().Signal(SIGSTOP);
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto v = AdminBackend(*a, name);
          return v && v->state == "unavailable";
        },
        10s, 2ms))
        << Describe(AdminBackends(*a));
    a_marked_ms = MillisSince(stopped_at);
    std::optional<BackendView> seen;
    ASSERT_TRUE(WaitUntil(
        [&] {
          seen = AdminBackend(*b, name);
          return seen && seen->state == "unavailable";
        },
        5s, 2ms))
        << Describe(AdminBackends(*b));
    b_marked_ms = MillisSince(stopped_at);
    EXPECT_EQ(seen->reasons, R"(["shared"])") << "B has no detector of its own";
    EXPECT_EQ(Events(*b, "honoured"), 1);
    EXPECT_GE(Events(*a, "published"), 1);

    // B sends no new request to it: 60 requests, all answered by the others, none in flight on
    // the stopped backend.
    Load on_b(b->port(), Load::With(3, 0ms, 30s, 20, {}, 20s));
    Tally t = on_b.Result();
    EXPECT_EQ(t.Status(200), 60) << t.Summary();
    EXPECT_EQ(t.Server("b"), 0);
    auto after = AdminBackend(*b, name);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->in_flight, 0);
    std::printf(
        "[ shared verdicts ] stopped backend unavailable on A after %.0f ms, on B after "
        "%.0f ms (%.1f ms later)\n",
        a_marked_ms, b_marked_ms, b_marked_ms - a_marked_ms);
  }  // SIGCONT

  // Back: A clears it and tells B, which lifts the suspicion before its 30 s hold runs out.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto v = AdminBackend(*b, name);
        return v && v->state == "available";
      },
      25s))
      << Describe(AdminBackends(*b));
  EXPECT_EQ(Events(*b, "cleared"), 1);
  EXPECT_EQ(
      MetricOr0(*b, "infergate_backend_state_changes_total", ChangeLabels(name, "shared_expired")),
      0);
  load.Stop();
}

TEST_F(SharedVerdictsTest, AConfusedInstanceKeepsAHealthyBackendOutForOneHoldThenIsIgnored) {
  auto b = Start(kBlind, "1s");
  ASSERT_TRUE(b);
  ASSERT_TRUE(WaitForState(*b, "", "available", 5s)) << Describe(AdminBackends(*b));
  const std::string name = mocks_[0]->address();
  // The gateway is subscribed once a publish reaches a subscriber.
  ASSERT_TRUE(WaitUntil([&] { return Publish(*redis_, "not a verdict") >= 1; }, 10s));
  EXPECT_GE(b->WaitForMetric("infergate_shared_verdicts_total", "event=\"malformed\"", 1), 1);

  ASSERT_EQ(Publish(*redis_, Verdict("confused", name, true)), 1);
  EXPECT_EQ(b->WaitForMetric("infergate_shared_verdicts_total", "event=\"honoured\"", 1), 1);
  auto out = AdminBackend(*b, name);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->state, "unavailable");
  // An unknown backend or pool is counted and changes nothing.
  ASSERT_EQ(Publish(*redis_, Verdict("confused", "10.9.9.9:1", true)), 1);
  EXPECT_EQ(b->WaitForMetric("infergate_shared_verdicts_total", "event=\"unknown_backend\"", 1), 1);

  // The hold runs out; B's own traffic finds the backend healthy.
  ASSERT_TRUE(WaitForState(*b, name, "available", 10s)) << Describe(AdminBackends(*b));
  EXPECT_EQ(
      MetricOr0(*b, "infergate_backend_state_changes_total", ChangeLabels(name, "shared_expired")),
      1);
  Load warm(b->port(), Load::With(2, 0ms, 20s, 15));
  EXPECT_EQ(warm.Result().Status(200), 30);

  // The same instance convicts it again: ignored, and B keeps sending it traffic.
  ASSERT_EQ(Publish(*redis_, Verdict("confused", name, true)), 1);
  EXPECT_EQ(b->WaitForMetric("infergate_shared_verdicts_total", "event=\"ignored\"", 1), 1);
  auto still = AdminBackend(*b, name);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->state, "available");
  Load after(b->port(), Load::With(3, 0ms, 20s, 20));
  Tally t = after.Result();
  EXPECT_EQ(t.Status(200), 60) << t.Summary();
  EXPECT_GT(t.Server("a"), 0) << t.Summary();
  EXPECT_EQ(Events(*b, "honoured"), 1);
}

}  // namespace
}  // namespace infergate::testing::containment
