// A listener's protocols and http2 keys: defaults, values read, and each bad value reported at
// its line, column and key path.
#include <gtest/gtest.h>

#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

#define REST                                             \
  "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n" \
  "routes: [{name: r, to: p}]\n"
// A listener whose further keys go at column 5 from line 4.
#define LISTENER "listeners:\n  - name: l\n    listen: \":0\"\n"

TEST(ListenerKeys, DefaultsServeBothProtocolsWithEnvoysEdgeLimits) {
  auto c = LoadOk(LISTENER REST);
  ASSERT_TRUE(c);
  const ListenerConfig& l = c->listeners[0];
  EXPECT_TRUE(l.http1);
  EXPECT_TRUE(l.h2c);
  EXPECT_EQ(l.http2.max_concurrent_streams, 100u);
  EXPECT_EQ(l.http2.initial_stream_window, 65535u);
  EXPECT_EQ(l.http2.initial_connection_window, 1u << 20);
  EXPECT_EQ(l.http2.max_connection_body_bytes, 64u << 20);
  EXPECT_EQ(l.http2.flood_interval, std::chrono::seconds(10));
  EXPECT_EQ(l.http2.max_resets_per_interval, 200u);
}

TEST(ListenerKeys, ReadsProtocolsAndHttp2Keys) {
  auto c = LoadOk(LISTENER
                  "    protocols: [h2c]\n"
                  "    http2:\n"
                  "      max_concurrent_streams: 8\n"
                  "      initial_stream_window: 1MiB\n"
                  "      initial_connection_window: 4MiB\n"
                  "      max_connection_body_bytes: 32MiB\n"
                  "      flood_interval: 1s\n"
                  "      max_resets_per_interval: 5\n"
                  "      max_pings_per_interval: 6\n"
                  "      max_settings_per_interval: 7\n"
                  "      max_priority_per_interval: 8\n"
                  "      max_window_updates_per_interval: 9\n"
                  "      max_empty_frames_per_interval: 10\n" REST);
  ASSERT_TRUE(c);
  const ListenerConfig& l = c->listeners[0];
  EXPECT_FALSE(l.http1);
  EXPECT_TRUE(l.h2c);
  EXPECT_EQ(l.http2.max_concurrent_streams, 8u);
  EXPECT_EQ(l.http2.initial_stream_window, 1u << 20);
  EXPECT_EQ(l.http2.initial_connection_window, 4u << 20);
  EXPECT_EQ(l.http2.max_connection_body_bytes, 32u << 20);
  EXPECT_EQ(l.http2.flood_interval, std::chrono::seconds(1));
  EXPECT_EQ(l.http2.max_resets_per_interval, 5u);
  EXPECT_EQ(l.http2.max_pings_per_interval, 6u);
  EXPECT_EQ(l.http2.max_settings_per_interval, 7u);
  EXPECT_EQ(l.http2.max_priority_per_interval, 8u);
  EXPECT_EQ(l.http2.max_window_updates_per_interval, 9u);
  EXPECT_EQ(l.http2.max_empty_frames_per_interval, 10u);
}

class ListenerKeyErrors : public ::testing::TestWithParam<ErrorCase> {};
TEST_P(ListenerKeyErrors, ReportPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

const ErrorCase kCases[] = {
    {"UnknownProtocol", LISTENER "    protocols: [http1, h3]\n" REST, 4, 24,
     "listeners[0].protocols[1]", "unknown value \"h3\" (allowed: http1, h2c)"},
    {"ProtocolTwice", LISTENER "    protocols: [h2c, h2c]\n" REST, 4, 22,
     "listeners[0].protocols[1]", "listed twice"},
    {"NoProtocol", LISTENER "    protocols: []\n" REST, 4, 16, "listeners[0].protocols",
     "serve at least one of http1, h2c"},
    {"ZeroStreams", LISTENER "    http2: {max_concurrent_streams: 0}\n" REST, 4, 37,
     "listeners[0].http2.max_concurrent_streams", "out of range (allowed: 1..100000)"},
    {"WindowPastTheProtocolsLargest", LISTENER "    http2: {initial_stream_window: 2GiB}\n" REST, 4,
     36, "listeners[0].http2.initial_stream_window", "at most 2147483647 bytes"},
    {"ConnectionWindowBelowTheDefault",
     LISTENER "    http2: {initial_connection_window: 1000}\n" REST, 4, 40,
     "listeners[0].http2.initial_connection_window", "1000"},
    {"ZeroFloodInterval", LISTENER "    http2: {flood_interval: 0s}\n" REST, 4, 29,
     "listeners[0].http2.flood_interval", "greater than 0"},
    {"MisspelledHttp2Key", LISTENER "    http2: {max_ping_per_interval: 5}\n" REST, 4, 13,
     "listeners[0].http2.max_ping_per_interval", "did you mean \"max_pings_per_interval\"?"},
};
INSTANTIATE_TEST_SUITE_P(Each, ListenerKeyErrors, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace infergate::config
