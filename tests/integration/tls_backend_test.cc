// Integration: https:// pools against a real nginx as the TLS backend (started by the test on a
// loopback port with its own config, as the current user). Certificates come from the openssl
// command, a throwaway CA per run: a backend from the test CA answers through the gateway; one
// from another CA, an expired one and a wrong name are refused as connect failures (502,
// OpenAI-shaped, counted, no address in the answer); a second connection resumes the session;
// request_headers reach the backend and never the log; health checks run over TLS.
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/raw_conn.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kSecret = "sk-tls-test-7c41e0b2";

// Runs a program to its end: its exit status and output, or nullopt when it is not installed.
std::optional<std::pair<int, std::string>> Run(const std::vector<std::string>& argv) {
  auto p = Process::Start(argv);
  if (!p) return std::nullopt;
  const int rc = p->Wait(60s).value_or(-1);
  return std::make_pair(rc, p->Output());
}

bool Ok(const std::vector<std::string>& argv) {
  auto r = Run(argv);
  return r && r->first == 0;
}

// Two CAs and three certificates for "localhost" (and 127.0.0.1): one from the test CA, one from
// another CA, and one from the test CA that expired in 2020 (`openssl ca` sets past dates).
class BackendPki {
 public:
  BackendPki() {
    const std::string d = dir_.path();
    ca = d + "/ca.crt";
    const std::string ext =
        dir_.WriteFile("ext.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    dir_.WriteFile("index.txt", "");
    dir_.WriteFile("serial", "1000\n");
    const std::string ca_cnf =
        dir_.WriteFile("ca.cnf", "[ca]\ndefault_ca = test\n[test]\ndatabase = " + d +
                                     "/index.txt\nnew_certs_dir = " + d + "\nserial = " + d +
                                     "/serial\ndefault_md = sha256\npolicy = anything\n"
                                     "unique_subject = no\n[anything]\ncommonName = supplied\n");
    ok_ = MakeCa("ca", ca) && MakeCa("other-ca", d + "/other-ca.crt") && Csr("good") &&
          Csr("stranger") && Csr("expired") &&
          Ok({"openssl", "x509", "-req", "-in", d + "/good.csr", "-CA", ca, "-CAkey", d + "/ca.key",
              "-set_serial", "11", "-out", d + "/good.crt", "-days", "1", "-extfile", ext}) &&
          Ok({"openssl", "x509", "-req", "-in", d + "/stranger.csr", "-CA", d + "/other-ca.crt",
              "-CAkey", d + "/other-ca.key", "-set_serial", "12", "-out", d + "/stranger.crt",
              "-days", "1", "-extfile", ext}) &&
          Ok({"openssl",    "ca",
              "-batch",     "-notext",
              "-config",    ca_cnf,
              "-cert",      ca,
              "-keyfile",   d + "/ca.key",
              "-in",        d + "/expired.csr",
              "-out",       d + "/expired.crt",
              "-startdate", "20200101000000Z",
              "-enddate",   "20200102000000Z",
              "-extfile",   ext});
  }
  bool ok() const { return ok_; }
  std::string Cert(const std::string& name) const { return dir_.path() + "/" + name + ".crt"; }
  std::string Key(const std::string& name) const { return dir_.path() + "/" + name + ".key"; }
  std::string ca;

 private:
  bool MakeCa(const std::string& name, const std::string& out) {
    return Ok({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", dir_.path() + "/" + name + ".key", "-out", out, "-subj",
               "/CN=" + name, "-days", "1"});
  }
  bool Csr(const std::string& name) {
    return Ok({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", Key(name), "-out", dir_.path() + "/" + name + ".csr", "-subj",
               "/CN=localhost"});
  }
  TempDir dir_;
  bool ok_ = false;
};

std::string NginxBinary() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// nginx as the current user in the foreground, everything under its own directory: TLS on
// 127.0.0.1 with the given certificate; /health answers "ok", every other path a chat completion
// that echoes the Authorization it received. Its access log says whether the session was reused,
// the SNI, and the credential.
class Nginx {
 public:
  // On 127.0.0.1:`port` (0: a free port, retried if another process takes it first). Null, with
  // the reason in *why, when nginx did not start.
  // With `client_ca`, a client certificate from that CA is required (nginx answers 400 without).
  static std::unique_ptr<Nginx> Start(const std::string& cert, const std::string& key,
                                      uint16_t port, std::string* why,
                                      const std::string& client_ca = "") {
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::unique_ptr<Nginx> n(new Nginx());
      n->port_ = port != 0 ? port : RefusingPort();
      const std::string d = n->dir_.path();
      const std::string conf = n->dir_.WriteFile(
          "nginx.conf",
          // Both logs go to stderr, where the test waits for their lines.
          "worker_processes 1;\npid " + d +
              "/nginx.pid;\nerror_log stderr notice;\n"
              "events { worker_connections 64; }\nhttp {\n"
              "  log_format t 'ACCESS "
              "$ssl_session_reused|$ssl_server_name|$http_authorization|$uri';\n"
              "  access_log /dev/stderr t;\n"
              "  client_body_temp_path " +
              d + "/body;\n  proxy_temp_path " + d +
              "/proxy;\n"
              "  fastcgi_temp_path " +
              d + "/fastcgi;\n  uwsgi_temp_path " + d +
              "/uwsgi;\n"
              "  scgi_temp_path " +
              d +
              "/scgi;\n"
              "  server {\n    listen 127.0.0.1:" +
              std::to_string(n->port_) +
              " ssl;\n"
              "    ssl_certificate " +
              cert + ";\n    ssl_certificate_key " + key + ";\n" +
              (client_ca.empty()
                   ? std::string()
                   : "    ssl_client_certificate " + client_ca + ";\n    ssl_verify_client on;\n") +
              "    default_type application/json;\n"
              "    location = /health { return 200 'ok'; }\n"
              "    location / { return 200 '{\"id\":\"c1\",\"object\":\"chat.completion\","
              "\"model\":\"m\",\"authorization\":\"$http_authorization\",\"choices\":[{\"index\":0,"
              "\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},"
              "\"finish_reason\":\"stop\"}]}'; }\n"
              "  }\n}\n");
      n->process_ =
          Process::Start({NginxBinary(), "-p", d, "-e", "stderr", "-c", conf, "-g", "daemon off;"});
      if (!n->process_) {
        *why = "nginx did not start";
        return nullptr;
      }
      // The master binds before it starts its worker, which says so at notice level.
      if (n->process_->WaitForOutput("start worker process", 10s)) return n;
      *why = "nginx exited: " + n->process_->Output();
      if (port != 0) return nullptr;
    }
    return nullptr;
  }
  uint16_t port() const { return port_; }
  std::string address() const { return "localhost:" + std::to_string(port_); }
  // The access log's lines so far: "reused|sni|authorization|uri" ("r" or "." for reused).
  std::vector<std::string> Log() const {
    std::vector<std::string> lines;
    std::stringstream in(process_->Output());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("ACCESS ", 0) == 0) lines.push_back(line.substr(7));
    }
    return lines;
  }
  // Waits until the access log has `n` lines (nginx writes a line after the response went out,
  // so a client can see the response first). Returns the lines seen last.
  std::vector<std::string> WaitForLog(size_t n) const {
    process_->WaitForOutput("(?:ACCESS [^\\n]*\\n[\\s\\S]*?){" + std::to_string(n) + "}", 5s);
    return Log();
  }

 private:
  Nginx() = default;
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
};

class TlsBackend : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new BackendPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (NginxBinary().empty()) GTEST_SKIP() << "nginx is not installed (scripts/install-deps.sh)";
    if (!pki_->ok()) GTEST_SKIP() << "the openssl command is not installed";
  }

  // nginx with the certificate `name` ("good", "stranger", "expired").
  std::unique_ptr<Nginx> Backend(const std::string& name, uint16_t port = 0) {
    std::string why;
    auto n = Nginx::Start(pki_->Cert(name), pki_->Key(name), port, &why);
    EXPECT_TRUE(n) << why;
    return n;
  }

  // One https pool "hosted" with `pool` keys, a route that does not retry.
  static std::string Yaml(const std::string& backend, const std::string& pool,
                          const std::string& more_pools = "") {
    return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
           "admin:\n  listen: 127.0.0.1:0\n"
           "pools:\n  - name: hosted\n    backends: [https://" +
           backend + "]\n" + pool + more_pools +
           "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: hosted, retries: 0}\n";
  }
  static std::string Trusting() {
    return "    health_check: {enabled: false}\n    tls: {ca: " + pki_->ca + "}\n";
  }

  static HttpResponse Chat(Gateway& gw, const Headers& extra = {}) {
    HttpClient c(gw.port());
    Headers h = {{"content-type", "application/json"}};
    h.insert(h.end(), extra.begin(), extra.end());
    return c.Post("/v1/chat/completions", kChat, h);
  }

  // A refused backend: a 502 that names the pool and the reason, not the backend's address.
  void ExpectRefused(Gateway& gw, const Nginx& backend, const std::string& reason,
                     const std::string& message) {
    HttpResponse r = Chat(gw);
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(JsonString(r.body, "/error/code"), "upstream_connect_failed") << r.body;
    const std::string text = JsonString(r.body, "/error/message").value_or("");
    EXPECT_NE(text.find("TLS with a backend of pool hosted failed: " + message), std::string::npos)
        << text;
    EXPECT_EQ(text.find(std::to_string(backend.port())), std::string::npos) << text;
    EXPECT_EQ(text.find("localhost"), std::string::npos) << text;
    EXPECT_EQ(gw.WaitForMetric("infergate_upstream_tls_failures_total",
                               "pool=\"hosted\",reason=\"" + reason + "\"", 1),
              1);
    EXPECT_EQ(
        gw.Metric("infergate_upstream_tls_handshakes_total", "pool=\"hosted\",resumed=\"false\""),
        0);
    // The log names the backend (and is not flooded: one line for the first failure).
    EXPECT_TRUE(gw.process().WaitForOutput(
        "TLS with backend " + backend.address() + " \\(server name [a-z.]+\\) failed \\(" + reason,
        5s));
  }

  static BackendPki* pki_;
};
BackendPki* TlsBackend::pki_ = nullptr;

TEST_F(TlsBackend, ABackendFromTheTrustedCaAnswersThroughTheGateway) {
  auto nginx = Backend("good");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(Yaml(nginx->address(), Trusting()), {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpResponse r = Chat(*gw);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), "hello") << r.body;
  EXPECT_EQ(gw->WaitForMetric("infergate_upstream_tls_handshakes_total",
                              "pool=\"hosted\",resumed=\"false\"", 1),
            1);
  const auto log = nginx->WaitForLog(1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], ".|localhost|-|/v1/chat/completions");  // SNI from the URL's host
}

// A backend that requires client certificates (mTLS) gets the pool's; without one it refuses.
TEST_F(TlsBackend, TheClientCertificateIsPresentedToABackendThatRequiresOne) {
  std::string why;
  auto nginx = Nginx::Start(pki_->Cert("good"), pki_->Key("good"), 0, &why, pki_->ca);
  ASSERT_TRUE(nginx) << why;
  const std::string with_cert = "    health_check: {enabled: false}\n    tls: {ca: " + pki_->ca +
                                ", client_certificate: " + pki_->Cert("good") +
                                ", client_private_key: " + pki_->Key("good") + "}\n";
  auto gw = Gateway::Start(Yaml(nginx->address(), with_cert), {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpResponse r = Chat(*gw);
  EXPECT_EQ(r.status, 200) << r.body;
  auto anonymous = Gateway::Start(Yaml(nginx->address(), Trusting()), {}, &why);
  ASSERT_TRUE(anonymous) << why;
  r = Chat(*anonymous);
  EXPECT_EQ(r.status, 400) << r.body;  // nginx: "No required SSL certificate was sent"
  EXPECT_EQ(nginx->WaitForLog(2).size(), 2u);
}

TEST_F(TlsBackend, ACertificateFromAnotherCaIsRefused) {
  auto nginx = Backend("stranger");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(Yaml(nginx->address(), Trusting()), {}, &why);
  ASSERT_TRUE(gw) << why;
  ExpectRefused(*gw, *nginx, "untrusted", "unable to get local issuer certificate");
  EXPECT_TRUE(nginx->Log().empty());  // no request reached it
}

TEST_F(TlsBackend, AnExpiredCertificateIsRefused) {
  auto nginx = Backend("expired");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(Yaml(nginx->address(), Trusting()), {}, &why);
  ASSERT_TRUE(gw) << why;
  ExpectRefused(*gw, *nginx, "expired", "certificate has expired");
}

TEST_F(TlsBackend, AWrongNameIsRefused) {
  auto nginx = Backend("good");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(
      Yaml(nginx->address(), "    health_check: {enabled: false}\n    tls: {ca: " + pki_->ca +
                                 ", server_name: api.provider.example}\n"),
      {}, &why);
  ASSERT_TRUE(gw) << why;
  ExpectRefused(*gw, *nginx, "name_mismatch", "hostname mismatch");
}

// insecure_skip_verify: the stranger's certificate is accepted, and the load says so loudly.
TEST_F(TlsBackend, InsecureSkipVerifyIsAnExplicitLoudOptIn) {
  auto nginx = Backend("stranger");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(Yaml(nginx->address(),
                                "    health_check: {enabled: false}\n"
                                "    tls: {insecure_skip_verify: true}\n"),
                           {}, &why);
  ASSERT_TRUE(gw) << why;
  EXPECT_EQ(Chat(*gw).status, 200);
  EXPECT_TRUE(gw->process().WaitForOutput(
      "warn .*pool hosted: tls.insecure_skip_verify is on: its backends' certificates are NOT "
      "verified",
      5s))
      << gw->process().Output();
}

// Each request on a connection of its own (no idle connections kept), on one worker (sessions
// are kept per worker): the second and third resume the session the first got (a TLS 1.3
// ticket; nginx does not renew it on resumption, so the same one is offered again).
TEST_F(TlsBackend, ASecondConnectionResumesTheSession) {
  auto nginx = Backend("good");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(Yaml("127.0.0.1:" + std::to_string(nginx->port()),
                                "    max_idle_connections: 0\n    health_check: {enabled: false}\n"
                                "    tls: {ca: " +
                                    pki_->ca + ", server_name: localhost}\n"),
                           {"--workers", "1"}, &why);
  ASSERT_TRUE(gw) << why;
  ASSERT_EQ(Chat(*gw).status, 200);
  ASSERT_EQ(Chat(*gw).status, 200);
  ASSERT_EQ(Chat(*gw).status, 200);
  EXPECT_EQ(gw->WaitForMetric("infergate_upstream_tls_handshakes_total",
                              "pool=\"hosted\",resumed=\"true\"", 2),
            2);
  EXPECT_EQ(
      gw->Metric("infergate_upstream_tls_handshakes_total", "pool=\"hosted\",resumed=\"false\""),
      1);
  const auto log = nginx->WaitForLog(3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].substr(0, 12), ".|localhost|");  // server_name is the SNI
  EXPECT_EQ(log[1].substr(0, 2), "r|");
  EXPECT_EQ(log[2].substr(0, 2), "r|");
}

TEST_F(TlsBackend, RequestHeadersReachTheBackendAndNeverTheLog) {
  auto nginx = Backend("good");
  ASSERT_TRUE(nginx);
  std::string why;
  auto gw = Gateway::Start(
      Yaml(nginx->address(),
           Trusting() + "    request_headers:\n"
                        "      set: {authorization: \"Bearer ${env:IG_TLS_PROVIDER_KEY}\"}\n"),
      {"--log-level", "debug"}, &why, {"env", std::string("IG_TLS_PROVIDER_KEY=") + kSecret});
  ASSERT_TRUE(gw) << why;
  HttpResponse r = Chat(*gw, {{"authorization", "Bearer client-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonString(r.body, "/authorization"), std::string("Bearer ") + kSecret);
  const auto log = nginx->WaitForLog(1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find(std::string("|Bearer ") + kSecret + "|"), std::string::npos) << log[0];
  gw->process().Stop();
  const std::string out = gw->process().Output();
  EXPECT_NE(out.find("access rid="), std::string::npos);  // debug logging was on
  EXPECT_EQ(out.find(kSecret), std::string::npos);
}

// Health checks over TLS: a backend that is down until its nginx starts is marked healthy by
// probes that verify it, while a pool whose backend has a stranger's certificate is marked down.
TEST_F(TlsBackend, HealthChecksRunOverTlsAndVerifyTheBackend) {
  auto stranger = Backend("stranger");
  ASSERT_TRUE(stranger);
  const uint16_t later = RefusingPort();
  const std::string probes =
      "    health_check: {interval: 50ms, timeout: 1s, healthy_threshold: 1, "
      "unhealthy_threshold: 1}\n    tls: {ca: " +
      pki_->ca + "}\n";
  std::string why;
  auto gw = Gateway::Start(
      Yaml("localhost:" + std::to_string(later), probes,
           "  - name: strangers\n    backends: [https://" + stranger->address() + "]\n" + probes),
      {}, &why);
  ASSERT_TRUE(gw) << why;
  const std::string hosted = "pool=\"hosted\",backend=\"localhost:" + std::to_string(later) + "\"";
  EXPECT_EQ(gw->WaitForMetric("infergate_backend_state_changes_total",
                              hosted + ",change=\"probe_down\"", 1),
            1);
  EXPECT_EQ(
      gw->WaitForMetric(
          "infergate_backend_state_changes_total",
          "pool=\"strangers\",backend=\"" + stranger->address() + "\",change=\"probe_down\"", 1),
      1);
  EXPECT_GE(
      gw->Metric("infergate_upstream_tls_failures_total", "pool=\"strangers\",reason=\"untrusted\"")
          .value_or(0),
      1);
  auto nginx = Backend("good", later);
  ASSERT_TRUE(nginx);
  EXPECT_EQ(gw->WaitForMetric("infergate_backend_state_changes_total",
                              hosted + ",change=\"probe_up\"", 1),
            1);
  EXPECT_GE(
      gw->Metric("infergate_upstream_tls_handshakes_total", "pool=\"hosted\",resumed=\"false\"")
          .value_or(0),
      1);
  EXPECT_EQ(Chat(*gw).status, 200);
  bool probed = false;
  for (const std::string& line : nginx->WaitForLog(2))
    probed = probed || line.ends_with("|/health");
  EXPECT_TRUE(probed);
}

TEST_F(TlsBackend, ACaFileWithoutCertificatesIsAPositionedErrorNamingIt) {
  TempFile ca("garbage\n", ".pem");
  std::string why;
  auto gw = Gateway::Start(Yaml("localhost:1",
                                "    health_check: {enabled: false}\n"
                                "    tls: {ca: " +
                                    ca.path() + "}\n"),
                           {}, &why);
  EXPECT_FALSE(gw);
  EXPECT_NE(why.find(":10:15: pools[0].tls.ca: \"" + ca.path() + "\" holds no PEM certificate"),
            std::string::npos)
      << why;
}

}  // namespace
}  // namespace infergate::testing
