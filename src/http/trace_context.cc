// W3C Trace Context: the traceparent codec and the context forwarded to backends.
#include "infergate/http/trace_context.h"

#include <algorithm>

namespace infergate::http {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr size_t kV0Size = 55;  // "00-" + 32 + "-" + 16 + "-" + 2

// Lower-case hex digit value, or -1 (HEXDIGLC: upper case is not allowed).
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return HexValue(c) >= 0; });
}

bool AllZeros(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// Fills `out` with random lower-case hex digits, not all zeros.
void RandomHex(Rng& rng, char* out, size_t n) {
  do {
    for (size_t i = 0; i < n; i += 16) {
      const uint64_t v = rng.Next();
      for (size_t k = 0; k < 16 && i + k < n; ++k) out[i + k] = kHex[(v >> (4 * k)) & 0xf];
    }
  } while (AllZeros(std::string_view(out, n)));
}

}  // namespace

std::optional<TraceParent> ParseTraceparent(std::string_view v) {
  if (v.size() < kV0Size) return std::nullopt;
  const std::string_view version = v.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && v.size() != kV0Size) return std::nullopt;
  if (v.size() > kV0Size && v[kV0Size] != '-') return std::nullopt;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  const std::string_view trace_id = v.substr(3, 32);
  const std::string_view parent_id = v.substr(36, 16);
  const std::string_view flags = v.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZeros(trace_id) || AllZeros(parent_id)) return std::nullopt;
  TraceParent out;
  std::copy(trace_id.begin(), trace_id.end(), out.trace_id.begin());
  std::copy(parent_id.begin(), parent_id.end(), out.parent_id.begin());
  out.flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  // Only the sampled flag is defined for a version this gateway does not know.
  if (version != "00") out.flags &= 0x01;
  return out;
}

TraceContext ContinueTrace(std::span<const HeaderField> headers, Rng& rng) {
  std::optional<TraceParent> parent;
  int seen = 0;
  for (const HeaderField& f : headers) {
    if (f.name != "traceparent") continue;
    if (++seen == 1) parent = ParseTraceparent(f.value);
  }
  if (seen > 1) parent.reset();  // several traceparent fields: none is trusted

  TraceContext ctx;
  char* h = ctx.header.data();
  h[0] = h[1] = '0';
  h[2] = h[35] = h[52] = '-';
  if (parent) {
    std::copy(parent->trace_id.begin(), parent->trace_id.end(), h + 3);
    h[53] = kHex[parent->flags >> 4];
    h[54] = kHex[parent->flags & 0xf];
    ctx.continued = true;
  } else {
    RandomHex(rng, h + 3, 32);
    h[53] = h[54] = '0';
  }
  RandomHex(rng, h + 36, 16);
  return ctx;
}

}  // namespace infergate::http
