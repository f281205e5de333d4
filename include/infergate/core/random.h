// Fast non-cryptographic randomness for load balancing, weighted splits, jitter and request
// ids. One generator per thread (xoshiro256**); not for secrets.
#pragma once

#include <cstdint>

namespace infergate {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, bound). bound > 0.
  uint64_t Below(uint64_t bound);
  double NextDouble();  // [0, 1)

 private:
  uint64_t s_[4];
};

// The calling thread's generator, seeded from the OS on first use.
Rng& ThreadRng();

}  // namespace infergate
