// Running the official openai npm SDK (pinned in tests/sdk/, installed by `make sdk-deps`)
// from tests: tests/sdk/run.mjs makes one request and prints what the client saw as JSON.
#pragma once

#include <optional>
#include <string>

namespace infergate::testing {

// Empty when node is on PATH and tests/sdk/node_modules holds the openai package; otherwise why
// not, for GTEST_SKIP.
std::string NodeSdkMissing();

// What run.mjs printed: {"ok":true,...} or {"ok":false,"error_class","status","code","type",
// "param","message"}; nullopt (with node's output in *why) when it printed nothing in time.
std::optional<std::string> RunNodeSdk(const std::string& kase, const std::string& base_url,
                                      const std::string& api_key, const std::string& options_json,
                                      std::string* why);

}  // namespace infergate::testing
