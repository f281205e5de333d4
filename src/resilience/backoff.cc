// Exponential backoff with full jitter, the default retryable statuses, and Retry-After parsing
// (delta-seconds and the three HTTP-date forms of RFC 9110).
#include "infergate/resilience/backoff.h"

#include <algorithm>
#include <array>
#include <limits>

namespace infergate::resilience {
namespace {

using std::chrono::system_clock;

// A forward-only reader over a header value.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }
  bool Lit(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  // Exactly `n` digits.
  bool Digits(size_t n, int& out) {
    if (pos_ + n > s_.size()) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = s_[pos_ + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    out = v;
    return true;
  }
  // One of `names`, returning its index.
  template <size_t N>
  bool OneOf(const std::array<std::string_view, N>& names, int& index) {
    for (size_t i = 0; i < N; ++i) {
      if (Lit(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
// Longest first is not needed: no long name is a prefix of another one.
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Civil {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// "HH:MM:SS"
bool TimeOfDay(Cursor& c, Civil& t) {
  return c.Digits(2, t.hour) && c.Lit(":") && c.Digits(2, t.minute) && c.Lit(":") &&
         c.Digits(2, t.second);
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
bool ImfFixdate(std::string_view s, Civil& t) {
  Cursor c(s);
  int ignored = 0;
  return c.OneOf(kDays, ignored) && c.Lit(", ") && c.Digits(2, t.day) && c.Lit(" ") &&
         c.OneOf(kMonths, t.month) && c.Lit(" ") && c.Digits(4, t.year) && c.Lit(" ") &&
         TimeOfDay(c, t) && c.Lit(" GMT") && c.done();
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the century is resolved by the caller.
bool Rfc850(std::string_view s, Civil& t) {
  Cursor c(s);
  int ignored = 0;
  return c.OneOf(kLongDays, ignored) && c.Lit(", ") && c.Digits(2, t.day) && c.Lit("-") &&
         c.OneOf(kMonths, t.month) && c.Lit("-") && c.Digits(2, t.year) && c.Lit(" ") &&
         TimeOfDay(c, t) && c.Lit(" GMT") && c.done();
}

// asctime: "Sun Nov  6 08:49:37 1994" (day as two digits or space and digit).
bool Asctime(std::string_view s, Civil& t) {
  Cursor c(s);
  int ignored = 0;
  if (!(c.OneOf(kDays, ignored) && c.Lit(" ") && c.OneOf(kMonths, t.month) && c.Lit(" "))) {
    return false;
  }
  if (!(c.Lit(" ") ? c.Digits(1, t.day) : c.Digits(2, t.day))) return false;
  return c.Lit(" ") && TimeOfDay(c, t) && c.Lit(" ") && c.Digits(4, t.year) && c.done();
}

std::optional<system_clock::time_point> ToTimePoint(const Civil& t) {
  namespace ch = std::chrono;
  const ch::year_month_day ymd{ch::year{t.year}, ch::month{static_cast<unsigned>(t.month + 1)},
                               ch::day{static_cast<unsigned>(t.day)}};
  if (!ymd.ok() || t.hour > 23 || t.minute > 59 || t.second > 60) return std::nullopt;
  // A leap second (:60) is read as the next second.
  return ch::time_point_cast<system_clock::duration>(ch::sys_days{ymd} + ch::hours{t.hour} +
                                                     ch::minutes{t.minute} + ch::seconds{t.second});
}

std::optional<system_clock::time_point> ParseHttpDate(std::string_view s,
                                                      system_clock::time_point now) {
  Civil t;
  if (ImfFixdate(s, t) || Asctime(s, t)) return ToTimePoint(t);
  if (Rfc850(s, t)) {
    // RFC 9110 5.6.7: a two-digit year more than 50 years in the future is in the past century.
    namespace ch = std::chrono;
    const int current = static_cast<int>(ch::year_month_day{ch::floor<ch::days>(now)}.year());
    int year = current - current % 100 + t.year;
    if (year > current + 50) year -= 100;
    t.year = year;
    return ToTimePoint(t);
  }
  return std::nullopt;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Duration BackoffCeiling(const BackoffConfig& config, uint32_t attempt) {
  const Duration base = std::max(config.base, Duration::zero());
  const Duration max = std::max(config.max, Duration::zero());
  if (base == Duration::zero()) return Duration::zero();
  attempt = std::max<uint32_t>(attempt, 1);
  // base x (2^attempt - 1), stopping as soon as it reaches max (no overflow).
  Duration ceiling = base;
  for (uint32_t i = 1; i < attempt && ceiling < max; ++i) {
    if (ceiling > (Duration::max() - base) / 2) return max;
    ceiling = ceiling * 2 + base;
  }
  return std::min(ceiling, max);
}

Duration BackoffDelay(const BackoffConfig& config, uint32_t attempt, Rng& rng) {
  const Duration ceiling = BackoffCeiling(config, attempt);
  if (ceiling <= Duration::zero()) return Duration::zero();
  return Duration(static_cast<Duration::rep>(rng.Below(static_cast<uint64_t>(ceiling.count()))));
}

bool IsDefaultRetryableStatus(int status) {
  return std::find(kDefaultRetryableStatuses.begin(), kDefaultRetryableStatuses.end(), status) !=
         kDefaultRetryableStatuses.end();
}

std::optional<Duration> ParseRetryAfter(std::string_view value, system_clock::time_point now,
                                        Duration cap) {
  cap = std::max(cap, Duration::zero());
  value = TrimOws(value);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    // delta-seconds; saturate rather than overflow, then cap.
    const int64_t limit = std::chrono::duration_cast<std::chrono::seconds>(Duration::max()).count();
    int64_t seconds = 0;
    for (const char c : value) {
      if (c < '0' || c > '9') return std::nullopt;
      seconds = std::min<int64_t>(limit, seconds * 10 + (c - '0'));
    }
    return std::min<Duration>(std::chrono::seconds(seconds), cap);
  }
  const std::optional<system_clock::time_point> at = ParseHttpDate(value, now);
  if (!at) return std::nullopt;
  if (*at <= now) return Duration::zero();
  const auto delta = *at - now;
  if (delta >= std::chrono::duration_cast<system_clock::duration>(cap)) return cap;
  return std::chrono::duration_cast<Duration>(delta);
}

}  // namespace infergate::resilience
