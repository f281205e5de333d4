// A listener's tls block and tenants identified by client certificate: values read, and each
// mistake reported at its line, column and key path. The files only need to be readable here
// (their contents are checked when the server loads them).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

// Readable stand-ins for the certificate, key and CA files.
class TlsKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::string* p : {&cert_, &key_, &ca_}) {
      char tmpl[] = "/tmp/infergate-tls-keys-XXXXXX";
      const int fd = mkstemp(tmpl);
      ASSERT_GE(fd, 0);
      close(fd);
      *p = tmpl;
    }
  }
  void TearDown() override {
    for (const std::string& p : {cert_, key_, ca_}) std::remove(p.c_str());
  }
  // A TLS listener (with `client_ca` when asked), a pool, a route, then `tail` at line 7 (8
  // with a client_ca).
  std::string Yaml(bool client_ca, const std::string& tls_extra, const std::string& tail) const {
    return "listeners:\n  - name: l\n    listen: \":0\"\n    tls:\n"
           "      certificates: [{certificate: " +
           cert_ + ", private_key: " + key_ + "}]\n" +
           (client_ca ? "      client_ca: " + ca_ + "\n" : std::string()) + tls_extra +
           "pools: [{name: p, backends: [http://127.0.0.1:1]}]\nroutes: [{name: r, to: p}]\n" +
           tail;
  }
  std::string cert_, key_, ca_;
};

TEST_F(TlsKeys, DefaultsAndValues) {
  auto c = LoadOk(Yaml(false, "", ""));
  ASSERT_TRUE(c);
  const ListenerTlsConfig& t = *c->listeners[0].tls;
  ASSERT_EQ(t.certificates.size(), 1u);
  EXPECT_EQ(t.certificates[0].certificate, cert_);
  EXPECT_EQ(t.certificates[0].private_key, key_);
  EXPECT_FALSE(t.tls13_only);
  EXPECT_EQ(t.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(t.client_ca, "");
  EXPECT_FALSE(c->tenant_identification.client_certificate);
  c = LoadOk(Yaml(true, "      min_version: \"1.3\"\n      alpn: [http/1.1]\n", ""));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->listeners[0].tls->tls13_only);
  EXPECT_EQ(c->listeners[0].tls->alpn, (std::vector<std::string>{"http/1.1"}));
  EXPECT_EQ(c->listeners[0].tls->client_ca, ca_);
}

TEST_F(TlsKeys, TenantsByCertificateNames) {
  auto c = LoadOk(Yaml(true, "",
                       "tenant_identification: {client_certificate: true}\n"
                       "tenants:\n"
                       "  - {name: acme, certificate_names: [acme.clients.test, acme-gateway]}\n"
                       "  - {name: other, certificate_names: \"spiffe://clients.test/other\"}\n"));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->tenant_identification.client_certificate);
  EXPECT_EQ(c->tenants[0].certificate_names,
            (std::vector<std::string>{"acme.clients.test", "acme-gateway"}));
  EXPECT_EQ(c->tenants[1].certificate_names,
            (std::vector<std::string>{"spiffe://clients.test/other"}));
}

struct Case {
  const char* name;
  bool client_ca;
  const char* tls_extra;
  const char* tail;
  int line, column;
  const char* path;
  const char* message;
};

class TlsKeyErrors : public TlsKeys, public ::testing::WithParamInterface<Case> {};

TEST_P(TlsKeyErrors, ReportsPositionPathAndMessage) {
  const Case& k = GetParam();
  std::vector<ConfigError> errors = Errors(Yaml(k.client_ca, k.tls_extra, k.tail));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].line, k.line) << Describe(errors);
  EXPECT_EQ(errors[0].column, k.column) << Describe(errors);
  EXPECT_EQ(errors[0].path, k.path);
  EXPECT_NE(errors[0].message.find(k.message), std::string::npos) << Describe(errors);
}

const Case kCases[] = {
    {"MinVersionOld", false, "      min_version: \"1.1\"\n", "", 6, 20,
     "listeners[0].tls.min_version", "unknown value \"1.1\" (allowed: 1.2, 1.3)"},
    {"AlpnUnknown", false, "      alpn: [h3]\n", "", 6, 14, "listeners[0].tls.alpn[0]",
     "unknown value \"h3\" (allowed: h2, http/1.1)"},
    {"AlpnTwice", false, "      alpn: [h2, h2]\n", "", 6, 18, "listeners[0].tls.alpn[1]",
     "listed twice"},
    {"ClientCaMissing", false, "      client_ca: /nonexistent/ca.pem\n", "", 6, 18,
     "listeners[0].tls.client_ca", "cannot read \"/nonexistent/ca.pem\""},
    {"CertificateIdentificationWithoutClientCa", false, "",
     "tenant_identification: {client_certificate: true}\n", 8, 45,
     "tenant_identification.client_certificate",
     "no listener verifies client certificates: set tls.client_ca"},
    {"CertificateIdentificationNotABool", true, "",
     "tenant_identification: {client_certificate: subject}\n", 9, 45,
     "tenant_identification.client_certificate", "expected true or false (found \"subject\")"},
    {"NamesWithoutCertificateIdentification", true, "",
     "tenants: [{name: a, certificate_names: [a.test]}]\n", 9, 40, "tenants[0].certificate_names",
     "certificate names identify a tenant only with tenant_identification.client_certificate: "
     "true"},
    {"NameTwice", true, "",
     "tenant_identification: {client_certificate: true}\n"
     "tenants:\n  - {name: a, certificate_names: [a.test]}\n"
     "  - {name: b, certificate_names: [a.test]}\n",
     12, 35, "tenants[1].certificate_names[0]",
     "\"a.test\" is already listed at line 11 (a certificate name identifies one tenant)"},
    {"NameEmpty", true, "",
     "tenant_identification: {client_certificate: true}\n"
     "tenants: [{name: a, certificate_names: [\"\"]}]\n",
     10, 41, "tenants[0].certificate_names[0]",
     "expected a certificate's subject common name or subjectAltName"},
};

INSTANTIATE_TEST_SUITE_P(All, TlsKeyErrors, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace infergate::config
