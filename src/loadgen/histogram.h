// Log-linear latency histogram for infergate-loadgen (HDR-style): fixed memory, about 0.8%
// relative precision from 1 ns to 137 s, so big runs never keep per-sample vectors.
#pragma once

#include <array>
#include <cstdint>

namespace infergate::loadgen {

class Histogram {
 public:
  // Values are nanoseconds; anything above kMaxValue is clamped to it.
  static constexpr uint64_t kMaxValue = uint64_t{1} << 37;  // ~137 s

  void Record(uint64_t value_ns);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The value at quantile q in [0, 1] (the midpoint of its bucket, clamped to [min, max]).
  uint64_t Percentile(double q) const;

 private:
  // 128 linear sub-buckets per power of two; values below 256 are exact.
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (37 - kSubBits + 1) * kSub + kSub;
  static int IndexOf(uint64_t v);
  static uint64_t LowOf(int index);
  static uint64_t WidthOf(int index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace infergate::loadgen
