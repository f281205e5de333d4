// Stop strings: the text before one is emitted, the stop and all after it is not, a stop spread
// over several pieces is caught, and text that only looked like a stop's start is released.
#include "infergate/runner/stop_text.h"

#include <gtest/gtest.h>

namespace infergate::runner {
namespace {

TEST(StopText, NoStopsPassesEverything) {
  StopText s({});
  EXPECT_EQ(s.Push("Hello"), "Hello");
  EXPECT_EQ(s.Flush(), "");
  EXPECT_FALSE(s.stopped());
}

TEST(StopText, StopInsideOnePiece) {
  StopText s({"END"});
  EXPECT_EQ(s.Push("abc END def"), "abc ");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.Push("more"), "");
  EXPECT_EQ(s.Flush(), "");
  EXPECT_EQ(s.released(), 4u);
}

TEST(StopText, StopSpanningPiecesIsHeldThenDropped) {
  StopText s({"\n\nUser:"});
  EXPECT_EQ(s.Push("Sure"), "Sure");
  EXPECT_EQ(s.Push(".\n"), ".");  // "\n" may start the stop
  EXPECT_EQ(s.Push("\nUs"), "");
  EXPECT_EQ(s.Push("er: hi"), "");
  EXPECT_TRUE(s.stopped());
}

TEST(StopText, FalseStartIsReleased) {
  StopText s({"STOP"});
  EXPECT_EQ(s.Push("ST"), "");
  EXPECT_EQ(s.Push("AR"), "STAR");
  EXPECT_EQ(s.Push("S"), "");
  EXPECT_EQ(s.Flush(), "S");  // the end: what was held goes out
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.released(), 5u);
}

TEST(StopText, EarliestOfSeveralStops) {
  StopText s({"bb", "a"});
  EXPECT_EQ(s.Push("xxbba"), "xx");
  EXPECT_TRUE(s.stopped());
}

TEST(StopText, MultibyteStop) {
  StopText s({"\xC3\xA9t\xC3\xA9"});  // "été"
  EXPECT_EQ(s.Push("l\xC3\xA9"), "l");
  EXPECT_EQ(s.Push("t\xC3\xA9!"), "");
  EXPECT_TRUE(s.stopped());
}

}  // namespace
}  // namespace infergate::runner
