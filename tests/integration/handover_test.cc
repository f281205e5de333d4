// Integration: a hand-over between two gateways on the same address under streaming load, with
// a new connection per request: the new process takes the running one's listening sockets
// (--take-over), reports ready, and the old one drains and exits. No client sees a refused
// connect, a failed request or a cut stream.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/stream_load.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// A loopback port nothing listens on now.
uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(Handover, TheNewProcessTakesTheSocketsAndTheOldOneDrainsWithNothingLost) {
  auto mock = MockServer::Start();
  ASSERT_TRUE(mock);
  TempDir dir;
  const std::string sock = dir.path() + "/handover.sock";
  const uint16_t port = FreePort();
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:" + std::to_string(port) +
      "\nadmin:\n  listen: 127.0.0.1:0\npools:\n  - name: main\n    health_check: {enabled: "
      "false}\n"
      "    backends: [http://" +
      mock->address() + "]\nroutes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
  std::string why;
  auto old_gw = Gateway::Start(yaml, {"--handover-socket", sock}, &why);
  ASSERT_TRUE(old_gw) << why;

  StreamLoad load(port, 4, true);  // a new connection per request: accept queues are exercised
  load.WaitForMore(10);
  auto new_gw = Gateway::Start(yaml, {"--take-over", sock, "--handover-socket", sock}, &why);
  ASSERT_TRUE(new_gw) << why;
  EXPECT_TRUE(
      new_gw->process().WaitForOutput("listener public: 2 listening socket\\(s\\) taken over", 5s))
      << new_gw->process().Output();
  // The old process drains its requests in flight and exits by itself.
  EXPECT_EQ(old_gw->process().Wait(30s), 0) << old_gw->process().Output();
  EXPECT_NE(old_gw->process().Output().find("hand-over: the new process is ready; draining"),
            std::string::npos);
  // The admin listener's socket was handed over too (same port), and it is the new one's.
  EXPECT_EQ(new_gw->admin_port(), old_gw->admin_port());
  HttpClient admin(new_gw->admin_port());
  EXPECT_EQ(admin.Get("/ready").status, 200);
  load.WaitForMore(20);  // served by the new process alone
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.first_failure();
  EXPECT_GT(load.done(), 30);

  // The new process serves hand-overs in turn, and a process started without --take-over is
  // still refused on the served address.
  auto refused = Gateway::Start(yaml, {}, &why);
  EXPECT_FALSE(refused);
  EXPECT_NE(why.find("is already served by another process"), std::string::npos) << why;
  auto third = Gateway::Start(yaml, {"--take-over", sock}, &why);
  ASSERT_TRUE(third) << why;
  EXPECT_EQ(new_gw->process().Wait(30s), 0) << new_gw->process().Output();
  HttpClient c(port);
  EXPECT_EQ(c.Post("/v1/chat/completions",
                   R"({"model":"mock-model","messages":[{"role":"user","content":"hi"}]})",
                   {{"content-type", "application/json"}})
                .status,
            200);
}

}  // namespace
}  // namespace infergate::testing
