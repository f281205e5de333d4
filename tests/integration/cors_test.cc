// Integration: CORS per listener. Preflights answered by the gateway (allowed and refused
// origins, before authentication), the listener's headers on proxied answers, errors and the
// gateway's own answers, credentials, "*", a backend's Access-Control-* fields replaced, and
// HTTP/2 as well as HTTP/1.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway.h"
#include "support/h2_client.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// sha256("tenant-key"), as `printf %s tenant-key | sha256sum` prints it.
constexpr const char* kTenantKeyHash =
    "5c3c107fd162b818601ac73cf4ac41d98bcf1c4c77f844a1f7877cbb7ee8bcdd";
constexpr const char* kApp = "https://app.example";

// A backend that answers every request with the same response, whose head carries its own
// (too generous) CORS fields; one connection at a time, closed after the answer.
class CorsBackend {
 public:
  CorsBackend() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CorsBackend() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      const std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: DELETE\r\n"
          "access-control-expose-headers: x-secret\r\nX-Backend: raw\r\n"
          "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
      (void)!::write(c, out.data(), out.size());
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Yaml(const std::string& mock, const std::string& raw, const std::string& cors,
                 const std::string& listener_extra = "", const std::string& tail = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "    cors:\n" + cors + "admin:\n  listen: 127.0.0.1:0\npools:\n" +
         PoolYaml("main", {mock}, "    health_check: {enabled: false}\n") +
         PoolYaml("raw", {raw}, "    health_check: {enabled: false}\n") +
         "routes:\n  - {name: raw, match: {path: /raw}, to: raw}\n"
         "  - {name: chat, match: {path_prefix: /v1/}, to: main}\n" +
         tail;
}

constexpr const char* kCredentialed =
    "      allow_origins: [\"https://app.example\", \"http://localhost:3000\"]\n"
    "      allow_methods: [GET, POST]\n"
    "      allow_headers: [authorization, content-type, x-team]\n"
    "      expose_headers: [x-custom]\n"
    "      allow_credentials: true\n"
    "      max_age: 5m\n";

void ExpectActualCors(const HttpResponse& r, const std::string& origin, bool credentials) {
  EXPECT_EQ(r.Header("access-control-allow-origin"), origin) << r.status;
  EXPECT_EQ(r.Header("access-control-expose-headers"),
            credentials ? "x-request-id, x-infergate-degraded, x-custom"
                        : "x-request-id, x-infergate-degraded");
  EXPECT_EQ(r.Header("access-control-allow-credentials"), credentials ? "true" : "");
  bool vary_origin = false;
  for (const auto& [name, value] : r.headers) vary_origin |= name == "vary" && value == "Origin";
  EXPECT_TRUE(vary_origin) << r.status;
  EXPECT_FALSE(r.HasHeader("access-control-allow-methods"));
}

void ExpectNoCors(const HttpResponse& r) {
  for (const auto& [name, value] : r.headers) {
    EXPECT_NE(name.rfind("access-control-", 0), 0u) << name << ": " << value;
  }
}

class CorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = MockServer::Start({"--id", "m", "--model", "m"});
    ASSERT_TRUE(mock_);
    ASSERT_NE(raw_.port(), 0);
  }
  void Start(const std::string& cors, const std::string& listener_extra = "",
             const std::string& tail = "") {
    std::string why;
    gw_ = Gateway::Start(Yaml(mock_->address(), raw_.address(), cors, listener_extra, tail), {},
                         &why);
    ASSERT_TRUE(gw_) << why;
  }

  std::unique_ptr<MockServer> mock_;
  CorsBackend raw_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(CorsTest, PreflightFromAnAllowedOriginIsAnsweredByTheGateway) {
  ASSERT_NO_FATAL_FAILURE(Start(kCredentialed));
  HttpClient c(gw_->port());
  HttpResponse r = c.Request("OPTIONS", "/v1/chat/completions",
                             {{"origin", "http://localhost:3000"},
                              {"access-control-request-method", "POST"},
                              {"access-control-request-headers", "content-type, authorization"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Header("access-control-allow-origin"), "http://localhost:3000");
  EXPECT_EQ(r.Header("access-control-allow-methods"), "GET, POST");
  EXPECT_EQ(r.Header("access-control-allow-headers"), "authorization, content-type, x-team");
  EXPECT_EQ(r.Header("access-control-max-age"), "300");
  EXPECT_EQ(r.Header("access-control-allow-credentials"), "true");
  EXPECT_EQ(r.Header("vary"), "Origin");
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_TRUE(r.body.empty());
  // Not forwarded; the connection goes on.
  EXPECT_EQ(mock_->Stats()->requests, 0);
  EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("m")).status, 200);
}

TEST_F(CorsTest, PreflightFromAnotherOriginGets204WithoutAllowHeaders) {
  ASSERT_NO_FATAL_FAILURE(Start(kCredentialed));
  HttpClient c(gw_->port());
  HttpResponse r =
      c.Request("OPTIONS", "/v1/chat/completions",
                {{"origin", "https://evil.example"}, {"access-control-request-method", "POST"}});
  EXPECT_EQ(r.status, 204);
  ExpectNoCors(r);
  EXPECT_EQ(mock_->Stats()->requests, 0);
  // An OPTIONS that is not a preflight is routed like any request.
  r = c.Request("OPTIONS", "/v1/chat/completions", {{"origin", kApp}});
  EXPECT_EQ(r.Header("x-mock-server"), "m");
}

TEST_F(CorsTest, EveryAnswerToAnAllowedOriginCarriesThePolicy) {
  ASSERT_NO_FATAL_FAILURE(Start(kCredentialed));
  HttpClient c(gw_->port());
  const Headers origin = {{"origin", kApp}};
  HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), origin);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-mock-server"), "m");
  ExpectActualCors(r, kApp, true);
  r = c.Get("/nothing/here", origin);  // the gateway's 404
  EXPECT_EQ(r.status, 404);
  ExpectActualCors(r, kApp, true);
  r = c.Get("/v1/models", origin);  // the gateway's own answer
  EXPECT_EQ(r.status, 200);
  ExpectActualCors(r, kApp, true);
  r = c.Post("/v1/chat/completions", ChatBody("m", /*stream=*/true), origin);  // streamed
  EXPECT_EQ(r.status, 200);
  ExpectActualCors(r, kApp, true);
  // No Origin, or one not allowed: nothing.
  ExpectNoCors(c.Post("/v1/chat/completions", ChatBody("m")));
  ExpectNoCors(c.Post("/v1/chat/completions", ChatBody("m"), {{"origin", "https://evil.example"}}));
}

TEST_F(CorsTest, ABackendsAccessControlFieldsAreReplacedByTheListenersPolicy) {
  ASSERT_NO_FATAL_FAILURE(Start(kCredentialed));
  HttpClient c(gw_->port());
  HttpResponse r = c.Get("/raw", {{"origin", kApp}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-backend"), "raw");
  ExpectActualCors(r, kApp, true);
  // Its "*" is gone for other origins and for requests without one too.
  r = c.Get("/raw", {{"origin", "https://evil.example"}});
  EXPECT_EQ(r.Header("x-backend"), "raw");
  ExpectNoCors(r);
  r = c.Get("/raw");
  EXPECT_EQ(r.Header("x-backend"), "raw");
  ExpectNoCors(r);
}

TEST_F(CorsTest, AnyOriginWithoutCredentials) {
  ASSERT_NO_FATAL_FAILURE(Start("      allow_origins: [\"*\"]\n"));
  HttpClient c(gw_->port());
  HttpResponse r =
      c.Request("OPTIONS", "/v1/chat/completions",
                {{"origin", "https://anyone.example"}, {"access-control-request-method", "POST"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.Header("access-control-allow-methods"), "GET, POST, OPTIONS");
  EXPECT_EQ(r.Header("access-control-allow-headers"), "authorization, content-type");
  EXPECT_EQ(r.Header("access-control-max-age"), "600");
  EXPECT_FALSE(r.HasHeader("access-control-allow-credentials"));
  r = c.Post("/v1/chat/completions", ChatBody("m"), {{"origin", "https://anyone.example"}});
  EXPECT_EQ(r.status, 200);
  ExpectActualCors(r, "*", false);
}

TEST_F(CorsTest, PreflightGoesBeforeAuthenticationAnd401sCarryThePolicy) {
  ASSERT_NO_FATAL_FAILURE(
      Start(kCredentialed, "    require_api_key: true\n",
            std::string("tenants:\n  - {name: t, api_keys_sha256: [") + kTenantKeyHash + "]}\n"));
  HttpClient c(gw_->port());
  HttpResponse r = c.Request("OPTIONS", "/v1/models",
                             {{"origin", kApp}, {"access-control-request-method", "GET"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Header("access-control-allow-origin"), kApp);
  r = c.Get("/v1/models", {{"origin", kApp}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "invalid_api_key");
  ExpectActualCors(r, kApp, true);
  r = c.Post("/v1/chat/completions", ChatBody("m"),
             {{"origin", kApp}, {"authorization", "Bearer tenant-key"}});
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectActualCors(r, kApp, true);
}

TEST_F(CorsTest, Http2) {
  ASSERT_NO_FATAL_FAILURE(Start(kCredentialed));
  H2Client h2(gw_->port());
  ASSERT_TRUE(h2.connected());
  const int32_t preflight =
      h2.Submit("OPTIONS", "/v1/chat/completions",
                {{"origin", kApp}, {"access-control-request-method", "POST"}});
  const int32_t actual =
      h2.Submit("POST", "/v1/chat/completions",
                {{"origin", kApp}, {"content-type", "application/json"}}, ChatBody("m"));
  const int32_t refused = h2.Submit("POST", "/v1/chat/completions",
                                    {{"origin", "https://evil.example"}}, ChatBody("m"));
  ASSERT_TRUE(h2.RunUntil([&] {
    return h2.streams[preflight].closed && h2.streams[actual].closed && h2.streams[refused].closed;
  }));
  const H2Client::Stream& p = h2.streams[preflight];
  EXPECT_EQ(p.status, 204);
  EXPECT_EQ(p.Header("access-control-allow-origin"), kApp);
  EXPECT_EQ(p.Header("access-control-allow-methods"), "GET, POST");
  EXPECT_EQ(p.Header("access-control-max-age"), "300");
  const H2Client::Stream& a = h2.streams[actual];
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.Header("access-control-allow-origin"), kApp);
  EXPECT_EQ(a.Header("access-control-allow-credentials"), "true");
  EXPECT_EQ(a.Header("vary"), "Origin");
  const H2Client::Stream& n = h2.streams[refused];
  EXPECT_EQ(n.status, 200) << n.body;
  EXPECT_EQ(n.Header("access-control-allow-origin"), "");
}

}  // namespace
}  // namespace infergate::testing
