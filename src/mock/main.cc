// infergate-mock: command-line entry of the fast OpenAI-compatible mock model server used by
// tests, benchmarks and the demo.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "infergate/core/units.h"
#include "mock/mock_server.h"

namespace {

constexpr const char* kUsage =
    "usage: infergate-mock [flags]\n"
    "  --listen HOST:PORT          address to listen on (default 127.0.0.1:8000; port 0 =\n"
    "                              ephemeral)\n"
    "  --model NAME                a served model name, repeatable (default mock-model)\n"
    "  --tokens N                  tokens per completion or response (default 16)\n"
    "  --token-interval DURATION   gap between streamed tokens, e.g. 20ms (default 0ms)\n"
    "  --ttft DURATION             time to first token (default 0ms)\n"
    "  --id NAME                   value of the x-mock-server response header (default mock)\n"
    "  --threads N                 I/O threads (default 1)\n"
    "  --help                      show this text\n"
    "Serves POST /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings and\n"
    "GET /v1/models.\n"
    "Per-request headers: x-mock-status, x-mock-ttft-ms, x-mock-tokens,\n"
    "x-mock-token-interval-ms, x-mock-hang, x-mock-close-after-tokens, x-mock-echo,\n"
    "x-mock-read-delay-ms, x-mock-error-body. Control endpoints: GET /mock/stats,\n"
    "POST /mock/reset,\n"
    "POST /mock/gauges ({\"waiting\", \"running\", \"kv_cache_usage\", \"fail_status\"}).\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "infergate-mock: %s\n%s", message.c_str(), kUsage);
  return 2;
}

bool ParseCount(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  auto v = infergate::ParseBoundedInt(text, min, max);
  if (v) *out = *v;
  return v.has_value();
}

bool ParseListen(std::string_view text, infergate::mock::Options* options) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  int64_t port = 0;
  if (!ParseCount(text.substr(colon + 1), 0, 65535, &port)) return false;
  options->host = std::string(text.substr(0, colon));
  options->port = static_cast<uint16_t>(port);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  infergate::mock::Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string_view value;
    size_t eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Fail("missing value for " + std::string(arg));
    }
    int64_t n = 0;
    if (arg == "--listen") {
      if (!ParseListen(value, &options)) return Fail("bad --listen: " + std::string(value));
    } else if (arg == "--model") {
      if (value.empty()) return Fail("empty --model");
      options.models.emplace_back(value);
    } else if (arg == "--tokens") {
      if (!ParseCount(value, 0, 1000000, &n)) return Fail("bad --tokens: " + std::string(value));
      options.tokens = n;
    } else if (arg == "--token-interval" || arg == "--ttft") {
      auto d = infergate::ParseDuration(value);
      if (!d) return Fail("bad " + std::string(arg) + ": " + std::string(value));
      (arg == "--ttft" ? options.ttft : options.token_interval) = *d;
    } else if (arg == "--id") {
      if (value.empty() || value.find_first_of("\r\n") != std::string_view::npos) {
        return Fail("bad --id");
      }
      options.id = std::string(value);
    } else if (arg == "--threads") {
      if (!ParseCount(value, 1, 256, &n)) return Fail("bad --threads: " + std::string(value));
      options.threads = static_cast<int>(n);
    } else {
      return Fail("unknown flag " + std::string(arg));
    }
  }
  if (options.models.empty()) options.models.emplace_back("mock-model");
  std::signal(SIGPIPE, SIG_IGN);
  return infergate::mock::RunMockServer(options);
}
