// Defences of the request decoder found from outside: request targets parsed once and strictly
// (the routed path is the forwarded path), the absolute-form authority as the host, and limits
// on the bytes a chunked body can make the decoder hold (chunk-size lines, trailers).
#include <gtest/gtest.h>

#include <string>

#include "infergate/http/h1_codec.h"
#include "unit/http/codec_test_util.h"

namespace infergate::http {
namespace {

RequestHead Decode(RequestDecoder& d, const std::string& wire) {
  auto r = FeedOnce(d, wire);
  EXPECT_TRUE(Is(r, ReqStatus::kComplete)) << wire;
  return d.head();
}

// ---------------------------------------------------------------------------------------------
// Request targets (RFC 9112 3.2)

TEST(RequestTarget, OriginFormRoutesAndForwardsTheSamePath) {
  RequestDecoder d{RequestLimits{}};
  RequestHead h = Decode(d, "GET /v1/models?limit=5 HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(h.target_form, TargetForm::kOrigin);
  EXPECT_EQ(h.path, "/v1/models");
  EXPECT_EQ(h.path_and_query, "/v1/models?limit=5");
  EXPECT_EQ(h.host, "h");
}

// The route bypass found from outside: routing saw /v1/models while the backend received
// /v1/models/secret?://h/v1/models.
TEST(RequestTarget, RelativeTargetWithASchemeLaterIsRefused) {
  RequestDecoder d{RequestLimits{}};
  auto r = FeedOnce(d, "GET x/v1/models/secret?://h/v1/models HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(FailsWith(r, ErrorKind::kBadRequest));
}

TEST(RequestTarget, AbsoluteFormForwardsItsOwnPathAndItsAuthorityIsTheHost) {
  struct Case {
    const char* target;
    const char* host;
    const char* path;
    const char* forwarded;
  };
  const Case cases[] = {
      {"http://evil.example/", "evil.example", "/", "/"},
      {"http://evil.example", "evil.example", "/", "/"},
      {"HTTPS://api:8443/v1/chat/completions?x=1", "api:8443", "/v1/chat/completions",
       "/v1/chat/completions?x=1"},
      {"http://h?q=/v1/models", "h", "/", "/?q=/v1/models"},
      {"http://[::1]:8000/v1/models", "[::1]:8000", "/v1/models", "/v1/models"},
      {"http://h//double", "h", "//double", "//double"},
  };
  for (const Case& c : cases) {
    RequestDecoder d{RequestLimits{}};
    RequestHead h =
        Decode(d, std::string("GET ") + c.target + " HTTP/1.1\r\nHost: other.example\r\n\r\n");
    EXPECT_EQ(h.target_form, TargetForm::kAbsolute) << c.target;
    EXPECT_EQ(h.host, c.host) << c.target;
    EXPECT_EQ(h.path, c.path) << c.target;
    EXPECT_EQ(h.path_and_query, c.forwarded) << c.target;
    EXPECT_TRUE(std::string_view(h.path_and_query).starts_with(h.path)) << c.target;
  }
}

TEST(RequestTarget, AsteriskFormOnlyForOptions) {
  RequestDecoder d{RequestLimits{}};
  RequestHead h = Decode(d, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(h.target_form, TargetForm::kAsterisk);
  EXPECT_EQ(h.path, "*");
  d.Reset();
  EXPECT_TRUE(FailsWith(FeedOnce(d, "POST * HTTP/1.1\r\nHost: h\r\n\r\n"), ErrorKind::kBadRequest));
}

TEST(RequestTarget, AuthorityFormIsConnectOnlyAndRefused) {
  RequestDecoder d{RequestLimits{}};
  EXPECT_TRUE(FailsWith(FeedOnce(d, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
                        ErrorKind::kMethodNotAllowed));
  d.Reset();
  EXPECT_TRUE(
      FailsWith(FeedOnce(d, "GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), ErrorKind::kBadRequest));
}

TEST(RequestTarget, MalformedTargetsAreRefused) {
  const char* bad[] = {
      "ftp://h/v1/models",           // scheme other than http(s)
      "http:/h/v1/models",           // not "://"
      "http:///v1/models",           // no authority
      "http://user:pw@h/v1/models",  // user information
      "http://h/v1/models#frag",     // fragment
      "/v1/models#frag",             // fragment in origin-form
      "/v1/../admin",                // dot-segments
      "/v1/./models",                //
      "/v1/%2e%2E/admin",            // percent-encoded dot-segment
      "/v1/models/..",               //
      "/v1/%zz",                     // bad percent-encoding
      "/v1/%4",                      //
      "/v1/mo\"dels",                // outside RFC 3986
      "/v1/{models}",                //
      "http://h\\x/v1",              // backslash in the authority
      "*x",                          //
  };
  for (const char* target : bad) {
    RequestDecoder d{RequestLimits{}};
    auto r = FeedOnce(d, std::string("OPTIONS ") + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(FailsWith(r, ErrorKind::kBadRequest)) << target;
  }
}

TEST(RequestTarget, ValidCharactersAndDotsInsideSegmentsAreKept) {
  RequestDecoder d{RequestLimits{}};
  RequestHead h = Decode(d,
                         "GET /v1/models/org.model-v1.5_x~y/%2Fa!$&'()*+,;=:@?q=/a?b HTTP/1.1\r\n"
                         "Host: h\r\n\r\n");
  EXPECT_EQ(h.path, "/v1/models/org.model-v1.5_x~y/%2Fa!$&'()*+,;=:@");
  d.Reset();
  h = Decode(d, "GET /v1/...x/.hidden/x.. HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(h.path, "/v1/...x/.hidden/x..");
}

TEST(ParseTarget, IsTheSameFunctionTheDecoderUses) {
  TargetParts t;
  EXPECT_FALSE(ParseTarget("GET", "/a?b", &t));
  EXPECT_EQ(t.path, "/a");
  EXPECT_EQ(t.path_and_query, "/a?b");
  EXPECT_TRUE(ParseTarget("GET", "", &t));
  EXPECT_FALSE(ParseTarget("GET", "http://h/a", &t));
  EXPECT_EQ(t.scheme, "http");
  EXPECT_EQ(t.authority, "h");
}

// ---------------------------------------------------------------------------------------------
// Chunked bodies: the bytes the decoder holds while it waits for a line to end

const std::string kChunkedHead =
    "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

// Feeds `more` after the head, keeping unconsumed bytes as a connection does.
struct ChunkedFeeder {
  explicit ChunkedFeeder(const RequestLimits& limits) : d(limits) {
    EXPECT_TRUE(Is(FeedOnce(d, kChunkedHead), ReqStatus::kHeadComplete));
  }
  Expected<ReqStatus, Error> Feed(std::string_view more) {
    pending += more;
    size_t consumed = 0;
    auto r = d.Feed(pending, &consumed);
    pending.erase(0, consumed);
    return r;
  }
  RequestDecoder d;
  std::string pending;
};

// 256 MiB of chunk extension without a CRLF grew the gateway's memory without bound.
TEST(ChunkedLimits, EndlessChunkSizeLineIsRefusedAtTheLimit) {
  ChunkedFeeder f{RequestLimits{}};
  EXPECT_TRUE(Is(f.Feed("5;a="), ReqStatus::kNeedMore));
  Expected<ReqStatus, Error> r = ReqStatus::kNeedMore;
  size_t fed = 4;
  while (r.ok() && fed < 64 * 1024) {
    r = f.Feed(std::string(512, 'b'));
    fed += 512;
  }
  EXPECT_TRUE(FailsWith(r, ErrorKind::kBadRequest));
  EXPECT_LE(f.pending.size(), kMaxChunkLineBytes + 512);
}

TEST(ChunkedLimits, ChunkSizeLineAtTheLimitIsAccepted) {
  // size ";" extension CRLF: exactly kMaxChunkLineBytes before the line feed is allowed.
  const std::string ext(kMaxChunkLineBytes - 4, 'e');
  ChunkedFeeder f{RequestLimits{}};
  EXPECT_TRUE(Is(f.Feed("1;" + ext + "\r\nx\r\n0\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(f.d.body(), "x");
  ChunkedFeeder g{RequestLimits{}};
  EXPECT_TRUE(FailsWith(g.Feed("1;" + ext + "ee\r\nx\r\n0\r\n\r\n"), ErrorKind::kBadRequest));
}

TEST(ChunkedLimits, LaterChunkLinesAreLimitedToo) {
  ChunkedFeeder f{RequestLimits{}};
  EXPECT_TRUE(Is(f.Feed("3\r\nabc"), ReqStatus::kNeedMore));
  Expected<ReqStatus, Error> r = f.Feed("\r\n7;" + std::string(kMaxChunkLineBytes, 'e'));
  EXPECT_TRUE(FailsWith(r, ErrorKind::kBadRequest));
}

// A 32 MiB trailer block (no blank line) did the same: trailers count against the header limit.
TEST(ChunkedLimits, EndlessTrailersAreRefusedAtTheHeaderLimit) {
  RequestLimits limits;
  limits.max_header_bytes = 1024;
  ChunkedFeeder f{limits};
  Expected<ReqStatus, Error> r = f.Feed("0\r\n");
  for (int i = 0; r.ok() && i < 1000; ++i) r = f.Feed("x-trailer: " + std::to_string(i) + "\r\n");
  EXPECT_TRUE(FailsWith(r, ErrorKind::kHeaderTooLarge));
  EXPECT_LE(f.pending.size(), 1024u + 64);
}

TEST(ChunkedLimits, TrailersWithinTheHeaderLimitAreAccepted) {
  RequestLimits limits;
  limits.max_header_bytes = 1024;
  ChunkedFeeder f{limits};
  EXPECT_TRUE(Is(f.Feed("2\r\nhi\r\n0\r\nx-t: 1\r\nx-u: 2\r\n\r\n"), ReqStatus::kComplete));
  EXPECT_EQ(f.d.body(), "hi");
}

TEST(ChunkedLimits, TrailerFieldsCountAgainstTheHeaderCount) {
  RequestLimits limits;
  limits.max_headers = 4;  // Host and Transfer-Encoding are two of them
  ChunkedFeeder f{limits};
  EXPECT_TRUE(FailsWith(f.Feed("0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"), ErrorKind::kHeaderTooLarge));
}

// The same limit protects the gateway from a backend's response.
struct NullSink final : ResponseSink {
  void OnHead(const H1ResponseHead&) override {}
  void OnBody(std::string_view) override {}
};

// RFC 9110 15: 600-999 are no status; relaying one would hand the client something it cannot
// interpret (found by the whole-path fuzzer).
TEST(ResponseStatus, OutsideOneHundredToFiveNinetyNineIsABadResponse) {
  for (const char* line : {"HTTP/1.1 600 Nope\r\n", "HTTP/1.1 714 X\r\n", "HTTP/1.1 099 X\r\n"}) {
    ResponseDecoder d;
    d.Start(false);
    NullSink sink;
    size_t consumed = 0;
    auto r = d.Feed(std::string(line) + "content-length: 0\r\n\r\n", &consumed, sink);
    EXPECT_TRUE(FailsWith(r, ErrorKind::kBadUpstreamResponse)) << line;
  }
  ResponseDecoder d;
  d.Start(false);
  NullSink sink;
  size_t consumed = 0;
  EXPECT_TRUE(Is(d.Feed("HTTP/1.1 599 Edge\r\ncontent-length: 0\r\n\r\n", &consumed, sink),
                 RespStatus::kComplete));
}

TEST(ChunkedLimits, BackendChunkLineOverTheLimitIsABadResponse) {
  ResponseDecoder d;
  d.Start(false);
  NullSink sink;
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                     std::string(kMaxChunkLineBytes + 10, 'e');
  size_t consumed = 0;
  auto r = d.Feed(wire, &consumed, sink);
  std::string rest = wire.substr(consumed);
  if (r.ok()) r = d.Feed(rest, &consumed, sink);
  EXPECT_TRUE(FailsWith(r, ErrorKind::kBadUpstreamResponse));
}

}  // namespace
}  // namespace infergate::http
