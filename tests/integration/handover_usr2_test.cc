// Integration: SIGUSR2 starts the binary again to take the running process over (a binary
// upgrade or a restart under systemd, as nginx's USR2): under streaming load with a new
// connection per request no request fails; the new process tells systemd it is the main process
// (MAINPID=, READY=1) before the old one exits 0, and the old one never says STOPPING=1.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <string>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/notify_socket.h"
#include "support/stream_load.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

TEST(Handover, Sigusr2StartsTheSuccessorWhichBecomesTheMainProcess) {
  // Orphans (the successor, once the old process exits) become this test's children.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  NotifySocket notify;
  ASSERT_TRUE(notify.ok());
  auto mock = MockServer::Start();
  ASSERT_TRUE(mock);
  TempDir dir;
  const std::string sock = dir.path() + "/handover.sock";
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
      "pools:\n  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
          mock->address() + "]\nroutes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n",
      {"--handover-socket", sock}, &why,
      {"env", "NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=2000000"});
  ASSERT_TRUE(gw) << why;
  ASSERT_NE(notify.WaitFor("READY=1"), "");
  StreamLoad load(gw->port(), 4, true);
  load.WaitForMore(10);

  gw->process().Signal(SIGUSR2);
  const auto pid =
      gw->process().WaitForOutput(R"(hand-over: started a new process \(pid (\d+))", 5s);
  ASSERT_TRUE(pid) << gw->process().Output();
  // A second one while the successor starts (or once the old one drains) starts nothing.
  gw->process().Signal(SIGUSR2);
  const pid_t successor = static_cast<pid_t>(std::stol(*pid));
  const std::string ready = notify.WaitFor("MAINPID=" + *pid);
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  // It waits for systemd to have read that (sd_notify_barrier) before the old process may exit:
  // reading the barrier message (its descriptor is dropped) is what systemd does.
  EXPECT_NE(notify.WaitFor("BARRIER=1"), "");
  EXPECT_EQ(gw->process().Wait(30s), 0) << gw->process().Output();
  const std::string out = gw->process().Output();
  size_t started = 0;
  for (size_t at = out.find("started a new process"); at != std::string::npos;
       at = out.find("started a new process", at + 1))
    ++started;
  EXPECT_EQ(started, 1u) << out;
  load.WaitForMore(20);  // served by the successor alone
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.first_failure();
  for (const std::string& m : notify.seen())
    EXPECT_EQ(m.find("STOPPING=1"), std::string::npos) << "the old process stopped the unit: " << m;

  ASSERT_EQ(kill(successor, SIGTERM), 0);
  int status = 0;
  EXPECT_EQ(waitpid(successor, &status, 0), successor);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(notify.WaitFor("STOPPING=1"), "");  // the main process's own drain
}

}  // namespace
}  // namespace infergate::testing
