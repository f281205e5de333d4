// Log lines: text and JSON, with and without journald's syslog-priority prefix.
#include "infergate/core/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace infergate {
namespace {

// 2026-12-06T10:20:30.045Z
const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds(1796552430) +
                  std::chrono::milliseconds(45);

TEST(LogLine, TextCarriesTimeLevelThreadAndMessage) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, false, LogLevel::kWarn, kNow, "worker-1", "slow"),
            "2026-12-06T10:20:30.045Z warn [worker-1] slow\n");
}

TEST(LogLine, UnderJournaldTheLineStartsWithItsPriorityAndLeavesTheTimeToJournald) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, true, LogLevel::kError, kNow, "main", "bad"),
            "<3>error [main] bad\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, true, LogLevel::kInfo, kNow, "main", "ok"),
            "<6>info [main] ok\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, true, LogLevel::kWarn, kNow, "main", "w").substr(0, 3),
            "<4>");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, true, LogLevel::kDebug, kNow, "main", "d").substr(0, 3),
            "<7>");
}

TEST(LogLine, JsonEscapesTheMessage) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, false, LogLevel::kInfo, kNow, "main",
                          "a \"quoted\" back\\slash\nnew line \x01"),
            "{\"time\":\"2026-12-06T10:20:30.045Z\",\"level\":\"info\",\"thread\":\"main\","
            "\"msg\":\"a \\\"quoted\\\" back\\\\slash\\nnew line \\u0001\"}\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, true, LogLevel::kError, kNow, "main", "x").substr(0, 4),
            "<3>{");
}

TEST(LogLine, FormatsParse) {
  LogFormat f;
  ASSERT_TRUE(ParseLogFormat("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  ASSERT_TRUE(ParseLogFormat("text", &f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("yaml", &f));
}

}  // namespace
}  // namespace infergate
