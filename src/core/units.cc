// Duration and size units for the config.
#include "infergate/core/units.h"

#include <cctype>
#include <cstdint>
#include <limits>

namespace infergate {
namespace {

bool ParseU64(std::string_view digits, uint64_t* out) {
  if (digits.empty() || digits.size() > 19) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text) {
  // One or more <number><unit> groups: "1h30m", "250ms", "1.5s" (one fractional group).
  if (text.empty()) return std::nullopt;
  using namespace std::chrono;
  long double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    std::string_view num = text.substr(start, i - start);
    if (num.empty()) return std::nullopt;
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    long double scale;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return std::nullopt;
    long double value = 0;
    size_t dot = num.find('.');
    uint64_t whole = 0;
    if (!ParseU64(num.substr(0, dot), &whole)) return std::nullopt;
    value = static_cast<long double>(whole);
    if (dot != std::string_view::npos) {
      std::string_view frac = num.substr(dot + 1);
      uint64_t f = 0;
      if (!ParseU64(frac, &f) || frac.find('.') != std::string_view::npos) return std::nullopt;
      long double div = 1;
      for (size_t k = 0; k < frac.size(); ++k) div *= 10;
      value += static_cast<long double>(f) / div;
    }
    total_ns += value * scale;
    if (total_ns > static_cast<long double>(std::numeric_limits<int64_t>::max() / 2))
      return std::nullopt;
  }
  return Duration(static_cast<int64_t>(total_ns + 0.5L));
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  uint64_t n = 0;
  if (!ParseU64(text.substr(0, i), &n)) return std::nullopt;
  std::string_view unit = text.substr(i);
  uint64_t scale;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "GiB")
    scale = 1ull << 30;
  else if (unit == "KB" || unit == "kB")
    scale = 1000;
  else if (unit == "MB")
    scale = 1000 * 1000;
  else if (unit == "GB")
    scale = 1000ull * 1000 * 1000;
  else
    return std::nullopt;
  if (n > std::numeric_limits<uint64_t>::max() / scale) return std::nullopt;
  return n * scale;
}

std::optional<int64_t> ParseBoundedInt(std::string_view text, int64_t min, int64_t max) {
  uint64_t v = 0;
  if (text.size() > 18 || !ParseU64(text, &v)) return std::nullopt;
  auto value = static_cast<int64_t>(v);
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::string FormatDuration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns % 1000000 != 0) {
    if (ns % 1000 == 0) return out + std::to_string(ns / 1000) + "us";
    return out + std::to_string(ns) + "ns";
  }
  int64_t ms = ns / 1000000;
  if (ms % 1000 != 0) return out + std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (sec) out += std::to_string(sec) + "s";
  return out;
}

std::string FormatSize(uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

}  // namespace infergate
