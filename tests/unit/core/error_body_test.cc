// The OpenAI-shaped error body: the fields every SDK reads, and the request and trace ids beside
// them only when given.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace infergate
