// The HTTP/1.1 codec's pause at the end of a request head (a transport that may answer from the
// head never has the body parsed) and the response head's framing helper.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "infergate/http/h1_codec.h"
#include "unit/http/codec_test_util.h"

namespace infergate::http {
namespace {

constexpr std::string_view kPost =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";

TEST(RequestDecoderPause, AWholeRequestStopsAtItsHeadWithTheBodyUnparsed) {
  RequestDecoder d{RequestLimits{}};
  d.PauseAtHead(true);
  size_t used = 0;
  EXPECT_TRUE(Is(d.Feed(kPost, &used), ReqStatus::kHeadComplete));
  EXPECT_EQ(used, kPost.size() - 5);  // the body's bytes are left to the caller
  EXPECT_TRUE(d.body().empty());
  EXPECT_EQ(d.head().content_length, 5u);
  // Fed again, the body completes the request.
  size_t more = 0;
  EXPECT_TRUE(Is(d.Feed(kPost.substr(used), &more), ReqStatus::kComplete));
  EXPECT_EQ(more, 5u);
  EXPECT_EQ(d.body(), "hello");
  // A request without a body is complete at its head, paused or not.
  d.Reset();
  EXPECT_TRUE(Is(d.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &used), ReqStatus::kComplete));
}

struct FramingCase {
  const char* name;
  std::optional<uint64_t> length;
  int version;
  bool no_body;
  bool keep_alive;
  BodyFraming framing;
  const char* fields;  // what follows the status line and x-a
  bool keep_after;
};

class ResponseHeadFraming : public ::testing::TestWithParam<FramingCase> {};

TEST_P(ResponseHeadFraming, FieldsAndFraming) {
  const FramingCase& c = GetParam();
  ResponseHead head;
  head.status = 429;
  head.content_length = c.length;
  head.headers = {{"x-a", "1"}};
  std::string out;
  bool keep_alive = c.keep_alive;
  EXPECT_EQ(AppendResponseHead(out, head, c.version, c.no_body, &keep_alive), c.framing);
  EXPECT_EQ(out, std::string("HTTP/1.1 429 Too Many Requests\r\nx-a: 1\r\n") + c.fields + "\r\n");
  EXPECT_EQ(keep_alive, c.keep_after);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResponseHeadFraming,
    ::testing::Values(FramingCase{"Length", 7, 11, false, true, BodyFraming::kLength,
                                  "content-length: 7\r\n", true},
                      FramingCase{"Chunked", std::nullopt, 11, false, true, BodyFraming::kChunked,
                                  "transfer-encoding: chunked\r\n", true},
                      FramingCase{"Http10ReadsToTheClose", std::nullopt, 10, false, true,
                                  BodyFraming::kClose, "connection: close\r\n", false},
                      FramingCase{"Http10KeepAlive", 7, 10, false, true, BodyFraming::kLength,
                                  "content-length: 7\r\nconnection: keep-alive\r\n", true},
                      FramingCase{"HeadAnnouncesTheLength", 7, 11, true, true, BodyFraming::kNone,
                                  "content-length: 7\r\n", true},
                      FramingCase{"HeadWithoutALength", std::nullopt, 11, true, true,
                                  BodyFraming::kNone, "", true},
                      FramingCase{"Closing", 7, 11, false, false, BodyFraming::kLength,
                                  "content-length: 7\r\nconnection: close\r\n", false}),
    [](const ::testing::TestParamInfo<FramingCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace infergate::http
