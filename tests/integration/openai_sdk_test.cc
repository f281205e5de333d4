// Integration: the official openai npm SDK (pinned in tests/sdk/, run by tests/sdk/run.mjs)
// against the gateway - proxied chat, completions, Responses API and embeddings answers,
// streamed and not; the gateway's own answers (static and runner fallbacks for a route whose
// backend is down); and its errors, each of which the SDK must raise as the right class with
// status, code and type. Skipped, saying why, when node or the SDK is not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "integration/failure_containment_util.h"
#include "support/node_sdk.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;
using containment::AdminBackends;
using containment::WaitUntil;

constexpr const char* kStaticText = "The large model is busy; please retry shortly.";
constexpr const char* kMockText = "tok0 tok1 tok2";  // the mock's three tokens
constexpr const char* kKey = "sdk-test-key";

// One mock serving every proxied model, and one gateway with a route per behaviour: started by
// the first test that needs them, stopped when the test program ends.
class Env {
 public:
  static Env* Get() {
    if (!instance) instance.reset(new Env());
    return instance.get();
  }
  static inline std::unique_ptr<Env> instance;
  bool ok() const { return gw != nullptr; }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(gw->port()) + "/v1"; }

  std::unique_ptr<MockServer> mock;
  std::unique_ptr<Gateway> gw;
  std::string dead;  // where nothing listens
  std::string why;

 private:
  Env() {
    mock = MockServer::Start({"--model", "mock-model", "--model", "embed-model", "--model",
                              "slow-model", "--model", "limited-model", "--tokens", "3"});
    if (!mock) return;
    dead = "127.0.0.1:" + std::to_string(RefusingPort());
    const std::string main = "    backends: [http://" + mock->address() + "]\n";
    const std::string gone = "    backends: [http://" + dead + "]\n";
    gw = Gateway::Start(
        "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
        "admin:\n  listen: 127.0.0.1:0\n"
        "compartments:\n"
        "  - {name: one, max_concurrent: 1, max_queue: 0, on_full: reject}\n"
        "  - {name: cpu, max_concurrent: 8, thread_pool: {threads: 1, queue: 16}}\n"
        "runners:\n  - {name: synth, compartment: cpu, tokens: 4, token_cost: 0ms}\n"
        "pools:\n"
        "  - name: main\n    health_check: {enabled: false}\n" +
            main + "  - name: gone\n    health_check: {enabled: false}\n" + gone +
            "  - name: down\n    panic_threshold: 0\n"
            "    health_check: {interval: 50ms, unhealthy_threshold: 1}\n" +
            gone +
            "routes:\n"
            "  - {name: proxied, match: {methods: [POST], model: [mock-model, embed-model]}, "
            "to: main}\n"
            "  - {name: slow, match: {model: slow-model}, to: main, retries: 0, "
            "timeouts: {first_byte: 300ms}}\n"
            "  - {name: limited, match: {model: limited-model}, to: main, compartment: one}\n"
            "  - name: static\n    match: {model: static-model}\n    to: gone\n    retries: 0\n"
            "    fallbacks: [{static: \"" +
            kStaticText +
            "\"}]\n"
            "  - name: runner\n    match: {model: runner-model}\n    to: gone\n    retries: 0\n"
            "    fallbacks: [{runner: synth}]\n"
            "  - name: pooled\n    match: {model: pooled-model}\n    to: gone\n    retries: 0\n"
            "    response_model: requested\n"
            "    fallbacks: [{pool: main, rewrite_model: mock-model}]\n"
            "  - {name: down, match: {model: down-model}, to: down, retries: 0}\n",
        {"--workers", "2"}, &why);
  }
};

class EnvTearDown : public ::testing::Environment {
 public:
  void TearDown() override { Env::instance.reset(); }
};
[[maybe_unused]] ::testing::Environment* const kEnvTearDown =
    ::testing::AddGlobalTestEnvironment(new EnvTearDown);

// What the SDK saw, as run.mjs printed it.
struct Seen {
  std::string json;
  bool ok() const { return JsonBool(json, "/ok").value_or(false); }
  std::string Str(const char* pointer) const { return JsonString(json, pointer).value_or(""); }
  std::optional<int64_t> Int(const char* pointer) const { return JsonInt(json, pointer); }
  bool HasUsage() const { return JsonHas(json, "/usage") && !JsonIsNull(json, "/usage"); }
};

class OpenAiSdk : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = NodeSdkMissing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    ASSERT_TRUE(Env::Get()->ok()) << Env::Get()->why;
  }
  // Runs `kase` with {"model": model, ...options}; an empty model is left out.
  static Seen Run(const std::string& kase, const std::string& model,
                  const std::string& options = "", const std::string& base_url = "") {
    std::string json = "{";
    if (!model.empty()) json += "\"model\":\"" + model + "\"";
    if (!options.empty()) json += (model.empty() ? "" : ",") + options;
    json += "}";
    std::string why;
    auto out =
        RunNodeSdk(kase, base_url.empty() ? Env::Get()->BaseUrl() : base_url, kKey, json, &why);
    EXPECT_TRUE(out) << "node printed no result:\n" << why;
    return Seen{out.value_or("{}")};
  }
  static void ExpectError(const Seen& s, const char* cls, int status, const char* code,
                          const char* type) {
    EXPECT_FALSE(s.ok()) << s.json;
    EXPECT_EQ(s.Str("/error_class"), cls) << s.json;
    EXPECT_EQ(s.Int("/status"), status) << s.json;
    EXPECT_EQ(s.Str("/code"), code) << s.json;
    EXPECT_EQ(s.Str("/type"), type) << s.json;
  }
};

// ---- The matrix: endpoint x streamed x include_usage, proxied and answered by fallbacks.

struct Case {
  std::string kase;  // chat | completions | responses
  bool stream = false;
  bool include_usage = false;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.kase << (c.stream ? " streamed" : " plain")
      << (c.include_usage ? " with include_usage" : "");
}

std::string Options(const Case& c) {
  std::string o = std::string("\"stream\":") + (c.stream ? "true" : "false");
  if (c.include_usage) o += ",\"include_usage\":true";
  return o;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return c.kase + (c.stream ? "Streamed" : "Plain") + (c.include_usage ? "WithUsage" : "");
}

// Usage is always in a plain answer and in the Responses API's response.completed; a streamed
// chat or completion carries it exactly when stream_options.include_usage asked.
bool UsageExpected(const Case& c) { return !c.stream || c.kase == "responses" || c.include_usage; }

void ExpectStreamShape(const Seen& s, const Case& c) {
  if (!c.stream) return;
  EXPECT_GT(s.Int("/chunks").value_or(0), 1) << s.json;
  if (c.kase != "responses") return;
  EXPECT_EQ(s.Str("/event_types/0"), "response.created") << s.json;
  const size_t n = JsonSize(s.json, "/event_types").value_or(0);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(JsonString(s.json, "/event_types/" + std::to_string(n - 1)), "response.completed");
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(JsonInt(s.json, "/sequence/" + std::to_string(i)), static_cast<int64_t>(i)) << s.json;
  }
}

void ExpectUsage(const Seen& s, const Case& c) {
  EXPECT_EQ(s.HasUsage(), UsageExpected(c)) << s.json;
  if (!s.HasUsage()) return;
  if (c.kase == "responses") {
    EXPECT_EQ(
        s.Int("/usage/total_tokens").value_or(-1),
        s.Int("/usage/input_tokens").value_or(-2) + s.Int("/usage/output_tokens").value_or(-2))
        << s.json;
  } else {
    EXPECT_EQ(
        s.Int("/usage/total_tokens").value_or(-1),
        s.Int("/usage/prompt_tokens").value_or(-2) + s.Int("/usage/completion_tokens").value_or(-2))
        << s.json;
  }
}

const std::vector<Case> kCases = {
    {"chat", false, false},       {"chat", false, true},         {"chat", true, false},
    {"chat", true, true},         {"completions", false, false}, {"completions", false, true},
    {"completions", true, false}, {"completions", true, true},   {"responses", false, false},
    {"responses", true, false},
};

class OpenAiSdkProxied : public OpenAiSdk, public ::testing::WithParamInterface<Case> {};

TEST_P(OpenAiSdkProxied, ClientSeesTheBackendsAnswer) {
  const Case& c = GetParam();
  const Seen s = Run(c.kase, "mock-model", Options(c));
  ASSERT_TRUE(s.ok()) << s.json;
  EXPECT_EQ(s.Str("/text"), kMockText) << s.json;
  EXPECT_EQ(s.Str("/model"), "mock-model") << s.json;
  ExpectUsage(s, c);
  ExpectStreamShape(s, c);
}

INSTANTIATE_TEST_SUITE_P(Matrix, OpenAiSdkProxied, ::testing::ValuesIn(kCases), CaseName);

class OpenAiSdkStatic : public OpenAiSdk, public ::testing::WithParamInterface<Case> {};

// A route whose only backend is down, answered by its static fallback: the SDK's text is the
// static text (response.output_text for the Responses API, the deltas joined when streamed).
TEST_P(OpenAiSdkStatic, ClientSeesTheStaticText) {
  const Case& c = GetParam();
  const Seen s = Run(c.kase, "static-model", Options(c));
  ASSERT_TRUE(s.ok()) << s.json;
  EXPECT_EQ(s.Str("/text"), kStaticText) << s.json;
  ExpectUsage(s, c);
  ExpectStreamShape(s, c);
}

INSTANTIATE_TEST_SUITE_P(Matrix, OpenAiSdkStatic, ::testing::ValuesIn(kCases), CaseName);

class OpenAiSdkRunner : public OpenAiSdk, public ::testing::WithParamInterface<Case> {};

// The same route answered by the synthetic runner: some text, in the endpoint's shape.
TEST_P(OpenAiSdkRunner, ClientSeesTheRunnersText) {
  const Case& c = GetParam();
  const Seen s = Run(c.kase, "runner-model", Options(c));
  ASSERT_TRUE(s.ok()) << s.json;
  EXPECT_FALSE(s.Str("/text").empty()) << s.json;
  ExpectUsage(s, c);
  ExpectStreamShape(s, c);
}

INSTANTIATE_TEST_SUITE_P(Matrix, OpenAiSdkRunner, ::testing::ValuesIn(kCases), CaseName);

class OpenAiSdkPoolFallback : public OpenAiSdk, public ::testing::WithParamInterface<Case> {};

// A route whose only backend is down, answered by a fallback pool under another model name:
// the backend's answer, proxied, naming the model the client asked for (response_model:
// requested).
TEST_P(OpenAiSdkPoolFallback, ClientSeesTheFallbackPoolsAnswer) {
  const Case& c = GetParam();
  const Seen s = Run(c.kase, "pooled-model", Options(c));
  ASSERT_TRUE(s.ok()) << s.json;
  EXPECT_EQ(s.Str("/text"), kMockText) << s.json;
  EXPECT_EQ(s.Str("/model"), "pooled-model") << s.json;
  ExpectUsage(s, c);
  ExpectStreamShape(s, c);
}

INSTANTIATE_TEST_SUITE_P(Matrix, OpenAiSdkPoolFallback, ::testing::ValuesIn(kCases), CaseName);

// ---- Embeddings.

// The SDK asks for base64 by default and decodes the float32 bytes; asked for floats, it gets
// the same vectors (to float precision): two unit vectors of the mock's 8 components.
TEST_F(OpenAiSdk, EmbeddingsProxiedBase64AndFloat) {
  const Seen b64 = Run("embeddings", "embed-model");
  ASSERT_TRUE(b64.ok()) << b64.json;
  const Seen floats = Run("embeddings", "embed-model", "\"encoding_format\":\"float\"");
  ASSERT_TRUE(floats.ok()) << floats.json;
  for (const Seen* s : {&b64, &floats}) {
    EXPECT_EQ(s->Str("/model"), "embed-model");
    EXPECT_EQ(s->Int("/count"), 2);
    EXPECT_EQ(s->Int("/indexes/1"), 1);
    EXPECT_EQ(s->Int("/usage/prompt_tokens"), s->Int("/usage/total_tokens"));
  }
  for (int i = 0; i < 2; ++i) {
    const std::string row = "/embeddings/" + std::to_string(i);
    ASSERT_EQ(JsonSize(b64.json, row), 8u) << b64.json;
    double norm = 0;
    for (int k = 0; k < 8; ++k) {
      const std::string at = row + "/" + std::to_string(k);
      const double a = JsonDouble(b64.json, at).value_or(9);
      EXPECT_NEAR(a, JsonDouble(floats.json, at).value_or(-9), 1e-6) << at;
      norm += a * a;
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
}

// Embeddings through a fallback pool are the pool's answer, under the client's model name.
TEST_F(OpenAiSdk, EmbeddingsThroughAFallbackPool) {
  const Seen s = Run("embeddings", "pooled-model");
  ASSERT_TRUE(s.ok()) << s.json;
  EXPECT_EQ(s.Str("/model"), "pooled-model");
  EXPECT_EQ(s.Int("/count"), 2);
  EXPECT_EQ(JsonSize(s.json, "/embeddings/0"), 8u) << s.json;
}

// Own answers have no embeddings shape: embeddings through a static or runner fallback are a 503.
TEST_F(OpenAiSdk, EmbeddingsThroughAStaticFallbackAre503) {
  ExpectError(Run("embeddings", "static-model"), "InternalServerError", 503, "fallbacks_failed",
              "server_error");
  ExpectError(Run("embeddings", "runner-model"), "InternalServerError", 503, "fallbacks_failed",
              "server_error");
}

// ---- Typed errors.

TEST_F(OpenAiSdk, MissingModelIsBadRequestError) {
  const Seen s = Run("chat", "");
  ExpectError(s, "BadRequestError", 400, "missing_required_parameter", "invalid_request_error");
  EXPECT_EQ(s.Str("/param"), "model") << s.json;
}

TEST_F(OpenAiSdk, WrongKeyIsAuthenticationError) {
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    require_api_key: true\n"
      "tenants:\n  - {name: acme, api_keys_sha256: "
      "[23f541ed79d6e0357ea3108e8a985a73296c8979b78f5eafe8b722ff8add1204]}\n"
      "pools:\n  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
          Env::Get()->mock->address() + "]\nroutes:\n  - {name: all, match: {}, to: main}\n",
      {}, &why);
  ASSERT_TRUE(gw) << why;
  const std::string url = "http://127.0.0.1:" + std::to_string(gw->port()) + "/v1";
  ExpectError(Run("chat", "mock-model", "", url), "AuthenticationError", 401, "invalid_api_key",
              "invalid_request_error");
}

TEST_F(OpenAiSdk, UnknownModelIsNotFoundError) {
  ExpectError(Run("chat", "no-such-model"), "NotFoundError", 404, "model_not_found",
              "invalid_request_error");
}

// A method no route takes: the SDK has no class of its own for 405, so it raises APIError.
TEST_F(OpenAiSdk, MethodNotAllowedIsAPIError) {
  ExpectError(Run("put", "mock-model"), "APIError", 405, "method_not_allowed",
              "invalid_request_error");
}

// A full compartment (max_concurrent 1, no queue, on_full reject): a request that hangs in the
// mock holds the slot, and the SDK's request is refused with 429.
TEST_F(OpenAiSdk, FullCompartmentIsRateLimitError) {
  Gateway& gw = *Env::Get()->gw;
  HttpClient holder(gw.port());
  ASSERT_TRUE(holder.Connect());
  const std::string body = ChatBody("limited-model", true);
  ASSERT_TRUE(
      holder.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nx-mock-hang: 1\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  ASSERT_EQ(gw.WaitForMetric("infergate_compartment_in_flight", "compartment=\"one\"", 1), 1);
  ExpectError(Run("chat", "limited-model"), "RateLimitError", 429, "rate_limit_exceeded",
              "requests");
  holder.Abort();
  EXPECT_EQ(gw.WaitForMetric("infergate_compartment_in_flight", "compartment=\"one\"", 0), 0);
}

// A pool whose only backend its health checks marked down (and no panic mode to send to it
// anyway): 503 no_backend_available.
TEST_F(OpenAiSdk, NoBackendIsInternalServerError503) {
  Gateway& gw = *Env::Get()->gw;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& v : AdminBackends(gw)) {
          if (v.backend.find(Env::Get()->dead) != std::string::npos && v.state != "available") {
            return true;
          }
        }
        return false;
      },
      5000ms));
  ExpectError(Run("chat", "down-model"), "InternalServerError", 503, "no_backend_available",
              "server_error");
}

// The mock waits 5 s before its first byte; the route's first_byte timeout is 300 ms.
TEST_F(OpenAiSdk, FirstByteTimeoutIsInternalServerError504) {
  ExpectError(Run("chat", "slow-model", "\"headers\":{\"x-mock-ttft-ms\":\"5000\"}"),
              "InternalServerError", 504, "upstream_first_byte_timeout", "server_error");
}

}  // namespace
}  // namespace infergate::testing
