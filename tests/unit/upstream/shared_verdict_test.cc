// The shared-verdict message: what one instance publishes, every other decodes; anything else on
// the channel is dropped.
#include "infergate/upstream/shared_verdict.h"

#include <gtest/gtest.h>

namespace infergate::upstream {
namespace {

TEST(SharedVerdict, RoundTripsEveryField) {
  for (bool down : {true, false}) {
    SharedVerdict v{"edge-1:42:0badf00d", "gpu \"pool\"\n", "10.0.0.7:8000", down, "phi,canary"};
    std::optional<SharedVerdict> back = DecodeVerdict(EncodeVerdict(v));
    ASSERT_TRUE(back) << EncodeVerdict(v);
    EXPECT_EQ(back->from, v.from);
    EXPECT_EQ(back->pool, v.pool);
    EXPECT_EQ(back->backend, v.backend);
    EXPECT_EQ(back->down, down);
    EXPECT_EQ(back->reason, v.reason);
  }
}

TEST(SharedVerdict, ReadsAsJson) {
  EXPECT_EQ(EncodeVerdict({"a", "p", "h:1", true, "phi"}),
            R"({"v":1,"from":"a","pool":"p","backend":"h:1","state":"down","reason":"phi"})");
}

TEST(SharedVerdict, ToleratesFieldsOfALaterRevisionAndAnyOrder) {
  auto v = DecodeVerdict(
      R"({"state":"up","extra":{"x":[1,2]},"backend":"h:1","pool":"p","from":"a","v":1})");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->down);
  EXPECT_EQ(v->reason, "");
}

TEST(SharedVerdict, RefusesWhatIsNotOurs) {
  for (const char* bad : {
           "",
           "hello",
           "[]",
           "{}",
           "{\"v\":1}",
           R"({"v":2,"from":"a","pool":"p","backend":"h:1","state":"down"})",
           R"({"v":1,"pool":"p","backend":"h:1","state":"down"})",
           R"({"v":1,"from":"a","backend":"h:1","state":"down"})",
           R"({"v":1,"from":"a","pool":"p","state":"down"})",
           R"({"v":1,"from":"a","pool":"p","backend":"h:1"})",
           R"({"v":1,"from":"a","pool":"p","backend":"h:1","state":"sideways"})",
           R"({"v":1,"from":7,"pool":"p","backend":"h:1","state":"down"})",
           R"({"v":"1","from":"a","pool":"p","backend":"h:1","state":"down"})",
           R"({"v":1,"from":"a","pool":"p","backend":"h:1","state":"down")",
       }) {
    EXPECT_FALSE(DecodeVerdict(bad)) << bad;
  }
  std::string huge = R"({"v":1,"from":"a","pool":")" + std::string(kMaxVerdictBytes, 'p') +
                     R"(","backend":"h:1","state":"down"})";
  EXPECT_FALSE(DecodeVerdict(huge));
}

TEST(SharedVerdict, InstanceIdsDifferPerCall) {
  const std::string a = InstanceId(), b = InstanceId();
  EXPECT_NE(a, b);
  EXPECT_NE(a.find(':'), std::string::npos);
}

}  // namespace
}  // namespace infergate::upstream
