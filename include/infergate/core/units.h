// Parsing and printing of the human units used in the config: durations ("250ms", "30s",
// "2m", "1h", "0s") and byte sizes ("512", "64KiB", "16MiB", "1GiB", also "KB"/"MB" as
// powers of ten).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace infergate {

using Duration = std::chrono::nanoseconds;

// Returns nullopt when `text` is not a duration. A bare number without a unit is refused:
// "30" would be ambiguous between seconds and milliseconds.
std::optional<Duration> ParseDuration(std::string_view text);
// Returns nullopt when `text` is not a size. A bare number means bytes.
std::optional<uint64_t> ParseSize(std::string_view text);

// A plain decimal integer in [min, max] (flags and headers); nullopt otherwise.
std::optional<int64_t> ParseBoundedInt(std::string_view text, int64_t min, int64_t max);

// "250ms", "30s", "2m", "1h30m", "0s": the shortest exact form.
std::string FormatDuration(Duration d);
// "16MiB", "64KiB", "100B".
std::string FormatSize(uint64_t bytes);

}  // namespace infergate
