// Integration: the systemd watchdog on the real binary goes silent when one worker's event loop
// is wedged. The test freezes one worker thread of the running gateway with ptrace (a thread of
// its own choosing: the others run on), sees the ping withheld and the reason in STATUS=, then
// lets the thread go and sees the pings resume.
#include <gtest/gtest.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <dirent.h>

#include <fstream>
#include <optional>
#include <string>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/notify_socket.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// The id of the thread of `pid` named `name` (/proc/PID/task/TID/comm).
std::optional<pid_t> ThreadNamed(pid_t pid, const std::string& name) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::optional<pid_t> found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(dir + "/" + e->d_name + "/comm");
    std::string n;
    std::getline(comm, n);
    if (n == name) found = static_cast<pid_t>(std::stol(e->d_name));
  }
  closedir(d);
  return found;
}

// Stops one thread (not its process) until Release: ptrace seize and interrupt.
class FrozenThread {
 public:
  explicit FrozenThread(pid_t tid) : tid_(tid) {
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) return;
    int status = 0;
    frozen_ = ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0 &&
              waitpid(tid, &status, __WALL) == tid && WIFSTOPPED(status);
  }
  ~FrozenThread() { Release(); }
  bool frozen() const { return frozen_; }
  void Release() {
    if (!frozen_) return;
    frozen_ = false;
    ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  }

 private:
  pid_t tid_;
  bool frozen_ = false;
};

TEST(Watchdog, AWedgedWorkerSilencesThePingUntilItRunsAgain) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok());
  auto mock = MockServer::Start();
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
      "pools:\n  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
          mock->address() + "]\nroutes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n",
      {"--workers", "2"}, &why, {"env", "NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(gw) << why;
  ASSERT_NE(notify.WaitFor("READY=1"), "");
  ASSERT_NE(notify.WaitFor("WATCHDOG=1"), "");
  const auto worker = ThreadNamed(gw->process().pid(), "worker-2");
  ASSERT_TRUE(worker) << "worker threads are named (pthread_setname_np)";

  FrozenThread frozen(*worker);
  if (!frozen.frozen()) GTEST_SKIP() << "ptrace is not permitted here";
  const std::string stuck = notify.WaitFor("STATUS=worker-2's event loop is stuck");
  ASSERT_NE(stuck, "") << gw->process().Output();
  EXPECT_EQ(stuck.find("WATCHDOG=1"), std::string::npos);
  EXPECT_TRUE(gw->process().WaitForOutput("worker-2's event loop has made no progress", 5s));
  // The process is alive meanwhile (worker-1 and the admin side run); still no ping.
  for (int i = 0; i < 2; ++i) {
    HttpClient c(gw->port());
    c.Post("/v1/chat/completions",
           R"({"model":"mock-model","messages":[{"role":"user","content":"hi"}]})",
           {{"content-type", "application/json"}}, 1s);
  }
  for (const std::string& m : notify.Pending())
    EXPECT_EQ(m.find("WATCHDOG=1"), std::string::npos) << "a ping while worker-2 was wedged";

  frozen.Release();
  const std::string back = notify.WaitFor("WATCHDOG=1");
  ASSERT_NE(back, "");
  EXPECT_NE(back.find("STATUS=generation 1"), std::string::npos) << back;
}

}  // namespace
}  // namespace infergate::testing
