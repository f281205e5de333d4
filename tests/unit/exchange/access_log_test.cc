// What the exchange gives the access log and the backend: its line (trace id, tenant, model,
// degradation, attempts, body bytes sent) and the traceparent of the gateway's span.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "infergate/observability/access_log.h"
#include "unit/exchange/fakes.h"

namespace infergate::exchange::testing {
namespace {

using Kind = Script::Kind;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentId[] = "00f067aa0ba902b7";
const std::string kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

Script Answer(std::vector<std::string> pieces) {
  Script s;
  s.pieces = std::move(pieces);
  return s;
}

Script Behaviour(Kind k) {
  Script s;
  s.kind = k;
  return s;
}

std::string Yaml(const std::string& route_extra = "", const std::string& top = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + top +
         "pools:\n  - name: main\n"
         "    backends: [http://127.0.0.1:9001, http://127.0.0.1:9002]\n"
         "    load_balancing: round_robin\n"
         "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n" +
         route_extra;
}

// An access log in a temporary directory, wired into the harness's worker; Line() stops it
// (writing what is queued) and returns its one line.
class LoggedHarness : public Harness {
 public:
  explicit LoggedHarness(const std::string& yaml) : Harness(yaml) {
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate-exchange-alog-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    log_ = std::make_unique<observability::AccessLog>(
        observability::AccessLogOptions{(dir_ / "access.log").string()}, registry);
    std::string error;
    if (!log_->Start(&error)) throw std::runtime_error(error);
    worker.access_log = log_.get();
  }
  ~LoggedHarness() { std::filesystem::remove_all(dir_); }
  std::string Line() {
    log_->Stop();
    std::ifstream in(dir_ / "access.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::unique_ptr<observability::AccessLog> log_;
};

void ExpectField(const std::string& line, const std::string& member) {
  EXPECT_NE(line.find(member), std::string::npos) << member << " in " << line;
}

TEST(ExchangeAccessLog, ContinuesTheClientsTraceAndLogsTheExchange) {
  LoggedHarness h(Yaml("    retries: 1\n    rewrite_model: served-name\n",
                       "tenant_identification: {header: x-tenant}\ntenants: [{name: acme}]\n"));
  // The first attempt is reset before its head; the retry answers.
  h.connector.scripts[0].push_back(Behaviour(Kind::kResetBeforeHead));
  h.connector.scripts[1].push_back(Answer({"abc", "de"}));
  Exchange ex(h.env());
  const std::string traceparent = std::string("00-") + kTraceId + "-" + kParentId + "-01";
  FakeServerStream s("POST", "/v1/chat/completions", kChat,
                     {{"traceparent", traceparent}, {"x-tenant", "acme"}, {"x-request-id", "r-1"}});
  bool done = false;
  h.Start(ex, s, &done);
  h.Advance(std::chrono::seconds(1));  // the backoff before the retry
  ASSERT_TRUE(done);
  ASSERT_EQ(s.status, 200);
  ASSERT_EQ(s.body, "abcde");

  // Both attempts carried the same trace, with the gateway's span as the parent.
  ASSERT_EQ(h.connector.log.traceparents.size(), 2u);
  const std::string& up = h.connector.log.traceparents[0];
  EXPECT_EQ(up.size(), 55u);
  EXPECT_EQ(up.substr(0, 36), std::string("00-") + kTraceId + "-");
  EXPECT_NE(up.substr(36, 16), kParentId);
  EXPECT_EQ(up.substr(52), "-01");
  EXPECT_EQ(h.connector.log.traceparents[1], up);

  const std::string line = h.Line();
  ExpectField(line, std::string("\"trace_id\":\"") + kTraceId + "\"");
  ExpectField(line, "\"request_id\":\"r-1\"");
  ExpectField(line, "\"client\":\"192.0.2.7\"");
  ExpectField(line, "\"tenant\":\"acme\"");
  ExpectField(line, "\"model\":\"m\"");
  ExpectField(line, "\"model_served\":\"served-name\"");
  ExpectField(line, "\"route\":\"chat\",\"pool\":\"main\",\"backend\":\"127.0.0.1:9002\"");
  ExpectField(line, "\"status\":200,\"error\":null,\"attempts\":2");
  ExpectField(line, "\"degraded\":null,\"fallback\":null");
  ExpectField(line, "\"bytes\":5,");
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
}

TEST(ExchangeAccessLog, ADegradedAnswerNamesItsTriggerAndFallback) {
  LoggedHarness h(
      Yaml("    retries: 0\n    fallbacks:\n      - {static: \"sorry\"}\n"
           "    degrade: {on: [retries_exhausted]}\n"));
  for (size_t b = 0; b < 2; ++b) h.connector.scripts[b].push_back(Behaviour(Kind::kConnectFail));
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  ASSERT_EQ(s.status, 200);
  const std::string line = h.Line();
  ExpectField(line, "\"status\":200,\"error\":null,\"attempts\":1");
  ExpectField(line, "\"degraded\":\"retries_exhausted\",\"fallback\":\"static\"");
  ExpectField(line, "\"model\":\"m\",\"model_served\":\"m\"");
  // The gateway's own answer counts as body bytes sent.
  ExpectField(line, "\"bytes\":" + std::to_string(s.body.size()) + ",");
  // A new trace: 32 hex digits that are not the client's (it sent none).
  const size_t at = line.find("\"trace_id\":\"");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(line.substr(at + 12 + 32, 1), "\"") << line;
}

TEST(ExchangeAccessLog, AGatewayErrorCarriesTheTraceIdInItsBody) {
  LoggedHarness h(Yaml());
  Exchange ex(h.env());
  const std::string traceparent = std::string("00-") + kTraceId + "-" + kParentId + "-00";
  FakeServerStream s("GET", "/other", "", {{"traceparent", traceparent}});
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  ASSERT_EQ(s.status, 404);
  EXPECT_NE(s.body.find(std::string("\"trace_id\":\"") + kTraceId + "\""), std::string::npos)
      << s.body;
  EXPECT_NE(s.body.find("\"request_id\":\"" + s.headers["x-request-id"] + "\""), std::string::npos)
      << s.body;
  const std::string line = h.Line();
  ExpectField(line, "\"status\":404,\"error\":\"route_not_found\",\"attempts\":0");
  ExpectField(line, "\"route\":null,\"pool\":null,\"backend\":null");
  ExpectField(line, "\"bytes\":" + std::to_string(s.body.size()) + ",");
  EXPECT_TRUE(h.connector.log.traceparents.empty());
}

// Body bytes discarded before a flush (a response about to be retried) are not counted as sent.
TEST(CountingServerStream, CountsBodyBytesHandedOnLessDiscarded) {
  asio::io_context io;
  FakeServerStream inner("GET", "/", "");
  CountingServerStream s;
  s.Wrap(inner);
  EXPECT_EQ(&s.request(), &inner.request());
  s.WriteHead({});
  s.WriteBody("abc");
  s.Discard();
  EXPECT_EQ(s.bytes(), 0u);
  s.WriteBody("de");
  bool flushed = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { flushed = co_await s.Flush(); }, asio::detached);
  io.run();
  EXPECT_TRUE(flushed);
  s.WriteBody("f");
  s.Discard();  // after a flush only the unflushed piece goes
  EXPECT_EQ(s.bytes(), 2u);
  EXPECT_EQ(inner.body, "de");
  s.Wrap(inner);
  EXPECT_EQ(s.bytes(), 0u);  // a new exchange counts from zero
}

}  // namespace
}  // namespace infergate::exchange::testing
