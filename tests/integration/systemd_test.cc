// Integration: the sd_notify messages a Type=notify unit relies on, read from a NOTIFY_SOCKET
// the test binds (a Unix datagram socket, as systemd does): READY=1 once the listeners are
// bound, RELOADING=1 with MONOTONIC_USEC then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM,
// and WATCHDOG=1 pings while WATCHDOG_USEC is set.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/notify_socket.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// The build directory the binaries under test come from (BUILD/bin/infergate).
std::string BuildDir() {
  const std::string bin = BinaryPath("infergate");
  return bin.substr(0, bin.size() - std::string("/bin/infergate").size());
}

std::string Yaml(const std::string& backend) {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://" +
         backend +
         "]\n    health_check: {enabled: false}\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
}

TEST(Systemd, ReadyReloadingWatchdogAndStoppingAreNotified) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok());
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(Yaml(mock->address()), {"--workers", "2"}, &why,
                           {"env", "NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(gw) << why;
  const std::string ready = notify.WaitFor("READY=1");
  ASSERT_NE(ready, "");
  EXPECT_NE(ready.find("STATUS=generation 1, 1 listener(s), 2 worker(s), backends 1/1 available"),
            std::string::npos)
      << ready;
  // The watchdog pings while both workers' event loops run.
  ASSERT_NE(notify.WaitFor("WATCHDOG=1"), "");
  ASSERT_NE(notify.WaitFor("WATCHDOG=1"), "");
  gw->process().Signal(SIGHUP);
  const std::string reloading = notify.WaitFor("RELOADING=1");
  ASSERT_NE(reloading, "");
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  const std::string reloaded = notify.WaitFor("READY=1");
  EXPECT_NE(reloaded.find("STATUS=generation 2,"), std::string::npos) << reloaded;
  gw->process().Signal(SIGTERM);
  EXPECT_NE(notify.WaitFor("STOPPING=1"), "");
  EXPECT_EQ(gw->process().Wait(10s), 0);
}

TEST(Systemd, NothingIsSentWithoutNotifySocket) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  std::string why;
  // WATCHDOG_USEC alone (no NOTIFY_SOCKET) must not break the start or the stop.
  auto gw = Gateway::Start(Yaml(mock->address()), {}, &why, {"env", "WATCHDOG_USEC=100000"});
  ASSERT_TRUE(gw) << why;
  gw->process().Signal(SIGTERM);
  EXPECT_EQ(gw->process().Wait(10s), 0);
  EXPECT_EQ(gw->process().Output().find("sd_notify failed"), std::string::npos);
}

// A second gateway on an address a running one serves refuses to start (SO_REUSEPORT would
// otherwise let it bind next to the first and take half of its connections).
TEST(Systemd, ASecondInstanceOnAServedAddressRefusesToStart) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  std::string why;
  auto first = Gateway::Start(Yaml(mock->address()), {}, &why);
  ASSERT_TRUE(first) << why;
  std::string yaml = Yaml(mock->address());
  const std::string port = std::to_string(first->port());
  yaml.replace(yaml.find("127.0.0.1:0"), 11, "127.0.0.1:" + port);
  EXPECT_FALSE(Gateway::Start(yaml, {}, &why));
  EXPECT_NE(why.find("listener public: 127.0.0.1:" + port +
                     " is already served by another process (another infergate?)"),
            std::string::npos)
      << why;
  // The first still serves.
  HttpClient c(first->port());
  ASSERT_TRUE(c.Connect());
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"m","messages":[]})",
                   {{"content-type", "application/json"}})
                .status,
            200);
}

// `make install`'s step (cmake --install) into a temporary root with the /usr prefix: the
// binary runs, the reference config in /etc passes --check-config, the unit names the installed
// paths and its sandbox rates an exposure of 2.0 or lower (systemd-analyze, offline), and the man
// page and the logrotate snippet are there.
TEST(Systemd, InstallPutsTheBinaryUnitConfigAndManPageInPlace) {
  TempDir root;
  const std::string build = BuildDir();
  auto install =
      Process::Start({"cmake", "--install", build, "--prefix", "/usr"}, {"DESTDIR=" + root.path()});
  if (!install) GTEST_SKIP() << "cmake is not installed";
  ASSERT_EQ(install->Wait(60s), 0) << install->Output();
  const std::string bin = root.path() + "/usr/bin/infergate";
  const std::string conf = root.path() + "/etc/infergate/infergate.yaml";
  const std::string unit = root.path() + "/usr/lib/systemd/system/infergate.service";
  auto check = Process::Start({bin, "--check-config", "-c", conf});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->Wait(30s), 0) << check->Output();
  std::ifstream in(unit);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("ExecStart=/usr/bin/infergate -c /etc/infergate/infergate.yaml"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Type=notify"), std::string::npos);
  std::ifstream rotate(root.path() + "/etc/logrotate.d/infergate");
  const std::string rotation((std::istreambuf_iterator<char>(rotate)),
                             std::istreambuf_iterator<char>());
  EXPECT_NE(rotation.find("/var/log/infergate/*.log"), std::string::npos) << rotation;
  EXPECT_NE(rotation.find("USR1"), std::string::npos) << rotation;
  std::ifstream man(root.path() + "/usr/share/man/man8/infergate.8");
  std::string first;
  std::getline(man, first);
  EXPECT_EQ(first.rfind(".TH INFERGATE 8", 0), 0u) << first;
  auto p = Process::Start({"systemd-analyze", "security", "--offline=true", "--no-pager", unit});
  if (!p) GTEST_SKIP() << "systemd-analyze is not installed";
  p->Wait(60s);
  const std::string out = p->Output();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(Overall exposure level for \S+: ([0-9.]+))")))
      << out;
  EXPECT_LE(std::stod(m[1].str()), 2.0) << out;
}

// `make deb`'s script: a package with the binary, the unit in /lib/systemd/system, the config and
// the logrotate snippet as conffiles, the man page and the maintainer scripts, which lintian passes
// without an error.
TEST(Systemd, TheDebianPackageHasItsFilesAndPassesLintian) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the package is made from the Release build";
#endif
  TempDir out;
  const std::string build = BuildDir();
  auto make = Process::Start({SourcePath("scripts/make-deb.sh"), build, out.path()});
  ASSERT_TRUE(make);
  ASSERT_EQ(make->Wait(300s), 0) << make->Output();
  const std::string deb = out.path() + "/infergate_0.1.0_" + [] {
    auto arch = Process::Start({"dpkg", "--print-architecture"});
    arch->Wait(10s);
    std::string a = arch->Output();
    while (!a.empty() && a.back() == '\n') a.pop_back();
    return a;
  }() + ".deb";
  auto list = Process::Start({"dpkg-deb", "--contents", deb});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->Wait(30s), 0) << list->Output();
  const std::string files = list->Output();
  for (const char* f : {"./usr/bin/infergate", "./lib/systemd/system/infergate.service",
                        "./etc/infergate/infergate.yaml", "./usr/share/man/man8/infergate.8.gz",
                        "./usr/share/doc/infergate/copyright", "./etc/logrotate.d/infergate"}) {
    EXPECT_NE(files.find(f), std::string::npos) << f << "\n" << files;
  }
  auto conffiles = Process::Start({"dpkg-deb", "--info", deb, "conffiles"});
  ASSERT_TRUE(conffiles);
  conffiles->Wait(30s);
  EXPECT_NE(conffiles->Output().find("/etc/infergate/infergate.yaml"), std::string::npos);
  EXPECT_NE(conffiles->Output().find("/etc/logrotate.d/infergate"), std::string::npos);
  EXPECT_EQ(make->Output().find("\nE: "), std::string::npos) << make->Output();
}

// The daemon log under journald: stderr is the stream JOURNAL_STREAM names, so each line starts
// with its syslog priority; --log-format json (or log_format in the config) gives JSON lines.
TEST(Systemd, UnderJournaldLinesCarryTheirPriorityAndJsonIsAvailable) {
  TempFile config(Yaml("127.0.0.1:1"));
  // The shell learns its stderr's device and inode, as systemd would set them, then becomes
  // infergate.
  auto p = Process::Start(
      {"bash", "-c",
       "export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec \"$0\" -c \"$1\" "
       "--log-format json --workers 1",
       BinaryPath("infergate"), config.path()});
  ASSERT_TRUE(p);
  const auto line = p->WaitForOutput(
      R"((<6>\{"time":"[^"]+","level":"info","thread":"main","msg":"listener public on [^"]+"\}))",
      10s);
  EXPECT_TRUE(line) << p->Output();
  p->Signal(SIGTERM);
  EXPECT_EQ(p->Wait(10s), 0);
  EXPECT_NE(p->Output().find("<6>{\"time\""), std::string::npos);
}

}  // namespace
}  // namespace infergate::testing
