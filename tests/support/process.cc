// Child processes for integration tests: posix_spawn into a new process group, output captured
// through a pipe by a reader thread.
#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "support/test_env.h"

extern char** environ;

namespace infergate::testing {
namespace {

constexpr size_t kMaxOutput = 64u << 20;

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> merged;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& x : extra) {
      if (x.substr(0, x.find('=')) == name) overridden = true;
    }
    if (!overridden) merged.push_back(std::move(entry));
  }
  merged.insert(merged.end(), extra.begin(), extra.end());
  return merged;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::unique_ptr<Process> Process::Start(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env) {
  if (argv.empty()) {
    std::fprintf(stderr, "Process::Start: empty argv\n");
    return nullptr;
  }
  std::vector<std::string> args = argv;
  bool search_path = false;
  if (args[0].find('/') == std::string::npos) {
    std::string candidate = BinaryPath(args[0]);
    if (::access(candidate.c_str(), X_OK) == 0) {
      args[0] = candidate;
    } else {
      search_path = true;
    }
  }
  std::vector<std::string> environment = MergeEnvironment(env);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(environment);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "Process::Start: pipe2: %s\n", std::strerror(errno));
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  pid_t pid = -1;
  int rc = search_path
               ? ::posix_spawnp(&pid, args[0].c_str(), &actions, &attr, c_args.data(), c_env.data())
               : ::posix_spawn(&pid, args[0].c_str(), &actions, &attr, c_args.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    std::fprintf(stderr, "Process::Start: cannot run %s: %s\n", args[0].c_str(), std::strerror(rc));
    return nullptr;
  }
  std::unique_ptr<Process> process(new Process());
  process->pid_ = pid;
  const char* verbose = std::getenv("INFERGATE_TEST_VERBOSE");
  bool echo = verbose != nullptr && *verbose != '\0' && std::strcmp(verbose, "0") != 0;
  Process* raw = process.get();
  int read_fd = fds[0];
  process->reader_ = std::thread([raw, read_fd, echo] { raw->ReadLoop(read_fd, echo); });
  return process;
}

Process::~Process() {
  if (pid_ > 0 && !Reap(false)) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    Reap(true);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_reader_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

void Process::ReadLoop(int fd, bool echo) {
  char buf[16384];
  while (true) {
    pollfd p{};
    p.fd = fd;
    p.events = POLLIN;
    int r = ::poll(&p, 1, 50);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_reader_) break;
      continue;
    }
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (echo) {
      ssize_t w = ::write(STDERR_FILENO, buf, static_cast<size_t>(n));
      (void)w;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (output_.size() < kMaxOutput) output_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  output_closed_ = true;
  cv_.notify_all();
}

std::optional<std::string> Process::WaitForOutput(const std::string& regex,
                                                  std::chrono::milliseconds timeout) {
  std::regex re(regex, std::regex::ECMAScript);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    std::smatch m;
    if (std::regex_search(output_, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
    if (output_closed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (std::regex_search(output_, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      return std::nullopt;
    }
  }
}

std::string Process::Output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !exit_status_) ::kill(pid_, sig);
}

bool Process::Reap(bool block) {
  if (exit_status_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    if (WIFEXITED(status)) {
      exit_status_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      exit_status_ = -WTERMSIG(status);
    } else {
      exit_status_ = -1;
    }
    return true;
  }
  if (r < 0) {
    exit_status_ = -1;
    return true;
  }
  return false;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (Reap(false)) {
      // Let the reader drain what the child wrote before exiting (bounded: a grandchild may
      // still hold the pipe open).
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return output_closed_; });
      return exit_status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool Process::Running() { return !Reap(false); }

std::optional<int> Process::Stop(std::chrono::milliseconds grace) {
  if (!Running()) return exit_status_;
  Signal(SIGTERM);
  std::optional<int> status = Wait(grace);
  if (!status) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    status = Wait(std::chrono::seconds(5));
  }
  return status;
}

}  // namespace infergate::testing
