// The mock OpenAI-compatible model server: options and the blocking entry point.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infergate/core/units.h"

namespace infergate::mock {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  std::vector<std::string> models;
  int64_t tokens = 16;
  Duration token_interval{0};
  Duration ttft{0};
  std::string id = "mock";
  int threads = 1;
};

// Binds, prints the "listening on" line and serves until SIGINT or SIGTERM. Returns the
// process exit code.
int RunMockServer(const Options& options);

}  // namespace infergate::mock
