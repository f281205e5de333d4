// StopText: the earliest stop string found in the held text ends it; otherwise the longest
// suffix that is a proper prefix of some stop string stays held.
#include "infergate/runner/stop_text.h"

#include <algorithm>
#include <utility>

namespace infergate::runner {

StopText::StopText(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopText::Push(std::string_view text) {
  if (stopped_) return "";
  held_ += text;
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    released_ += out.size();
    return out;
  }
  // The longest tail of held_ that a stop string starts with.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max = std::min(stop.size() - 1, held_.size());
    for (size_t len = max; len > hold; --len) {
      if (std::string_view(held_).substr(held_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, out.size());
  released_ += out.size();
  return out;
}

std::string StopText::Flush() {
  if (stopped_) return "";
  released_ += held_.size();
  return std::exchange(held_, {});
}

}  // namespace infergate::runner
