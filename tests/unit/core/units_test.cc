// Units: durations and sizes as the config writes them.
#include "infergate/core/units.h"

#include <gtest/gtest.h>

namespace infergate {
namespace {
using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsUnitsAndCompounds) {
  EXPECT_EQ(ParseDuration("250ms"), Duration(250ms));
  EXPECT_EQ(ParseDuration("30s"), Duration(30s));
  EXPECT_EQ(ParseDuration("2m"), Duration(2min));
  EXPECT_EQ(ParseDuration("1h30m"), Duration(90min));
  EXPECT_EQ(ParseDuration("0s"), Duration(0));
  EXPECT_EQ(ParseDuration("1.5s"), Duration(1500ms));
  EXPECT_EQ(ParseDuration("100us"), Duration(100us));
}

TEST(ParseDuration, RefusesBareNumbersAndUnknownUnits) {
  EXPECT_FALSE(ParseDuration("30"));
  EXPECT_FALSE(ParseDuration("30sec"));
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("-1s"));
  EXPECT_FALSE(ParseDuration("s"));
  EXPECT_FALSE(ParseDuration("1..5s"));
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(ParseSize("16MiB"), 16u << 20);
  EXPECT_EQ(ParseSize("64KiB"), 64u << 10);
  EXPECT_EQ(ParseSize("512"), 512u);
  EXPECT_EQ(ParseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(ParseSize("2MB"), 2000000u);
  EXPECT_FALSE(ParseSize("16 MiB"));
  EXPECT_FALSE(ParseSize("MiB"));
  EXPECT_FALSE(ParseSize("99999999999999999999"));
}

TEST(ParseBoundedInt, AcceptsPlainDecimalsInRange) {
  EXPECT_EQ(ParseBoundedInt("0", 0, 10), 0);
  EXPECT_EQ(ParseBoundedInt("1024", 1, 1024), 1024);
  EXPECT_FALSE(ParseBoundedInt("1025", 1, 1024));
  EXPECT_FALSE(ParseBoundedInt("0", 1, 1024));
  EXPECT_FALSE(ParseBoundedInt("", 0, 10));
  EXPECT_FALSE(ParseBoundedInt("-1", -5, 5));
  EXPECT_FALSE(ParseBoundedInt("12x", 0, 100));
  EXPECT_FALSE(ParseBoundedInt("9999999999999999999", 0, INT64_MAX));
}

TEST(FormatDuration, RoundTrips) {
  for (const char* s : {"250ms", "30s", "2m", "1h30m", "0s", "100us", "1h0m5s"}) {
    auto d = ParseDuration(s);
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(ParseDuration(FormatDuration(*d)), d) << s;
  }
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatSize(16u << 20), "16MiB");
}

}  // namespace
}  // namespace infergate
