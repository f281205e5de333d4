// HTTP/1.1 codecs: request decoding (framing, limits, smuggling defences), response decoding
// into a sink, and the encoding helpers.
#include "infergate/http/h1_codec.h"

#include "unit/http/codec_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace infergate::http {
namespace {

// A copy of what a request head says, comparable across decoders.
struct HeadCopy {
  std::string method, target, path, host;
  int version = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> content_length;
  bool chunked = false, keep_alive = false, expect_continue = false;
  bool operator==(const HeadCopy&) const = default;
};

HeadCopy Copy(const RequestHead& h) {
  HeadCopy c{std::string(h.method),
             std::string(h.target),
             std::string(h.path),
             std::string(h.host),
             h.version,
             {},
             h.content_length,
             h.chunked,
             h.keep_alive,
             h.expect_continue};
  for (const auto& f : h.headers) c.headers.emplace_back(f.name, f.value);
  return c;
}

size_t Spare(const std::string& s) { return s.capacity() - s.size(); }

// ---------------------------------------------------------------------------------------------
// Requests

TEST(RequestDecoder, SimpleGet) {
  RequestDecoder d{RequestLimits{}};
  const std::string wire = "GET /v1/models HTTP/1.1\r\nHost: gw.local\r\nUser-Agent: t/1\r\n\r\n";
  size_t consumed = 0;
  EXPECT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_TRUE(d.started());
  const RequestHead& h = d.head();
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/v1/models");
  EXPECT_EQ(h.path, "/v1/models");
  EXPECT_EQ(h.version, 11);
  EXPECT_EQ(h.host, "gw.local");
  ASSERT_EQ(h.headers.size(), 2u);
  // Names reach the exchange lower-case, as the message model promises for every transport.
  EXPECT_EQ(h.headers[0].name, "host");
  EXPECT_EQ(h.headers[1].name, "user-agent");
  EXPECT_EQ(h.headers[1].value, "t/1");
  EXPECT_FALSE(h.content_length.has_value());
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_TRUE(d.body().empty());
}

TEST(RequestDecoder, NotStartedUntilBytesArrive) {
  RequestDecoder d{RequestLimits{}};
  EXPECT_TRUE(Is(FeedOnce(d, ""), ReqStatus::kNeedMore));
  EXPECT_FALSE(d.started());
  EXPECT_TRUE(Is(FeedOnce(d, "GE"), ReqStatus::kNeedMore));
  EXPECT_TRUE(d.started());
}

TEST(RequestDecoder, PostWithContentLength) {
  RequestDecoder d{RequestLimits{}};
  const std::string body = R"({"model":"m","prompt":"hi"})";
  const std::string wire =
      "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t consumed = 0;
  EXPECT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(d.head().method, "POST");
  EXPECT_EQ(d.head().content_length, body.size());
  EXPECT_FALSE(d.head().chunked);
  EXPECT_EQ(d.body(), body);
}

TEST(RequestDecoder, ChunkedBodyWithExtensionsAndTrailers) {
  RequestDecoder d{RequestLimits{}};
  // Large trailer values: storing them would grow the head's backing storage.
  const std::string big(4000, 'v');
  const std::string wire =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "X-Request-Id: abc\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1;flag;q=\"quoted ext\"\r\n \r\n"
      "A\r\n0123456789\r\n"
      "0\r\nX-Checksum: " +
      big + "\r\nX-Other: " + big + "\r\n\r\n";
  size_t consumed = 0;
  EXPECT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(d.body(), "hello 0123456789");
  const RequestHead& h = d.head();
  EXPECT_TRUE(h.chunked);
  EXPECT_FALSE(h.content_length.has_value());
  // The head still reads correctly after the trailers, and trailers are not head fields.
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.path, "/v1/chat/completions");
  EXPECT_EQ(h.host, "h");
  EXPECT_EQ(h.Get("x-request-id"), "abc");
  EXPECT_EQ(h.headers.size(), 3u);
  EXPECT_FALSE(h.Has("X-Checksum"));
}

TEST(RequestDecoder, ByteAtATimeMatchesWholeBuffer) {
  const std::vector<std::string> wires = {
      "GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
      "POST /v1/embeddings HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
      "POST /v1/chat HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
      "POST /e HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
      "POST /empty HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  };
  for (const auto& wire : wires) {
    SCOPED_TRACE(wire);
    RequestDecoder whole{RequestLimits{}};
    ASSERT_TRUE(Is(FeedOnce(whole, wire), ReqStatus::kComplete));
    for (size_t step : {1, 2, 3, 7, 64}) {
      SCOPED_TRACE(step);
      RequestDecoder d{RequestLimits{}};
      RequestRun run = DriveRequest(d, wire, step);
      ASSERT_TRUE(Is(run.result, ReqStatus::kComplete));
      EXPECT_TRUE(run.leftover.empty());
      EXPECT_LE(run.head_reports, 1);
      EXPECT_EQ(Copy(d.head()), Copy(whole.head()));
      EXPECT_EQ(d.body(), whole.body());
    }
  }
}

TEST(RequestDecoder, PipelinedRequestsInOneBuffer) {
  const std::string first = "POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /two HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string third =
      "POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nxy\r\n0\r\n\r\n";
  std::string wire = first + second + third;
  RequestDecoder d{RequestLimits{}};

  size_t consumed = 0;
  ASSERT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, first.size());
  EXPECT_EQ(d.head().path, "/one");
  EXPECT_EQ(d.body(), "abc");
  wire.erase(0, consumed);

  d.Reset();
  EXPECT_FALSE(d.started());
  ASSERT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, second.size());
  EXPECT_EQ(d.head().path, "/two");
  EXPECT_EQ(d.head().method, "GET");
  EXPECT_TRUE(d.body().empty());
  wire.erase(0, consumed);

  d.Reset();
  ASSERT_TRUE(Is(FeedOnce(d, wire, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, third.size());
  EXPECT_EQ(d.head().path, "/three");
  EXPECT_EQ(d.body(), "xy");
}

TEST(RequestDecoder, PipelinedRequestsByteAtATime) {
  const std::string first = "POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /two HTTP/1.1\r\nHost: h\r\n\r\n";
  RequestDecoder d{RequestLimits{}};
  RequestRun run = DriveRequest(d, first + second, 1);
  ASSERT_TRUE(Is(run.result, ReqStatus::kComplete));
  EXPECT_EQ(d.head().path, "/one");
  EXPECT_EQ(run.leftover, second);  // byte-at-a-time stops right at the first's end
  d.Reset();
  run = DriveRequest(d, second, 1);
  ASSERT_TRUE(Is(run.result, ReqStatus::kComplete));
  EXPECT_EQ(d.head().path, "/two");
}

TEST(RequestDecoder, HeadCompleteReportedOnceBeforeBody) {
  const std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  RequestDecoder d{RequestLimits{}};
  size_t consumed = 0;
  ASSERT_TRUE(Is(FeedOnce(d, head, &consumed), ReqStatus::kHeadComplete));
  EXPECT_EQ(consumed, head.size());
  EXPECT_EQ(d.head().content_length, 5u);
  EXPECT_TRUE(d.body().empty());
  EXPECT_TRUE(Is(FeedOnce(d, "", &consumed), ReqStatus::kNeedMore));
  EXPECT_TRUE(Is(FeedOnce(d, "he", &consumed), ReqStatus::kNeedMore));
  EXPECT_EQ(consumed, 2u);
  EXPECT_TRUE(Is(FeedOnce(d, "llo", &consumed), ReqStatus::kComplete));
  EXPECT_EQ(d.body(), "hello");

  // Chunked: the head is reported once, however the body is cut, and while the body is still
  // incomplete (body bytes that came with the head may already be decoded).
  const std::string chunked =
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
  for (size_t step : {1, 5, 13}) {
    RequestDecoder c{RequestLimits{}};
    RequestRun run = DriveRequest(c, chunked, step);
    ASSERT_TRUE(Is(run.result, ReqStatus::kComplete));
    EXPECT_EQ(run.head_reports, 1) << "step " << step;
    EXPECT_LT(run.body_at_head, 8u);
    if (step == 1) {
      EXPECT_EQ(run.body_at_head, 0u);
    }
    EXPECT_EQ(c.body(), "abcdefgh");
  }
}

TEST(RequestDecoder, EmptyChunkedBodyInPieces) {
  // "0\r\n", then "\r", then "\n": Beast 1.81 asserts on the second piece unless guarded.
  RequestDecoder d{RequestLimits{}};
  std::string pending = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  size_t consumed = 0;
  ASSERT_TRUE(Is(FeedOnce(d, pending, &consumed), ReqStatus::kHeadComplete));
  pending.erase(0, consumed);
  EXPECT_EQ(pending, "0\r\n");
  // Presented again with nothing new (as after answering 100-continue), then byte by byte.
  EXPECT_TRUE(Is(FeedOnce(d, pending, &consumed), ReqStatus::kNeedMore));
  pending.erase(0, consumed);
  pending += "\r";
  EXPECT_TRUE(Is(FeedOnce(d, pending, &consumed), ReqStatus::kNeedMore));
  pending.erase(0, consumed);
  pending += "\n";
  EXPECT_TRUE(Is(FeedOnce(d, pending, &consumed), ReqStatus::kComplete));
  EXPECT_EQ(consumed, pending.size());
  EXPECT_TRUE(d.body().empty());
}

TEST(RequestDecoder, WholeRequestInOneFeedSkipsHeadComplete) {
  // The head is reported only while the body is still incomplete.
  RequestDecoder d{RequestLimits{}};
  EXPECT_TRUE(Is(FeedOnce(d, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz"),
                 ReqStatus::kComplete));
}

TEST(RequestDecoder, ExpectContinueDetected) {
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d,
                          "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                          "Expect: 100-continue\r\n\r\n"),
                 ReqStatus::kHeadComplete));
  EXPECT_TRUE(d.head().expect_continue);
  EXPECT_TRUE(Is(FeedOnce(d, "abc"), ReqStatus::kComplete));

  d.Reset();
  ASSERT_TRUE(Is(FeedOnce(d,
                          "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                          "Expect:  100-Continue \r\n\r\n"),
                 ReqStatus::kHeadComplete));
  EXPECT_TRUE(d.head().expect_continue);

  d.Reset();
  ASSERT_TRUE(Is(FeedOnce(d, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"),
                 ReqStatus::kHeadComplete));
  EXPECT_FALSE(d.head().expect_continue);
}

TEST(RequestDecoder, KeepAlive) {
  struct Case {
    const char* wire;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nHost: h\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    RequestDecoder d{RequestLimits{}};
    ASSERT_TRUE(Is(FeedOnce(d, c.wire), ReqStatus::kComplete)) << c.wire;
    EXPECT_EQ(d.head().keep_alive, c.keep_alive) << c.wire;
  }
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d, "GET / HTTP/1.0\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(d.head().version, 10);
}

TEST(RequestDecoder, AbsoluteFormTargetGivesPath) {
  struct Case {
    const char* target;
    const char* path;
  };
  const Case cases[] = {
      {"http://backend:8000/v1/chat/completions", "/v1/chat/completions"},
      {"http://backend:8000/v1/models?limit=5", "/v1/models"},
      {"https://backend", "/"},
      {"http://backend?x=/y", "/"},
  };
  for (const auto& c : cases) {
    RequestDecoder d{RequestLimits{}};
    const std::string wire = std::string("GET ") + c.target + " HTTP/1.1\r\nHost: backend\r\n\r\n";
    ASSERT_TRUE(Is(FeedOnce(d, wire), ReqStatus::kComplete)) << c.target;
    EXPECT_EQ(d.head().target, c.target);
    EXPECT_EQ(d.head().path, c.path) << c.target;
  }
}

TEST(RequestDecoder, QueryStrippedFromPath) {
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d, "GET /v1/models?limit=5&x=/y HTTP/1.1\r\nHost: h\r\n\r\n"),
                 ReqStatus::kComplete));
  EXPECT_EQ(d.head().target, "/v1/models?limit=5&x=/y");
  EXPECT_EQ(d.head().path, "/v1/models");

  d.Reset();
  ASSERT_TRUE(Is(FeedOnce(d, "GET /?q HTTP/1.1\r\nHost: h\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(d.head().path, "/");
}

TEST(RequestDecoder, GetAndHasAreCaseInsensitive) {
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d,
                          "GET / HTTP/1.1\r\nhost: h\r\nX-Api-Key:  secret  \r\n"
                          "x-dup: first\r\nX-DUP: second\r\nX-Empty:\r\n\r\n"),
                 ReqStatus::kComplete));
  const RequestHead& h = d.head();
  EXPECT_EQ(h.Get("x-api-key"), "secret");
  EXPECT_EQ(h.Get("X-API-KEY"), "secret");
  EXPECT_TRUE(h.Has("x-API-key"));
  EXPECT_EQ(h.Get("X-Dup"), "first");
  EXPECT_TRUE(h.Has("x-empty"));
  EXPECT_EQ(h.Get("x-empty"), "");
  EXPECT_FALSE(h.Has("x-api"));
  EXPECT_FALSE(h.Has("authorization"));
  EXPECT_EQ(h.Get("authorization"), "");
  EXPECT_EQ(h.host, "h");
}

TEST(RequestDecoder, BodyCapacityKeepsSpareBytes) {
  const std::string big(3000, 'x');
  const std::vector<std::string> wires = {
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n" + big,
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nBB8\r\n" +
          big + "\r\n1\r\nz\r\n0\r\n\r\n",
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
      "GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
  };
  for (const auto& wire : wires) {
    SCOPED_TRACE(wire.substr(0, 80));
    for (size_t step : {size_t{1}, size_t{100}, wire.size()}) {
      RequestDecoder d{RequestLimits{}};
      ASSERT_TRUE(Is(DriveRequest(d, wire, step).result, ReqStatus::kComplete));
      EXPECT_GE(Spare(d.body()), 64u) << "step " << step << " size " << d.body().size();
      // And again on the same decoder after Reset().
      d.Reset();
      ASSERT_TRUE(Is(DriveRequest(d, wire, step).result, ReqStatus::kComplete));
      EXPECT_GE(Spare(d.body()), 64u) << "after Reset, step " << step;
    }
  }
}

TEST(RequestDecoder, ResetAfterErrorDecodesCleanly) {
  RequestDecoder d{RequestLimits{}};
  EXPECT_TRUE(FailsWith(FeedOnce(d, "GET / HTTP/1.1\r\n\r\n"), ErrorKind::kBadRequest));
  d.Reset();
  ASSERT_TRUE(Is(FeedOnce(d, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(d.head().path, "/ok");
  EXPECT_EQ(d.head().headers.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Request smuggling defences and malformed requests (cases after HAProxy's regression tests).

struct RejectCase {
  const char* name;
  std::string wire;
  ErrorKind kind;
  // Fed in small pieces, Beast looks for the CRLF CRLF that ends the head before parsing it, so a
  // head with bare LFs waits (never completing) until that sequence arrives, then is refused.
  bool waits_for_crlf_crlf = false;
};

std::string Post(std::string_view headers, std::string_view body = "0\r\n\r\n") {
  return "POST /v1/completions HTTP/1.1\r\nHost: h\r\n" + std::string(headers) + "\r\n" +
         std::string(body);
}

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

class RequestRejected : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RequestRejected, WholeBuffer) {
  RequestDecoder d{RequestLimits{}};
  EXPECT_TRUE(FailsWith(FeedOnce(d, GetParam().wire), GetParam().kind));
}

TEST_P(RequestRejected, ByteAtATime) {
  std::string wire = GetParam().wire;
  if (GetParam().waits_for_crlf_crlf) {
    RequestDecoder d{RequestLimits{}};
    EXPECT_TRUE(Is(DriveRequest(d, wire, 1).result, ReqStatus::kNeedMore));
    wire += "\r\n\r\n";
  }
  RequestDecoder d{RequestLimits{}};
  RequestRun run = DriveRequest(d, wire, 1);
  EXPECT_TRUE(FailsWith(run.result, GetParam().kind));
  EXPECT_LE(run.head_reports, 1);  // 1 only when the body is at fault
}

INSTANTIATE_TEST_SUITE_P(
    Smuggling, RequestRejected,
    ::testing::Values(
        RejectCase{"ClThenTe", Post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeThenCl", Post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeChunkedChunked", Post("Transfer-Encoding: chunked, chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeChunkedGzip", Post("Transfer-Encoding: chunked, gzip\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeGzipChunked", Post("Transfer-Encoding: gzip, chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeGzip", Post("Transfer-Encoding: gzip\r\n"), ErrorKind::kBadRequest},
        RejectCase{"TeXchunked", Post("Transfer-Encoding: xchunked\r\n"), ErrorKind::kBadRequest},
        RejectCase{"TeChunkedX", Post("Transfer-Encoding: chunkedx\r\n"), ErrorKind::kBadRequest},
        RejectCase{"TeChunkedParam", Post("Transfer-Encoding: chunked;q=1\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeInnerSpace", Post("Transfer-Encoding: chun ked\r\n"), ErrorKind::kBadRequest},
        RejectCase{"TeEmpty", Post("Transfer-Encoding: \r\n"), ErrorKind::kBadRequest},
        RejectCase{"TeSpaceBeforeColon", Post("Transfer-Encoding : chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeVerticalTab", Post("Transfer-Encoding:\vchunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TwoTeChunked",
                   Post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TwoTeGzipThenChunked",
                   Post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TwoTeChunkedThenIdentity",
                   Post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TeInHttp10",
                   "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"TwoContentLengthsDiffer", Post("Content-Length: 5\r\nContent-Length: 6\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"ContentLengthListDiffers", Post("Content-Length: 5, 6\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"ContentLengthAlpha", Post("Content-Length: abc\r\n"), ErrorKind::kBadRequest},
        RejectCase{"ContentLengthTrailingJunk", Post("Content-Length: 5x\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"ContentLengthNegative", Post("Content-Length: -1\r\n"), ErrorKind::kBadRequest},
        RejectCase{"ContentLengthPlus", Post("Content-Length: +5\r\n"), ErrorKind::kBadRequest},
        RejectCase{"ContentLengthHex", Post("Content-Length: 0x5\r\n"), ErrorKind::kBadRequest},
        RejectCase{"ContentLengthEmpty", Post("Content-Length: \r\n"), ErrorKind::kBadRequest},
        RejectCase{"ContentLengthOverflow", Post("Content-Length: 99999999999999999999999\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"TwoHosts", Post("Host: other\r\nContent-Length: 0\r\n", ""),
                   ErrorKind::kBadRequest},
        RejectCase{"MissingHostHttp11", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"ObsFold", Post("Content-Length: 0\r\nX-Folded: a\r\n b\r\n", ""),
                   ErrorKind::kBadRequest},
        RejectCase{"ObsFoldTab", Post("Content-Length: 0\r\nX-Folded: a\r\n\tb\r\n", ""),
                   ErrorKind::kBadRequest},
        RejectCase{"ObsFoldAfterEmptyValue", Post("Transfer-Encoding:\r\n chunked\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"ObsFoldTe", Post("Transfer-Encoding: chunked\r\n , identity\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"BareLfLines", "GET / HTTP/1.1\nHost: h\n\n", ErrorKind::kBadRequest, true},
        RejectCase{"BareLfAfterHeader", "GET / HTTP/1.1\r\nHost: h\n\r\n", ErrorKind::kBadRequest,
                   true},
        RejectCase{"GarbageRequestLine", "\x16\x03\x01\x02\x00 garbage\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"Http09RequestLine", "GET /\r\nHost: h\r\n\r\n", ErrorKind::kBadRequest},
        RejectCase{"ExtraTokenInRequestLine", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"DoubleSpaceInRequestLine", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"BadVersion", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", ErrorKind::kBadRequest},
        RejectCase{"SpaceInHeaderName", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"BadChunkSize", Post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n0\r\n\r\n"),
                   ErrorKind::kBadRequest},
        RejectCase{"Connect", "CONNECT backend:443 HTTP/1.1\r\nHost: backend:443\r\n\r\n",
                   ErrorKind::kMethodNotAllowed},
        RejectCase{"RelativeTarget", "GET v1/models HTTP/1.1\r\nHost: h\r\n\r\n",
                   ErrorKind::kBadRequest},
        // RFC 9112 3.2.4: the asterisk-form is for OPTIONS only (OPTIONS * is accepted).
        RejectCase{"AsteriskTargetOutsideOptions", "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
                   ErrorKind::kBadRequest},
        RejectCase{"FragmentInAbsoluteTarget",
                   "GET http://backend#/frag HTTP/1.1\r\nHost: h\r\n\r\n", ErrorKind::kBadRequest}),
    [](const ::testing::TestParamInfo<RejectCase>& info) { return std::string(info.param.name); });

TEST(RequestDecoder, ChunkedAcceptedOnlyWhenItTrimsToChunked) {
  for (const char* te :
       {"chunked", "Chunked", "CHUNKED", "  chunked", "chunked  ", "\tchunked\t"}) {
    RequestDecoder d{RequestLimits{}};
    const std::string wire =
        Post(std::string("Transfer-Encoding:") + te + "\r\n", "3\r\nabc\r\n0\r\n\r\n");
    ASSERT_TRUE(Is(FeedOnce(d, wire), ReqStatus::kComplete)) << '"' << te << '"';
    EXPECT_TRUE(d.head().chunked);
    EXPECT_EQ(d.body(), "abc");
  }
}

TEST(RequestDecoder, Http10WithoutHostAccepted) {
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d, "GET /x HTTP/1.0\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(d.head().host, "");
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(RequestLimitsTest, HeaderBlockOverLimit) {
  RequestLimits limits;
  limits.max_header_bytes = 256;
  const std::string fits_prefix = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string suffix = "\r\n\r\n";
  // Exactly the limit is accepted; one byte more is not.
  const std::string at_limit =
      fits_prefix + std::string(256 - fits_prefix.size() - suffix.size(), 'a') + suffix;
  ASSERT_EQ(at_limit.size(), 256u);
  const std::string over =
      fits_prefix + std::string(257 - fits_prefix.size() - suffix.size(), 'a') + suffix;
  // Step 16 delivers the request line alone first; the limit covers the head as a whole.
  for (size_t step : {size_t{1}, size_t{10}, size_t{16}, size_t{1000}}) {
    SCOPED_TRACE(step);
    RequestDecoder ok{limits};
    EXPECT_TRUE(Is(DriveRequest(ok, at_limit, step).result, ReqStatus::kComplete));
    RequestDecoder d{limits};
    EXPECT_TRUE(FailsWith(DriveRequest(d, over, step).result, ErrorKind::kHeaderTooLarge));
  }
  // A header that never ends is refused once the limit is passed.
  RequestDecoder d{limits};
  EXPECT_TRUE(FailsWith(DriveRequest(d, fits_prefix + std::string(1000, 'a'), 7).result,
                        ErrorKind::kHeaderTooLarge));
}

TEST(RequestLimitsTest, TooManyHeaderFields) {
  RequestLimits limits;
  limits.max_headers = 4;
  const std::string four = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  const std::string five = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  RequestDecoder d{limits};
  EXPECT_TRUE(Is(FeedOnce(d, four), ReqStatus::kComplete));
  d.Reset();
  EXPECT_TRUE(FailsWith(FeedOnce(d, five), ErrorKind::kHeaderTooLarge));
  d.Reset();
  EXPECT_TRUE(FailsWith(DriveRequest(d, five, 1).result, ErrorKind::kHeaderTooLarge));
}

TEST(RequestLimitsTest, ContentLengthOverLimitRefusedAtHead) {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  RequestDecoder d{limits};
  // Only the head is sent: the refusal must not wait for the body.
  EXPECT_TRUE(FailsWith(FeedOnce(d, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"),
                        ErrorKind::kBodyTooLarge));
  d.Reset();
  EXPECT_TRUE(FailsWith(FeedOnce(d,
                                 "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: "
                                 "18446744073709551615\r\n\r\n"),
                        ErrorKind::kBodyTooLarge));
  d.Reset();
  EXPECT_TRUE(Is(FeedOnce(d, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"),
                 ReqStatus::kHeadComplete));
  EXPECT_TRUE(Is(FeedOnce(d, "0123456789"), ReqStatus::kComplete));
}

TEST(RequestLimitsTest, ChunkedBodyGrowingPastLimit) {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  const std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequestDecoder d{limits};
  ASSERT_TRUE(Is(FeedOnce(d, head), ReqStatus::kHeadComplete));
  // Unconsumed bytes (a chunk's CRLF is taken with the next chunk's size line) are re-presented.
  std::string pending;
  auto feed = [&](std::string_view more) {
    pending += more;
    size_t consumed = 0;
    auto r = d.Feed(pending, &consumed);
    pending.erase(0, consumed);
    return r;
  };
  EXPECT_TRUE(Is(feed("6\r\nabcdef\r\n"), ReqStatus::kNeedMore));
  EXPECT_TRUE(Is(feed("4\r\nghij\r\n"), ReqStatus::kNeedMore));
  EXPECT_EQ(d.body(), "abcdefghij");
  EXPECT_TRUE(FailsWith(feed("1\r\nk\r\n"), ErrorKind::kBodyTooLarge));

  // Exactly the limit in many small chunks is fine; one more byte is not, however it is fed.
  std::string exact = head, over = head;
  for (int i = 0; i < 10; ++i) exact += "1\r\nx\r\n";
  over = exact + "1\r\ny\r\n0\r\n\r\n";
  exact += "0\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{4}, size_t{1000}}) {
    RequestDecoder ok{limits};
    EXPECT_TRUE(Is(DriveRequest(ok, exact, step).result, ReqStatus::kComplete));
    EXPECT_EQ(ok.body(), std::string(10, 'x'));
    RequestDecoder bad{limits};
    EXPECT_TRUE(FailsWith(DriveRequest(bad, over, step).result, ErrorKind::kBodyTooLarge));
  }
  // A single huge chunk is refused at its size line.
  RequestDecoder big{limits};
  EXPECT_TRUE(FailsWith(FeedOnce(big, head + "ffffff\r\n"), ErrorKind::kBodyTooLarge));
}

// ---------------------------------------------------------------------------------------------
// Responses

class RecordingSink : public ResponseSink {
 public:
  void OnHead(const H1ResponseHead& head) override {
    ++heads;
    if (body_calls > 0) body_before_head = true;
    status = head.status;
    reason = head.reason;
    version = head.version;
    content_length = head.content_length;
    chunked = head.chunked;
    keep_alive = head.keep_alive;
    has_body = head.has_body;
    headers.clear();
    for (const auto& f : head.headers) headers.emplace_back(f.name, f.value);
  }
  void OnBody(std::string_view data) override {
    if (heads == 0) body_before_head = true;
    ++body_calls;
    body.append(data);
  }

  int heads = 0;
  int body_calls = 0;
  bool body_before_head = false;
  int status = 0;
  std::string reason;
  int version = 0;
  std::optional<uint64_t> content_length;
  bool chunked = false, keep_alive = false, has_body = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ResponseRun {
  Expected<RespStatus, Error> result = RespStatus::kNeedMore;
  std::string leftover;
};

// Feeds a response `step` bytes at a time, re-presenting unconsumed bytes; with `eof`, reports
// the close once the bytes run out.
ResponseRun DriveResponse(ResponseDecoder& d, RecordingSink& sink, std::string_view wire,
                          size_t step, bool eof = false) {
  ResponseRun run;
  std::string pending;
  size_t pos = 0;
  for (;;) {
    if (pos < wire.size()) {
      size_t n = std::min(step, wire.size() - pos);
      pending.append(wire.substr(pos, n));
      pos += n;
    } else if (eof) {
      run.result = d.FeedEof(sink);
      return run;
    }
    size_t consumed = 0;
    run.result = d.Feed(pending, &consumed, sink);
    EXPECT_LE(consumed, pending.size());
    pending.erase(0, consumed);
    if (!run.result.ok()) return run;
    if (*run.result == RespStatus::kComplete) {
      run.leftover = pending + std::string(wire.substr(pos));
      return run;
    }
    if (pos >= wire.size() && !eof) return run;
  }
}

TEST(ResponseDecoder, ContentLengthBody) {
  ResponseDecoder d;
  RecordingSink sink;
  d.Start(false);
  EXPECT_FALSE(d.head_done());
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello";
  size_t consumed = 0;
  EXPECT_TRUE(Is(d.Feed(wire, &consumed, sink), RespStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_TRUE(d.head_done());
  EXPECT_EQ(sink.heads, 1);
  EXPECT_EQ(sink.status, 200);
  EXPECT_EQ(sink.reason, "OK");
  EXPECT_EQ(sink.version, 11);
  EXPECT_EQ(sink.content_length, 5u);
  EXPECT_FALSE(sink.chunked);
  EXPECT_TRUE(sink.has_body);
  ASSERT_EQ(sink.headers.size(), 2u);
  EXPECT_EQ(sink.headers[0].first, "Content-Type");
  EXPECT_EQ(sink.headers[0].second, "application/json");
  EXPECT_EQ(sink.body, "hello");
  EXPECT_TRUE(d.reusable());
}

TEST(ResponseDecoder, ChunkedBodyDeliveredInPieces) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "f\r\ndata: {\"a\":1}\n\n\r\n"
      "f;ext=1\r\ndata: {\"b\":2}\n\n\r\n"
      "e\r\ndata: [DONE]\n\n\r\n"
      "0\r\nX-Trailer: t\r\n\r\n";
  ResponseDecoder d;
  RecordingSink sink;
  d.Start(false);
  size_t consumed = 0;
  ASSERT_TRUE(Is(d.Feed(wire, &consumed, sink), RespStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(sink.heads, 1);
  EXPECT_FALSE(sink.body_before_head);
  EXPECT_TRUE(sink.chunked);
  EXPECT_GE(sink.body_calls, 3);
  EXPECT_EQ(sink.body, "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n");
  EXPECT_TRUE(d.reusable());

  // Streamed: each chunk reaches the sink as soon as it is fed.
  ResponseDecoder s;
  RecordingSink ss;
  s.Start(false);
  const size_t head_end = wire.find("\r\n\r\n") + 4;
  ASSERT_TRUE(Is(s.Feed(wire.substr(0, head_end), &consumed, ss), RespStatus::kNeedMore));
  EXPECT_EQ(ss.heads, 1);
  EXPECT_TRUE(ss.body.empty());
  ASSERT_TRUE(Is(s.Feed("f\r\ndata: {\"a\":1}\n\n\r\n", &consumed, ss), RespStatus::kNeedMore));
  EXPECT_EQ(ss.body, "data: {\"a\":1}\n\n");
}

TEST(ResponseDecoder, BodySplitAcrossManyFeeds) {
  const std::vector<std::string> wires = {
      "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n7\r\ndefghij\r\n10\r\nklmnopqrstuvwxyz\r\n0\r\n\r\n",
  };
  for (const auto& wire : wires) {
    for (size_t step : {1, 2, 3, 5, 17}) {
      SCOPED_TRACE(step);
      ResponseDecoder d;
      RecordingSink sink;
      d.Start(false);
      ResponseRun run = DriveResponse(d, sink, wire, step);
      ASSERT_TRUE(Is(run.result, RespStatus::kComplete)) << wire;
      EXPECT_TRUE(run.leftover.empty());
      EXPECT_EQ(sink.heads, 1);
      EXPECT_EQ(sink.status, 200);
      EXPECT_EQ(sink.reason, "OK");  // step 17 delivers the status line alone
      EXPECT_FALSE(sink.body_before_head);
      EXPECT_EQ(sink.body, "abcdefghijklmnopqrstuvwxyz");
      EXPECT_TRUE(d.reusable());
    }
  }
}

TEST(ResponseDecoder, EmptyChunkedBodyInPieces) {
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  for (size_t step : {1, 2, 3, 4}) {
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    ResponseRun run = DriveResponse(d, sink, wire, step);
    ASSERT_TRUE(Is(run.result, RespStatus::kComplete)) << step;
    EXPECT_EQ(sink.body_calls, 0);
    EXPECT_TRUE(d.reusable());
  }
}

TEST(ResponseDecoder, CloseDelimitedBodyCompletedByEof) {
  for (const char* head :
       {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n"}) {
    SCOPED_TRACE(head);
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    size_t consumed = 0;
    EXPECT_TRUE(Is(d.Feed(std::string(head) + "abc", &consumed, sink), RespStatus::kNeedMore));
    EXPECT_TRUE(Is(d.Feed("def", &consumed, sink), RespStatus::kNeedMore));
    EXPECT_EQ(consumed, 3u);
    EXPECT_FALSE(d.reusable());
    EXPECT_TRUE(Is(d.FeedEof(sink), RespStatus::kComplete));
    EXPECT_EQ(sink.body, "abcdef");
    EXPECT_FALSE(sink.keep_alive);
    EXPECT_FALSE(d.reusable());
  }
}

TEST(ResponseDecoder, EofBeforeHeadIsUpstreamReset) {
  ResponseDecoder d;
  RecordingSink sink;
  d.Start(false);
  EXPECT_TRUE(FailsWith(d.FeedEof(sink), ErrorKind::kUpstreamReset));

  d.Start(false);
  size_t consumed = 0;
  EXPECT_TRUE(Is(d.Feed("HTTP/1.1 200 O", &consumed, sink), RespStatus::kNeedMore));
  EXPECT_TRUE(FailsWith(d.FeedEof(sink), ErrorKind::kUpstreamReset));
  EXPECT_EQ(sink.heads, 0);
}

TEST(ResponseDecoder, EofMidBodyIsUpstreamBodyBroken) {
  for (const char* wire : {
           "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
           "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n",
       }) {
    SCOPED_TRACE(wire);
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    ResponseRun run = DriveResponse(d, sink, wire, 4, /*eof=*/true);
    EXPECT_TRUE(FailsWith(run.result, ErrorKind::kUpstreamBodyBroken));
    EXPECT_EQ(sink.heads, 1);
  }
}

TEST(ResponseDecoder, InvalidFramingIsBadUpstreamResponse) {
  for (const char* wire : {
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
           "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc",
           "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
           "SSH-2.0-OpenSSH_9.2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
       }) {
    SCOPED_TRACE(wire);
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    size_t consumed = 0;
    EXPECT_TRUE(FailsWith(d.Feed(wire, &consumed, sink), ErrorKind::kBadUpstreamResponse));
    EXPECT_TRUE(sink.body.empty());
  }
}

TEST(ResponseDecoder, HeadRequestHasNoBody) {
  ResponseDecoder d;
  RecordingSink sink;
  d.Start(/*head_request=*/true);
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  size_t consumed = 0;
  EXPECT_TRUE(
      Is(d.Feed(wire + "HTTP/1.1 204 No Content\r\n\r\n", &consumed, sink), RespStatus::kComplete));
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(sink.content_length, 1000u);
  EXPECT_FALSE(sink.has_body);
  EXPECT_TRUE(sink.body.empty());
  EXPECT_TRUE(d.reusable());

  // Chunked framing on a HEAD response: still no body.
  d.Start(true);
  RecordingSink chunked;
  const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_TRUE(Is(d.Feed(te, &consumed, chunked), RespStatus::kComplete));
  EXPECT_EQ(consumed, te.size());
  EXPECT_FALSE(chunked.has_body);
}

TEST(ResponseDecoder, NoContentAndNotModifiedHaveNoBody) {
  for (const char* head :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n"}) {
    SCOPED_TRACE(head);
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    size_t consumed = 0;
    const std::string wire = std::string(head) + "extra";
    EXPECT_TRUE(Is(d.Feed(wire, &consumed, sink), RespStatus::kComplete));
    EXPECT_EQ(consumed, std::string_view(head).size());
    EXPECT_FALSE(sink.has_body);
    EXPECT_TRUE(sink.body.empty());
    EXPECT_EQ(sink.body_calls, 0);
    EXPECT_TRUE(d.reusable());
  }
}

TEST(ResponseDecoder, Reusable) {
  struct Case {
    const char* wire;
    bool reusable;
  };
  const Case cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
       false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok", true},
  };
  for (const auto& c : cases) {
    ResponseDecoder d;
    RecordingSink sink;
    d.Start(false);
    size_t consumed = 0;
    ASSERT_TRUE(Is(d.Feed(c.wire, &consumed, sink), RespStatus::kComplete)) << c.wire;
    EXPECT_EQ(d.reusable(), c.reusable) << c.wire;
  }
  // Not before the response is complete.
  ResponseDecoder d;
  RecordingSink sink;
  d.Start(false);
  size_t consumed = 0;
  EXPECT_TRUE(Is(d.Feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no", &consumed, sink),
                 RespStatus::kNeedMore));
  EXPECT_FALSE(d.reusable());
}

TEST(ResponseDecoder, InformationalResponsesAreCompleteWithoutBody) {
  const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
  const std::string final_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::string wire = cont + hints + final_response;

  ResponseDecoder d;
  size_t consumed = 0;
  RecordingSink first;
  d.Start(false);
  ASSERT_TRUE(Is(d.Feed(wire, &consumed, first), RespStatus::kComplete));
  EXPECT_EQ(consumed, cont.size());
  EXPECT_EQ(first.status, 100);
  EXPECT_FALSE(first.has_body);
  EXPECT_TRUE(first.body.empty());
  wire.erase(0, consumed);

  RecordingSink second;
  d.Start(false);
  ASSERT_TRUE(Is(d.Feed(wire, &consumed, second), RespStatus::kComplete));
  EXPECT_EQ(consumed, hints.size());
  EXPECT_EQ(second.status, 103);
  EXPECT_FALSE(second.has_body);
  ASSERT_EQ(second.headers.size(), 1u);
  EXPECT_EQ(second.headers[0].first, "Link");
  wire.erase(0, consumed);

  RecordingSink last;
  d.Start(false);
  ASSERT_TRUE(Is(d.Feed(wire, &consumed, last), RespStatus::kComplete));
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.body, "ok");
}

TEST(ResponseDecoder, StartResetsState) {
  ResponseDecoder d;
  RecordingSink bad;
  d.Start(false);
  size_t consumed = 0;
  EXPECT_FALSE(d.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &consumed, bad).ok());
  RecordingSink good;
  d.Start(false);
  EXPECT_FALSE(d.head_done());
  EXPECT_TRUE(Is(d.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
                        &consumed, good),
                 RespStatus::kComplete));
  EXPECT_EQ(good.body, "z");
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers

TEST(IsHopByHop, FixedSetInAnyCase) {
  for (const char* name : {"Connection", "connection", "KEEP-ALIVE", "Keep-Alive",
                           "Proxy-Connection", "TE", "te", "Transfer-Encoding", "transfer-encoding",
                           "Upgrade", "Trailer", "Proxy-Authenticate", "PROXY-AUTHORIZATION"}) {
    EXPECT_TRUE(IsHopByHop(name, "")) << name;
  }
  for (const char* name : {"Content-Type", "Content-Length", "Authorization", "Trailers",
                           "X-Connection", "Host", "T", ""}) {
    EXPECT_FALSE(IsHopByHop(name, "")) << name;
  }
}

TEST(IsHopByHop, TokensListedInConnection) {
  EXPECT_TRUE(IsHopByHop("X-Foo", "close, X-Foo"));
  EXPECT_TRUE(IsHopByHop("x-foo", "close, X-Foo"));
  EXPECT_TRUE(IsHopByHop("X-FOO", "close,x-foo"));
  EXPECT_TRUE(IsHopByHop("X-Bar", " X-Foo ,\tX-Bar\t"));
  EXPECT_TRUE(IsHopByHop("X-Baz", ",,X-Baz,"));
  EXPECT_FALSE(IsHopByHop("X-Fo", "close, X-Foo"));
  EXPECT_FALSE(IsHopByHop("X-Foo2", "close, X-Foo"));
  EXPECT_FALSE(IsHopByHop("X-Foo", "close"));
  EXPECT_FALSE(IsHopByHop("X-Foo", ""));
  EXPECT_FALSE(IsHopByHop("", ", ,"));
}

TEST(AppendHeader, FormatsOneLine) {
  std::string out = "HTTP/1.1 200 OK\r\n";
  AppendHeader(out, "Content-Type", "application/json");
  AppendHeader(out, "X-Empty", "");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Empty: \r\n");
}

TEST(AppendChunk, HexSizesAndEmptyData) {
  std::string out = "prefix";
  AppendChunk(out, "");
  EXPECT_EQ(out, "prefix");
  AppendChunk(out, "abc");
  EXPECT_EQ(out, "prefix3\r\nabc\r\n");

  for (size_t size : {size_t{10}, size_t{15}, size_t{16}, size_t{255}, size_t{4096}, size_t{65535},
                      size_t{1} << 20}) {
    std::string chunk;
    const std::string data(size, 'd');
    AppendChunk(chunk, data);
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%zx", size);
    EXPECT_EQ(chunk, std::string(hex) + "\r\n" + data + "\r\n") << size;
  }
  std::string small;
  AppendChunk(small, std::string(10, 'a'));
  EXPECT_EQ(small.substr(0, 3), "a\r\n");
  std::string page;
  AppendChunk(page, std::string(4096, 'a'));
  EXPECT_EQ(page.substr(0, 6), "1000\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
}

TEST(AppendChunk, RoundTripsThroughTheDecoder) {
  std::string wire = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string expected;
  for (size_t size : {1, 9, 16, 300}) {
    const std::string piece(size, static_cast<char>('a' + size % 26));
    AppendChunk(wire, piece);
    expected += piece;
  }
  AppendChunk(wire, "");
  wire += kLastChunk;
  RequestDecoder d{RequestLimits{}};
  ASSERT_TRUE(Is(FeedOnce(d, wire), ReqStatus::kComplete));
  EXPECT_EQ(d.body(), expected);
}

TEST(ReasonPhrase, KnownAndUnknown) {
  EXPECT_EQ(ReasonPhrase(100), "Continue");
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(204), "No Content");
  EXPECT_EQ(ReasonPhrase(400), "Bad Request");
  EXPECT_EQ(ReasonPhrase(404), "Not Found");
  EXPECT_EQ(ReasonPhrase(405), "Method Not Allowed");
  EXPECT_EQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_EQ(ReasonPhrase(429), "Too Many Requests");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(502), "Bad Gateway");
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
  EXPECT_EQ(ReasonPhrase(504), "Gateway Timeout");
  EXPECT_EQ(ReasonPhrase(299), "Unknown");
  EXPECT_EQ(ReasonPhrase(0), "Unknown");
}

}  // namespace
}  // namespace infergate::http
