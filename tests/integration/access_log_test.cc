// Integration: the access log file (one JSON or text line per exchange, every field), W3C
// traceparent continued or started and sent to the backend as the gateway's span, the trace id
// in gateway error bodies, and SIGUSR1 reopening the file after logrotate moved it.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentId[] = "00f067aa0ba902b7";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Waits until the file has `count` lines: woken by inotify whenever something in its directory
// is written or created (the writer is another thread of the gateway; a reopen makes a new file).
std::vector<std::string> WaitForLines(const std::string& path, size_t count,
                                      std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  const std::string dir = path.substr(0, path.rfind('/'));
  if (fd >= 0) inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE);
  std::vector<std::string> lines = Lines(path);
  while (lines.size() < count && fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) > 0) {
      char events[4096];
      while (read(fd, events, sizeof(events)) > 0) {
      }
    }
    lines = Lines(path);
  }
  if (fd >= 0) close(fd);
  return lines;
}

// A version-00 traceparent as the gateway sends it: nullopt when it is not one.
struct Traceparent {
  std::string trace_id, parent_id, flags;
};
std::optional<Traceparent> ParseTraceparent(const std::string& value) {
  static const std::regex kRe("^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$");
  std::smatch m;
  if (!std::regex_match(value, m, kRe)) return std::nullopt;
  return Traceparent{m[1], m[2], m[3]};
}

class AccessLogTest : public ::testing::Test {
 protected:
  void Start(const std::string& format = "json") {
    mock_ = MockServer::Start({"--id", "a", "--model", "mock-model", "--tokens", "4"});
    ASSERT_TRUE(mock_);
    path_ = dir_.path() + "/access.log";
    const std::string yaml =
        "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
        "admin:\n  listen: 127.0.0.1:0\n"
        "access_log:\n  path: " +
        path_ + "\n  format: " + format +
        "\n"
        "pools:\n" +
        PoolYaml("a", {mock_->address()}, "    health_check: false\n") + R"(routes:
  - name: chat
    match: {path: /v1/chat/completions, model: [llama-70b]}
    to: a
    rewrite_model: mock-model
  - name: files
    match: {path: /v1/files}
    to: a
)";
    std::string why;
    gw_ = Gateway::Start(yaml, {}, &why);
    ASSERT_TRUE(gw_) << why;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(AccessLogTest, OneJsonLinePerExchangeWithEveryField) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpClient c(gw_->port());
  const std::string traceparent = std::string("00-") + kTraceId + "-" + kParentId + "-01";
  auto r = c.Post(
      "/v1/chat/completions?v=1", ChatBody("llama-70b"),
      {{"x-request-id", "req-42"}, {"traceparent", traceparent}, {"tracestate", "vendor=abc"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-request-id"), "req-42");

  auto lines = WaitForLines(path_, 1);
  ASSERT_EQ(lines.size(), 1u) << ReadFile(path_);
  const std::string& line = lines[0];
  ASSERT_TRUE(JsonValid(line)) << line;
  EXPECT_EQ(JsonSize(line, ""), 26u) << line;
  const std::string time = JsonString(line, "/time").value_or("");
  EXPECT_EQ(time.size(), 24u) << time;  // 2024-02-29T23:59:58.123Z
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(JsonString(line, "/request_id"), "req-42");
  EXPECT_EQ(JsonString(line, "/trace_id"), kTraceId);
  EXPECT_EQ(JsonString(line, "/client"), "127.0.0.1");
  EXPECT_EQ(JsonString(line, "/listener"), "public");
  EXPECT_EQ(JsonString(line, "/protocol"), "HTTP/1.1");
  EXPECT_EQ(JsonString(line, "/method"), "POST");
  EXPECT_EQ(JsonString(line, "/path"), "/v1/chat/completions?v=1");
  EXPECT_EQ(JsonString(line, "/model"), "llama-70b");
  EXPECT_EQ(JsonString(line, "/model_served"), "mock-model");
  EXPECT_EQ(JsonString(line, "/route"), "chat");
  EXPECT_EQ(JsonString(line, "/pool"), "a");
  EXPECT_EQ(JsonString(line, "/backend"), mock_->address());
  EXPECT_TRUE(JsonIsNull(line, "/tenant"));
  EXPECT_EQ(JsonInt(line, "/status"), 200);
  EXPECT_TRUE(JsonIsNull(line, "/error"));
  EXPECT_EQ(JsonInt(line, "/attempts"), 1);
  EXPECT_TRUE(JsonIsNull(line, "/degraded"));
  EXPECT_TRUE(JsonIsNull(line, "/fallback"));
  EXPECT_TRUE(JsonDouble(line, "/ttfb_ms").has_value()) << line;
  EXPECT_TRUE(JsonHas(line, "/ttft_ms"));
  ASSERT_TRUE(JsonDouble(line, "/duration_ms").has_value()) << line;
  EXPECT_GE(*JsonDouble(line, "/duration_ms"), *JsonDouble(line, "/ttfb_ms"));
  EXPECT_EQ(JsonInt(line, "/bytes"), static_cast<int64_t>(r.body.size()));
  EXPECT_GT(JsonInt(line, "/bytes").value_or(0), 0);
  EXPECT_TRUE(JsonHas(line, "/input_tokens"));
  EXPECT_TRUE(JsonHas(line, "/output_tokens"));
  EXPECT_TRUE(JsonBool(line, "/tokens_estimated").has_value());

  // The backend got the same trace with the gateway's span as parent, and the tracestate.
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  const std::string upstream = stats->last_request->Header("traceparent");
  auto parsed = ParseTraceparent(upstream);
  ASSERT_TRUE(parsed) << upstream;
  EXPECT_EQ(parsed->trace_id, kTraceId);
  EXPECT_NE(parsed->parent_id, kParentId);
  EXPECT_NE(parsed->parent_id, "0000000000000000");
  EXPECT_EQ(parsed->flags, "01");
  EXPECT_EQ(stats->last_request->Header("tracestate"), "vendor=abc");
  EXPECT_EQ(stats->last_request->Header("x-request-id"), "req-42");

  EXPECT_EQ(gw_->WaitForMetric("infergate_access_log_lines_total", "", 1), 1);
  EXPECT_EQ(gw_->Metric("infergate_access_log_dropped_total", "reason=\"queue_full\""), 0);
}

TEST_F(AccessLogTest, WithoutTraceparentATraceIsStartedAndSentUpstream) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpClient c(gw_->port());
  // An invalid traceparent (upper case) is not continued; its tracestate stays behind.
  const std::string bad =
      std::string("00-") + "4BF92F3577B34DA6A3CE929D0E0E4736-" + kParentId + "-01";
  // GET /v1/files: proxied (the gateway answers /v1/models itself), the mock's 404 relayed.
  auto r = c.Get("/v1/files", {{"traceparent", bad}, {"tracestate", "vendor=abc"}});
  ASSERT_EQ(r.status, 404) << r.body;
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  auto first = ParseTraceparent(stats->last_request->Header("traceparent"));
  ASSERT_TRUE(first) << stats->last_request->Header("traceparent");
  EXPECT_EQ(first->flags, "00");
  EXPECT_EQ(stats->last_request->Header("tracestate"), "");
  r = c.Get("/v1/files");
  ASSERT_EQ(r.status, 404) << r.body;
  stats = mock_->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  auto second = ParseTraceparent(stats->last_request->Header("traceparent"));
  ASSERT_TRUE(second) << stats->last_request->Header("traceparent");

  auto lines = WaitForLines(path_, 2);
  ASSERT_EQ(lines.size(), 2u) << ReadFile(path_);
  EXPECT_EQ(JsonString(lines[0], "/trace_id"), first->trace_id);
  EXPECT_EQ(JsonString(lines[1], "/trace_id"), second->trace_id);
  EXPECT_NE(first->trace_id, second->trace_id);
  EXPECT_EQ(JsonString(lines[1], "/method"), "GET");
  EXPECT_EQ(JsonString(lines[1], "/route"), "files");
  EXPECT_TRUE(JsonIsNull(lines[1], "/model"));  // no body
  EXPECT_TRUE(JsonIsNull(lines[1], "/model_served"));
  // The generated request id is the one the client got.
  EXPECT_EQ(JsonString(lines[1], "/request_id"), r.Header("x-request-id"));
}

TEST_F(AccessLogTest, AnErrorIsLoggedAndItsBodyCarriesTheTraceId) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpClient c(gw_->port());
  const std::string traceparent = std::string("00-") + kTraceId + "-" + kParentId + "-00";
  const auto r = c.Get("/nothing/here", {{"traceparent", traceparent}});
  ASSERT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "route_not_found");
  EXPECT_TRUE(JsonIsNull(r.body, "/error/param"));
  EXPECT_TRUE(JsonString(r.body, "/error/message").has_value());
  EXPECT_EQ(JsonString(r.body, "/error/trace_id"), kTraceId);
  EXPECT_EQ(JsonString(r.body, "/error/request_id"), r.Header("x-request-id"));
  // A body naming a model no route serves.
  const auto r2 = c.Post("/v1/chat/completions", ChatBody("gpt-9"));
  ASSERT_EQ(r2.status, 404) << r2.body;

  auto lines = WaitForLines(path_, 2);
  ASSERT_EQ(lines.size(), 2u) << ReadFile(path_);
  EXPECT_EQ(JsonInt(lines[0], "/status"), 404);
  EXPECT_EQ(JsonString(lines[0], "/error"), "route_not_found");
  EXPECT_EQ(JsonString(lines[0], "/trace_id"), kTraceId);
  EXPECT_EQ(JsonString(lines[0], "/path"), "/nothing/here");
  EXPECT_TRUE(JsonIsNull(lines[0], "/route"));
  EXPECT_TRUE(JsonIsNull(lines[0], "/pool"));
  EXPECT_TRUE(JsonIsNull(lines[0], "/backend"));
  EXPECT_TRUE(JsonIsNull(lines[0], "/ttfb_ms"));
  EXPECT_EQ(JsonInt(lines[0], "/attempts"), 0);
  EXPECT_EQ(JsonInt(lines[0], "/bytes"), static_cast<int64_t>(r.body.size()));
  EXPECT_EQ(JsonInt(lines[1], "/status"), 404);
  EXPECT_EQ(JsonString(lines[1], "/error"), "model_not_found");
  EXPECT_EQ(JsonString(lines[1], "/model"), "gpt-9");
  EXPECT_EQ(JsonInt(lines[1], "/bytes"), static_cast<int64_t>(r2.body.size()));
}

TEST_F(AccessLogTest, ATransportRefusalIsLogged) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(
      c.SendRaw("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_EQ(r.status, 400) << r.body;
  auto lines = WaitForLines(path_, 1);
  ASSERT_EQ(lines.size(), 1u) << ReadFile(path_);
  EXPECT_EQ(JsonInt(lines[0], "/status"), 400);
  EXPECT_EQ(JsonString(lines[0], "/error"), "bad_request");
  EXPECT_EQ(JsonString(lines[0], "/client"), "127.0.0.1");
  EXPECT_EQ(JsonString(lines[0], "/listener"), "public");
  EXPECT_EQ(JsonString(lines[0], "/request_id"), r.Header("x-request-id"));
  EXPECT_TRUE(JsonIsNull(lines[0], "/method"));
  EXPECT_TRUE(JsonIsNull(lines[0], "/path"));
  EXPECT_EQ(JsonString(r.body, "/error/request_id"), r.Header("x-request-id"));
}

TEST_F(AccessLogTest, Sigusr1ReopensTheFileAfterARename) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpClient c(gw_->port());
  ASSERT_EQ(c.Get("/v1/models", {{"x-request-id", "first"}}).status, 200);
  ASSERT_EQ(WaitForLines(path_, 1).size(), 1u);
  const std::string rotated = path_ + ".1";
  ASSERT_EQ(std::rename(path_.c_str(), rotated.c_str()), 0);
  gw_->process().Signal(SIGUSR1);
  ASSERT_TRUE(gw_->process().WaitForOutput("access log .* reopened", 10s))
      << gw_->process().Output();
  ASSERT_EQ(c.Get("/v1/models", {{"x-request-id", "second"}}).status, 200);
  auto lines = WaitForLines(path_, 1);
  ASSERT_EQ(lines.size(), 1u) << ReadFile(path_);
  EXPECT_EQ(JsonString(lines[0], "/request_id"), "second");
  auto old_lines = Lines(rotated);
  ASSERT_EQ(old_lines.size(), 1u);
  EXPECT_EQ(JsonString(old_lines[0], "/request_id"), "first");
  EXPECT_TRUE(gw_->process().Running());
}

TEST_F(AccessLogTest, TextFormat) {
  ASSERT_NO_FATAL_FAILURE(Start("text"));
  HttpClient c(gw_->port());
  ASSERT_EQ(c.Get("/v1/files?q=a%20b", {{"x-request-id", "t-1"}}).status, 404);  // the mock's
  auto lines = WaitForLines(path_, 1);
  ASSERT_EQ(lines.size(), 1u) << ReadFile(path_);
  const std::string& line = lines[0];
  EXPECT_EQ(line.rfind("time=", 0), 0u) << line;
  for (const std::string part :
       {" request_id=t-1 ", " client=127.0.0.1 ", " listener=public ", " protocol=HTTP/1.1 ",
        " method=GET ", " path=/v1/files?q=a%20b ", " model=- ", " route=files ", " pool=a ",
        " status=404 ", " error=- ", " attempts=1 ", " tokens_estimated="}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  }
}

TEST(AccessLogCheckConfig, RefusesAPathThatCannotBeWritten) {
  TempDir dir;
  const std::string yaml =
      "listeners: [{name: public, listen: \"127.0.0.1:0\"}]\n"
      "access_log: {path: " +
      dir.path() +
      "/missing/access.log}\n"
      "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n"
      "routes: [{name: r, to: p}]\n";
  TempFile config(yaml, ".yaml");
  auto p = Process::Start({BinaryPath("infergate"), "--check-config", "-c", config.path()});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->Wait(10s), 1) << p->Output();
  EXPECT_NE(p->Output().find("access_log.path: the directory " + dir.path() + "/missing"),
            std::string::npos)
      << p->Output();
  // The same file without --check-config does not start either.
  std::string why;
  EXPECT_FALSE(Gateway::Start(yaml, {}, &why));
  EXPECT_NE(why.find("cannot open the access log"), std::string::npos) << why;
}

}  // namespace
}  // namespace infergate::testing
