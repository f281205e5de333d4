// Helpers shared by the HTTP/1.1 codec tests: assertions on Expected results and a driver that
// feeds a request decoder the way a connection does (unconsumed bytes are presented again).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "infergate/http/h1_codec.h"

namespace infergate::http {

using ReqStatus = RequestDecoder::Status;
using RespStatus = ResponseDecoder::Status;

template <typename S>
::testing::AssertionResult FailsWith(const Expected<S, Error>& r, ErrorKind want) {
  if (r.ok()) {
    return ::testing::AssertionFailure() << "succeeded; want " << DescribeError(want).name;
  }
  if (r.error().kind != want) {
    return ::testing::AssertionFailure()
           << "got " << DescribeError(r.error().kind).name << " (" << r.error().message
           << "); want " << DescribeError(want).name;
  }
  return ::testing::AssertionSuccess();
}

template <typename S>
::testing::AssertionResult Is(const Expected<S, Error>& r, S want) {
  if (!r.ok()) {
    return ::testing::AssertionFailure()
           << "failed with " << DescribeError(r.error().kind).name << ": " << r.error().message;
  }
  if (*r != want) {
    return ::testing::AssertionFailure()
           << "status " << static_cast<int>(*r) << ", want " << static_cast<int>(want);
  }
  return ::testing::AssertionSuccess();
}

// What a connection does with a request decoder: keep the unconsumed bytes, append `step` new
// bytes at a time, feed again; stop at the end of one request or at an error.
struct RequestRun {
  Expected<ReqStatus, Error> result = ReqStatus::kNeedMore;
  int head_reports = 0;
  size_t body_at_head = 0;  // body().size() when kHeadComplete came
  std::string leftover;     // bytes after the request (pipelined data)
};

inline RequestRun DriveRequest(RequestDecoder& d, std::string_view wire, size_t step) {
  RequestRun run;
  std::string pending;
  size_t pos = 0;
  for (;;) {
    size_t consumed = 0;
    run.result = d.Feed(pending, &consumed);
    EXPECT_LE(consumed, pending.size());
    pending.erase(0, consumed);
    if (!run.result.ok()) return run;
    if (*run.result == ReqStatus::kComplete) {
      run.leftover = pending + std::string(wire.substr(pos));
      return run;
    }
    if (*run.result == ReqStatus::kHeadComplete) {
      ++run.head_reports;
      run.body_at_head = d.body().size();
      continue;
    }
    if (pos >= wire.size()) return run;
    size_t n = std::min(step, wire.size() - pos);
    pending.append(wire.substr(pos, n));
    pos += n;
  }
}

inline Expected<ReqStatus, Error> FeedOnce(RequestDecoder& d, std::string_view wire,
                                           size_t* consumed = nullptr) {
  size_t ignored = 0;
  return d.Feed(wire, consumed ? consumed : &ignored);
}

}  // namespace infergate::http
