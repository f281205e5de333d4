// Seeded random generation for the randomized integration test (RandomConfig.*): valid infergate
// configs (pools live and dead, compartments at every level, tiers, tenants, runners, routes
// with weighted splits, rewrites, fallback chains and degrade triggers), random requests with
// backend faults steered through the mock's x-mock-* headers, and the well-formedness checks
// every answer must pass. Everything is a pure function of the generator's state, so a seed
// reproduces a run (up to the ephemeral ports).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/http_client.h"

namespace infergate::testing {

// SplitMix64: small, fast and fully determined by its seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  uint64_t Below(uint64_t bound);  // [0, bound); bound > 0
  int Between(int lo, int hi);     // [lo, hi]
  bool Chance(int percent);        // true with that probability
  template <typename T>
  const T& Pick(const std::vector<T>& items) {  // items not empty
    return items[Below(items.size())];
  }

 private:
  uint64_t state_;
};

// Where the generated pools may point: addresses of running mocks (serving kMockModels) and
// addresses where nothing listens.
struct RandomTopology {
  std::vector<std::string> live;  // at least 2
  std::vector<std::string> dead;  // at least 2
};

// The models every live mock serves (pass each as --model).
extern const std::vector<std::string> kMockModels;

struct GeneratedConfig {
  std::string yaml;
  bool require_api_key = false;
  std::vector<std::string> tenant_keys;   // API keys (in clear) of the generated tenants
  std::vector<std::string> tenant_names;  // for tenant_identification.header
  std::string tenant_header;              // "" when tenants are not named by a header
};

GeneratedConfig GenerateConfig(SplitMix64& rng, const RandomTopology& topology);

struct RandomRequest {
  std::string method;
  std::string path;
  Headers headers;
  std::string body;
  bool stream = false;      // the body asks for a stream
  bool fault = false;       // a backend fault is injected (status, delay, hang, cut)
  bool disconnect = false;  // the client goes away early instead of reading the answer
  int disconnect_after_reads = 0;

  std::string Describe() const;
  // The request as raw HTTP/1.1 bytes (for early disconnects).
  std::string Raw() const;
};

RandomRequest GenerateRequest(SplitMix64& rng, const GeneratedConfig& config);

// "" when `r` is a well-formed answer to `req`; otherwise what is wrong with it.
std::string CheckAnswer(const RandomRequest& req, const HttpResponse& r,
                        const GeneratedConfig& config);

// A short description of an answer for failure messages.
std::string DescribeAnswer(const HttpResponse& r);

}  // namespace infergate::testing
