// Process-wide series read at scrape time: the build (infergate_build_info) and the process's
// own state under the names every Prometheus client library uses (process_cpu_seconds_total,
// process_open_fds, process_max_fds, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds), from /proc/self.
#pragma once

#include <optional>
#include <string>

#include "infergate/observability/metrics.h"

namespace infergate::observability {

// Adds the series to `registry` (idempotent: registering again replaces the readers).
void RegisterProcessMetrics(Registry& registry);

// What /proc/self/stat and /proc/stat say, for the readers (and their test).
struct ProcessStat {
  double start_time_seconds = 0;  // Unix time the process started
  double virtual_bytes = 0;
  double resident_bytes = 0;
};
// `stat`: the text of /proc/self/stat; `boot_time`: btime of /proc/stat (Unix seconds);
// `ticks_per_second` and `page_size` as sysconf reports them. nullopt: not parseable.
std::optional<ProcessStat> ParseProcessStat(const std::string& stat, double boot_time,
                                            double ticks_per_second, double page_size);

// The build's labels: version, commit (empty when the build did not know it) and compiler.
std::string BuildInfoLabels();

}  // namespace infergate::observability
