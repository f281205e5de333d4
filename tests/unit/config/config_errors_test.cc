// Config loader errors: each bad input is reported at the right line, column and key path,
// with a message that says what is wrong and what is allowed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

// Three valid lines to build on: listeners, pools and routes.
#define L1 "listeners: [{name: l, listen: \":0\"}]\n"
#define L2 "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n"
#define L3 "routes: [{name: r, to: p}]\n"
// Opens a block-style route "r" going to pool "p" at line 5; its keys go at column 5.
#define ROUTE L1 L2 "routes:\n  - name: r\n    to: p\n"

const ErrorCase kKeyCases[] = {
    {"UnknownKeySuggestsTheCloseOne", ROUTE "    match:\n      modle: llama\n", 7, 7,
     "routes[0].match.modle",
     "unknown key \"modle\" (allowed: path, path_prefix, methods, model, headers, host); did you "
     "mean \"model\"?"},
    {"UnknownTopLevelKey", L1 L2 L3 "extra: 1\n", 4, 1, "extra",
     "unknown key \"extra\" (allowed: workers, log_format, listeners, admin, pools, routes, "
     "canary_budget, compartments, tiers, tenants, tenant_identification, runners, access_log, "
     "models, model_limits, shared_state)"},
    {"UnknownKeyAndTheMissingOneItReplaces", "listeners:\n  - nmae: l\n    listen: \":0\"\n" L2 L3,
     2, 5, "listeners[0].nmae", "did you mean \"name\"?", 2},
    {"MissingKeyAfterAMisspelling", "listeners:\n  - nmae: l\n    listen: \":0\"\n" L2 L3, 2, 5,
     "listeners[0]", "missing required key \"name\"", 2},
    {"UnknownPoolKey", L1 "pools:\n  - name: p\n    backend: [http://127.0.0.1:1]\n" L3, 4, 5,
     "pools[0].backend", "did you mean \"backends\"?", 2},
    {"DuplicateYamlKey",
     L1 "pools:\n  - name: p\n    connect_timeout: 1s\n    backends: [http://127.0.0.1:1]\n"
        "    connect_timeout: 2s\n" L3,
     6, 5, "pools[0].connect_timeout", "duplicate key \"connect_timeout\" (first at line 4)"},
    {"NonStringKey", L1 L2 L3 "[a]: 1\n", 4, 1, "", "expected a string key (found a list)"},
    {"MissingTopLevelKey", L1 L2, 1, 1, "", "missing required key \"routes\""},
    {"MissingListenInFlowMapping", "listeners: [{name: l}]\n" L2 L3, 1, 13, "listeners[0]",
     "missing required key \"listen\""},
    {"MissingPoolBackends", L1 "pools:\n  - name: p\n" L3, 3, 5, "pools[0]",
     "missing required key \"backends\""},
    {"MissingRouteTo", L1 L2 "routes:\n  - name: r\n", 4, 5, "routes[0]",
     "missing required key \"to\""},
    {"MissingBackendUrl", L1 "pools: [{name: p, backends: [{weight: 2}]}]\n" L3, 2, 30,
     "pools[0].backends[0]", "missing required key \"url\""},
};
INSTANTIATE_TEST_SUITE_P(Keys, ConfigErrorTest, ::testing::ValuesIn(kKeyCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kTypeCases[] = {
    {"ExpectedListFoundMapping", "listeners: {name: l, listen: \":0\"}\n" L2 L3, 1, 12, "listeners",
     "expected a list (found a mapping); start each item with \"- \""},
    {"ExpectedListFoundString", L1 L2 "routes: r\n", 3, 9, "routes",
     "expected a list (found \"r\")"},
    {"ExpectedMapping", "listeners: [public]\n" L2 L3, 1, 13, "listeners[0]",
     "expected a mapping (found \"public\")"},
    {"ExpectedMappingForMatch", ROUTE "    match: /v1/models\n", 6, 12, "routes[0].match",
     "expected a mapping (found \"/v1/models\")"},
    {"ExpectedString", "listeners: [{name: [a], listen: \":0\"}]\n" L2 L3, 1, 20,
     "listeners[0].name", "expected a string (found a list)"},
    {"MissingValueIsReportedAtTheKey", "listeners:\n  - name:\n    listen: \":0\"\n" L2 L3, 2, 5,
     "listeners[0].name", "missing value (expected a string)"},
    {"EmptyName", "listeners: [{name: \"\", listen: \":0\"}]\n" L2 L3, 1, 20, "listeners[0].name",
     "must not be empty"},
    {"TopLevelList", "- listeners\n- pools\n", 1, 1, "",
     "the top level must be a mapping with listeners, pools and routes (found a list)"},
    {"TopLevelScalar", "hello\n", 1, 1, "", "the top level must be a mapping"},
};
INSTANTIATE_TEST_SUITE_P(Types, ConfigErrorTest, ::testing::ValuesIn(kTypeCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kValueCases[] = {
    {"UnknownLoadBalancing",
     L1 "pools:\n  - name: p\n    load_balancing: least_requests\n"
        "    backends: [http://127.0.0.1:1]\n" L3,
     4, 21, "pools[0].load_balancing",
     "unknown value \"least_requests\" (allowed: round_robin, weighted_round_robin, "
     "least_request, least_queue)"},
    {"MissingLoadBalancing",
     L1 "pools:\n  - name: p\n    load_balancing:\n    backends: [http://127.0.0.1:1]\n" L3, 4, 5,
     "pools[0].load_balancing",
     "missing value (allowed: round_robin, weighted_round_robin, least_request, least_queue)"},
    {"BareNumberIsNotADuration",
     L1 "pools:\n  - name: p\n    connect_timeout: 5\n"
        "    backends: [http://127.0.0.1:1]\n" L3,
     4, 22, "pools[0].connect_timeout", "\"5\" is not a duration (write e.g. 250ms, 30s, 2m)"},
    {"ZeroConnectTimeout",
     L1 "pools:\n  - name: p\n    connect_timeout: 0s\n"
        "    backends: [http://127.0.0.1:1]\n" L3,
     4, 22, "pools[0].connect_timeout", "must be greater than 0"},
    {"ZeroHeaderTimeout",
     "listeners:\n  - name: l\n    listen: \":0\"\n    header_timeout: 0s\n" L2 L3, 4, 21,
     "listeners[0].header_timeout", "must be greater than 0 (found \"0s\")"},
    {"BadBodyTimeout", "listeners:\n  - name: l\n    listen: \":0\"\n    body_timeout: 1 m\n" L2 L3,
     4, 19, "listeners[0].body_timeout", "\"1 m\" is not a duration"},
    {"ZeroKeepaliveTimeout",
     "listeners:\n  - name: l\n    listen: \":0\"\n    keepalive_timeout: 0ms\n" L2 L3, 4, 24,
     "listeners[0].keepalive_timeout", "must be greater than 0"},
    {"BadSendTimeout",
     "listeners:\n  - name: l\n    listen: \":0\"\n    send_timeout: [1s]\n" L2 L3, 4, 19,
     "listeners[0].send_timeout", "expected a duration (found a list)"},
    {"NegativeMaxConnections",
     "listeners:\n  - name: l\n    listen: \":0\"\n    max_connections: -5\n" L2 L3, 4, 22,
     "listeners[0].max_connections", "-5"},
    {"HugeMaxConnections",
     "listeners:\n  - name: l\n    listen: \":0\"\n    max_connections: 20000000\n" L2 L3, 4, 22,
     "listeners[0].max_connections", "10000000"},
    {"NegativeRouteTimeout", ROUTE "    timeouts: {first_byte: -1s}\n", 6, 28,
     "routes[0].timeouts.first_byte", "\"-1s\" is not a duration"},
    {"UnknownRouteTimeout", ROUTE "    timeouts: {connect: 1s}\n", 6, 16,
     "routes[0].timeouts.connect", "unknown key \"connect\" (allowed: first_byte, idle, total)"},
    {"BadSize",
     "listeners:\n  - name: l\n    listen: \":0\"\n    max_request_body_bytes: 16M\n" L2 L3, 4, 29,
     "listeners[0].max_request_body_bytes", "\"16M\" is not a size (write e.g. 512, 64KiB, 16MiB)"},
    {"ZeroHeaderBytes",
     "listeners:\n  - name: l\n    listen: \":0\"\n    max_request_header_bytes: 0\n" L2 L3, 4, 31,
     "listeners[0].max_request_header_bytes", "must be greater than 0"},
    {"RewriteModelEmpty", ROUTE "    rewrite_model: \"\"\n", 6, 20, "routes[0].rewrite_model",
     "must not be empty"},
};
INSTANTIATE_TEST_SUITE_P(Values, ConfigErrorTest, ::testing::ValuesIn(kValueCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kIntegerCases[] = {
    {"WorkersOutOfRange", "workers: 5000\n" L1 L2 L3, 1, 10, "workers",
     "5000 is out of range (allowed: 0..1024)"},
    {"WorkersNegative", "workers: -1\n" L1 L2 L3, 1, 10, "workers",
     "out of range (allowed: 0..1024)"},
    {"WorkersNotAnInteger", "workers: two\n" L1 L2 L3, 1, 10, "workers",
     "\"two\" is not an integer"},
    {"MaxRequestHeadersZero",
     "listeners:\n  - name: l\n    listen: \":0\"\n    max_request_headers: 0\n" L2 L3, 4, 26,
     "listeners[0].max_request_headers", "0 is out of range (allowed: 1..10000)"},
    {"MaxIdleConnectionsTooMany",
     L1 "pools:\n  - name: p\n    max_idle_connections: 100001\n"
        "    backends: [http://127.0.0.1:1]\n" L3,
     4, 27, "pools[0].max_idle_connections", "100001 is out of range (allowed: 0..100000)"},
    {"BackendWeightZero",
     L1 "pools:\n  - name: p\n    backends:\n      - url: http://127.0.0.1:1\n"
        "        weight: 0\n" L3,
     6, 17, "pools[0].backends[0].weight", "0 is out of range (allowed: 1..1000)"},
    {"RetriesTooMany", ROUTE "    retries: 6\n", 6, 14, "routes[0].retries",
     "6 is out of range (allowed: 0..5)"},
    {"RetriesFraction", ROUTE "    retries: 1.5\n", 6, 14, "routes[0].retries",
     "\"1.5\" is not an integer"},
    {"TargetWeightTooBig", L1 L2 "routes:\n  - name: r\n    to: [{pool: p, weight: 1001}]\n", 5, 28,
     "routes[0].to[0].weight", "1001 is out of range (allowed: 1..1000)"},
};
INSTANTIATE_TEST_SUITE_P(Integers, ConfigErrorTest, ::testing::ValuesIn(kIntegerCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Pool "p" with one backend url on line 5, column 9.
#define BACKEND(url) L1 "pools:\n  - name: p\n    backends:\n      - " url "\n" L3
const ErrorCase kUrlCases[] = {
    {"HttpsPortZero", BACKEND("https://10.0.0.1:0"), 5, 9, "pools[0].backends[0].url",
     "invalid URL \"https://10.0.0.1:0\": port 0 is not allowed for a backend"},
    {"UnknownScheme", BACKEND("ftp://10.0.0.1"), 5, 9, "pools[0].backends[0].url",
     "unsupported scheme \"ftp\" (allowed: http, https)"},
    {"MissingScheme", BACKEND("10.0.0.1:8000"), 5, 9, "pools[0].backends[0].url",
     "missing scheme (write e.g. http://10.0.0.1:8000)"},
    {"PathIsNotAllowed", BACKEND("http://10.0.0.1:8000/v1"), 5, 9, "pools[0].backends[0].url",
     "path \"/v1\" is not allowed"},
    {"QueryIsNotAllowed", BACKEND("http://10.0.0.1:8000/?a=b"), 5, 9, "pools[0].backends[0].url",
     "a query or fragment is not allowed"},
    {"UserInfoIsNotAllowed", BACKEND("http://user@10.0.0.1"), 5, 9, "pools[0].backends[0].url",
     "user info"},
    {"EmptyHost", BACKEND("http://"), 5, 9, "pools[0].backends[0].url", "missing host"},
    {"EmptyHostWithPort", BACKEND("http://:8000"), 5, 9, "pools[0].backends[0].url",
     "missing host"},
    {"PortOutOfRange", BACKEND("http://10.0.0.1:99999"), 5, 9, "pools[0].backends[0].url",
     "port \"99999\" is not a number from 0 to 65535"},
    {"PortZero", BACKEND("http://10.0.0.1:0"), 5, 9, "pools[0].backends[0].url",
     "port 0 is not allowed for a backend"},
    {"EmptyPort", BACKEND("\"http://10.0.0.1:\""), 5, 9, "pools[0].backends[0].url",
     "missing port after \":\""},
    {"BadHost", BACKEND("http://bad_host!:80"), 5, 9, "pools[0].backends[0].url",
     "invalid host \"bad_host!\""},
    {"UrlInMappingForm", L1 "pools:\n  - name: p\n    backends:\n      - url: ftp://a\n" L3, 5, 14,
     "pools[0].backends[0].url", "unsupported scheme \"ftp\""},
    {"EmptyBackendItem",
     L1 "pools:\n  - name: p\n    backends:\n      -   # to do\n      - http://127.0.0.1:1\n" L3, 5,
     7, "pools[0].backends[0]", "missing value (expected a URL or {url: URL, weight: N})"},
    {"BackendList", BACKEND("[http://127.0.0.1:1]"), 5, 9, "pools[0].backends[0]",
     "expected a URL or {url: URL, weight: N} (found a list)"},
    {"DuplicateBackend",
     L1 "pools:\n  - name: p\n    backends:\n      - http://127.0.0.1:1\n"
        "      - url: http://127.0.0.1:1/\n" L3,
     6, 14, "pools[0].backends[1].url",
     "duplicate backend url \"http://127.0.0.1:1/\" (same address 127.0.0.1:1 as line 5)"},
    {"DuplicateBackendByDefaultPort", BACKEND("http://a\n      - http://A:80"), 6, 9,
     "pools[0].backends[1].url", "same address a:80 as line 5"},
};
#undef BACKEND
INSTANTIATE_TEST_SUITE_P(Urls, ConfigErrorTest, ::testing::ValuesIn(kUrlCases),
                         [](const auto& info) { return std::string(info.param.name); });

// A listener whose listen value is on line 3, column 13.
#define LISTEN(addr) "listeners:\n  - name: l\n    listen: " addr "\n" L2 L3
const ErrorCase kAddressCases[] = {
    {"MissingPort", LISTEN("localhost"), 3, 13, "listeners[0].listen",
     "\"localhost\" is not a valid address: missing port (write e.g. 0.0.0.0:8080, [::1]:8080 or "
     ":8080)"},
    {"BarePort", LISTEN("8080"), 3, 13, "listeners[0].listen", "missing port"},
    {"PortTooBig", LISTEN("0.0.0.0:70000"), 3, 13, "listeners[0].listen",
     "port \"70000\" is not a number from 0 to 65535"},
    {"Ipv6WithoutBrackets", LISTEN("\"::1:8080\""), 3, 13, "listeners[0].listen",
     "IPv6 addresses need brackets"},
    {"BadIpv6", LISTEN("\"[::g]:8080\""), 3, 13, "listeners[0].listen",
     "\"::g\" is not an IPv6 address"},
    {"BadIpv4", LISTEN("300.1.1.1:80"), 3, 13, "listeners[0].listen", "invalid host \"300.1.1.1\""},
    {"EmptyAddress", LISTEN("\"\""), 3, 13, "listeners[0].listen", "empty address"},
    {"AdminAddress", L1 "admin:\n  listen: nowhere\n" L2 L3, 3, 11, "admin.listen",
     "\"nowhere\" is not a valid address: missing port"},
    {"AdminUnknownKey", L1 "admin:\n  address: :9901\n" L2 L3, 3, 3, "admin.address",
     "unknown key \"address\" (allowed: listen, token_sha256)"},
    {"ListenersShareAnAddress",
     "listeners:\n  - {name: a, listen: \"127.0.0.1:8080\"}\n"
     "  - {name: b, listen: \"127.0.0.1:8080\"}\n" L2 L3,
     3, 23, "listeners[1].listen",
     "address 127.0.0.1:8080 is already used by listener \"a\" (line 2)"},
    {"AdminSharesAListenerAddress",
     "listeners: [{name: a, listen: \":9901\"}]\nadmin:\n  listen: 0.0.0.0:9901\n" L2 L3, 3, 11,
     "admin.listen", "address 0.0.0.0:9901 is already used by listener \"a\" (line 1)"},
};
#undef LISTEN
INSTANTIATE_TEST_SUITE_P(Addresses, ConfigErrorTest, ::testing::ValuesIn(kAddressCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kNameCases[] = {
    {"DuplicateListenerName",
     "listeners:\n  - name: l\n    listen: \":0\"\n  - name: l\n    listen: \":0\"\n" L2 L3, 4, 11,
     "listeners[1].name", "duplicate listener name \"l\" (first at line 2)"},
    {"DuplicatePoolName",
     L1 "pools:\n  - name: p\n    backends: [http://127.0.0.1:1]\n"
        "  - name: p\n    backends: [http://127.0.0.1:2]\n" L3,
     5, 11, "pools[1].name", "duplicate pool name \"p\" (first at line 3)"},
    {"DuplicateRouteName", L1 L2 "routes: [{name: r, to: p}, {name: r, to: p}]\n", 3, 35,
     "routes[1].name", "duplicate route name \"r\" (first at line 3)"},
};
INSTANTIATE_TEST_SUITE_P(Names, ConfigErrorTest, ::testing::ValuesIn(kNameCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kEmptyListCases[] = {
    {"NoListeners", "listeners: []\n" L2 L3, 1, 12, "listeners",
     "empty list (at least one listener is required)"},
    {"NoPools", L1 "pools: []\n" L3, 2, 8, "pools", "empty list (at least one pool is required)",
     2},
    {"NoBackends", L1 "pools: [{name: p, backends: []}]\n" L3, 2, 29, "pools[0].backends",
     "empty list (at least one backend is required)"},
    {"NoRoutes", L1 L2 "routes: []\n", 3, 9, "routes",
     "empty list (at least one route is required)"},
    {"NoMethods", ROUTE "    match: {methods: []}\n", 6, 22, "routes[0].match.methods",
     "empty list (omit methods to match any method)"},
    {"NoModels", ROUTE "    match: {model: []}\n", 6, 20, "routes[0].match.model",
     "empty list (omit model to match any model)"},
    {"NoTargets", L1 L2 "routes:\n  - name: r\n    to: []\n", 5, 9, "routes[0].to",
     "empty list (at least one pool is required)"},
};
INSTANTIATE_TEST_SUITE_P(EmptyLists, ConfigErrorTest, ::testing::ValuesIn(kEmptyListCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kMatchCases[] = {
    {"PathAndPathPrefix", ROUTE "    match: {path: /a, path_prefix: /b}\n", 6, 36,
     "routes[0].match.path_prefix", "path and path_prefix cannot be used together"},
    {"PathWithoutSlash", ROUTE "    match: {path: v1/models}\n", 6, 19, "routes[0].match.path",
     "must start with \"/\" (found \"v1/models\")"},
    {"PathPrefixWithoutSlash", ROUTE "    match: {path_prefix: v1}\n", 6, 26,
     "routes[0].match.path_prefix", "must start with \"/\""},
    {"PathWithQuery", ROUTE "    match: {path: \"/v1/models?x=1\"}\n", 6, 19,
     "routes[0].match.path", "must not contain \"?\" or \"#\""},
    {"BadMethod", ROUTE "    match: {methods: [GET, \"PO ST\"]}\n", 6, 28,
     "routes[0].match.methods[1]", "\"PO ST\" is not a valid HTTP method"},
    {"MethodsMapping", ROUTE "    match: {methods: {a: b}}\n", 6, 22, "routes[0].match.methods",
     "expected a string or a list of strings (found a mapping)"},
    {"EmptyModel", ROUTE "    match: {model: [a, \"\"]}\n", 6, 24, "routes[0].match.model[1]",
     "must not be empty"},
    {"ModelListOfLists", ROUTE "    match: {model: [[a]]}\n", 6, 21, "routes[0].match.model[0]",
     "expected a string (found a list)"},
    {"HostWithPort", ROUTE "    match: {host: \"api.example.com:8080\"}\n", 6, 19,
     "routes[0].match.host", "write the host without a port"},
    {"HostWithInnerWildcard", ROUTE "    match: {host: \"api.*.com\"}\n", 6, 19,
     "routes[0].match.host", "\"*\" is only allowed as the whole first label, e.g. *.example.com"},
    {"HostWithSpace", ROUTE "    match: {host: \"bad host\"}\n", 6, 19, "routes[0].match.host",
     "\"bad host\" is not a valid host name"},
};
INSTANTIATE_TEST_SUITE_P(Match, ConfigErrorTest, ::testing::ValuesIn(kMatchCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Route "r" with a header condition on line 8, name at column 9, value at column 14.
#define HEADER(text) ROUTE "    match:\n      headers:\n        " text "\n"
const ErrorCase kHeaderCases[] = {
    {"TwoConditions", HEADER("x-a: {present: true, regex: a}"), 8, 14,
     "routes[0].match.headers.x-a",
     "expected exactly one of present, absent, exact, regex (found present, regex)"},
    {"NoCondition", HEADER("x-a: {}"), 8, 14, "routes[0].match.headers.x-a",
     "expected one of present, absent, exact, regex (found an empty mapping)"},
    {"UnknownCondition", HEADER("x-a: {prefix: a}"), 8, 15, "routes[0].match.headers.x-a.prefix",
     "unknown key \"prefix\" (allowed: present, absent, exact, regex)"},
    {"RegexDoesNotCompile", HEADER("x-a: {regex: \"(unclosed\"}"), 8, 22,
     "routes[0].match.headers.x-a.regex", "invalid regex \"(unclosed\": missing ): (unclosed"},
    {"RegexBackreference", HEADER("x-a: {regex: '(a)\\1'}"), 8, 22,
     "routes[0].match.headers.x-a.regex", "invalid regex \"(a)\\1\": invalid escape sequence: \\1"},
    {"RegexLookahead", HEADER("x-a: {regex: \"(?=a)b\"}"), 8, 22,
     "routes[0].match.headers.x-a.regex", "invalid regex \"(?=a)b\": invalid perl operator: (?="},
    {"PresentNotABool", HEADER("x-a: {present: maybe}"), 8, 24,
     "routes[0].match.headers.x-a.present", "expected true or false (found \"maybe\")"},
    {"MissingCondition", HEADER("x-a:"), 8, 9, "routes[0].match.headers.x-a",
     "missing condition (write a value, {present: true}"},
    {"ListCondition", HEADER("x-a: [a]"), 8, 14, "routes[0].match.headers.x-a",
     "expected a condition"},
    {"BadHeaderName", HEADER("\"x a\": v"), 8, 9, "routes[0].match.headers.x a",
     "\"x a\" is not a valid header name"},
    {"SameHeaderTwice", HEADER("X-Team: a\n        x-team: b"), 9, 9,
     "routes[0].match.headers.x-team",
     "header \"x-team\" is already matched at line 8 (header names are case-insensitive)"},
    {"EmptyHeaders", ROUTE "    match: {headers: {}}\n", 6, 22, "routes[0].match.headers",
     "empty mapping (omit headers to match any headers)"},
    {"HeadersList", ROUTE "    match: {headers: [x-a]}\n", 6, 22, "routes[0].match.headers",
     "expected a mapping (found a list)"},
};
#undef HEADER
INSTANTIATE_TEST_SUITE_P(Headers, ConfigErrorTest, ::testing::ValuesIn(kHeaderCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kTargetCases[] = {
    {"UnknownPool", L1 L2 "routes:\n  - name: r\n    to: q\n", 5, 9, "routes[0].to",
     "unknown pool \"q\" (known: p)"},
    {"UnknownPoolInList", L1 L2 "routes:\n  - name: r\n    to: [p, {pool: q, weight: 2}]\n", 5, 20,
     "routes[0].to[1].pool", "unknown pool \"q\" (known: p)"},
    {"UnknownPoolWhenNoneAreValid", L1 "pools: [{backends: [http://127.0.0.1:1]}]\n" L3, 3, 24,
     "routes[0].to", "unknown pool \"p\" (no pools are defined)", 2},
    {"TargetMapping", L1 L2 "routes:\n  - name: r\n    to: {pool: p}\n", 5, 9, "routes[0].to",
     "expected a pool name or a list of {pool: NAME, weight: N} (found a mapping)"},
    {"TargetMissing", L1 L2 "routes:\n  - name: r\n    to:\n", 5, 5, "routes[0].to",
     "missing value (expected a pool name or a list of {pool: NAME, weight: N})"},
    {"TargetWithoutPool", L1 L2 "routes:\n  - name: r\n    to: [{weight: 2}]\n", 5, 10,
     "routes[0].to[0]", "missing required key \"pool\""},
    {"EmptyTargetItem", L1 L2 "routes:\n  - name: r\n    to:\n      - p\n      -\n", 7, 7,
     "routes[0].to[1]", "missing value (expected a pool name or {pool: NAME, weight: N})"},
    {"TargetUnknownKey", L1 L2 "routes:\n  - name: r\n    to: [{pool: p, weigth: 2}]\n", 5, 20,
     "routes[0].to[0].weigth", "did you mean \"weight\"?"},
    {"PoolListedTwice", L1 L2 "routes:\n  - name: r\n    to: [p, {pool: p}]\n", 5, 20,
     "routes[0].to[1].pool", "pool \"p\" is listed twice (first at line 5)"},
};
INSTANTIATE_TEST_SUITE_P(Targets, ConfigErrorTest, ::testing::ValuesIn(kTargetCases),
                         [](const auto& info) { return std::string(info.param.name); });

const ErrorCase kDocumentCases[] = {
    {"SyntaxError", L1 L2 "routes: [{name: r, to: p}\n", 4, 1, "",
     "YAML syntax error: end of sequence flow not found"},
    {"TabIndentation", "listeners:\n  - name: l\n\t listen: x\n", 3, 1, "",
     "tabs cannot be used for indentation"},
    {"UnquotedIpv6", "listeners:\n  - name: l\n    listen: [::1]:8080\n", 3, 18, "",
     "quote IPv6 addresses"},
    {"SecondDocument", L1 L2 L3 "---\nworkers: 2\n", 5, 1, "", "only one YAML document is allowed"},
    {"OnlyComments", "# nothing here\n\n", 0, 0, "",
     "the config is empty (expected listeners, pools and routes)"},
    {"OnlyNull", "~\n", 0, 0, "", "the config is empty"},
    // yaml-cpp 0.7 alone would pile up empty documents until memory runs out on these.
    {"LeadingComma", ",listeners: [{name: l, listen: \":0\"}]\n" L2 L3, 1, 1, "",
     "YAML syntax error: unexpected \",\""},
    {"CommaInSecondDocument", L1 L2 L3 "---\n,\n", 5, 1, "", "YAML syntax error: unexpected \",\""},
};
INSTANTIATE_TEST_SUITE_P(Documents, ConfigErrorTest, ::testing::ValuesIn(kDocumentCases),
                         [](const auto& info) { return std::string(info.param.name); });

#undef ROUTE
#undef L3
#undef L2
#undef L1

TEST(ConfigErrors, UnknownPoolExampleFromTheSpec) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners:
  - {name: public, listen: "0.0.0.0:8080"}
pools:
  - name: llama-70b
    backends: [http://10.0.0.11:8000]
  - name: small
    backends: [http://10.0.0.12:8000]
routes:
- name: models
  to: small
- name: chat
  to: small
- name: big-chat
  to: llama-70
)"),
                                           "infergate.yaml");
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(
      errors[0].ToString(),
      "infergate.yaml:14:7: routes[2].to: unknown pool \"llama-70\" (known: llama-70b, small)");
}

TEST(ConfigErrors, AllErrorsAreReportedInDocumentOrder) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
routes:
  - name: r
    to: nowhere
    retries: 9
workers: many
listeners:
  - name: l
    listen: ":0"
    header_timeout: 10
pools:
  - name: p
    load_balancing: random
    backends: [ftp://10.0.0.1]
)"));
  ASSERT_EQ(errors.size(), 6u) << Describe(errors);
  EXPECT_EQ(errors[0].path, "routes[0].to");
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[1].path, "routes[0].retries");
  EXPECT_EQ(errors[1].line, 4);
  EXPECT_EQ(errors[2].path, "workers");
  EXPECT_EQ(errors[2].line, 5);
  EXPECT_EQ(errors[3].path, "listeners[0].header_timeout");
  EXPECT_EQ(errors[3].line, 9);
  EXPECT_EQ(errors[4].path, "pools[0].load_balancing");
  EXPECT_EQ(errors[4].line, 12);
  EXPECT_EQ(errors[5].path, "pools[0].backends[0].url");
  EXPECT_EQ(errors[5].line, 13);
}

TEST(ConfigErrors, ErrorsCarryTheFileName) {
  std::vector<ConfigError> errors = Errors("workers: x\n", "/etc/infergate/infergate.yaml");
  ASSERT_FALSE(errors.empty());
  for (const ConfigError& e : errors) EXPECT_EQ(e.file, "/etc/infergate/infergate.yaml");
}

TEST(ConfigErrors, NoSuggestionWhenNothingIsClose) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: r, to: p, upstream: p}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].message,
            "unknown key \"upstream\" (allowed: name, match, to, rewrite_model, response_model, "
            "timeouts, retries, "
            "retry, compartment, fallbacks, degrade, limits)");
}

TEST(ConfigErrors, ExceptionsNeverEscape) {
  for (const char* yaml : {"{", "}", "[", "&a [*a]", "? : :", "\"unterminated", "!!binary x",
                           "listeners: *nope", "%YAML 9.9\n---\na: 1", "\xff\xfe"}) {
    EXPECT_NO_THROW({
      LoadResult result = LoadConfigString(yaml, "x.yaml");
      EXPECT_FALSE(result.ok()) << yaml;
    });
  }
}

}  // namespace
}  // namespace infergate::config
