// Config loader: valid configs, defaults, shorthand forms, files and the shipped examples.
#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

constexpr char kFullConfig[] = R"(
workers: 4
listeners:
  - name: public
    listen: 0.0.0.0:8080
    max_request_header_bytes: 32KiB
    max_request_headers: 50
    max_request_body_bytes: 8MiB
    header_timeout: 5s
    body_timeout: 30s
    keepalive_timeout: 90s
    send_timeout: 250ms
    max_connections: 5000
  - name: internal
    listen: "[::1]:8081"
admin:
  listen: 127.0.0.1:9999
pools:
  - name: llama-70b
    load_balancing: weighted_round_robin
    connect_timeout: 1500ms
    max_idle_connections: 0
    backends:
      - url: http://10.0.0.11:8000
        weight: 2
      - http://10.0.0.12:8000
  - name: small
    load_balancing: round_robin
    backends: [http://backend.local]
routes:
  - name: big-chat
    match:
      path_prefix: /v1/
      methods: [post, Get]
      model: [llama-70b, "llama-3.1-70b*"]
      headers:
        X-Team: research
        x-a: {present: true}
        x-b: {absent: true}
        x-c: {exact: "v"}
        x-d: {regex: "^re.*"}
        x-e: {present: false}
        x-f: {absent: false}
      host: API.Example.com
    to:
      - pool: llama-70b
        weight: 90
      - pool: small
    rewrite_model: meta-llama/Llama-3.1-70B-Instruct
    timeouts: {first_byte: 30s, idle: 5s, total: 2m}
    retries: 3
  - name: models
    match:
      path: /v1/models
      host: "*.example.com"
    to: small
    retries: 0
)";

TEST(LoadConfig, FullConfigWithEveryKey) {
  auto config = LoadOk(Yaml(kFullConfig));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->source, "test.yaml");
  EXPECT_EQ(config->workers, 4);

  ASSERT_EQ(config->listeners.size(), 2u);
  const ListenerConfig& l = config->listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.listen.host, "0.0.0.0");
  EXPECT_EQ(l.listen.port, 8080);
  EXPECT_EQ(l.max_request_header_bytes, 32u * 1024);
  EXPECT_EQ(l.max_request_headers, 50u);
  EXPECT_EQ(l.max_request_body_bytes, 8u << 20);
  EXPECT_EQ(l.header_timeout, 5s);
  EXPECT_EQ(l.body_timeout, 30s);
  EXPECT_EQ(l.keepalive_timeout, 90s);
  EXPECT_EQ(l.send_timeout, 250ms);
  EXPECT_EQ(l.max_connections, 5000u);
  EXPECT_EQ(config->listeners[1].listen.host, "::1");
  EXPECT_EQ(config->listeners[1].listen.port, 8081);

  ASSERT_TRUE(config->admin.has_value());
  EXPECT_EQ(config->admin->listen.host, "127.0.0.1");
  EXPECT_EQ(config->admin->listen.port, 9999);

  ASSERT_EQ(config->pools.size(), 2u);
  const PoolConfig& p = config->pools[0];
  EXPECT_EQ(p.name, "llama-70b");
  EXPECT_EQ(p.load_balancing, LoadBalancing::kWeightedRoundRobin);
  EXPECT_EQ(p.connect_timeout, 1500ms);
  EXPECT_EQ(p.max_idle_connections, 0u);
  ASSERT_EQ(p.backends.size(), 2u);
  EXPECT_EQ(p.backends[0].url, "http://10.0.0.11:8000");
  EXPECT_EQ(p.backends[0].name, "10.0.0.11:8000");
  EXPECT_EQ(p.backends[0].address.host, "10.0.0.11");
  EXPECT_EQ(p.backends[0].address.port, 8000);
  EXPECT_EQ(p.backends[0].weight, 2u);
  EXPECT_EQ(p.backends[1].url, "http://10.0.0.12:8000");
  EXPECT_EQ(p.backends[1].name, "10.0.0.12:8000");
  EXPECT_EQ(p.backends[1].weight, 1u);
  EXPECT_EQ(config->pools[1].load_balancing, LoadBalancing::kRoundRobin);
  EXPECT_EQ(config->pools[1].backends[0].name, "backend.local:80");

  ASSERT_EQ(config->routes.size(), 2u);
  const RouteConfig& r = config->routes[0];
  EXPECT_EQ(r.name, "big-chat");
  EXPECT_FALSE(r.match.path.has_value());
  EXPECT_EQ(r.match.path_prefix, "/v1/");
  EXPECT_EQ(r.match.methods, (std::vector<std::string>{"POST", "GET"}));
  EXPECT_EQ(r.match.models, (std::vector<std::string>{"llama-70b", "llama-3.1-70b*"}));
  ASSERT_EQ(r.match.headers.size(), 7u);
  using Kind = HeaderMatch::Kind;
  const auto& h = r.match.headers;
  EXPECT_EQ(h[0].name, "x-team");
  EXPECT_EQ(h[0].kind, Kind::kExact);
  EXPECT_EQ(h[0].value, "research");
  EXPECT_EQ(h[1].name, "x-a");
  EXPECT_EQ(h[1].kind, Kind::kPresent);
  EXPECT_EQ(h[2].kind, Kind::kAbsent);
  EXPECT_EQ(h[3].kind, Kind::kExact);
  EXPECT_EQ(h[3].value, "v");
  EXPECT_EQ(h[4].kind, Kind::kRegex);
  EXPECT_EQ(h[4].value, "^re.*");
  EXPECT_EQ(h[5].kind, Kind::kAbsent);
  EXPECT_EQ(h[6].kind, Kind::kPresent);
  EXPECT_EQ(r.match.host, "api.example.com");
  ASSERT_EQ(r.to.size(), 2u);
  EXPECT_EQ(r.to[0].pool, "llama-70b");
  EXPECT_EQ(r.to[0].pool_index, 0u);
  EXPECT_EQ(r.to[0].weight, 90u);
  EXPECT_EQ(r.to[1].pool, "small");
  EXPECT_EQ(r.to[1].pool_index, 1u);
  EXPECT_EQ(r.to[1].weight, 1u);
  EXPECT_EQ(r.rewrite_model, "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(r.timeouts.first_byte, 30s);
  EXPECT_EQ(r.timeouts.idle, 5s);
  EXPECT_EQ(r.timeouts.total, 2min);
  EXPECT_EQ(r.retries, 3);
  EXPECT_TRUE(r.needs_model());

  const RouteConfig& models = config->routes[1];
  EXPECT_EQ(models.match.path, "/v1/models");
  EXPECT_EQ(models.match.host, "*.example.com");
  ASSERT_EQ(models.to.size(), 1u);
  EXPECT_EQ(models.to[0].pool_index, 1u);
  EXPECT_EQ(models.retries, 0);
  EXPECT_FALSE(models.needs_model());
}

TEST(LoadConfig, DefaultsWhenKeysAreOmitted) {
  auto config = LoadOk(Yaml(R"(
listeners:
  - name: public
    listen: :8080
pools:
  - name: p
    backends: [http://127.0.0.1:9001]
routes:
  - name: all
    to: p
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->workers, 0);
  EXPECT_FALSE(config->admin.has_value());

  const ListenerConfig& l = config->listeners.at(0);
  EXPECT_EQ(l.listen.host, "0.0.0.0");
  EXPECT_EQ(l.listen.port, 8080);
  EXPECT_EQ(l.max_request_header_bytes, 64u * 1024);
  EXPECT_EQ(l.max_request_headers, 100u);
  EXPECT_EQ(l.max_request_body_bytes, 16u << 20);
  EXPECT_EQ(l.header_timeout, 10s);
  EXPECT_EQ(l.body_timeout, 60s);
  EXPECT_EQ(l.keepalive_timeout, 75s);
  EXPECT_EQ(l.send_timeout, 60s);
  EXPECT_EQ(l.max_connections, 0u);  // sized from the fd limit at start

  const PoolConfig& p = config->pools.at(0);
  EXPECT_EQ(p.load_balancing, LoadBalancing::kLeastRequest);
  EXPECT_EQ(p.connect_timeout, 2s);
  EXPECT_EQ(p.max_idle_connections, 64u);
  EXPECT_EQ(p.backends.at(0).weight, 1u);

  const RouteConfig& r = config->routes.at(0);
  EXPECT_FALSE(r.match.path.has_value());
  EXPECT_FALSE(r.match.path_prefix.has_value());
  EXPECT_TRUE(r.match.methods.empty());
  EXPECT_TRUE(r.match.models.empty());
  EXPECT_TRUE(r.match.headers.empty());
  EXPECT_FALSE(r.match.host.has_value());
  EXPECT_FALSE(r.rewrite_model.has_value());
  EXPECT_EQ(r.timeouts.first_byte, 120s);
  EXPECT_EQ(r.timeouts.idle, 60s);
  EXPECT_EQ(r.timeouts.total, 0s);
  EXPECT_EQ(r.retries, 1);
  ASSERT_EQ(r.to.size(), 1u);
  EXPECT_EQ(r.to[0].weight, 1u);
  EXPECT_FALSE(r.needs_model());
}

TEST(LoadConfig, ShorthandForms) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
admin:
pools:
  - {name: a, backends: [http://127.0.0.1:1]}
  - {name: b, backends: ["http://127.0.0.1:2/"]}
routes:
  - name: single-strings
    match:
      methods: get
      model: llama-8b
      headers: {x-team: research}
    to: a
  - name: list-of-names
    match:
    to: [a, b]
    timeouts:
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->admin.has_value());
  EXPECT_EQ(config->admin->listen.host, "127.0.0.1");
  EXPECT_EQ(config->admin->listen.port, 9901);
  EXPECT_EQ(config->listeners[0].listen.port, 0);
  EXPECT_EQ(config->pools[1].backends[0].name, "127.0.0.1:2");

  const RouteConfig& r0 = config->routes[0];
  EXPECT_EQ(r0.match.methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(r0.match.models, std::vector<std::string>{"llama-8b"});
  ASSERT_EQ(r0.match.headers.size(), 1u);
  EXPECT_EQ(r0.match.headers[0].kind, HeaderMatch::Kind::kExact);
  EXPECT_EQ(r0.match.headers[0].value, "research");
  ASSERT_EQ(r0.to.size(), 1u);
  EXPECT_EQ(r0.to[0].pool, "a");
  EXPECT_EQ(r0.to[0].weight, 1u);

  const RouteConfig& r1 = config->routes[1];
  EXPECT_TRUE(r1.match.methods.empty());
  ASSERT_EQ(r1.to.size(), 2u);
  EXPECT_EQ(r1.to[0].pool_index, 0u);
  EXPECT_EQ(r1.to[1].pool_index, 1u);
  EXPECT_EQ(r1.timeouts.first_byte, 120s);
}

TEST(LoadConfig, EmptyAdminMappingEnablesTheDefaultAddress) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
admin: {}
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->admin.has_value());
  EXPECT_EQ(config->admin->listen.port, 9901);
}

TEST(LoadConfig, BackendUrlsAreNormalized) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    backends:
      - HTTP://Backend.Example.COM
      - "http://[::1]:9000/"
      - http://localhost:8000
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  const auto& b = config->pools[0].backends;
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].url, "HTTP://Backend.Example.COM");
  EXPECT_EQ(b[0].address.host, "backend.example.com");
  EXPECT_EQ(b[0].address.port, 80);
  EXPECT_EQ(b[0].name, "backend.example.com:80");
  EXPECT_EQ(b[1].address.host, "::1");
  EXPECT_EQ(b[1].name, "[::1]:9000");
  EXPECT_EQ(b[2].name, "localhost:8000");
}

TEST(LoadConfig, SameAddressInDifferentPoolsIsAllowed) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}, {name: m, listen: ":0"}]
pools:
  - {name: a, backends: [http://127.0.0.1:1]}
  - {name: b, backends: [http://127.0.0.1:1]}
routes: [{name: r, to: a}]
)"));
  EXPECT_NE(config, nullptr);
}

TEST(ParseHostPort, AcceptsTheThreeForms) {
  auto a = ParseHostPort("0.0.0.0:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseHostPort("[::1]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 443);
  auto c = ParseHostPort(":9901");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 9901);
  auto d = ParseHostPort("localhost:0");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "localhost");
  EXPECT_EQ(d->port, 0);
  EXPECT_TRUE(ParseHostPort("[fe80::1%eth0]:80"));
  EXPECT_TRUE(ParseHostPort("[::]:65535"));
}

TEST(ParseHostPort, RefusesMalformedAddresses) {
  for (const char* bad : {"", "8080", "localhost", "host:", ":", "host:65536", "host:-1",
                          "host:80x", "::1:80", "[::1]", "[::1]80", "[::1:80", "[nothost]:80",
                          "300.0.0.1:80", "bad host:80", "a..b:80", " :80", "host:+80"}) {
    EXPECT_FALSE(ParseHostPort(bad)) << '"' << bad << '"';
  }
}

TEST(ConfigError, ToStringFormats) {
  EXPECT_EQ((ConfigError{"infergate.yaml", 14, 7, "routes[2].to", "unknown pool"}).ToString(),
            "infergate.yaml:14:7: routes[2].to: unknown pool");
  EXPECT_EQ((ConfigError{"a.yaml", 1, 1, "", "missing required key \"routes\""}).ToString(),
            "a.yaml:1:1: missing required key \"routes\"");
  EXPECT_EQ((ConfigError{"a.yaml", 0, 0, "", "cannot read: No such file or directory"}).ToString(),
            "a.yaml: cannot read: No such file or directory");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, LoadsAFileAndRecordsItsName) {
  std::string path = Write("ok.yaml", Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: r, to: p}]
)"));
  LoadResult result = LoadConfigFile(path);
  ASSERT_TRUE(result.ok()) << Describe(result.error());
  EXPECT_EQ((*result)->source, path);
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  std::string path = Write("bad.yaml", Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: r, to: q}]
)"));
  LoadResult result = LoadConfigFile(path);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.error().size(), 1u) << Describe(result.error());
  EXPECT_EQ(result.error()[0].ToString(),
            path + ":3:24: routes[0].to: unknown pool \"q\" (known: p)");
}

TEST_F(ConfigFileTest, MissingFile) {
  std::string path = (dir_ / "nope.yaml").string();
  LoadResult result = LoadConfigFile(path);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(), path + ": cannot read: No such file or directory");
}

TEST_F(ConfigFileTest, DirectoryIsUnreadable) {
  LoadResult result = LoadConfigFile(dir_.string());
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(), dir_.string() + ": cannot read: Is a directory");
}

TEST_F(ConfigFileTest, EmptyFile) {
  std::string path = Write("empty.yaml", "");
  LoadResult result = LoadConfigFile(path);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(),
            path + ": the config is empty (expected listeners, pools and routes)");
}

TEST(ShippedConfigs, ReferenceAndDemoLoadWithoutErrors) {
  for (const char* name : {"infergate.yaml", "demo.yaml"}) {
    std::string path = std::string(INFERGATE_SOURCE_DIR) + "/config/" + name;
    LoadResult result = LoadConfigFile(path);
    EXPECT_TRUE(result.ok()) << path << (result.ok() ? "" : Describe(result.error()));
    if (result.ok()) {
      EXPECT_TRUE((*result)->warnings.empty()) << path;
    }
  }
}

TEST(ShippedConfigs, DemoHasTheDocumentedShape) {
  LoadResult result = LoadConfigFile(std::string(INFERGATE_SOURCE_DIR) + "/config/demo.yaml");
  ASSERT_TRUE(result.ok()) << Describe(result.error());
  const Config& c = **result;
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "public");
  EXPECT_EQ(c.listeners[0].listen.host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].listen.port, 8080);
  ASSERT_TRUE(c.admin.has_value());
  EXPECT_EQ(c.admin->listen.port, 9901);
  ASSERT_EQ(c.pools.size(), 2u);
  EXPECT_EQ(c.pools[0].name, "large");
  EXPECT_EQ(c.pools[0].backends.at(0).name, "127.0.0.1:9001");
  EXPECT_EQ(c.pools[1].name, "small");
  EXPECT_EQ(c.pools[1].backends.at(0).name, "127.0.0.1:9002");
  // No route for /v1/models: the gateway answers it.
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].match.models, (std::vector<std::string>{"llama-70b", "llama-3.1-70b*"}));
  EXPECT_EQ(c.routes[0].rewrite_model, "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(c.routes[0].to.at(0).pool, "large");
  EXPECT_EQ(c.routes[1].match.models, std::vector<std::string>{"llama-8b"});
  EXPECT_EQ(c.routes[1].to.at(0).pool, "small");
}

}  // namespace
}  // namespace infergate::config
