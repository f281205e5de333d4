// The W3C traceparent codec: what is continued, what restarts the trace, what goes upstream.
#include "infergate/http/trace_context.h"

#include "infergate/http/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace infergate::http {
namespace {

constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParent = "00f067aa0ba902b7";
const std::string kValid = "00-" + std::string(kTrace) + "-" + std::string(kParent) + "-01";

std::string Str(const std::array<char, 32>& a) { return std::string(a.data(), a.size()); }
std::string Str(const std::array<char, 16>& a) { return std::string(a.data(), a.size()); }

bool IsLowerHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

TEST(Traceparent, ParsesAValidVersion00Value) {
  auto p = ParseTraceparent(kValid);
  ASSERT_TRUE(p);
  EXPECT_EQ(Str(p->trace_id), kTrace);
  EXPECT_EQ(Str(p->parent_id), kParent);
  EXPECT_EQ(p->flags, 1);
  auto q = ParseTraceparent("00-" + std::string(kTrace) + "-" + std::string(kParent) + "-00");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->flags, 0);
  // Flags other than sampled are kept for version 00.
  q = ParseTraceparent("00-" + std::string(kTrace) + "-" + std::string(kParent) + "-03");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->flags, 3);
}

TEST(Traceparent, RejectsUpperCase) {
  EXPECT_FALSE(
      ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-" + std::string(kParent) + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "-00F067AA0BA902B7-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "-" + std::string(kParent) + "-0A"));
  EXPECT_FALSE(ParseTraceparent("0A-" + std::string(kTrace) + "-" + std::string(kParent) + "-01"));
}

TEST(Traceparent, RejectsAllZeroIds) {
  EXPECT_FALSE(
      ParseTraceparent("00-00000000000000000000000000000000-" + std::string(kParent) + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "-0000000000000000-01"));
}

TEST(Traceparent, RejectsVersionFf) {
  EXPECT_FALSE(ParseTraceparent("ff-" + std::string(kTrace) + "-" + std::string(kParent) + "-01"));
}

TEST(Traceparent, RejectsWrongLengthsAndSeparators) {
  EXPECT_FALSE(ParseTraceparent(""));
  EXPECT_FALSE(ParseTraceparent(kValid.substr(0, 54)));
  EXPECT_FALSE(ParseTraceparent(kValid + "-"));   // version 00 is exactly 55 characters
  EXPECT_FALSE(ParseTraceparent(kValid + "-x"));  // no extra fields for version 00
  // A trace id one digit short, the parent one digit long.
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace.substr(1)) + "-" + std::string(kParent) +
                                "0-01"));
  EXPECT_FALSE(ParseTraceparent("00_" + std::string(kTrace) + "-" + std::string(kParent) + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "_" + std::string(kParent) + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "-" + std::string(kParent) + "_01"));
  EXPECT_FALSE(ParseTraceparent("00-" + std::string(kTrace) + "-" + std::string(kParent) + "-0g"));
  EXPECT_FALSE(ParseTraceparent(" " + kValid.substr(1)));
  EXPECT_FALSE(ParseTraceparent("0-" + std::string(kTrace) + "-" + std::string(kParent) + "-01x"));
}

TEST(Traceparent, AFutureVersionIsReadByItsVersion00Prefix) {
  const std::string base = std::string(kTrace) + "-" + std::string(kParent);
  // Exactly 55 characters, or followed by "-" and anything: parsed; only the sampled flag kept.
  auto p = ParseTraceparent("01-" + base + "-03");
  ASSERT_TRUE(p);
  EXPECT_EQ(Str(p->trace_id), kTrace);
  EXPECT_EQ(Str(p->parent_id), kParent);
  EXPECT_EQ(p->flags, 1);
  p = ParseTraceparent("cc-" + base + "-01-what-the-future-will-bring");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->flags, 1);
  // Not followed by "-": invalid; shorter than 55: invalid; the ids still checked.
  EXPECT_FALSE(ParseTraceparent("01-" + base + "-01x"));
  EXPECT_FALSE(ParseTraceparent("01-" + base + "-1"));
  EXPECT_FALSE(ParseTraceparent("01-00000000000000000000000000000000-" + std::string(kParent) +
                                "-01-extra"));
}

TEST(ContinueTrace, KeepsAValidTraceIdAndFlagsWithANewSpan) {
  Rng rng(7);
  std::vector<HeaderField> headers = {{"x-request-id", "abc"}, {"traceparent", kValid}};
  TraceContext t = ContinueTrace(headers, rng);
  EXPECT_TRUE(t.continued);
  EXPECT_EQ(t.trace_id(), kTrace);
  EXPECT_EQ(t.flags(), "01");
  EXPECT_NE(t.span_id(), kParent);
  EXPECT_TRUE(IsLowerHex(t.span_id()));
  EXPECT_EQ(t.traceparent(), "00-" + std::string(kTrace) + "-" + std::string(t.span_id()) + "-01");
  // What the gateway sends parses again.
  auto again = ParseTraceparent(t.traceparent());
  ASSERT_TRUE(again);
  EXPECT_EQ(Str(again->parent_id), t.span_id());
  // A future version goes upstream as version 00 with the sampled flag only.
  const std::string future = "02-" + std::string(kTrace) + "-" + std::string(kParent) + "-ff-x";
  headers = {{"traceparent", future}};
  t = ContinueTrace(headers, rng);
  EXPECT_TRUE(t.continued);
  EXPECT_EQ(t.traceparent().substr(0, 3), "00-");
  EXPECT_EQ(t.flags(), "01");
}

TEST(ContinueTrace, StartsANewTraceWhenAbsentInvalidOrRepeated) {
  Rng rng(11);
  const std::string invalid = "00-" + std::string(kTrace) + "-0000000000000000-01";
  const std::vector<std::vector<HeaderField>> cases = {
      {},
      {{"traceparent", invalid}},
      {{"traceparent", kValid}, {"traceparent", kValid}},
  };
  std::vector<std::string> seen;
  for (const auto& headers : cases) {
    TraceContext t = ContinueTrace(headers, rng);
    EXPECT_FALSE(t.continued);
    EXPECT_NE(t.trace_id(), kTrace);
    EXPECT_TRUE(IsLowerHex(t.trace_id()));
    EXPECT_TRUE(IsLowerHex(t.span_id()));
    EXPECT_EQ(t.flags(), "00");
    ASSERT_TRUE(ParseTraceparent(t.traceparent())) << t.traceparent();
    seen.emplace_back(t.trace_id());
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_NE(seen[1], seen[2]);
}

// What a backend gets: the gateway's traceparent in place of the client's; the client's
// tracestate only with a continued trace.
std::vector<std::pair<std::string, std::string>> Forwarded(const Request& req,
                                                           const ForwardContext& ctx) {
  std::vector<std::pair<std::string, std::string>> out;
  ForEachForwardedHeader(req, ctx, [&out](std::string_view n, std::string_view v) {
    out.emplace_back(std::string(n), std::string(v));
  });
  return out;
}

size_t Count(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view n) {
  size_t k = 0;
  for (const auto& f : fields) k += f.first == n ? 1 : 0;
  return k;
}

std::string Value(const std::vector<std::pair<std::string, std::string>>& fields,
                  std::string_view n) {
  for (const auto& f : fields) {
    if (f.first == n) return f.second;
  }
  return "";
}

TEST(ForwardedHeaders, TheGatewaysTraceparentReplacesTheClients) {
  const std::vector<HeaderField> headers = {
      {"traceparent", kValid}, {"tracestate", "v=1"}, {"x-a", "b"}};
  Request req;
  req.headers = headers;
  Rng rng(3);
  const TraceContext t = ContinueTrace(headers, rng);
  ForwardContext ctx{"192.0.2.1", "http", "rid", t.traceparent(), !t.continued};
  auto out = Forwarded(req, ctx);
  EXPECT_EQ(Count(out, "traceparent"), 1u);
  EXPECT_EQ(Value(out, "traceparent"), t.traceparent());
  EXPECT_EQ(Value(out, "tracestate"), "v=1");
  EXPECT_EQ(Value(out, "x-a"), "b");

  // A trace the gateway started: the client's tracestate is not sent with it.
  ctx.drop_tracestate = true;
  out = Forwarded(req, ctx);
  EXPECT_EQ(Count(out, "tracestate"), 0u);
  EXPECT_EQ(Count(out, "traceparent"), 1u);

  // Without a traceparent of the gateway's, the client's fields pass as they are.
  ctx.traceparent = {};
  ctx.drop_tracestate = false;
  out = Forwarded(req, ctx);
  EXPECT_EQ(Value(out, "traceparent"), kValid);
  EXPECT_EQ(Value(out, "tracestate"), "v=1");
}

}  // namespace
}  // namespace infergate::http
