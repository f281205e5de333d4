// name="value" for the metric series of the isolation part (the value escaped). Private to
// src/isolation.
#pragma once

#include <string>
#include <string_view>

#include "infergate/observability/metrics.h"

namespace infergate::isolation::detail {

inline std::string Label(std::string_view name, std::string_view value) {
  return std::string(name) + "=\"" + observability::Registry::EscapeLabel(value) + "\"";
}

}  // namespace infergate::isolation::detail
