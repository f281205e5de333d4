// The access log's bounded queue and its writer thread: batches appended with write(2), the file
// reopened on request (logrotate), drops and write errors counted.
#include "infergate/observability/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace infergate::observability {
namespace {

constexpr int kOpenFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC;
constexpr mode_t kMode = 0640;

std::string Directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

bool CheckAccessLogPath(const std::string& path, std::string* why) {
  const std::string dir = Directory(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    *why = "the directory " + dir + " of " + path + " cannot be used: " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = dir + " (the directory of " + path + ") is not a directory";
    return false;
  }
  // O_NONBLOCK: a FIFO without a reader fails instead of blocking the check.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  if (errno != ENOENT) {
    *why = "cannot open " + path + " for appending: " + std::strerror(errno);
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    *why = "cannot create " + path + " in " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

AccessLog::AccessLog(AccessLogOptions options, Registry& registry)
    : options_(std::move(options)),
      lines_(registry.GetCounter("infergate_access_log_lines_total",
                                 "Access log lines written to the file.")),
      dropped_full_(registry.GetCounter(
          "infergate_access_log_dropped_total",
          "Access log lines lost: queue_full (the writer was behind by buffer_lines lines) or "
          "write_error (the write failed).",
          "reason=\"queue_full\"")),
      dropped_error_(
          registry.GetCounter("infergate_access_log_dropped_total", "", "reason=\"write_error\"")),
      write_errors_(registry.GetCounter("infergate_access_log_write_errors_total",
                                        "Failed writes and reopens of the access log file.")) {
  queue_.reserve(std::min<size_t>(options_.buffer_lines, 1024));
}

AccessLog::~AccessLog() { Stop(); }

bool AccessLog::Start(std::string* error) {
  fd_ = ::open(options_.path.c_str(), kOpenFlags, kMode);
  if (fd_ < 0) {
    *error = "cannot open the access log " + options_.path + ": " + std::strerror(errno);
    return false;
  }
  thread_ = std::thread([this] {
    SetThreadLogName("access-log");
    Run();
  });
  return true;
}

void AccessLog::Log(const AccessLogEntry& entry) {
  std::string line;
  line.reserve(512);
  FormatAccessLine(entry, options_.format, &line);
  Submit(std::move(line));
}

bool AccessLog::Submit(std::string line) {
  bool queued = false, wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_ && queue_.size() < options_.buffer_lines) {
      wake = queue_.empty();
      queue_.push_back(std::move(line));
      queued = true;
    }
  }
  if (!queued) {
    dropped_full_->Inc();
    return false;
  }
  if (wake) cv_.notify_one();
  return true;
}

void AccessLog::Reopen() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
}

void AccessLog::PauseForTesting(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
  }
  cv_.notify_one();
}

void AccessLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void AccessLog::Run() {
  std::vector<std::string> batch;
  batch.reserve(queue_.capacity());
  while (true) {
    bool reopen = false, stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || reopen_ || (!paused_ && !queue_.empty()); });
      stop = stop_;
      if (!paused_ || stop) batch.swap(queue_);
      reopen = std::exchange(reopen_, false);
    }
    if (reopen) DoReopen();
    if (!batch.empty()) Write(batch);
    batch.clear();
    if (stop) {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;  // Submit refuses lines from now on
    }
  }
}

void AccessLog::Write(const std::vector<std::string>& batch) {
  buffer_.clear();
  for (const std::string& line : batch) buffer_ += line;
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int error = n < 0 ? errno : EIO;
    write_errors_->Inc();
    // The lines not (entirely) written are lost.
    size_t lost = 0, offset = 0;
    for (const std::string& line : batch) {
      offset += line.size();
      if (offset > done) ++lost;
    }
    dropped_error_->Inc(lost);
    lines_->Inc(batch.size() - lost);
    Warn("cannot write to the access log " + options_.path + ": " + std::strerror(error) + "; " +
         std::to_string(lost) + " line(s) lost");
    return;
  }
  lines_->Inc(batch.size());
  if (buffer_.capacity() > (8u << 20)) std::string().swap(buffer_);  // after a burst
}

void AccessLog::DoReopen() {
  const int fd = ::open(options_.path.c_str(), kOpenFlags, kMode);
  if (fd < 0) {
    write_errors_->Inc();
    Warn("cannot reopen the access log " + options_.path + ": " + std::strerror(errno) +
         "; still writing to the file opened before");
    return;
  }
  ::close(fd_);
  fd_ = fd;
  IG_INFO("access log %s reopened", options_.path.c_str());
}

// At most one warning per 10 s: a full disk must not flood the daemon log.
void AccessLog::Warn(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (last_warn_ != std::chrono::steady_clock::time_point{} &&
      now - last_warn_ < std::chrono::seconds(10)) {
    return;
  }
  last_warn_ = now;
  IG_WARN("%s (logged at most once per 10s)", what.c_str());
}

}  // namespace infergate::observability
