// The mock's steering and pacing (src/mock/pacing.h) on a ManualClock: which x-mock-* headers
// set what, when each streamed event is due, how long a non-streaming answer waits, and how the
// read delay holds a body. These are the timings tests/integration/mock_test.cc relies on.
#include "mock/pacing.h"

#include <gtest/gtest.h>

#include <vector>

#include "infergate/core/clock.h"

namespace infergate::mock {
namespace {
using namespace std::chrono_literals;

const TimePoint kStart = TimePoint{} + 1h;

Options Defaults(int64_t tokens = 16, Duration interval = 0ms, Duration ttft = 0ms) {
  Options o;
  o.tokens = tokens;
  o.token_interval = interval;
  o.ttft = ttft;
  return o;
}

Controls Parse(const Options& o, std::vector<HeaderField> fields) {
  return ParseControls(o, fields);
}

// Drives one stream as the server does, on a ManualClock: wait until each event is due, then
// hand it to the socket, which takes `write_time` per event. Returns when each event was sent.
std::vector<TimePoint> RunStream(const Controls& c, ManualClock& clock, Duration write_time = 0ms) {
  const TimePoint start = clock.Now();
  std::vector<TimePoint> sent;
  for (int64_t k = 0; k < StreamEvents(c); ++k) {
    const TimePoint due = StreamEventDueAt(c, start, k);
    if (due > clock.Now()) clock.Set(due);
    sent.push_back(clock.Now());
    clock.Advance(write_time);
  }
  return sent;
}

TEST(MockControls, DefaultsComeFromTheCommandLine) {
  const Controls c = Parse(Defaults(3, 40ms, 100ms), {});
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.tokens, 3);
  EXPECT_EQ(c.interval, Duration(40ms));
  EXPECT_EQ(c.ttft, Duration(100ms));
  EXPECT_FALSE(c.hang);
  EXPECT_EQ(c.close_after, -1);
  EXPECT_FALSE(c.echo);
  EXPECT_EQ(c.read_delay, Duration(0ms));
}

TEST(MockControls, HeadersOverrideTheDefaultsIgnoringCase) {
  const Controls c = Parse(Defaults(3, 40ms, 100ms), {{"X-Mock-Tokens", "5"},
                                                      {"x-mock-token-interval-ms", "50"},
                                                      {"X-MOCK-TTFT-MS", "250"},
                                                      {"x-mock-status", "503"},
                                                      {"x-mock-hang", "true"},
                                                      {"x-mock-close-after-tokens", "3"},
                                                      {"x-mock-echo", "1"},
                                                      {"x-mock-read-delay-ms", "200"},
                                                      {"x-other", "7"}});
  EXPECT_EQ(c.tokens, 5);
  EXPECT_EQ(c.interval, Duration(50ms));
  EXPECT_EQ(c.ttft, Duration(250ms));
  EXPECT_EQ(c.status, 503);
  EXPECT_TRUE(c.hang);
  EXPECT_EQ(c.close_after, 3);
  EXPECT_TRUE(c.echo);
  EXPECT_EQ(c.read_delay, Duration(200ms));
}

TEST(MockControls, BadOrOutOfRangeValuesAreIgnored) {
  const Controls c = Parse(Defaults(3, 40ms, 100ms), {{"x-mock-tokens", "1000001"},
                                                      {"x-mock-token-interval-ms", "-1"},
                                                      {"x-mock-ttft-ms", "12x"},
                                                      {"x-mock-status", "200"},
                                                      {"x-mock-hang", "yes"},
                                                      {"x-mock-close-after-tokens", "-2"},
                                                      {"x-mock-read-delay-ms", ""},
                                                      {"x-mock-", "1"}});
  EXPECT_EQ(c.tokens, 3);
  EXPECT_EQ(c.interval, Duration(40ms));
  EXPECT_EQ(c.ttft, Duration(100ms));
  EXPECT_EQ(c.status, 0);
  EXPECT_FALSE(c.hang);
  EXPECT_EQ(c.close_after, -1);
  EXPECT_EQ(c.read_delay, Duration(0ms));
  EXPECT_EQ(Parse(Defaults(), {{"x-mock-status", "599"}}).status, 599);
  EXPECT_EQ(Parse(Defaults(), {{"x-mock-status", "600"}}).status, 0);
  EXPECT_EQ(Parse(Defaults(), {{"x-mock-tokens", "0"}}).tokens, 0);
}

// mock_test StreamingEventsArePacedByTokenInterval: 5 tokens 50 ms apart.
TEST(MockPacing, StreamedTokensAreExactlyOneIntervalApart) {
  ManualClock clock(kStart);
  const Controls c =
      Parse(Defaults(), {{"x-mock-tokens", "5"}, {"x-mock-token-interval-ms", "50"}});
  const auto sent = RunStream(c, clock);
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(sent[0], kStart);  // no ttft: the head and the first token at once
  for (size_t k = 1; k < sent.size(); ++k) EXPECT_EQ(sent[k] - sent[k - 1], Duration(50ms)) << k;
  EXPECT_EQ(sent[4] - sent[0], Duration(200ms));
}

// mock_test TtftDelaysFirstTokenAndNonStreamingAnswer, streaming: --ttft 100ms,
// --token-interval 40ms, 3 tokens.
TEST(MockPacing, TtftDelaysTheHeadAndFirstTokenThenTokensFollowAtTheInterval) {
  ManualClock clock(kStart);
  const Controls c = Parse(Defaults(3, 40ms, 100ms), {});
  const auto sent = RunStream(c, clock);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0] - kStart, Duration(100ms));
  EXPECT_EQ(sent[1] - kStart, Duration(140ms));
  EXPECT_EQ(sent[2] - kStart, Duration(180ms));
  // x-mock-ttft-ms: 250 with one token: the head waits the whole ttft.
  ManualClock other(kStart);
  const auto one = RunStream(
      Parse(Defaults(3, 40ms, 100ms), {{"x-mock-ttft-ms", "250"}, {"x-mock-tokens", "1"}}), other);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0] - kStart, Duration(250ms));
}

TEST(MockPacing, ALateWriteDoesNotDelayTheTokensAfterIt) {
  ManualClock clock(kStart);
  const Controls c = Parse(Defaults(4, 100ms, 0ms), {});
  // Every write takes 30 ms: the schedule still holds, it is relative to the stream's start.
  const auto sent = RunStream(c, clock, 30ms);
  ASSERT_EQ(sent.size(), 4u);
  for (size_t k = 0; k < sent.size(); ++k) {
    EXPECT_EQ(sent[k] - kStart, Duration(100ms) * static_cast<int64_t>(k)) << k;
  }
  // A write slower than the interval: the next token goes as soon as the write is done.
  ManualClock slow(kStart);
  const auto behind = RunStream(c, slow, 150ms);
  EXPECT_EQ(behind[1] - kStart, Duration(150ms));
  EXPECT_EQ(behind[2] - kStart, Duration(300ms));
  EXPECT_EQ(behind[3] - kStart, Duration(450ms));
}

TEST(MockPacing, ZeroTokensStillSendOneFinalEvent) {
  EXPECT_EQ(StreamEvents(Parse(Defaults(), {{"x-mock-tokens", "0"}})), 1);
  EXPECT_EQ(StreamEvents(Parse(Defaults(), {{"x-mock-tokens", "7"}})), 7);
}

// mock_test TtftDelaysFirstTokenAndNonStreamingAnswer, non-streaming: the answer is written when
// the last token would have been generated.
TEST(MockPacing, NonStreamingAnswerWaitsUntilTheLastTokenWouldBeDone) {
  EXPECT_EQ(CompletionDelay(Parse(Defaults(3, 40ms, 100ms), {})), Duration(180ms));
  EXPECT_EQ(CompletionDelay(Parse(Defaults(3, 40ms, 100ms),
                                  {{"x-mock-ttft-ms", "0"}, {"x-mock-token-interval-ms", "0"}})),
            Duration(0ms));
  EXPECT_EQ(CompletionDelay(Parse(Defaults(1, 40ms, 100ms), {})), Duration(100ms));
  EXPECT_EQ(CompletionDelay(Parse(Defaults(0, 40ms, 100ms), {})), Duration(100ms));
}

// mock_test ReadDelayHoldsBodyAndNoticesClose: x-mock-read-delay-ms: 200. The body is read
// exactly when the delay ends; meanwhile the server wakes every 10 ms to look for a hang-up.
TEST(MockPacing, ReadDelayHoldsTheBodyUntilItEndsAndChecksForHangUpsEvery10ms) {
  ManualClock clock(kStart);
  const Controls c = Parse(Defaults(), {{"x-mock-read-delay-ms", "200"}});
  const TimePoint until = ReadDelayUntil(c, clock.Now());
  EXPECT_EQ(until - kStart, Duration(200ms));
  std::vector<TimePoint> wakes;
  while (!ReadDelayOver(clock.Now(), until)) {
    const TimePoint next = NextReadDelayWake(clock.Now(), until);
    ASSERT_GT(next, clock.Now());
    ASSERT_LE(next - clock.Now(), kPeerPollInterval);
    clock.Set(next);
    wakes.push_back(next);
  }
  EXPECT_EQ(clock.Now() - kStart, Duration(200ms)) << "the body is read when the delay ends";
  EXPECT_EQ(wakes.size(), 20u);
  EXPECT_FALSE(ReadDelayOver(until - 1ns, until));
  // A wake-up that comes late (a busy thread) does not extend the delay.
  EXPECT_EQ(NextReadDelayWake(until - 3ms, until), until);
  EXPECT_TRUE(ReadDelayOver(until + 5ms, until));
}

}  // namespace
}  // namespace infergate::mock
