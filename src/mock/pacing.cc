// The mock server's steering and timing decisions (see pacing.h).
#include "mock/pacing.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <system_error>

namespace infergate::mock {
namespace {

bool ParseInt(std::string_view s, int64_t* out) {
  int64_t v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

bool IsTrue(std::string_view v) { return v == "1" || EqualsLower(v, "true"); }

}  // namespace

Controls ParseControls(const Options& options, std::span<const HeaderField> fields) {
  Controls c;
  c.ttft = options.ttft;
  c.tokens = options.tokens;
  c.interval = options.token_interval;
  for (const HeaderField& f : fields) {
    if (f.name.size() <= 7 || !EqualsLower(f.name.substr(0, 7), "x-mock-")) continue;
    std::string_view n = f.name.substr(7);
    int64_t v = 0;
    bool is_int = ParseInt(f.value, &v);
    if (EqualsLower(n, "status")) {
      if (is_int && v >= 400 && v <= 599) c.status = static_cast<int>(v);
    } else if (EqualsLower(n, "ttft-ms")) {
      if (is_int && v >= 0) c.ttft = std::chrono::milliseconds(v);
    } else if (EqualsLower(n, "tokens")) {
      if (is_int && v >= 0 && v <= 1000000) c.tokens = v;
    } else if (EqualsLower(n, "token-interval-ms")) {
      if (is_int && v >= 0) c.interval = std::chrono::milliseconds(v);
    } else if (EqualsLower(n, "hang")) {
      c.hang = IsTrue(f.value);
    } else if (EqualsLower(n, "close-after-tokens")) {
      if (is_int && v >= 0) c.close_after = v;
    } else if (EqualsLower(n, "echo")) {
      c.echo = IsTrue(f.value);
    } else if (EqualsLower(n, "read-delay-ms")) {
      if (is_int && v >= 0) c.read_delay = std::chrono::milliseconds(v);
    } else if (EqualsLower(n, "error-body")) {
      c.error_body.assign(f.value);
    }
  }
  return c;
}

int64_t StreamEvents(const Controls& controls) { return std::max<int64_t>(controls.tokens, 1); }

TimePoint StreamEventDueAt(const Controls& controls, TimePoint start, int64_t index) {
  return start + controls.ttft + controls.interval * index;
}

Duration CompletionDelay(const Controls& controls) {
  Duration wait = controls.ttft;
  if (controls.tokens > 1) wait += controls.interval * (controls.tokens - 1);
  return wait;
}

TimePoint ReadDelayUntil(const Controls& controls, TimePoint head_at) {
  return head_at + controls.read_delay;
}

TimePoint NextReadDelayWake(TimePoint now, TimePoint until) {
  return std::min(until, now + kPeerPollInterval);
}

}  // namespace infergate::mock
