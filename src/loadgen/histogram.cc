// Log-linear latency histogram for infergate-loadgen: bucket arithmetic and percentiles.
#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace infergate::loadgen {

// Bucket b covers [kSub << (b - 1), kSub << b) with kSub sub-buckets of width 1 << (b - 1);
// bucket 0 covers [0, 2 * kSub) exactly. Index = b * kSub + (v >> shift) with the top half of
// the sub-bucket range used for b > 0, so indices are contiguous.
int Histogram::IndexOf(uint64_t v) {
  if (v < 2 * kSub) return static_cast<int>(v);
  const int msb = 63 - std::countl_zero(v);  // >= kSubBits + 1
  const int shift = msb - kSubBits;          // >= 1
  return shift * kSub + static_cast<int>(v >> shift);
}

uint64_t Histogram::LowOf(int index) {
  if (index < 2 * kSub) return static_cast<uint64_t>(index);
  const int shift = index / kSub - 1;
  const uint64_t sub = static_cast<uint64_t>(index - shift * kSub);
  return sub << shift;
}

uint64_t Histogram::WidthOf(int index) {
  if (index < 2 * kSub) return 1;
  return uint64_t{1} << (index / kSub - 1);
}

void Histogram::Record(uint64_t value_ns) {
  const uint64_t v = std::min(value_ns, kMaxValue - 1);
  const int index = std::min(IndexOf(v), kBuckets - 1);
  ++counts_[index];
  ++count_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += v;
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = LowOf(i) + WidthOf(i) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace infergate::loadgen
