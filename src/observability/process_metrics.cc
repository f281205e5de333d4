// Build and process metrics, read from /proc/self when /metrics is scraped.
#include "infergate/observability/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#ifndef INFERGATE_VERSION
#define INFERGATE_VERSION "unknown"
#endif
#ifndef INFERGATE_COMMIT
#define INFERGATE_COMMIT ""
#endif

namespace infergate::observability {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

std::optional<ProcessStat> ReadSelfStat() {
  static const double boot = BootTime();
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  return ParseProcessStat(ReadFile("/proc/self/stat"), boot, ticks, page);
}

double OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor is listed too
}

double MaxFds() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  return rl.rlim_cur == RLIM_INFINITY ? 0 : static_cast<double>(rl.rlim_cur);
}

double CpuSeconds() {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::string Compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::optional<ProcessStat> ParseProcessStat(const std::string& stat, double boot_time,
                                            double ticks_per_second, double page_size) {
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = std::string_view(stat).substr(paren + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  if (fields.size() < 22) return std::nullopt;
  auto number = [](std::string_view f) -> std::optional<double> {
    unsigned long long v = 0;
    auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ec != std::errc() || ptr != f.data() + f.size()) return std::nullopt;
    return static_cast<double>(v);
  };
  auto start = number(fields[22 - 3]);
  auto vsize = number(fields[23 - 3]);
  auto rss = number(fields[24 - 3]);
  if (!start || !vsize || !rss) return std::nullopt;
  ProcessStat out;
  out.start_time_seconds = boot_time + *start / ticks_per_second;
  out.virtual_bytes = *vsize;
  out.resident_bytes = *rss * page_size;
  return out;
}

std::string BuildInfoLabels() {
  return "version=\"" + Registry::EscapeLabel(INFERGATE_VERSION) + "\",commit=\"" +
         Registry::EscapeLabel(INFERGATE_COMMIT) + "\",compiler=\"" +
         Registry::EscapeLabel(Compiler()) + "\"";
}

void RegisterProcessMetrics(Registry& reg) {
  using Type = Registry::CallbackType;
  reg.SetCallback("infergate_build_info",
                  "The running build: its version, git commit (when the build knew it) and "
                  "compiler; always 1.",
                  Type::kGauge, BuildInfoLabels(), [] { return 1.0; });
  const std::optional<ProcessStat> at_start = ReadSelfStat();
  const double start = at_start ? at_start->start_time_seconds : 0;
  reg.SetCallback("process_start_time_seconds",
                  "Start time of the process since the Unix epoch in seconds.", Type::kGauge, {},
                  [start] { return start; });
  reg.SetCallback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                  Type::kCounter, {}, CpuSeconds);
  reg.SetCallback("process_open_fds", "Number of open file descriptors.", Type::kGauge, {},
                  OpenFds);
  reg.SetCallback("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge, {},
                  MaxFds);
  reg.SetCallback("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge,
                  {}, [] {
                    auto s = ReadSelfStat();
                    return s ? s->resident_bytes : 0.0;
                  });
  reg.SetCallback("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::kGauge, {},
                  [] {
                    auto s = ReadSelfStat();
                    return s ? s->virtual_bytes : 0.0;
                  });
}

}  // namespace infergate::observability
