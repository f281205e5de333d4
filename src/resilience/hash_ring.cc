// Consistent-hash ring construction and the 64-bit hash it uses.
#include "infergate/resilience/hash_ring.h"

#include <algorithm>

namespace infergate::resilience {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

uint64_t Hash64(std::string_view data, uint64_t seed) {
  constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ull;
  constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t h = kOffsetBasis ^ Mix64(seed);
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= kPrime;
  }
  return Mix64(h ^ static_cast<uint64_t>(data.size()));
}

HashRing::HashRing(std::span<const RingHost> hosts, uint32_t vnodes_per_weight)
    : hosts_(hosts.size()) {
  uint64_t wanted = 0;
  for (const RingHost& h : hosts) wanted += uint64_t{h.weight} * vnodes_per_weight;
  // Scale everyone down alike when the ring would be too large.
  const long double scale =
      wanted > kMaxPoints ? static_cast<long double>(kMaxPoints) / static_cast<long double>(wanted)
                          : 1.0L;
  points_.reserve(static_cast<size_t>(std::min<uint64_t>(wanted, kMaxPoints)));
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto count = static_cast<uint64_t>(static_cast<long double>(hosts[i].weight) *
                                       vnodes_per_weight * scale);
    if (count == 0 && hosts[i].weight > 0 && vnodes_per_weight > 0) count = 1;
    const uint64_t base = Hash64(hosts[i].id);
    for (uint64_t r = 0; r < count; ++r) {
      points_.push_back(
          Point{Mix64(base + (r + 1) * 0x9e3779b97f4a7c15ull), static_cast<uint32_t>(i)});
    }
  }
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.host < b.host;
  });
}

size_t HashRing::Start(uint64_t key_hash) const {
  const uint64_t h = Mix64(key_hash ^ 0x2545f4914f6cdd1dull);
  const auto it = std::lower_bound(points_.begin(), points_.end(), h,
                                   [](const Point& p, uint64_t v) { return p.hash < v; });
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

}  // namespace infergate::resilience
