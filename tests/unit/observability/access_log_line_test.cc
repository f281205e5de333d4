// The access log line: every field in JSON and text, nulls, hostile input escaped, caps.
#include <gtest/gtest.h>

#include <string>

#include "infergate/observability/access_log.h"
#include "support/json.h"

namespace infergate::observability {
namespace {

using testing::JsonBool;
using testing::JsonDouble;
using testing::JsonInt;
using testing::JsonIsNull;
using testing::JsonSize;
using testing::JsonString;
using testing::JsonValid;

// 2024-02-29T23:59:58.123Z
const auto kTime = std::chrono::system_clock::time_point(std::chrono::milliseconds(1709251198123));

AccessLogEntry FullEntry() {
  AccessLogEntry e;
  e.time = kTime;
  e.request_id = "rid-1";
  e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  e.client = "192.0.2.7";
  e.listener = "public";
  e.protocol = "HTTP/1.1";
  e.method = "POST";
  e.path = "/v1/chat/completions?x=1";
  e.model = "llama-70b";
  e.model_served = "mock-model";
  e.route = "big";
  e.pool = "a";
  e.backend = "127.0.0.1:8000";
  e.tenant = "acme";
  e.status = 200;
  e.error = "upstream_reset";
  e.attempts = 2;
  e.degraded = "no_backend";
  e.fallback = "static";
  e.ttfb_ms = 12.3456;
  e.ttft_ms = 20.0;
  e.duration_ms = 1500.5;
  e.bytes = 1234;
  e.input_tokens = 17;
  e.output_tokens = 4;
  e.tokens_estimated = true;
  return e;
}

std::string Json(const AccessLogEntry& e) {
  std::string line;
  FormatAccessLine(e, LogFormat::kJson, &line);
  return line;
}

std::string Text(const AccessLogEntry& e) {
  std::string line;
  FormatAccessLine(e, LogFormat::kText, &line);
  return line;
}

TEST(AccessLogLine, JsonHasEveryField) {
  const std::string line = Json(FullEntry());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  ASSERT_TRUE(JsonValid(line)) << line;
  EXPECT_EQ(JsonSize(line, ""), 26u);
  EXPECT_EQ(JsonString(line, "/time"), "2024-02-29T23:59:58.123Z");
  EXPECT_EQ(JsonString(line, "/request_id"), "rid-1");
  EXPECT_EQ(JsonString(line, "/trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(JsonString(line, "/client"), "192.0.2.7");
  EXPECT_EQ(JsonString(line, "/listener"), "public");
  EXPECT_EQ(JsonString(line, "/protocol"), "HTTP/1.1");
  EXPECT_EQ(JsonString(line, "/method"), "POST");
  EXPECT_EQ(JsonString(line, "/path"), "/v1/chat/completions?x=1");
  EXPECT_EQ(JsonString(line, "/model"), "llama-70b");
  EXPECT_EQ(JsonString(line, "/model_served"), "mock-model");
  EXPECT_EQ(JsonString(line, "/route"), "big");
  EXPECT_EQ(JsonString(line, "/pool"), "a");
  EXPECT_EQ(JsonString(line, "/backend"), "127.0.0.1:8000");
  EXPECT_EQ(JsonString(line, "/tenant"), "acme");
  EXPECT_EQ(JsonInt(line, "/status"), 200);
  EXPECT_EQ(JsonString(line, "/error"), "upstream_reset");
  EXPECT_EQ(JsonInt(line, "/attempts"), 2);
  EXPECT_EQ(JsonString(line, "/degraded"), "no_backend");
  EXPECT_EQ(JsonString(line, "/fallback"), "static");
  EXPECT_DOUBLE_EQ(*JsonDouble(line, "/ttfb_ms"), 12.346);
  EXPECT_DOUBLE_EQ(*JsonDouble(line, "/ttft_ms"), 20.0);
  EXPECT_DOUBLE_EQ(*JsonDouble(line, "/duration_ms"), 1500.5);
  EXPECT_EQ(JsonInt(line, "/bytes"), 1234);
  EXPECT_EQ(JsonInt(line, "/input_tokens"), 17);
  EXPECT_EQ(JsonInt(line, "/output_tokens"), 4);
  EXPECT_EQ(JsonBool(line, "/tokens_estimated"), true);
}

TEST(AccessLogLine, UnknownFieldsAreNull) {
  AccessLogEntry e;
  e.time = kTime;
  const std::string line = Json(e);
  ASSERT_TRUE(JsonValid(line)) << line;
  for (const char* key :
       {"/request_id", "/trace_id",     "/client",       "/listener", "/protocol", "/method",
        "/path",       "/model",        "/model_served", "/route",    "/pool",     "/backend",
        "/tenant",     "/status",       "/error",        "/degraded", "/fallback", "/ttfb_ms",
        "/ttft_ms",    "/input_tokens", "/output_tokens"}) {
    EXPECT_TRUE(JsonIsNull(line, key)) << key << " in " << line;
  }
  EXPECT_EQ(JsonInt(line, "/attempts"), 0);
  EXPECT_EQ(JsonInt(line, "/bytes"), 0);
  EXPECT_DOUBLE_EQ(*JsonDouble(line, "/duration_ms"), 0);
  EXPECT_EQ(JsonBool(line, "/tokens_estimated"), false);
}

TEST(AccessLogLine, JsonEscapesHostileInput) {
  AccessLogEntry e = FullEntry();
  const std::string path = "/a\"b\\c\nd\re\tf\x01g\x1f\x7fh";
  e.path = path;
  // Invalid UTF-8: a stray continuation byte, 0xff, an overlong "/", a surrogate, a sequence cut
  // short; valid: é and an emoji.
  const std::string model =
      "m\x80-\xff-\xc0\xaf-\xed\xa0\x80-\xe2\x82-\xc3\xa9-\xf0\x9f\x98\x80-\"},\"status\":1,\"x\":"
      "\"";
  e.model = model;
  const std::string line = Json(e);
  ASSERT_TRUE(JsonValid(line)) << line;  // simdjson validates UTF-8 too
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(JsonString(line, "/path"), path);
  EXPECT_EQ(JsonString(line, "/model"),
            "m\xef\xbf\xbd-\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
            "\xbd-\xef\xbf\xbd\xef\xbf\xbd-\xc3\xa9-\xf0\x9f\x98\x80-\"},\"status\":1,\"x\":\"");
  EXPECT_EQ(JsonInt(line, "/status"), 200);  // no field injected
  EXPECT_EQ(JsonSize(line, ""), 26u);
}

TEST(AccessLogLine, PathAndModelAreCapped) {
  AccessLogEntry e = FullEntry();
  const std::string path = "/" + std::string(5000, 'p');
  const std::string model(1000, 'm');
  e.path = path;
  e.model = model;
  e.model_served = model;
  const std::string line = Json(e);
  ASSERT_TRUE(JsonValid(line));
  EXPECT_EQ(JsonString(line, "/path")->size(), kAccessLogMaxPath);
  EXPECT_EQ(JsonString(line, "/model")->size(), kAccessLogMaxModel);
  EXPECT_EQ(JsonString(line, "/model_served")->size(), kAccessLogMaxModel);
  EXPECT_EQ(JsonString(line, "/path"), path.substr(0, kAccessLogMaxPath));
}

TEST(AccessLogLine, TextHasTheSameFieldsAsPairs) {
  const std::string line = Text(FullEntry());
  EXPECT_EQ(line,
            "time=2024-02-29T23:59:58.123Z request_id=rid-1 "
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 client=192.0.2.7 listener=public "
            "protocol=HTTP/1.1 method=POST path=/v1/chat/completions?x=1 model=llama-70b "
            "model_served=mock-model route=big pool=a backend=127.0.0.1:8000 tenant=acme "
            "status=200 error=upstream_reset attempts=2 degraded=no_backend fallback=static "
            "ttfb_ms=12.346 ttft_ms=20.000 duration_ms=1500.500 bytes=1234 input_tokens=17 "
            "output_tokens=4 tokens_estimated=true\n");
}

TEST(AccessLogLine, TextQuotesAndEscapesAndWritesNullAsDash) {
  AccessLogEntry e;
  e.time = kTime;
  const std::string path = "/a b\"c\\d\ne\xc3\xa9";
  e.path = path;
  e.model = "-";  // a real "-" is quoted, so it is not read as null
  e.method = "GET";
  const std::string line = Text(e);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find(" path=\"/a b\\\"c\\\\d\\x0ae\\xc3\\xa9\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" model=\"-\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" method=GET "), std::string::npos) << line;
  EXPECT_NE(line.find(" request_id=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" status=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" ttfb_ms=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" output_tokens=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" tokens_estimated=false\n"), std::string::npos) << line;
}

}  // namespace
}  // namespace infergate::observability
