// Stream usage injection into request bodies: added where the client did not ask, untouched
// where it did or where nothing streams; every other byte kept.
#include "infergate/routing/stream_usage.h"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <string>

namespace infergate::routing {
namespace {

// The body after AddIncludeUsage (and whether it changed).
std::pair<bool, std::string> Added(std::string body) {
  body.reserve(body.size() + 64);
  const bool changed = AddIncludeUsage(body);
  return {changed, body};
}

bool IncludeUsageTrue(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) return false;
  bool v = false;
  return !doc.at_pointer("/stream_options/include_usage").get_bool().get(v) && v;
}

TEST(StreamUsage, AddedWhenStreamOptionsIsAbsent) {
  auto [changed, body] = Added(R"( {"model":"m","stream":true,"messages":[]})");
  EXPECT_TRUE(changed);
  EXPECT_EQ(body, R"( {"stream_options":{"include_usage":true},"model":"m","stream":true,)"
                  R"("messages":[]})");
  EXPECT_TRUE(IncludeUsageTrue(body));
  EXPECT_EQ(ReadStreamUsageAsk(body), StreamUsageAsk::kAsked);
}

TEST(StreamUsage, FalseBecomesTrueAndOtherOptionsStay) {
  auto [changed, body] = Added(
      R"({"stream":true,"stream_options":{"continuous_usage_stats":true, "include_usage" : false }})");
  EXPECT_TRUE(changed);
  EXPECT_EQ(
      body,
      R"({"stream":true,"stream_options":{"continuous_usage_stats":true, "include_usage" : true }})");
}

TEST(StreamUsage, AddedInsideExistingOptions) {
  EXPECT_EQ(Added(R"({"stream":true,"stream_options":{"x":1}})").second,
            R"({"stream":true,"stream_options":{"include_usage":true,"x":1}})");
  EXPECT_EQ(Added(R"({"stream":true,"stream_options":{ }})").second,
            R"({"stream":true,"stream_options":{"include_usage":true }})");
  EXPECT_EQ(Added(R"({"stream":true,"stream_options":null})").second,
            R"({"stream":true,"stream_options":{"include_usage":true}})");
  auto [changed, body] = Added(R"({"stream":true,"stream_options":{"include_usage":"yes"}})");
  EXPECT_TRUE(changed);
  EXPECT_TRUE(IncludeUsageTrue(body));
}

TEST(StreamUsage, UntouchedWhenAskedOrNotStreamed) {
  for (const std::string& b :
       {std::string(R"({"stream":true,"stream_options":{"include_usage":true}})"),
        std::string(R"({"model":"m","stream":false})"), std::string(R"({"model":"m"})"),
        std::string(R"({"stream":"true"})"), std::string("not json"), std::string(""),
        std::string(R"({"stream":true,"stream_options":{},"stream_options":{}})")}) {
    auto [changed, body] = Added(b);
    EXPECT_FALSE(changed) << b;
    EXPECT_EQ(body, b);
  }
  EXPECT_EQ(ReadStreamUsageAsk(R"({"stream":true,"stream_options":{"include_usage":true}})"),
            StreamUsageAsk::kAsked);
  EXPECT_EQ(ReadStreamUsageAsk(R"({"stream":true})"), StreamUsageAsk::kNotAsked);
  EXPECT_EQ(ReadStreamUsageAsk(R"({"stream":false})"), StreamUsageAsk::kNotStreamed);
}

}  // namespace
}  // namespace infergate::routing
