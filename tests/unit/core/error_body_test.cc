// The OpenAI-shaped error body: the fields every SDK reads, and the request and trace ids beside
// them only when given.
#include <gtest/gtest.h>

#include <string>

#include "infergate/core/error.h"

namespace infergate {
namespace {

TEST(OpenAiErrorBody, TheSdkFieldsAlone) {
  EXPECT_EQ(OpenAiErrorBody(ErrorKind::kRouteNotFound, "no \"route\""),
            R"({"error":{"message":"no \"route\"","type":"invalid_request_error","param":null,)"
            R"("code":"route_not_found"}})");
}

TEST(OpenAiErrorBody, RequestAndTraceIdsInTheErrorObject) {
  EXPECT_EQ(
      OpenAiErrorBody(ErrorKind::kRouteNotFound, "m", "rid-1", "4bf92f3577b34da6a3ce929d0e0e4736"),
      R"({"error":{"message":"m","type":"invalid_request_error","param":null,)"
      R"("code":"route_not_found","request_id":"rid-1",)"
      R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}})");
  EXPECT_EQ(OpenAiErrorBody(ErrorKind::kRouteNotFound, "m", "rid-1"),
            R"({"error":{"message":"m","type":"invalid_request_error","param":null,)"
            R"("code":"route_not_found","request_id":"rid-1"}})");
}

// A request the answering model refuses as OpenAI's API does: 400 with the parameter at fault.
TEST(OpenAiErrorBody, ContextLengthExceededAndInvalidValueNameTheirParameter) {
  EXPECT_EQ(DescribeError(ErrorKind::kContextLengthExceeded).status, 400);
  EXPECT_EQ(OpenAiErrorBody(ErrorKind::kContextLengthExceeded, "too long", "rid-2", {}, "messages"),
            R"({"error":{"message":"too long","type":"invalid_request_error",)"
            R"("param":"messages","code":"context_length_exceeded","request_id":"rid-2"}})");
  EXPECT_EQ(DescribeError(ErrorKind::kInvalidParameter).status, 400);
  EXPECT_EQ(OpenAiErrorBody(ErrorKind::kInvalidParameter, "bad", {}, {}, "temperature"),
            R"({"error":{"message":"bad","type":"invalid_request_error",)"
            R"("param":"temperature","code":"invalid_value"}})");
}

// Every error type is one OpenAI's API itself sends, by status: the SDKs pick their error
// classes by status and some clients by type (LangChain, retry helpers). The precise reason
// stays in `code`.
TEST(DescribeError, TypesAreTheOnesOpenAiSends) {
  for (int k = 0; k <= static_cast<int>(ErrorKind::kInternal); ++k) {
    const ErrorInfo& info = DescribeError(static_cast<ErrorKind>(k));
    SCOPED_TRACE(std::string(info.name));
    if (info.status == 429) {
      EXPECT_EQ(info.type, "requests");
      EXPECT_EQ(info.code, "rate_limit_exceeded");
    } else if (info.status >= 500) {
      EXPECT_EQ(info.type, "server_error");
    } else {
      EXPECT_EQ(info.type, "invalid_request_error");
    }
    EXPECT_FALSE(info.code.empty());
  }
  EXPECT_EQ(DescribeError(ErrorKind::kFirstByteTimeout).code, "upstream_first_byte_timeout");
}

}  // namespace
}  // namespace infergate
