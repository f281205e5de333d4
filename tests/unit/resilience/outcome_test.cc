// ClassifyForBreaker: every error kind and every status, exhaustively.
#include "infergate/resilience/outcome.h"

#include <gtest/gtest.h>

#include <iterator>
#include <utility>

namespace infergate::resilience {
namespace {

constexpr std::pair<ErrorKind, CallResult> kExpected[] = {
    {ErrorKind::kBadRequest, CallResult::kIgnored},
    {ErrorKind::kHeaderTooLarge, CallResult::kIgnored},
    {ErrorKind::kBodyTooLarge, CallResult::kIgnored},
    {ErrorKind::kRequestTimeout, CallResult::kIgnored},
    {ErrorKind::kMalformedJson, CallResult::kIgnored},
    {ErrorKind::kRouteNotFound, CallResult::kIgnored},
    {ErrorKind::kModelNotFound, CallResult::kIgnored},
    {ErrorKind::kMethodNotAllowed, CallResult::kIgnored},
    {ErrorKind::kMissingParameter, CallResult::kIgnored},
    {ErrorKind::kUnauthorized, CallResult::kIgnored},
    {ErrorKind::kClientAbort, CallResult::kIgnored},
    {ErrorKind::kInvalidParameter, CallResult::kIgnored},
    {ErrorKind::kContextLengthExceeded, CallResult::kIgnored},
    {ErrorKind::kConnectFailed, CallResult::kFailure},
    {ErrorKind::kConnectTimeout, CallResult::kFailure},
    {ErrorKind::kUpstreamReset, CallResult::kFailure},
    {ErrorKind::kFirstByteTimeout, CallResult::kFailure},
    {ErrorKind::kIdleTimeout, CallResult::kFailure},
    {ErrorKind::kTotalTimeout, CallResult::kFailure},
    {ErrorKind::kBadUpstreamResponse, CallResult::kFailure},
    {ErrorKind::kUpstreamBodyBroken, CallResult::kFailure},
    {ErrorKind::kNoBackend, CallResult::kIgnored},
    {ErrorKind::kShuttingDown, CallResult::kIgnored},
    {ErrorKind::kCompartmentFull, CallResult::kIgnored},
    {ErrorKind::kConcurrencyLimit, CallResult::kIgnored},
    {ErrorKind::kRateLimited, CallResult::kIgnored},
    {ErrorKind::kFallbacksFailed, CallResult::kIgnored},
    {ErrorKind::kInternal, CallResult::kIgnored},
};

TEST(ClassifyForBreaker, TableCoversEveryErrorKindInOrder) {
  constexpr size_t kKinds = static_cast<size_t>(ErrorKind::kInternal) + 1;
  ASSERT_EQ(std::size(kExpected), kKinds);
  for (size_t i = 0; i < kKinds; ++i) EXPECT_EQ(static_cast<size_t>(kExpected[i].first), i);
}

TEST(ClassifyForBreaker, ErrorDecidesWhateverTheStatus) {
  const int statuses[] = {0, 200, 204, 301, 400, 404, 429, 499, 500, 502, 503, 504, 599};
  for (const auto& [kind, expected] : kExpected) {
    for (const int status : statuses) {
      for (const bool count_429 : {true, false}) {
        EXPECT_EQ(ClassifyForBreaker(kind, status, count_429), expected)
            << DescribeError(kind).name << " status " << status;
      }
    }
  }
}

TEST(ClassifyForBreaker, AgreesWithErrorSources) {
  // Backend faults count, client and gateway faults never do.
  for (const auto& [kind, expected] : kExpected) {
    const bool backend = DescribeError(kind).source == ErrorSource::kBackend;
    EXPECT_EQ(expected == CallResult::kFailure, backend) << DescribeError(kind).name;
  }
}

TEST(ClassifyForBreaker, EveryStatusWithoutError) {
  for (int status = -1; status <= 1000; ++status) {
    for (const bool count_429 : {true, false}) {
      CallResult want = CallResult::kIgnored;
      if (status >= 200 && status <= 399) want = CallResult::kSuccess;
      if (status == 500 || status == 502 || status == 503 || status == 504) {
        want = CallResult::kFailure;
      }
      if (status == 429 && count_429) want = CallResult::kFailure;
      EXPECT_EQ(ClassifyForBreaker(std::nullopt, status, count_429), want) << status;
      EXPECT_EQ(IsBackendFailureStatus(status, count_429), want == CallResult::kFailure);
    }
  }
}

TEST(ClassifyForBreaker, ClientErrorsAreNeverFailures) {
  for (int status = 400; status <= 499; ++status) {
    if (status == 429) continue;
    EXPECT_EQ(ClassifyForBreaker(std::nullopt, status), CallResult::kIgnored) << status;
  }
  EXPECT_EQ(ClassifyForBreaker(std::nullopt, 429), CallResult::kFailure);  // default counts 429
  EXPECT_EQ(ClassifyForBreaker(std::nullopt, 429, false), CallResult::kIgnored);
  EXPECT_EQ(ClassifyForBreaker(std::nullopt, 501), CallResult::kIgnored);
  EXPECT_EQ(ClassifyForBreaker(std::nullopt, 0), CallResult::kIgnored);
}

}  // namespace
}  // namespace infergate::resilience
