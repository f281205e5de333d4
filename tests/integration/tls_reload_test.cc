// Integration: TLS certificates reloaded on SIGHUP and tenants identified by client certificate,
// on the real binaries with certificates the test makes (openssl, a throwaway CA per run). The
// certificate a handshake gets is read with `openssl s_client`; curl is the HTTP client.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/pki.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

std::string Yaml(const std::string& backend, const Pki& pki, const std::string& tls_extra = "",
                 const std::string& tail = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "    tls:\n      certificates:\n        - {certificate: " +
         pki.cert + ", private_key: " + pki.key + "}\n" + tls_extra +
         "admin:\n  listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://" +
         backend +
         "]\n    health_check: {enabled: false}\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n" +
         tail;
}

// The subject of the certificate a new handshake on `port` gets for SNI `name` ("" when none
// completes).
std::string ServedSubject(const Pki& pki, uint16_t port, const std::string& name = "localhost") {
  auto r = RunTool({"bash", "-c",
                    "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                        " -servername " + name + " -CAfile " + pki.ca +
                        " </dev/null 2>/dev/null | openssl x509 -noout -subject"});
  if (!r || r->first != 0) return "";
  std::string s = r->second;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> Curl(const Pki& pki, uint16_t port, bool stream,
                              std::vector<std::string> extra = {}) {
  const std::string p = std::to_string(port);
  std::vector<std::string> argv = {"curl",
                                   "-sS",
                                   "-N",
                                   "--cacert",
                                   pki.ca,
                                   "--resolve",
                                   "localhost:" + p + ":127.0.0.1",
                                   "-H",
                                   "content-type: application/json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(),
              {"-d",
               std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}])") +
                   (stream ? R"(,"stream":true})" : "}"),
               "https://localhost:" + p + "/v1/chat/completions"});
  return argv;
}

void Replace(const std::string& path, const std::string& from) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
}

TEST(TlsReload, ASwappedCertificateServesTheNextHandshakeWhileAStreamBegunBeforeCompletes) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto next = pki.Issue("next", "localhost-next", "DNS:localhost");
  ASSERT_TRUE(next);
  auto mock = MockServer::Start({"--model", "m", "--tokens", "100", "--token-interval", "30ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), pki));
  ASSERT_TRUE(gw);
  ASSERT_EQ(ServedSubject(pki, gw->port()), "subject=CN = localhost");
  // A stream begun on the old certificate.
  auto stream = Process::Start(Curl(pki, gw->port(), true, {"--http2"}));
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->WaitForOutput("data: ", 10s)) << stream->Output();
  Replace(pki.cert, next->cert);
  Replace(pki.key, next->key);
  gw->process().Signal(SIGHUP);
  ASSERT_EQ(gw->WaitForMetric("infergate_tls_certificate_reloads_total",
                              "listener=\"public\",result=\"ok\"", 1),
            1);
  EXPECT_EQ(ServedSubject(pki, gw->port()), "subject=CN = localhost-next");
  const size_t before = stream->Output().size();
  ASSERT_EQ(stream->Wait(30s), 0) << stream->Output();
  const std::string body = stream->Output();
  EXPECT_GT(body.size(), before);  // tokens kept coming after the reload
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos) << body;
  EXPECT_NE(gw->process().Output().find("certificates reloaded (/CN=localhost-next)"),
            std::string::npos);
}

// SNI picks the certificate whose names match; an unknown name gets the first (the default).
TEST(TlsReload, SniPicksTheCertificate) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto api = pki.Issue("api", "api-cert", "DNS:api.example.test,DNS:*.models.example.test");
  ASSERT_TRUE(api);
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(
      Yaml(mock->address(), pki,
           "        - {certificate: " + api->cert + ", private_key: " + api->key + "}\n"));
  ASSERT_TRUE(gw);
  EXPECT_EQ(ServedSubject(pki, gw->port(), "localhost"), "subject=CN = localhost");
  EXPECT_EQ(ServedSubject(pki, gw->port(), "api.example.test"), "subject=CN = api-cert");
  EXPECT_EQ(ServedSubject(pki, gw->port(), "llama.models.example.test"), "subject=CN = api-cert");
  EXPECT_EQ(ServedSubject(pki, gw->port(), "other.test"), "subject=CN = localhost");
}

TEST(TlsReload, ACorruptNewCertificateKeepsTheOldOneAndNamesTheFile) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), pki));
  ASSERT_TRUE(gw);
  {
    std::ofstream out(pki.cert, std::ios::trunc);
    out << "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
  }
  gw->process().Signal(SIGHUP);
  ASSERT_EQ(gw->WaitForMetric("infergate_tls_certificate_reloads_total",
                              "listener=\"public\",result=\"failed\"", 1),
            1);
  EXPECT_TRUE(gw->process().WaitForOutput(
      "the reload is rejected and the previous ones keep serving: " + pki.cert, 5s))
      << gw->process().Output();
  EXPECT_EQ(ServedSubject(pki, gw->port()), "subject=CN = localhost");
  auto ok = RunTool(Curl(pki, gw->port(), false, {"-o", "/dev/null", "-w", "%{http_code}"}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->second, "200");
  EXPECT_GT(gw->Metric("infergate_tls_certificate_expiry_timestamp_seconds", "listener=\"public\"")
                .value_or(0),
            1.7e9);
}

// A connection the gateway closes ends with close_notify, so an OpenSSL client that read to the
// end keeps its session and resumes it on the next connection (without close_notify OpenSSL
// takes the end for a truncation attack and drops the session).
TEST(TlsReload, AClosedConnectionEndsWithCloseNotifyAndItsSessionResumes) {
  Pki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), pki));
  ASSERT_TRUE(gw);
  const std::string session = pki.dir_.path() + "/session.pem";
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    // HTTP/1.0: the gateway closes after its answer; -ign_eof reads until it does.
    auto connect = [&](const std::string& sess_flag) {
      return RunTool({"bash", "-c",
                      "printf 'GET /v1/models HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | "
                      "openssl s_client -connect 127.0.0.1:" +
                          std::to_string(gw->port()) + " -servername localhost -CAfile " + pki.ca +
                          " " + version + " -ign_eof " + sess_flag + " " + session + " 2>&1"});
    };
    auto first = connect("-sess_out");
    ASSERT_TRUE(first);
    EXPECT_NE(first->second.find("HTTP/1.1 200"), std::string::npos) << first->second;
    EXPECT_EQ(first->second.find("unexpected eof"), std::string::npos) << first->second;
    auto second = connect("-sess_in");
    ASSERT_TRUE(second);
    EXPECT_NE(second->second.find("Reused, TLSv1."), std::string::npos)
        << version << ": " << second->second;
  }
}

TEST(TlsReload, ClientCertificatesAreRequiredAndTheirNamesIdentifyTenants) {
  Pki pki, stranger_ca;
  if (!pki.ok() || !stranger_ca.ok()) GTEST_SKIP() << "the openssl command is not installed";
  auto acme = pki.Issue("acme", "acme-gateway", "DNS:acme.clients.test");
  auto other = pki.Issue("other", "other-gateway", "URI:spiffe://clients.test/other");
  auto stranger = stranger_ca.Issue("stranger", "acme-gateway", "DNS:acme.clients.test");
  ASSERT_TRUE(acme && other && stranger);
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), pki, "      client_ca: " + pki.ca + "\n",
                                "tenant_identification: {client_certificate: true}\n"
                                "tenants:\n"
                                "  - {name: acme, certificate_names: [acme.clients.test]}\n"
                                "  - {name: other, certificate_names: "
                                "[\"spiffe://clients.test/other\"]}\n"));
  ASSERT_TRUE(gw);
  auto code = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), {"-o", "/dev/null", "-w", "%{http_code}"});
    auto r = RunTool(Curl(pki, gw->port(), false, extra));
    if (!r) return std::string("curl missing");
    // The status is the last thing written (after curl's error message, if any).
    return r->second.size() < 3 ? r->second : r->second.substr(r->second.size() - 3);
  };
  EXPECT_EQ(code({"--cert", acme->cert, "--key", acme->key}), "200");
  EXPECT_EQ(code({"--http1.1", "--cert", acme->cert, "--key", acme->key}), "200");
  EXPECT_EQ(code({"--cert", other->cert, "--key", other->key}), "200");
  EXPECT_EQ(gw->WaitForMetric("infergate_tenant_requests_total", "tenant=\"acme\"", 2), 2);
  EXPECT_EQ(gw->WaitForMetric("infergate_tenant_requests_total", "tenant=\"other\"", 1), 1);
  // No certificate, or one from another CA with the same names: refused in the handshake.
  EXPECT_EQ(code({}), "000");
  EXPECT_EQ(code({"--cert", stranger->cert, "--key", stranger->key}), "000");
  EXPECT_EQ(gw->WaitForMetric("infergate_tls_handshake_failures_total",
                              "listener=\"public\",reason=\"failed\"", 2),
            2);
  EXPECT_EQ(mock->Stats()->requests, 3);
}

}  // namespace
}  // namespace infergate::testing
