// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing the client's `traceparent`
// and the context the gateway forwards as the new parent span. Pure functions, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "infergate/core/header_field.h"
#include "infergate/core/random.h"

namespace infergate::http {

// A parsed traceparent: ids as lower-case hex, never all zeros.
struct TraceParent {
  std::array<char, 32> trace_id{};
  std::array<char, 16> parent_id{};
  uint8_t flags = 0;
};

// Parses one traceparent value (section 3.2 of the spec). Version 00: exactly
// "00-<32 hex>-<16 hex>-<2 hex>", lower-case only, neither id all zeros. Version ff is invalid.
// A higher version (01..fe) is read by its first 55 characters in the 00 layout, which must be
// followed by the end or a "-" (later fields are ignored); only its sampled flag is kept.
// nullopt when the value is invalid.
std::optional<TraceParent> ParseTraceparent(std::string_view value);

// The trace the gateway continues or starts for one request, and the traceparent it sends to
// the backend: "00-<trace id>-<the gateway's span id>-<flags>".
struct TraceContext {
  std::array<char, 55> header{};  // the traceparent value for the backend
  bool continued = false;         // the client sent one valid traceparent

  std::string_view traceparent() const { return {header.data(), header.size()}; }
  std::string_view trace_id() const { return {header.data() + 3, 32}; }
  std::string_view span_id() const { return {header.data() + 36, 16}; }
  std::string_view flags() const { return {header.data() + 53, 2}; }
};

// From the request's headers (lower-case names): one valid traceparent is continued (its trace
// id and flags kept); none, an invalid one or several start a new trace with a random trace id
// and flags 00 (not sampled: the gateway records no spans itself). The span id is always new,
// random and not all zeros.
TraceContext ContinueTrace(std::span<const HeaderField> headers, Rng& rng);

}  // namespace infergate::http
