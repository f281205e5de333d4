// Process log: one line per event on stderr, written with a single write(2) so lines from
// different worker threads never interleave. Thread-safe. Text (time, level, thread, message) or
// JSON lines; under systemd (stderr is the journal stream JOURNAL_STREAM names) each line starts
// with its syslog priority ("<3>" for errors) so journald keeps the levels, and the time is left
// to journald.
#pragma once

#include <chrono>
#include <cstdarg>
#include <string>
#include <string_view>

namespace infergate {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(const char* text, LogLevel* out);

// printf-style. Prefixes the time, level and the worker thread's name.
void Logf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void SetThreadLogName(const char* name);

enum class LogFormat { kText, kJson };
void SetLogFormat(LogFormat format);
bool ParseLogFormat(const char* text, LogFormat* out);
// Whether stderr is the journal stream of JOURNAL_STREAM ("device:inode"); read once at start.
bool StderrIsJournal();

// One log line, newline included: what Logf writes (exposed for tests).
std::string FormatLogLine(LogFormat format, bool journal, LogLevel level,
                          std::chrono::system_clock::time_point now, std::string_view thread,
                          std::string_view message);

}  // namespace infergate

#define IG_LOG(level, ...)                                                         \
  do {                                                                             \
    if (static_cast<int>(level) >= static_cast<int>(::infergate::GetLogLevel())) { \
      ::infergate::Logf(level, __VA_ARGS__);                                       \
    }                                                                              \
  } while (0)
#define IG_DEBUG(...) IG_LOG(::infergate::LogLevel::kDebug, __VA_ARGS__)
#define IG_INFO(...) IG_LOG(::infergate::LogLevel::kInfo, __VA_ARGS__)
#define IG_WARN(...) IG_LOG(::infergate::LogLevel::kWarn, __VA_ARGS__)
#define IG_ERROR(...) IG_LOG(::infergate::LogLevel::kError, __VA_ARGS__)
