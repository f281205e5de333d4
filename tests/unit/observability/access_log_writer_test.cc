// The access log writer: lines reach the file, a full queue drops and counts without waiting,
// Reopen follows a rename, Stop writes what is queued, write errors are counted.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "infergate/observability/access_log.h"

namespace infergate::observability {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Polls `done` until it holds or 10 s pass (the writer is another thread: no fixed sleeps).
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class AccessLogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/infergate-alog-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/access.log";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<AccessLog> Make(size_t buffer_lines = 16384, std::string path = "") {
    AccessLogOptions o;
    o.path = path.empty() ? path_ : path;
    o.buffer_lines = buffer_lines;
    return std::make_unique<AccessLog>(o, registry_);
  }
  uint64_t Counter(const char* name, const char* labels = "") {
    return registry_.GetCounter(name, "", labels)->Value();
  }

  Registry registry_{1};
  std::string dir_, path_;
};

TEST_F(AccessLogWriterTest, LinesAppearInTheFileInOrder) {
  auto log = Make();
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(log->Submit("line " + std::to_string(i) + "\n"));
  ASSERT_TRUE(WaitFor([&] { return Lines(path_).size() == 100; })) << ReadFile(path_);
  const auto lines = Lines(path_);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lines[i], "line " + std::to_string(i));
  EXPECT_TRUE(WaitFor([&] { return Counter("infergate_access_log_lines_total") == 100; }));
  EXPECT_EQ(Counter("infergate_access_log_dropped_total", "reason=\"queue_full\""), 0u);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u) << std::oct << st.st_mode;  // at most 0640
}

TEST_F(AccessLogWriterTest, AFullQueueDropsAndCountsWithoutWaiting) {
  auto log = Make(4);
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  log->PauseForTesting(true);  // the writer takes nothing: as if the disk stalled
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += log->Submit("l" + std::to_string(i) + "\n") ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(Counter("infergate_access_log_dropped_total", "reason=\"queue_full\""), 6u);
  EXPECT_EQ(ReadFile(path_), "");
  log->PauseForTesting(false);
  ASSERT_TRUE(WaitFor([&] { return Lines(path_).size() == 4; })) << ReadFile(path_);
  EXPECT_EQ(ReadFile(path_), "l0\nl1\nl2\nl3\n");
  // Room again once the writer caught up.
  EXPECT_TRUE(log->Submit("l10\n"));
  ASSERT_TRUE(WaitFor([&] { return Lines(path_).size() == 5; }));
  EXPECT_EQ(Counter("infergate_access_log_dropped_total", "reason=\"queue_full\""), 6u);
}

TEST_F(AccessLogWriterTest, ReopenAfterARenameWritesToANewFile) {
  auto log = Make();
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  ASSERT_TRUE(log->Submit("before\n"));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(path_) == "before\n"; }));
  const std::string rotated = path_ + ".1";
  ASSERT_EQ(std::rename(path_.c_str(), rotated.c_str()), 0);
  log->Reopen();
  ASSERT_TRUE(log->Submit("after\n"));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(path_) == "after\n"; })) << ReadFile(path_);
  EXPECT_EQ(ReadFile(rotated), "before\n");
}

TEST_F(AccessLogWriterTest, AFailedReopenKeepsTheOldFile) {
  const std::string sub = dir_ + "/sub";
  ASSERT_TRUE(fs::create_directory(sub));
  const std::string path = sub + "/access.log";
  auto log = Make(16384, path);
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  // The directory goes away: the reopen fails, and lines still reach the open file.
  const std::string moved = dir_ + "/moved";
  ASSERT_EQ(std::rename(sub.c_str(), moved.c_str()), 0);
  log->Reopen();
  ASSERT_TRUE(log->Submit("kept\n"));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(moved + "/access.log") == "kept\n"; }));
  EXPECT_EQ(Counter("infergate_access_log_write_errors_total"), 1u);
}

TEST_F(AccessLogWriterTest, StopWritesWhatIsQueued) {
  auto log = Make();
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  log->PauseForTesting(true);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Submit("q\n"));
  log->Stop();
  EXPECT_EQ(ReadFile(path_), "q\nq\nq\n");
  EXPECT_FALSE(log->Submit("late\n"));  // stopped
}

TEST_F(AccessLogWriterTest, WriteErrorsAreCounted) {
  const int probe = ::open("/dev/full", O_WRONLY | O_APPEND | O_CLOEXEC);
  if (probe < 0) GTEST_SKIP() << "no /dev/full";
  ::close(probe);
  auto log = Make(16384, "/dev/full");
  std::string error;
  ASSERT_TRUE(log->Start(&error)) << error;
  ASSERT_TRUE(log->Submit("a\n"));
  ASSERT_TRUE(WaitFor([&] { return Counter("infergate_access_log_write_errors_total") >= 1; }));
  log->Stop();
  EXPECT_EQ(Counter("infergate_access_log_dropped_total", "reason=\"write_error\""), 1u);
  EXPECT_EQ(Counter("infergate_access_log_lines_total"), 0u);
}

TEST_F(AccessLogWriterTest, StartFailsWhenTheFileCannotBeOpened) {
  auto log = Make(16384, dir_ + "/missing/access.log");
  std::string error;
  EXPECT_FALSE(log->Start(&error));
  EXPECT_NE(error.find(dir_ + "/missing/access.log"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST_F(AccessLogWriterTest, CheckAccessLogPath) {
  std::string why;
  EXPECT_TRUE(CheckAccessLogPath(path_, &why)) << why;
  EXPECT_FALSE(fs::exists(path_));  // the check creates nothing
  EXPECT_FALSE(CheckAccessLogPath(dir_ + "/missing/access.log", &why));
  EXPECT_NE(why.find("directory " + dir_ + "/missing"), std::string::npos) << why;
  EXPECT_FALSE(CheckAccessLogPath(dir_, &why));  // a directory is not a file
  EXPECT_NE(why.find("cannot open"), std::string::npos) << why;
  const std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  EXPECT_TRUE(CheckAccessLogPath(file, &why)) << why;  // exists and can be appended to
  EXPECT_FALSE(CheckAccessLogPath(file + "/access.log", &why));
  EXPECT_NE(why.find("not a directory"), std::string::npos) << why;
}

}  // namespace
}  // namespace infergate::observability
