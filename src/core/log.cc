// Line-atomic stderr logging: text or JSON lines, with syslog priorities under journald.
#include "infergate/core/log.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace infergate {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
thread_local char t_name[24] = "main";
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

// syslog priorities (sd-daemon.h's SD_DEBUG ... SD_ERR).
const char* JournalPrefix(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "<7>";
    case LogLevel::kInfo:
      return "<6>";
    case LogLevel::kWarn:
      return "<4>";
    case LogLevel::kError:
      return "<3>";
  }
  return "<6>";
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string Timestamp(std::chrono::system_clock::time_point now) {
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];  // the widest ints fit: no truncation for the compiler to warn about
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

bool DetectJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}
}  // namespace

bool StderrIsJournal() {
  static const bool journal = DetectJournal();
  return journal;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

bool ParseLogFormat(const char* text, LogFormat* out) {
  if (std::strcmp(text, "text") == 0) {
    *out = LogFormat::kText;
    return true;
  }
  if (std::strcmp(text, "json") == 0) {
    *out = LogFormat::kJson;
    return true;
  }
  return false;
}

std::string FormatLogLine(LogFormat format, bool journal, LogLevel level,
                          std::chrono::system_clock::time_point now, std::string_view thread,
                          std::string_view message) {
  std::string line;
  line.reserve(message.size() + 96);
  if (journal) line += JournalPrefix(level);
  if (format == LogFormat::kJson) {
    line += "{\"time\":\"";
    line += Timestamp(now);
    line += "\",\"level\":\"";
    line += LevelName(level);
    line += "\",\"thread\":";
    AppendJsonString(line, thread);
    line += ",\"msg\":";
    AppendJsonString(line, message);
    line += "}\n";
    return line;
  }
  if (!journal) {  // journald stamps its own time
    line += Timestamp(now);
    line += ' ';
  }
  line += LevelName(level);
  line += " [";
  line += thread;
  line += "] ";
  line += message;
  line += '\n';
  return line;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool ParseLogLevel(const char* text, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (std::strcmp(text, LevelName(l)) == 0) {
      *out = l;
      return true;
    }
  }
  return false;
}

void SetThreadLogName(const char* name) {
  std::snprintf(t_name, sizeof(t_name), "%s", name);
  // The kernel's name too (top -H, /proc/PID/task/TID/comm): at most 15 characters.
  char comm[16];
  std::snprintf(comm, sizeof(comm), "%s", name);
  pthread_setname_np(pthread_self(), comm);
}

void Logf(LogLevel level, const char* fmt, ...) {
  char message[2048];
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  const size_t len = m < 0 ? 0 : std::min(static_cast<size_t>(m), sizeof(message) - 1);
  const std::string line = FormatLogLine(
      static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)), StderrIsJournal(), level,
      std::chrono::system_clock::now(), t_name, std::string_view(message, len));
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace infergate
