// RouteTable: match conditions, route order, lazy model lookup, weighted pool choice, and the
// glob and host comparisons.
#include "infergate/routing/route_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
thread_local long allocations = 0;
}  // namespace

#if !defined(__SANITIZE_ADDRESS__)
__attribute__((noinline)) void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#define INFERGATE_COUNTS_ALLOCATIONS 1
#endif

namespace infergate::routing {
namespace {

using config::Config;
using config::HeaderMatch;
using config::RouteConfig;

RouteConfig Route(std::string name, size_t pool_index = 0) {
  RouteConfig route;
  route.name = std::move(name);
  route.to.push_back({"pool" + std::to_string(pool_index), pool_index, 1});
  return route;
}

std::shared_ptr<const Config> MakeConfig(std::vector<RouteConfig> routes) {
  auto config = std::make_shared<Config>();
  config->pools.resize(4);
  for (size_t i = 0; i < config->pools.size(); ++i)
    config->pools[i].name = "pool" + std::to_string(i);
  config->routes = std::move(routes);
  return config;
}

HeaderMatch Header(std::string name, HeaderMatch::Kind kind, std::string value = "") {
  HeaderMatch h;
  h.name = std::move(name);
  h.kind = kind;
  h.value = std::move(value);
  return h;
}

class FakeModelSource : public ModelSource {
 public:
  FakeModelSource() = default;
  explicit FakeModelSource(std::string model) : model_(std::move(model)) {}
  static FakeModelSource Failing() {
    FakeModelSource source;
    source.error_ = Error{ErrorKind::kMalformedJson, "bad body"};
    return source;
  }

  Expected<std::optional<std::string_view>, Error> Model() override {
    ++calls_;
    if (error_) return MakeUnexpected(*error_);
    if (model_) return std::optional<std::string_view>(*model_);
    return std::optional<std::string_view>();
  }
  int calls() const { return calls_; }

 private:
  std::optional<std::string> model_;
  std::optional<Error> error_;
  int calls_ = 0;
};

struct Request {
  std::string method = "POST";
  std::string path = "/v1/chat/completions";
  std::string host = "gw.example.com";
  std::vector<HeaderField> headers;

  RequestView View() const { return RequestView{method, path, host, headers}; }
};

// The matched route's name, "" when none matched; fails the test on an Error.
std::string Match(const RouteTable& table, const Request& request, ModelSource& model) {
  auto found = table.Find(request.View(), model);
  EXPECT_TRUE(found.ok()) << (found.ok() ? "" : found.error().message);
  if (!found.ok() || !found->has_value()) return "";
  EXPECT_EQ((*found)->route, &table.config().routes[(*found)->route_index]);
  return (*found)->route->name;
}

std::string Match(const RouteTable& table, const Request& request) {
  FakeModelSource none;
  return Match(table, request, none);
}

TEST(RouteTable, FirstMatchingRouteWins) {
  RouteConfig a = Route("a");
  a.match.path_prefix = "/v2/";
  RouteConfig b = Route("b");
  b.match.path_prefix = "/v1/";
  RouteConfig c = Route("c");
  RouteTable table(MakeConfig({a, b, c}));
  Request request;
  EXPECT_EQ(Match(table, request), "b");
  request.path = "/v2/x";
  EXPECT_EQ(Match(table, request), "a");
  request.path = "/other";
  EXPECT_EQ(Match(table, request), "c");
}

TEST(RouteTable, NoRouteGivesNullopt) {
  RouteConfig a = Route("a");
  a.match.path = "/v1/models";
  RouteTable table(MakeConfig({a}));
  FakeModelSource model;
  auto found = table.Find(Request{}.View(), model);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  RouteTable empty(MakeConfig({}));
  found = empty.Find(Request{}.View(), model);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST(RouteTable, ExactPath) {
  RouteConfig a = Route("a");
  a.match.path = "/v1/models";
  RouteTable table(MakeConfig({a}));
  Request request;
  request.path = "/v1/models";
  EXPECT_EQ(Match(table, request), "a");
  request.path = "/v1/models/";
  EXPECT_EQ(Match(table, request), "");
  request.path = "/v1/model";
  EXPECT_EQ(Match(table, request), "");
  request.path = "/V1/models";
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, PathPrefix) {
  RouteConfig a = Route("a");
  a.match.path_prefix = "/v1/";
  RouteTable table(MakeConfig({a}));
  Request request;
  request.path = "/v1/";
  EXPECT_EQ(Match(table, request), "a");
  request.path = "/v1/embeddings";
  EXPECT_EQ(Match(table, request), "a");
  request.path = "/v1";
  EXPECT_EQ(Match(table, request), "");
  request.path = "/x/v1/";
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, MethodsAnyOfExactCase) {
  RouteConfig a = Route("a");
  a.match.methods = {"GET", "HEAD"};
  RouteTable table(MakeConfig({a}));
  Request request;
  request.method = "GET";
  EXPECT_EQ(Match(table, request), "a");
  request.method = "HEAD";
  EXPECT_EQ(Match(table, request), "a");
  request.method = "POST";
  EXPECT_EQ(Match(table, request), "");
  request.method = "get";
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, HeaderExactWithCaseInsensitiveName) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-tenant", HeaderMatch::Kind::kExact, "blue")};
  RouteTable table(MakeConfig({a}));
  Request request;
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"X-Tenant", "blue"}};
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"X-TENANT", "blue"}};
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"x-tenant", "Blue"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-tenant", "blue "}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-tenants", "blue"}};
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, HeaderPresentAndAbsent) {
  RouteConfig present = Route("present");
  present.match.headers = {Header("x-debug", HeaderMatch::Kind::kPresent)};
  RouteConfig absent = Route("absent");
  absent.match.headers = {Header("authorization", HeaderMatch::Kind::kAbsent)};
  RouteTable table(MakeConfig({present, absent}));
  Request request;
  request.headers = {{"X-Debug", ""}, {"Authorization", "Bearer x"}};
  EXPECT_EQ(Match(table, request), "present");
  request.headers = {{"Authorization", "Bearer x"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"Accept", "*/*"}};
  EXPECT_EQ(Match(table, request), "absent");
  request.headers = {};
  EXPECT_EQ(Match(table, request), "absent");
}

TEST(RouteTable, HeaderRegexMatchesWholeValue) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-team", HeaderMatch::Kind::kRegex, "team-[0-9]+")};
  RouteConfig b = Route("b");
  b.match.headers = {Header("x-lang", HeaderMatch::Kind::kRegex, "en|en-us")};
  RouteTable table(MakeConfig({a, b}));
  Request request;
  request.headers = {{"X-Team", "team-42"}};
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"X-Team", "my-team-42"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"X-Team", "team-42x"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"X-Team", "team-"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {};
  EXPECT_EQ(Match(table, request), "");
  // The alternation as a whole must span the value: "en" alone is a partial match of "en-us"
  // and "en-gb", which only the first alternative reaches.
  request.headers = {{"x-lang", "en-us"}};
  EXPECT_EQ(Match(table, request), "b");
  request.headers = {{"x-lang", "en"}};
  EXPECT_EQ(Match(table, request), "b");
  request.headers = {{"x-lang", "en-gb"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-lang", "fr-en"}};
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, HeaderRegexAnchorsAreOptional) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-client", HeaderMatch::Kind::kRegex, "^(web|cli)/[0-9.]+$")};
  RouteConfig b = Route("b");
  b.match.headers = {Header("x-client", HeaderMatch::Kind::kRegex, "sdk")};
  RouteTable table(MakeConfig({a, b}));
  Request request;
  request.headers = {{"x-client", "cli/1.2.3"}};
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"x-client", "cli/1.2.3 beta"}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-client", "python-sdk"}};  // a partial match does not count
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-client", "sdk"}};
  EXPECT_EQ(Match(table, request), "b");
}

TEST(RouteTable, HeaderRegexMatchesBytes) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-name", HeaderMatch::Kind::kRegex, "caf.")};
  RouteTable table(MakeConfig({a}));
  Request request;
  request.headers = {{"x-name", "caf\xff"}};  // obs-text: one byte, one character
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"x-name", "caf\xc3\xa9"}};  // UTF-8 "é" is two bytes
  EXPECT_EQ(Match(table, request), "");
}

// RE2 never backtracks: patterns that take std::regex exponential time (or overflow its stack
// on long values) return, with no cap on the value's length.
TEST(RouteTable, HeaderRegexOnLongValuesIsLinear) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-blob", HeaderMatch::Kind::kRegex, "(q|r)*!")};
  RouteConfig nested = Route("nested");
  nested.match.headers = {Header("x-blob", HeaderMatch::Kind::kRegex, "(a+)+b")};
  RouteConfig alternation = Route("alternation");
  alternation.match.headers = {Header("x-blob", HeaderMatch::Kind::kRegex, "(a|aa)+$")};
  RouteTable table(MakeConfig({a, nested, alternation}));
  Request request;
  const std::string long_q = std::string(64 * 1024, 'q') + "!";
  request.headers = {{"x-blob", long_q}};
  EXPECT_EQ(Match(table, request), "a");
  const std::string long_a(36 * 1024, 'a');
  const std::string long_a_bang = long_a + "!";  // header values are views: keep them alive
  const std::string long_a_b = long_a + "b";
  request.headers = {{"x-blob", long_a_bang}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-blob", long_a}};
  EXPECT_EQ(Match(table, request), "alternation");
  request.headers = {{"x-blob", long_a_b}};
  EXPECT_EQ(Match(table, request), "nested");
}

TEST(RouteTable, InvalidRegexThrowsAtConstruction) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x", HeaderMatch::Kind::kRegex, "([a-z")};
  EXPECT_THROW(RouteTable(MakeConfig({a})), std::invalid_argument);
  a.match.headers = {Header("x", HeaderMatch::Kind::kRegex, "(a)\\1")};  // no backreferences
  EXPECT_THROW(RouteTable(MakeConfig({a})), std::invalid_argument);
}

TEST(RouteTable, DuplicateHeaderNamesMatchAnyInstance) {
  RouteConfig exact = Route("exact");
  exact.match.headers = {Header("x-tag", HeaderMatch::Kind::kExact, "gold")};
  RouteConfig regex = Route("regex");
  regex.match.headers = {Header("x-tag", HeaderMatch::Kind::kRegex, "s.*")};
  RouteConfig absent = Route("absent");
  absent.match.headers = {Header("x-tag", HeaderMatch::Kind::kAbsent)};
  RouteTable table(MakeConfig({exact, regex, absent}));
  Request request;
  request.headers = {{"x-tag", "bronze"}, {"X-Tag", "gold"}};
  EXPECT_EQ(Match(table, request), "exact");
  request.headers = {{"x-tag", "bronze"}, {"Accept", "x"}, {"X-TAG", "silver"}};
  EXPECT_EQ(Match(table, request), "regex");
  request.headers = {{"x-tag", "bronze"}, {"x-tag", "iron"}};
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, MultipleHeaderConditionsAllMustHold) {
  RouteConfig a = Route("a");
  a.match.headers = {Header("x-a", HeaderMatch::Kind::kExact, "1"),
                     Header("x-b", HeaderMatch::Kind::kPresent),
                     Header("x-c", HeaderMatch::Kind::kAbsent)};
  RouteTable table(MakeConfig({a}));
  Request request;
  request.headers = {{"x-b", "y"}, {"x-a", "1"}};
  EXPECT_EQ(Match(table, request), "a");
  request.headers = {{"x-b", "y"}, {"x-a", "1"}, {"x-c", ""}};
  EXPECT_EQ(Match(table, request), "");
  request.headers = {{"x-a", "1"}};
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, HostCondition) {
  RouteConfig api = Route("api");
  api.match.host = "API.example.com";
  RouteConfig wild = Route("wild");
  wild.match.host = "*.internal.net";
  RouteConfig v6 = Route("v6");
  v6.match.host = "[::1]";
  RouteTable table(MakeConfig({api, wild, v6}));
  Request request;
  request.host = "api.example.com";
  EXPECT_EQ(Match(table, request), "api");
  request.host = "api.EXAMPLE.com:8443";
  EXPECT_EQ(Match(table, request), "api");
  request.host = "x.y.internal.net:80";
  EXPECT_EQ(Match(table, request), "wild");
  request.host = "internal.net";
  EXPECT_EQ(Match(table, request), "");
  request.host = "[::1]:8080";
  EXPECT_EQ(Match(table, request), "v6");
  request.host = "";
  EXPECT_EQ(Match(table, request), "");
}

TEST(RouteTable, AllConditionsCombined) {
  RouteConfig a = Route("a");
  a.match.path_prefix = "/v1/";
  a.match.methods = {"POST"};
  a.match.headers = {Header("x-tenant", HeaderMatch::Kind::kExact, "blue")};
  a.match.host = "*.example.com";
  a.match.models = {"llama-*"};
  RouteConfig fallback = Route("fallback");
  RouteTable table(MakeConfig({a, fallback}));
  Request good;
  good.headers = {{"X-Tenant", "blue"}};
  FakeModelSource llama("llama-70b");
  EXPECT_EQ(Match(table, good, llama), "a");

  FakeModelSource other("gpt-4o");
  EXPECT_EQ(Match(table, good, other), "fallback");
  Request bad = good;
  bad.path = "/v2/x";
  EXPECT_EQ(Match(table, bad, llama), "fallback");
  bad = good;
  bad.method = "GET";
  EXPECT_EQ(Match(table, bad, llama), "fallback");
  bad = good;
  bad.headers = {};
  EXPECT_EQ(Match(table, bad, llama), "fallback");
  bad = good;
  bad.host = "example.com";
  EXPECT_EQ(Match(table, bad, llama), "fallback");
}

TEST(RouteTable, ModelGlobs) {
  RouteConfig llama = Route("llama");
  llama.match.models = {"llama-3.?-*", "meta/llama*"};
  RouteConfig exact = Route("exact");
  exact.match.models = {"gpt-4o"};
  RouteConfig fallback = Route("fallback");
  RouteTable table(MakeConfig({llama, exact, fallback}));
  Request request;
  FakeModelSource a("llama-3.1-70b");
  EXPECT_EQ(Match(table, request, a), "llama");
  FakeModelSource b("meta/llama");
  EXPECT_EQ(Match(table, request, b), "llama");
  FakeModelSource c("gpt-4o");
  EXPECT_EQ(Match(table, request, c), "exact");
  FakeModelSource d("gpt-4o-mini");
  EXPECT_EQ(Match(table, request, d), "fallback");
  FakeModelSource e("llama-3.10-70b");
  EXPECT_EQ(Match(table, request, e), "fallback");
}

TEST(RouteTable, MissingModelSkipsModelRoutesButNotRewriteOnlyRoutes) {
  RouteConfig by_model = Route("by_model");
  by_model.match.models = {"*"};
  RouteConfig rewrite = Route("rewrite");
  rewrite.rewrite_model = "served-name";
  RouteTable table(MakeConfig({by_model, rewrite}));
  FakeModelSource none;
  EXPECT_EQ(Match(table, Request{}, none), "rewrite");
  EXPECT_EQ(none.calls(), 1);
  FakeModelSource some("x");
  EXPECT_EQ(Match(table, Request{}, some), "by_model");
}

TEST(RouteTable, ModelNotReadWhenNoMatchingRouteNeedsIt) {
  RouteConfig model_route = Route("model_route");
  model_route.match.path = "/v1/completions";
  model_route.match.models = {"x"};
  RouteConfig plain = Route("plain");
  RouteConfig later = Route("later");
  later.rewrite_model = "y";
  RouteTable table(MakeConfig({model_route, plain, later}));
  FakeModelSource model("x");
  EXPECT_EQ(Match(table, Request{}, model), "plain");
  EXPECT_EQ(model.calls(), 0);
}

TEST(RouteTable, ModelReadOnceAcrossSeveralRoutes) {
  std::vector<RouteConfig> routes;
  for (int i = 0; i < 5; ++i) {
    RouteConfig r = Route("r" + std::to_string(i));
    r.match.models = {"model-" + std::to_string(i)};
    routes.push_back(r);
  }
  RouteTable table(MakeConfig(routes));
  FakeModelSource model("model-4");
  EXPECT_EQ(Match(table, Request{}, model), "r4");
  EXPECT_EQ(model.calls(), 1);
  FakeModelSource nothing("none");
  EXPECT_EQ(Match(table, Request{}, nothing), "");
  EXPECT_EQ(nothing.calls(), 1);
}

TEST(RouteTable, ModelErrorIsReturned) {
  RouteConfig plain_first = Route("plain_first");
  plain_first.match.path = "/health";
  RouteConfig by_model = Route("by_model");
  by_model.match.models = {"*"};
  RouteConfig fallback = Route("fallback");
  RouteTable table(MakeConfig({plain_first, by_model, fallback}));
  FakeModelSource failing = FakeModelSource::Failing();
  auto found = table.Find(Request{}.View(), failing);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().kind, ErrorKind::kMalformedJson);
  EXPECT_EQ(found.error().message, "bad body");
  EXPECT_EQ(failing.calls(), 1);

  Request health;
  health.path = "/health";
  FakeModelSource failing_again = FakeModelSource::Failing();
  EXPECT_EQ(Match(table, health, failing_again), "plain_first");
  EXPECT_EQ(failing_again.calls(), 0);
}

TEST(RouteTable, FindDoesNotAllocate) {
#ifndef INFERGATE_COUNTS_ALLOCATIONS
  GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
#endif
  RouteConfig a = Route("a");
  a.match.path = "/health";
  RouteConfig b = Route("b");
  b.match.path_prefix = "/v1/";
  b.match.methods = {"GET", "POST"};
  b.match.headers = {Header("x-tenant", HeaderMatch::Kind::kExact, "blue"),
                     Header("x-debug", HeaderMatch::Kind::kAbsent)};
  b.match.host = "*.example.com";
  b.match.models = {"gpt-*", "llama-*"};
  b.rewrite_model = "served-name-that-is-long-enough-to-need-the-heap";
  RouteTable table(MakeConfig({a, b}));
  Request request;
  request.headers = {{"Content-Type", "application/json"}, {"X-Tenant", "blue"}};
  FakeModelSource model("llama-3.1-70b-instruct-with-a-long-name");
  const long probe = allocations;
  int* volatile heap_int = new int(1);
  delete heap_int;
  ASSERT_GT(allocations, probe);
  const long before = allocations;
  auto found = table.Find(request.View(), model);
  const long after = allocations;
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->route_index, 1u);
  EXPECT_EQ(after - before, 0);
}

TEST(RouteTable, PickPoolSingleTargetLeavesRngAlone) {
  RouteTable table(MakeConfig({Route("a", 2)}));
  Rng rng(7);
  Rng reference(7);
  EXPECT_EQ(table.PickPool(table.config().routes[0], rng), 2u);
  EXPECT_EQ(rng.Next(), reference.Next());
}

TEST(RouteTable, PickPoolFollowsWeights) {
  RouteConfig split = Route("split");
  split.to = {{"pool1", 1, 90}, {"pool3", 3, 10}};
  RouteTable table(MakeConfig({split}));
  Rng rng(12345);
  constexpr int kPicks = 100000;
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < kPicks; ++i) ++counts[table.PickPool(table.config().routes[0], rng)];
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[1] + counts[3], kPicks);
  EXPECT_NEAR(counts[1] / static_cast<double>(kPicks), 0.90, 0.01);
  EXPECT_NEAR(counts[3] / static_cast<double>(kPicks), 0.10, 0.01);
}

TEST(RouteTable, PickPoolWorksForARouteOutsideTheTable) {
  RouteTable table(MakeConfig({Route("a")}));
  RouteConfig outside = Route("outside");
  outside.to = {{"pool1", 1, 1}, {"pool2", 2, 1}, {"pool0", 0, 0}};
  Rng rng(99);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 10000; ++i) ++counts[table.PickPool(outside, rng)];
  EXPECT_EQ(counts[0], 0);
  EXPECT_NEAR(counts[1], 5000, 300);
  EXPECT_NEAR(counts[2], 5000, 300);
}

TEST(GlobMatch, Basics) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything at all"));
  EXPECT_TRUE(GlobMatch("**", ""));
  EXPECT_FALSE(GlobMatch("?", ""));
  EXPECT_TRUE(GlobMatch("?", "x"));
  EXPECT_FALSE(GlobMatch("?", "xy"));
  EXPECT_TRUE(GlobMatch("gpt-4o", "gpt-4o"));
  EXPECT_FALSE(GlobMatch("gpt-4o", "gpt-4o-mini"));
  EXPECT_FALSE(GlobMatch("gpt-4o", "GPT-4o"));
  EXPECT_TRUE(GlobMatch("gpt-*", "gpt-"));
  EXPECT_TRUE(GlobMatch("gpt-*", "gpt-4o-mini"));
  EXPECT_TRUE(GlobMatch("*-mini", "gpt-4o-mini"));
  EXPECT_FALSE(GlobMatch("*-mini", "gpt-4o-mini2"));
  EXPECT_TRUE(GlobMatch("llama-?b", "llama-8b"));
  EXPECT_FALSE(GlobMatch("llama-?b", "llama-70b"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "axxbyycd"));
  EXPECT_TRUE(GlobMatch("*a*", "banana"));
  EXPECT_TRUE(GlobMatch("*ana", "banana"));
  EXPECT_TRUE(GlobMatch("*?", "a"));
  EXPECT_FALSE(GlobMatch("*?", ""));
  EXPECT_TRUE(GlobMatch("a*", "a*"));
  EXPECT_TRUE(GlobMatch("*", "*"));
  EXPECT_FALSE(GlobMatch("a*", "b*"));
}

TEST(GlobMatch, PathologicalPatternIsFast) {
  const std::string text(1 << 20, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatch("a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(GlobMatch("a*a*a*a*a*a*a*a*a", text));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*?b", text));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(HostMatch, Forms) {
  EXPECT_TRUE(HostMatch("example.com", "example.com"));
  EXPECT_TRUE(HostMatch("example.com", "EXAMPLE.Com"));
  EXPECT_TRUE(HostMatch("Example.COM", "example.com:8080"));
  EXPECT_TRUE(HostMatch("example.com", "example.com."));
  EXPECT_FALSE(HostMatch("example.com", "example.org"));
  EXPECT_FALSE(HostMatch("example.com", "www.example.com"));
  EXPECT_FALSE(HostMatch("example.com", ""));
  EXPECT_TRUE(HostMatch("*.example.com", "a.example.com"));
  EXPECT_TRUE(HostMatch("*.example.com", "a.b.example.com:443"));
  EXPECT_TRUE(HostMatch("*.example.com", "A.EXAMPLE.COM"));
  EXPECT_FALSE(HostMatch("*.example.com", "example.com"));
  EXPECT_FALSE(HostMatch("*.example.com", ".example.com"));
  EXPECT_FALSE(HostMatch("*.example.com", "badexample.com"));
  EXPECT_TRUE(HostMatch("::1", "[::1]:8080"));
  EXPECT_TRUE(HostMatch("[::1]", "[::1]"));
  EXPECT_TRUE(HostMatch("::1", "::1"));
  EXPECT_TRUE(HostMatch("[2001:DB8::1]", "[2001:db8::1]:443"));
  EXPECT_FALSE(HostMatch("::1", "[::2]:8080"));
  EXPECT_TRUE(HostMatch("10.0.0.1", "10.0.0.1:80"));
  EXPECT_TRUE(HostMatch("*", "anything:1"));
}

}  // namespace
}  // namespace infergate::routing
