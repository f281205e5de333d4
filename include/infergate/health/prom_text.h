// Reading gauges out of a Prometheus text exposition (a backend's own /metrics page): the sum of
// each named metric's samples over all its label sets. Tolerant of anything a scrape may return.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace infergate::health {

// For each of `names` (in order), the sum of that metric's samples across every label set in
// `text`, or nullopt when it has no finite sample. Understands the text format version 0.0.4:
// `# HELP`/`# TYPE` and other comments, labels whose quoted values hold escaped quotes,
// backslashes, commas or braces, an optional timestamp, LF or CRLF line ends, and a last line
// without a newline. NaN and infinite samples are ignored, and so is every line that does not
// parse (it never fails and reads nothing outside `text`). Names match exactly: "x" does not
// match "x_total" or "x_bucket". Linear in the size of `text` times the number of names.
std::vector<std::optional<double>> SumPromSamples(std::string_view text,
                                                  std::span<const std::string_view> names);

}  // namespace infergate::health
