// GCRA cells and the process-local store of them.
#include "infergate/isolation/rate_store.h"

#include <charconv>

#include <algorithm>
#include <cstdio>

namespace infergate::isolation {
namespace {

int64_t Nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The largest TAT and the largest c * T: sums of two stay far from overflowing.
constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;

// c * T, saturating (a cost far above any limit must not wrap around).
int64_t Times(uint64_t count, int64_t interval) {
  if (count != 0 && static_cast<uint64_t>(kMax / interval) < count) return kMax;
  return static_cast<int64_t>(count) * interval;
}

// A new TAT, saturating: debt piled up by huge corrections stays debt.
int64_t Later(int64_t base, int64_t add) { return base > kMax - add ? kMax : base + add; }

}  // namespace

void GcraCell::SetRate(const Rate& rate) {
  const uint64_t amount = std::max<uint64_t>(rate.amount, 1);
  const int64_t period = std::max<int64_t>(rate.period.count(), 1);
  amount_.store(amount, std::memory_order_relaxed);
  period_.store(period, std::memory_order_relaxed);
  interval_.store(std::max<int64_t>(period / static_cast<int64_t>(amount), 1),
                  std::memory_order_release);
}

Rate GcraCell::rate() const {
  return Rate{amount_.load(std::memory_order_relaxed),
              Duration(period_.load(std::memory_order_relaxed))};
}

RateDecision GcraCell::State(int64_t tat, int64_t now, int64_t interval, int64_t tau) const {
  RateDecision d;
  const int64_t base = std::max(tat, now);
  const int64_t room = now + tau - base;
  d.remaining = room > 0 ? static_cast<uint64_t>(room / interval) : 0;
  d.reset = Duration(base - now);
  return d;
}

RateDecision GcraCell::Take(uint64_t cost, TimePoint at) {
  const int64_t now = Nanos(at);
  const int64_t interval = interval_.load(std::memory_order_acquire);
  const uint64_t amount = amount_.load(std::memory_order_relaxed);
  const int64_t tau = Times(amount, interval);
  const int64_t check = Times(std::min(cost, amount), interval);
  const int64_t charge = Times(cost, interval);
  int64_t tat = tat_.load(std::memory_order_acquire);
  while (true) {
    const int64_t base = std::max(tat, now);
    if (base + check - now > tau) {
      RateDecision d = State(tat, now, interval, tau);
      d.retry_after = Duration(base + check - tau - now);
      return d;
    }
    const int64_t next = Later(base, charge);
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_acq_rel)) {
      RateDecision d = State(next, now, interval, tau);
      d.admitted = true;
      return d;
    }
  }
}

void GcraCell::Adjust(int64_t delta, TimePoint at) {
  if (delta == 0) return;
  const int64_t now = Nanos(at);
  const int64_t interval = interval_.load(std::memory_order_acquire);
  const int64_t units = Times(static_cast<uint64_t>(delta > 0 ? delta : -delta), interval);
  int64_t tat = tat_.load(std::memory_order_acquire);
  while (true) {
    int64_t next;
    if (delta > 0) {
      next = Later(std::max(tat, now), units);
    } else {
      if (tat <= now) return;  // full already: nothing to give back
      next = std::max(tat - units, now);
    }
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_acq_rel)) return;
  }
}

RateDecision GcraCell::Peek(TimePoint at) const {
  const int64_t interval = interval_.load(std::memory_order_acquire);
  const int64_t tau = Times(amount_.load(std::memory_order_relaxed), interval);
  return State(tat_.load(std::memory_order_acquire), Nanos(at), interval, tau);
}

std::shared_ptr<RateCell> LocalRateStore::Cell(const std::string& key, const Rate& rate) {
  std::lock_guard lock(mu_);
  std::weak_ptr<GcraCell>& slot = cells_[key];
  std::shared_ptr<GcraCell> live = slot.lock();
  if (live) {
    if (!(live->rate() == rate)) live->SetRate(rate);
    return live;
  }
  // Forget the keys no snapshot holds any more (the map stays as large as the config).
  for (auto it = cells_.begin(); it != cells_.end();) {
    it = it->second.expired() && it->first != key ? cells_.erase(it) : std::next(it);
  }
  live = std::make_shared<GcraCell>(rate);
  cells_[key] = live;
  return live;
}

std::string FormatResetDuration(Duration d) {
  // On every answer a limit was checked for: to_chars and one string, no printf and no
  // temporaries (it was about 2,400 instructions a request with snprintf).
  if (d < Duration::zero()) d = Duration::zero();
  const int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  if (ms == 0) return "0s";
  std::string out;
  out.reserve(16);
  auto number = [&out](int64_t v) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof(digits), v).ptr);
  };
  if (ms < 1000) {
    number(ms);
    out += "ms";
    return out;
  }
  const int64_t hours = ms / 3'600'000;
  const int64_t minutes = ms / 60'000 % 60;
  const int64_t sec_ms = ms % 60'000;
  if (hours > 0) {
    number(hours);
    out += 'h';
  }
  if (hours > 0 || minutes > 0) {
    number(minutes);
    out += 'm';
  }
  number(sec_ms / 1000);
  if (const int64_t frac = sec_ms % 1000; frac != 0) {
    // The milliseconds as a decimal fraction without trailing zeros: 1500 -> "1.5".
    out += '.';
    out += static_cast<char>('0' + frac / 100);
    if (frac % 100 != 0) out += static_cast<char>('0' + frac / 10 % 10);
    if (frac % 10 != 0) out += static_cast<char>('0' + frac % 10);
  }
  out += 's';
  return out;
}

int64_t RetryAfterSeconds(Duration d) {
  return std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(d).count());
}

}  // namespace infergate::isolation
