// A child process for integration tests: spawned in its own process group with stdout and
// stderr captured by a reader thread, waited on with timeouts, killed when dropped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace infergate::testing {

class Process {
 public:
  // argv[0] is a path, or a bare name looked up first in INFERGATE_BIN_DIR, then on PATH.
  // `env` entries ("NAME=value") are added to (or override) the inherited environment.
  // Returns nullptr (and prints why on stderr) when the program cannot be started.
  // Set INFERGATE_TEST_VERBOSE=1 to copy the child's output to this process's stderr.
  static std::unique_ptr<Process> Start(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env = {});

  // SIGKILLs the whole process group if still running, reaps the child, joins the reader.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until the captured output matches `regex` (ECMAScript, searched anywhere in the
  // output so far). Returns the first capture group, or the whole match when the regex has
  // none; nullopt on timeout or when the process's output ended without a match.
  std::optional<std::string> WaitForOutput(const std::string& regex,
                                           std::chrono::milliseconds timeout);
  // Everything captured so far (stdout and stderr interleaved).
  std::string Output() const;

  // Sends `sig` to the process (not its group).
  void Signal(int sig);
  // Waits for the process to exit (and, briefly, for its output to be drained). Returns its
  // exit code, or -N when killed by signal N; nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Whether the process has not exited yet.
  bool Running();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status as Wait does.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  Process() = default;
  void ReadLoop(int fd, bool echo);
  bool Reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;
  bool output_closed_ = false;
  bool stop_reader_ = false;
};

}  // namespace infergate::testing
