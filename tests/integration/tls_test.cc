// Integration: TLS listeners on the real binaries, with certificates the test makes with the
// openssl command (a throwaway CA per run) and curl as the client: HTTP/1.1 and h2 chosen by
// ALPN on one port, X-Forwarded-Proto https, old protocols and cleartext refused and counted,
// a handshake that never comes closed at header_timeout, and certificate errors that name the
// file.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/pki.h"
#include "support/raw_conn.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

std::string TlsYaml(const std::string& backend, const Pki& pki, const std::string& extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + extra +
         "    tls:\n      certificates: [{certificate: " + pki.cert + ", private_key: " + pki.key +
         "}]\n"
         "admin:\n  listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://" +
         backend +
         "]\n    health_check: {enabled: false}\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
}

std::vector<std::string> Curl(const Pki& pki, uint16_t port, const std::string& version) {
  const std::string p = std::to_string(port);
  return {"curl",
          "-sS",
          version,
          "--cacert",
          pki.ca,
          "--resolve",
          "localhost:" + p + ":127.0.0.1",
          "-H",
          "content-type: application/json",
          "-d",
          R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
          "-o",
          "/dev/null",
          "-w",
          "%{http_version} %{http_code}",
          "https://localhost:" + p + "/v1/chat/completions"};
}

TEST(Tls, AlpnServesHttp1AndH2OnOnePortAndRequestsAreHttps) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(TlsYaml(mock->address(), pki));
  ASSERT_TRUE(gw);
  auto h1 = RunTool(Curl(pki, gw->port(), "--http1.1"));
  if (!h1) GTEST_SKIP() << "curl is not installed";
  EXPECT_EQ(h1->first, 0) << h1->second;
  EXPECT_EQ(h1->second, "1.1 200");
  EXPECT_EQ(mock->Stats()->last_request->Header("x-forwarded-proto"), "https");
  auto h2 = RunTool(Curl(pki, gw->port(), "--http2"));
  EXPECT_EQ(h2->first, 0) << h2->second;
  EXPECT_EQ(h2->second, "2 200");
  EXPECT_EQ(mock->Stats()->last_request->Header("x-forwarded-proto"), "https");
  EXPECT_EQ(gw->WaitForMetric("infergate_responses_total",
                              "route=\"chat\",code=\"2xx\",protocol=\"h2\"", 1),
            1);
}

TEST(Tls, CleartextAndOldProtocolsAreRefusedAndCounted) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(TlsYaml(mock->address(), pki));
  ASSERT_TRUE(gw);
  RawConn plain(gw->port());
  ASSERT_TRUE(plain.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  while (!plain.closed()) {
    const std::string more = plain.Read(Millis(5000));
    if (more.empty() && !plain.closed()) break;
    got += more;
  }
  EXPECT_TRUE(plain.closed());
  EXPECT_EQ(got.find("HTTP/1.1"), std::string::npos);  // never an HTTP answer in clear
  EXPECT_EQ(gw->WaitForMetric("infergate_tls_handshake_failures_total",
                              "listener=\"public\",reason=\"failed\"", 1),
            1);
  std::vector<std::string> tls11 = Curl(pki, gw->port(), "--tlsv1.1");
  tls11.insert(tls11.begin() + 1, {"--tls-max", "1.1"});
  auto refused = RunTool(tls11);
  if (!refused) GTEST_SKIP() << "curl is not installed";
  EXPECT_NE(refused->first, 0) << refused->second;
  EXPECT_EQ(mock->Stats()->requests, 0);
}

TEST(Tls, AHandshakeThatNeverComesIsClosedAtHeaderTimeout) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(TlsYaml(mock->address(), pki, "    header_timeout: 300ms\n"));
  ASSERT_TRUE(gw);
  RawConn silent(gw->port());
  ASSERT_TRUE(silent.connected());
  while (!silent.closed()) {
    if (silent.Read(Millis(10000)).empty() && !silent.closed()) break;
  }
  EXPECT_TRUE(silent.closed());
  EXPECT_EQ(gw->WaitForMetric("infergate_tls_handshake_failures_total",
                              "listener=\"public\",reason=\"timeout\"", 1),
            1);
}

// At max_connections, a connection still in its TLS handshake is closed for a new one, like a
// connection whose request head is unfinished: silent handshakes cannot lock clients out.
TEST(Tls, AConnectionInItsHandshakeIsShedForANewOneAtTheCap) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw =
      Gateway::Start(TlsYaml(mock->address(), pki, "    max_connections: 2\n"), {"--workers", "1"});
  ASSERT_TRUE(gw);
  RawConn a(gw->port()), b(gw->port());
  ASSERT_TRUE(a.connected() && b.connected());
  auto served = RunTool(Curl(pki, gw->port(), "--http1.1"));
  if (!served) GTEST_SKIP() << "curl is not installed";
  EXPECT_EQ(served->second, "1.1 200");
  EXPECT_GE(
      gw->WaitForMetric("infergate_connections_shed_total", "listener=\"public\",state=\"head\"", 1)
          .value_or(0),
      1);
}

TEST(Tls, CertificateProblemsNameTheFile) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  std::string why;
  Pki other;
  // A key that is not the certificate's: refused at start, naming both files.
  std::string yaml = TlsYaml("127.0.0.1:1", pki);
  yaml.replace(yaml.find(pki.key), pki.key.size(), other.key);
  EXPECT_FALSE(Gateway::Start(yaml, {}, &why));
  EXPECT_NE(why.find(other.key + ": does not match the certificate in " + pki.cert),
            std::string::npos)
      << why;
  // --check-config loads the certificates as the start does: the same error, exit status 1.
  TempFile file(yaml);
  auto check = RunTool({BinaryPath("infergate"), "-c", file.path(), "--check-config"});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->first, 1) << check->second;
  EXPECT_NE(check->second.find("listener public tls: " + other.key +
                               ": does not match the certificate in " + pki.cert),
            std::string::npos)
      << check->second;
  // A file that is not there: a config error at its line and column.
  yaml = TlsYaml("127.0.0.1:1", pki);
  yaml.replace(yaml.find(pki.cert), pki.cert.size(), pki.dir_.path() + "/missing.crt");
  EXPECT_FALSE(Gateway::Start(yaml, {}, &why));
  EXPECT_NE(why.find(":5:"), std::string::npos) << why;
  EXPECT_NE(why.find("listeners[0].tls.certificates[0].certificate: cannot read"),
            std::string::npos)
      << why;
}

}  // namespace
}  // namespace infergate::testing
