// Integration: backends named by a host name are looked up again every dns_refresh. The gateway
// runs in a mount namespace of its own whose /etc/hosts is a file the test rewrites, so names
// move between two mocks on different loopback addresses without a DNS server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/pki.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

const std::string kChat = R"({"model":"mock-model","messages":[{"role":"user","content":"hi"}]})";

// The launcher: a private mount namespace with `hosts` as /etc/hosts.
std::vector<std::string> WithHosts(const std::string& hosts) {
  return {"unshare", "-m", "sh", "-c", "mount --bind " + hosts + " /etc/hosts && exec \"$@\"",
          "sh"};
}

bool CanUseMountNamespaces() {
  auto r = RunTool({"unshare", "-m", "true"});
  return r && r->first == 0;
}

// A chat request; `pool` "late" routes it to the late pool.
int Chat(uint16_t port, const std::string& pool = "main") {
  HttpClient c(port);
  return c
      .Post("/v1/chat/completions", kChat, {{"content-type", "application/json"}, {"x-pool", pool}})
      .status;
}

TEST(DnsRefresh, ANameThatMovesIsFollowedAndAMissingOneDoesNotStopTheStart) {
  if (!CanUseMountNamespaces()) GTEST_SKIP() << "needs unshare -m (root or CAP_SYS_ADMIN)";
  auto first = MockServer::Start({"--id", "first"});
  ASSERT_TRUE(first);
  // The second mock on the same port of another loopback address.
  const std::string port = std::to_string(first->port());
  auto second = MockServer::Start({"--id", "second", "--listen", "127.0.0.2:" + port});
  ASSERT_TRUE(second);
  TempFile hosts("127.0.0.1 backend.test\n");
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "pools:\n"
      "  - name: main\n    dns_refresh: 200ms\n    health_check: {enabled: false}\n"
      "    backends: [http://backend.test:" +
      port +
      "]\n"
      "  - name: late\n    dns_refresh: 200ms\n    health_check: {enabled: false}\n"
      "    circuit_breaker: false\n    outlier_ejection: false\n"
      "    backends: [http://late.test:" +
      port +
      "]\n"
      "routes:\n  - {name: late, match: {headers: {x-pool: late}}, to: late, retries: 0}\n"
      "  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
  std::string why;
  auto gw = Gateway::Start(yaml, {}, &why, WithHosts(hosts.path()));
  ASSERT_TRUE(gw) << why;
  // late.test does not resolve: the gateway started anyway, with that backend down.
  EXPECT_TRUE(gw->process().WaitForOutput("cannot resolve backend http://late.test", 5s));
  EXPECT_EQ(Chat(gw->port(), "late"), 502);
  EXPECT_EQ(Chat(gw->port()), 200);
  auto stats = first->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 1);

  // backend.test moves to the second mock, and late.test appears.
  ASSERT_TRUE(hosts.Rewrite("127.0.0.2 backend.test\n127.0.0.1 late.test\n"));
  EXPECT_TRUE(gw->process().WaitForOutput(
      "pool main: backend backend.test:" + port + " now resolves to 127.0.0.2 \\(was 127.0.0.1\\)",
      10s))
      << gw->process().Output();
  EXPECT_TRUE(gw->process().WaitForOutput(
      "pool late: backend late.test:" + port + " now resolves to 127.0.0.1 \\(was nothing\\)", 10s))
      << gw->process().Output();
  EXPECT_EQ(Chat(gw->port()), 200);
  EXPECT_EQ(Chat(gw->port()), 200);
  EXPECT_EQ(Chat(gw->port(), "late"), 200);
  stats = first->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 2) << "only the late pool's request";
  auto moved = second->Stats();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->requests, 2);
  EXPECT_GE(gw->Metric("infergate_dns_resolutions_total", "pool=\"main\",result=\"changed\""), 1);

  // A name that stops resolving keeps the addresses it had: requests still go to the second mock.
  ASSERT_TRUE(hosts.Rewrite("127.0.0.1 late.test\n"));
  EXPECT_TRUE(gw->process().WaitForOutput("pool main: backend backend.test:" + port +
                                              " does not resolve .*keeping its addresses "
                                              "\\(127.0.0.2\\)",
                                          10s))
      << gw->process().Output();
  EXPECT_EQ(Chat(gw->port()), 200);
  moved = second->Stats();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->requests, 3);
  // The warning is logged once the lookup round is counted.
  EXPECT_GE(gw->Metric("infergate_dns_resolutions_total", "pool=\"main\",result=\"failed\""), 1);
}

}  // namespace
}  // namespace infergate::testing
