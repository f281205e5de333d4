// The access log: one line per exchange (JSON or key=value text), handed by the worker event
// loops to a writer thread that appends batches to a file. A worker never blocks on disk: it
// formats its line and pushes it on a bounded queue under a lock held only for the push; when
// the queue is full the line is dropped and counted. Reopen() (SIGUSR1) lets logrotate move the
// file away.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "infergate/core/log.h"
#include "infergate/observability/metrics.h"

namespace infergate::observability {

// Longer values are cut to this many bytes in a line (a client controls them).
inline constexpr size_t kAccessLogMaxPath = 2048;
inline constexpr size_t kAccessLogMaxModel = 256;

// One exchange as the access log shows it. Views are read only during the call that formats
// the entry. An empty string, a zero status and an empty optional are written as null ("-" in
// text).
struct AccessLogEntry {
  std::chrono::system_clock::time_point time;  // when the exchange ended
  std::string_view request_id;
  std::string_view trace_id;
  std::string_view client;    // the client's IP address
  std::string_view listener;  // its name
  std::string_view protocol;  // "HTTP/1.1" or "HTTP/2"
  std::string_view method;
  std::string_view path;          // as forwarded, query included; cut at kAccessLogMaxPath
  std::string_view model;         // asked for by the client; cut at kAccessLogMaxModel
  std::string_view model_served;  // named by the answer, else the model sent after a rewrite
  std::string_view route;
  std::string_view pool;
  std::string_view backend;  // host:port
  std::string_view tenant;
  int status = 0;  // sent to the client; 0: none was
  std::string_view error;
  int attempts = 0;
  std::string_view degraded;  // the degradation trigger
  std::string_view fallback;  // what served a degraded answer
  std::optional<double> ttfb_ms;
  std::optional<double> ttft_ms;
  double duration_ms = 0;
  uint64_t bytes = 0;  // response body bytes sent
  std::optional<uint64_t> input_tokens;
  std::optional<uint64_t> output_tokens;
  bool tokens_estimated = false;
};

// Appends one line, newline included. JSON: one object with every field (strings escaped,
// invalid UTF-8 replaced by U+FFFD). Text: `key=value` pairs separated by spaces in the same
// order; a value is quoted when it is empty, "-", or holds anything but printable ASCII other
// than `"` and `\` (escaped as \" \\ and \xHH inside the quotes); null is a bare -.
void FormatAccessLine(const AccessLogEntry& entry, LogFormat format, std::string* out);

// Whether `path` can be the access log: its directory exists and the file can be opened for
// appending (or created there). Creates nothing. *why says what is wrong otherwise.
bool CheckAccessLogPath(const std::string& path, std::string* why);

struct AccessLogOptions {
  std::string path;
  LogFormat format = LogFormat::kJson;
  size_t buffer_lines = 16384;  // lines queued for the writer at most
};

// Thread-safe: Log and Submit from any thread; Start, Reopen and Stop from one thread (the
// server's). Metrics: infergate_access_log_lines_total (written),
// infergate_access_log_dropped_total{reason="queue_full"|"write_error"} and
// infergate_access_log_write_errors_total (failed writes and reopens).
class AccessLog {
 public:
  AccessLog(AccessLogOptions options, Registry& registry);
  ~AccessLog();  // Stop()
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Opens the file (O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640) and starts the writer.
  // False, with *error, when the file cannot be opened.
  bool Start(std::string* error);
  // Formats and submits the entry's line.
  void Log(const AccessLogEntry& entry);
  // Queues one line (ending in "\n") for the writer; never waits for it. False when the queue
  // holds buffer_lines lines already (the line is dropped and counted) or the log was stopped.
  bool Submit(std::string line);
  // The writer closes the file and opens the path again before its next write (logrotate moved
  // it): lines submitted after this call land in the new file. A failed open keeps the old one.
  void Reopen();
  // Writes what is queued, then ends the writer and closes the file. Idempotent.
  void Stop();

  LogFormat format() const { return options_.format; }
  const std::string& path() const { return options_.path; }
  // Tests: while paused the writer takes nothing from the queue (as if the disk stalled).
  void PauseForTesting(bool paused);

 private:
  void Run();
  void Write(const std::vector<std::string>& batch);
  void DoReopen();
  void Warn(const std::string& what);

  const AccessLogOptions options_;
  Counter* lines_;
  Counter* dropped_full_;
  Counter* dropped_error_;
  Counter* write_errors_;
  int fd_ = -1;  // the writer's, once started
  std::chrono::steady_clock::time_point last_warn_{};
  std::string buffer_;  // the writer's batch, joined

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;  // guarded by mu_
  bool reopen_ = false;             // guarded by mu_
  bool stop_ = false;               // guarded by mu_
  bool paused_ = false;             // guarded by mu_
  std::thread thread_;
};

}  // namespace infergate::observability
