// LeasedCell: units leased from the fleet's counter in batches, spent here; the local GCRA cell
// with this instance's share as the fallback.
#include "infergate/isolation/leased_cell.h"

#include <algorithm>
#include <cmath>

namespace infergate::isolation {
namespace {

int64_t Nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Rate Share(const Rate& rate, double share) {
  const double part = std::floor(static_cast<double>(rate.amount) * share);
  return Rate{std::max<uint64_t>(1, static_cast<uint64_t>(part)), rate.period};
}

}  // namespace

LeasedCell::LeasedCell(std::string key, const Rate& rate, double local_share, Wake wake,
                       Duration late_after)
    : key_(std::move(key)),
      share_(std::clamp(local_share, 0.0, 1.0)),
      late_after_(late_after),
      wake_(std::move(wake)),
      local_(Share(rate, share_)) {
  SetRate(rate);
}

void LeasedCell::SetRate(const Rate& rate) {
  const uint64_t amount = std::max<uint64_t>(rate.amount, 1);
  amount_.store(amount, std::memory_order_relaxed);
  period_.store(rate.period.count(), std::memory_order_relaxed);
  batch_.store(std::max<uint64_t>(1, amount / 10), std::memory_order_relaxed);
  local_.SetRate(Share(rate, share_));
}

Rate LeasedCell::rate() const {
  return Rate{amount_.load(std::memory_order_relaxed),
              Duration(period_.load(std::memory_order_relaxed))};
}

RateDecision LeasedCell::Take(uint64_t cost, TimePoint now) {
  if (shared()) return SharedTake(cost, now);
  RateDecision d = local_.Take(cost, now);
  // Before the first lease (startup) the fleet has not counted these yet: the next lease does.
  if (d.admitted && !ever_failed_.load(std::memory_order_acquire)) {
    correction_.fetch_add(static_cast<int64_t>(cost), std::memory_order_acq_rel);
  }
  // Redis is back and the first lease is on its way: the local share may be spent by the
  // outage, so up to a batch is taken on credit (counted by the fleet with that lease) rather
  // than refused: no burst of refusals when the instances rejoin.
  if (!d.admitted && rejoining_.load(std::memory_order_acquire)) {
    const int64_t need = static_cast<int64_t>(cost);
    int64_t c = credit_.load(std::memory_order_acquire);
    while (c + need <= static_cast<int64_t>(batch())) {
      if (!credit_.compare_exchange_weak(c, c + need, std::memory_order_acq_rel)) continue;
      correction_.fetch_add(need, std::memory_order_acq_rel);
      d.admitted = true;
      d.retry_after = Duration::zero();
      break;
    }
  }
  MaybeWake(now);
  return d;
}

RateDecision LeasedCell::SharedTake(uint64_t cost, TimePoint now) {
  // A cost above the burst spends a whole burst's lease; the rest is counted as debt.
  const int64_t need =
      static_cast<int64_t>(std::min(cost, amount_.load(std::memory_order_relaxed)));
  const int64_t low_water = static_cast<int64_t>((batch() + 1) / 2);
  const uint64_t room = fleet_room_.load(std::memory_order_relaxed);
  int64_t a = allowance_.load(std::memory_order_acquire);
  while (a >= need) {
    if (!allowance_.compare_exchange_weak(a, a - need, std::memory_order_acq_rel)) continue;
    if (static_cast<int64_t>(cost) > need) {
      correction_.fetch_add(static_cast<int64_t>(cost) - need, std::memory_order_acq_rel);
    }
    local_.Take(cost, now);  // keeps the fallback in step; its verdict does not count here
    RateDecision d;
    d.admitted = true;
    d.remaining = static_cast<uint64_t>(a - need) + room;
    d.reset = local_.Peek(now).reset;
    if (a - need < low_water) MaybeWake(now);
    return d;
  }
  // The allowance is spent while the fleet had room at the last lease: rather than refuse a
  // request the fleet can take (the next lease is on its way), up to a batch is taken on credit
  // and sent as a correction with the next lease. This bounds the fleet's overshoot to a batch
  // per instance, and keeps a lease's round trip from refusing requests under the limit.
  if (room >= static_cast<uint64_t>(need)) {
    int64_t c = credit_.load(std::memory_order_acquire);
    while (c + need <= static_cast<int64_t>(batch())) {
      if (!credit_.compare_exchange_weak(c, c + need, std::memory_order_acq_rel)) continue;
      correction_.fetch_add(static_cast<int64_t>(cost), std::memory_order_acq_rel);
      local_.Take(cost, now);
      MaybeWake(now);
      RateDecision d;
      d.admitted = true;
      d.remaining = room - static_cast<uint64_t>(need);
      d.reset = local_.Peek(now).reset;
      return d;
    }
  }
  int64_t wanted = need_.load(std::memory_order_relaxed);
  while (wanted < need && !need_.compare_exchange_weak(wanted, need, std::memory_order_relaxed)) {
  }
  MaybeWake(now);
  // The lease is late (Redis slow, or the store behind): no request waits on it, and none is
  // refused for it: this instance's share decides, as when Redis is down, and what it admits is
  // counted by the fleet with the next lease.
  if (LeaseLate(now)) {
    RateDecision local = local_.Take(cost, now);
    if (local.admitted) {
      correction_.fetch_add(static_cast<int64_t>(cost), std::memory_order_acq_rel);
      late_admitted_.fetch_add(1, std::memory_order_relaxed);
    }
    return local;
  }
  RateDecision d;
  d.remaining = static_cast<uint64_t>(std::max<int64_t>(a, 0));
  d.reset = local_.Peek(now).reset;
  const int64_t until = fleet_retry_at_.load(std::memory_order_acquire) - Nanos(now);
  d.retry_after = std::max<Duration>(Duration(until), std::chrono::milliseconds(1));
  return d;
}

void LeasedCell::Adjust(int64_t delta, TimePoint now) {
  if (delta == 0) return;
  local_.Adjust(delta, now);
  if (!shared() && ever_failed_.load(std::memory_order_acquire)) return;
  const int64_t pending = correction_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (static_cast<uint64_t>(pending < 0 ? -pending : pending) >= (batch() + 1) / 2) {
    MaybeWake(now);
  }
}

RateDecision LeasedCell::Peek(TimePoint now) const {
  RateDecision d = local_.Peek(now);
  if (shared()) {
    d.remaining = static_cast<uint64_t>(std::max<int64_t>(allowance(), 0)) +
                  fleet_room_.load(std::memory_order_relaxed);
  }
  return d;
}

void LeasedCell::MaybeWake(TimePoint now) {
  if (Nanos(now) < next_lease_at_.load(std::memory_order_acquire)) return;
  bool idle = false;
  if (!leasing_.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) return;
  lease_began_.store(Nanos(now), std::memory_order_release);
  wake_(weak_from_this());
}

bool LeasedCell::LeaseLate(TimePoint now) const {
  if (!leasing_.load(std::memory_order_acquire)) return false;
  const int64_t in_flight = Nanos(now) - lease_began_.load(std::memory_order_acquire);
  return in_flight >= late_after_.count();
}

LeaseRequest LeasedCell::BeginLease() {
  LeaseRequest r;
  r.want = std::max<uint64_t>(batch(),
                              static_cast<uint64_t>(need_.exchange(0, std::memory_order_acq_rel)));
  r.correction = correction_.exchange(0, std::memory_order_acq_rel);
  return r;
}

void LeasedCell::OnLease(const LeaseRequest& asked, const Lease& lease, TimePoint now) {
  allowance_.fetch_add(static_cast<int64_t>(lease.granted), std::memory_order_acq_rel);
  fleet_room_.store(lease.room, std::memory_order_relaxed);
  credit_.store(0, std::memory_order_release);  // what was taken on credit is in a correction
  rejoining_.store(false, std::memory_order_release);
  const bool short_of = lease.granted < asked.want;
  const int64_t wait = short_of ? std::max<int64_t>(lease.retry_after.count(), 1'000'000) : 0;
  fleet_retry_at_.store(Nanos(now) + wait, std::memory_order_release);
  next_lease_at_.store(Nanos(now) + wait, std::memory_order_release);
  shared_.store(true, std::memory_order_release);
  lease_began_.store(INT64_MAX, std::memory_order_release);
  leasing_.store(false, std::memory_order_release);
}

void LeasedCell::OnLeaseFailed(TimePoint now, Duration retry_in) {
  ever_failed_.store(true, std::memory_order_release);
  rejoining_.store(false, std::memory_order_release);
  credit_.store(0, std::memory_order_release);
  shared_.store(false, std::memory_order_release);
  allowance_.store(0, std::memory_order_release);
  correction_.store(0, std::memory_order_release);
  need_.store(0, std::memory_order_relaxed);
  next_lease_at_.store(Nanos(now) + retry_in.count(), std::memory_order_release);
  lease_began_.store(INT64_MAX, std::memory_order_release);
  leasing_.store(false, std::memory_order_release);
}

void LeasedCell::Rejoin(TimePoint now) {
  if (shared()) return;
  rejoining_.store(true, std::memory_order_release);
  next_lease_at_.store(0, std::memory_order_release);
  MaybeWake(now);
}

}  // namespace infergate::isolation
