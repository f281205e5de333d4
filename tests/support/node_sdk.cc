#include "support/node_sdk.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

bool OnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

std::string NodeSdkMissing() {
  if (!OnPath("node")) {
    return "node is not installed: the openai npm SDK tests need Node.js 18 or later and npm "
           "(then `make sdk-deps`)";
  }
  if (::access(SourcePath("tests/sdk/node_modules/openai/package.json").c_str(), R_OK) != 0) {
    return "the openai npm SDK is not installed in tests/sdk/node_modules: run `make sdk-deps` "
           "(npm ci --prefix tests/sdk)";
  }
  return "";
}

std::optional<std::string> RunNodeSdk(const std::string& kase, const std::string& base_url,
                                      const std::string& api_key, const std::string& options_json,
                                      std::string* why) {
  auto node = Process::Start(
      {"node", SourcePath("tests/sdk/run.mjs"), kase, base_url, api_key, options_json});
  if (!node) {
    if (why != nullptr) *why = "node did not start";
    return std::nullopt;
  }
  auto line = node->WaitForOutput("SDKRESULT (\\{[^\\n]*\\})\\n", std::chrono::seconds(60));
  node->Wait(std::chrono::seconds(10));
  if (!line && why != nullptr) *why = node->Output();
  return line;
}

}  // namespace infergate::testing
