// A pool's https:// backends and its tls block: defaults, every key, the files parsed at load,
// and each refusal reported at its place with the file it names.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

// Lines 1-5; the tls block's keys start on line 7 at column 7.
std::string Head(const std::string& backends = "[https://API.example]") {
  return "listeners: [{name: l, listen: \":0\"}]\n"
         "routes: [{name: r, to: p}]\n"
         "pools:\n"
         "  - name: p\n"
         "    backends: " +
         backends + "\n";
}

// A self-signed EC certificate and its key, written as PEM files in a per-test directory.
class PoolTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/infergate-pool-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    key_ = EVP_EC_gen("P-256");
    other_key_ = EVP_EC_gen("P-256");
    cert_ = SelfSigned(key_);
    cert_path_ = WriteCert("client.crt");
    key_path_ = WriteKey("client.key", key_);
    other_key_path_ = WriteKey("other.key", other_key_);
    text_path_ = WriteText("notes.txt", "not a certificate\n");
  }
  void TearDown() override {
    X509_free(cert_);
    EVP_PKEY_free(key_);
    EVP_PKEY_free(other_key_);
    for (const char* f : {"client.crt", "client.key", "other.key", "notes.txt"})
      unlink((dir_ + "/" + f).c_str());
    rmdir(dir_.c_str());
  }

  static X509* SelfSigned(EVP_PKEY* key) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    return x;
  }
  std::string WriteCert(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_X509(f, cert_);
    std::fclose(f);
    return path;
  }
  std::string WriteKey(const std::string& name, EVP_PKEY* key) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    return path;
  }
  std::string WriteText(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return path;
  }

  // The YAML yields exactly one error, at line:column and `path`, with `message` in it.
  static void ExpectError(const std::string& yaml, int line, int column, const std::string& path,
                          const std::string& message) {
    std::vector<ConfigError> errors = Errors(yaml);
    ASSERT_EQ(errors.size(), 1u) << Describe(errors);
    EXPECT_EQ(errors[0].line, line) << Describe(errors);
    EXPECT_EQ(errors[0].column, column) << Describe(errors);
    EXPECT_EQ(errors[0].path, path) << Describe(errors);
    EXPECT_NE(errors[0].message.find(message), std::string::npos) << Describe(errors);
  }

  std::string dir_;
  EVP_PKEY* key_ = nullptr;
  EVP_PKEY* other_key_ = nullptr;
  X509* cert_ = nullptr;
  std::string cert_path_, key_path_, other_key_path_, text_path_;
};

TEST_F(PoolTls, HttpsBackendsGetTheDefaultsWithoutATlsBlock) {
  auto c = LoadOk(Head("[https://API.example, \"https://[::1]:8443\"]"));
  ASSERT_TRUE(c);
  const PoolConfig& p = c->pools[0];
  ASSERT_TRUE(p.tls);
  EXPECT_EQ(p.tls->ca, "");  // the system store
  EXPECT_EQ(p.tls->server_name, "");
  EXPECT_EQ(p.tls->client_certificate, "");
  EXPECT_FALSE(p.tls->tls13_only);
  EXPECT_FALSE(p.tls->insecure_skip_verify);
  EXPECT_TRUE(p.backends[0].https);
  EXPECT_EQ(p.backends[0].address.host, "api.example");
  EXPECT_EQ(p.backends[0].address.port, 443);
  EXPECT_EQ(p.backends[0].name, "api.example:443");
  EXPECT_EQ(p.backends[1].address.host, "::1");
  EXPECT_EQ(p.backends[1].address.port, 8443);
}

TEST_F(PoolTls, ReadsEveryKey) {
  auto c = LoadOk(Head() + "    tls:\n      ca: " + cert_path_ +
                  "\n      server_name: Gateway.Internal\n      client_certificate: " + cert_path_ +
                  "\n      client_private_key: " + key_path_ +
                  "\n      min_version: \"1.3\"\n      insecure_skip_verify: true\n");
  ASSERT_TRUE(c);
  const PoolTlsConfig& t = *c->pools[0].tls;
  EXPECT_EQ(t.ca, cert_path_);
  EXPECT_EQ(t.server_name, "gateway.internal");
  EXPECT_EQ(t.client_certificate, cert_path_);
  EXPECT_EQ(t.client_private_key, key_path_);
  EXPECT_TRUE(t.tls13_only);
  EXPECT_TRUE(t.insecure_skip_verify);
}

TEST_F(PoolTls, AnIpAddressIsAServerName) {
  auto c = LoadOk(Head() + "    tls: {server_name: \"fd00::7\"}\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pools[0].tls->server_name, "fd00::7");
}

TEST_F(PoolTls, AnEmptyBlockKeepsTheDefaults) {
  auto c = LoadOk(Head() + "    tls:\n");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->pools[0].tls);
  EXPECT_FALSE(c->pools[0].tls->insecure_skip_verify);
}

TEST_F(PoolTls, PlainPoolsHaveNoTls) {
  auto c = LoadOk(Head("[http://10.0.0.1:8000]"));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->pools[0].tls);
  EXPECT_FALSE(c->pools[0].backends[0].https);
}

TEST_F(PoolTls, ATlsBlockOnAPlainPoolSaysWhatToFix) {
  ExpectError(Head("[http://10.0.0.1:8000]") + "    tls: {ca: " + cert_path_ + "}\n", 6, 10,
              "pools[0].tls", "write them as https://host[:port], or remove the tls block");
}

TEST_F(PoolTls, MixingSchemesInOnePoolIsRefused) {
  ExpectError(Head("[http://10.0.0.1:8000, https://10.0.0.2]"), 5, 15, "pools[0].backends",
              "mixes http:// and https:// backends");
}

TEST_F(PoolTls, UnknownKey) {
  ExpectError(Head() + "    tls:\n      verify: false\n", 7, 7, "pools[0].tls.verify",
              "unknown key");
}

TEST_F(PoolTls, CaThatCannotBeRead) {
  ExpectError(Head() + "    tls:\n      ca: " + dir_ + "/missing.pem\n", 7, 11, "pools[0].tls.ca",
              "cannot read \"" + dir_ + "/missing.pem\": No such file or directory");
}

TEST_F(PoolTls, CaWithoutACertificate) {
  ExpectError(Head() + "    tls:\n      ca: " + text_path_ + "\n", 7, 11, "pools[0].tls.ca",
              "\"" + text_path_ + "\" holds no PEM certificate");
}

TEST_F(PoolTls, ServerNameWithAPort) {
  ExpectError(Head() + "    tls:\n      server_name: api.example:443\n", 7, 20,
              "pools[0].tls.server_name", "\"api.example:443\" is not a host name or IP address");
}

TEST_F(PoolTls, ServerNameEmpty) {
  ExpectError(Head() + "    tls:\n      server_name: \"\"\n", 7, 20, "pools[0].tls.server_name",
              "empty");
}

TEST_F(PoolTls, ClientCertificateWithoutItsKey) {
  ExpectError(Head() + "    tls:\n      client_certificate: " + cert_path_ + "\n", 7, 27,
              "pools[0].tls.client_certificate", "needs client_private_key too (both or neither)");
}

TEST_F(PoolTls, ClientKeyWithoutItsCertificate) {
  ExpectError(Head() + "    tls:\n      client_private_key: " + key_path_ + "\n", 7, 27,
              "pools[0].tls.client_private_key", "needs client_certificate too");
}

TEST_F(PoolTls, ClientCertificateThatIsNotPem) {
  ExpectError(Head() + "    tls:\n      client_certificate: " + text_path_ +
                  "\n      client_private_key: " + key_path_ + "\n",
              7, 27, "pools[0].tls.client_certificate",
              "\"" + text_path_ + "\" is not a PEM certificate");
}

TEST_F(PoolTls, ClientKeyThatIsNotPem) {
  ExpectError(Head() + "    tls:\n      client_certificate: " + cert_path_ +
                  "\n      client_private_key: " + cert_path_ + "\n",
              8, 27, "pools[0].tls.client_private_key",
              "\"" + cert_path_ + "\" is not an unencrypted PEM private key");
}

TEST_F(PoolTls, ClientKeyOfAnotherCertificate) {
  ExpectError(
      Head() + "    tls:\n      client_certificate: " + cert_path_ +
          "\n      client_private_key: " + other_key_path_ + "\n",
      8, 27, "pools[0].tls.client_private_key",
      "\"" + other_key_path_ + "\" does not match the certificate in \"" + cert_path_ + "\"");
}

TEST_F(PoolTls, ClientKeyThatCannotBeRead) {
  ExpectError(Head() + "    tls:\n      client_certificate: " + cert_path_ +
                  "\n      client_private_key: " + dir_ + "/gone.key\n",
              8, 27, "pools[0].tls.client_private_key", "cannot read \"" + dir_ + "/gone.key\"");
}

TEST_F(PoolTls, MinVersionIsOneTwoOrOneThree) {
  ExpectError(Head() + "    tls:\n      min_version: \"1.1\"\n", 7, 20, "pools[0].tls.min_version",
              "unknown value \"1.1\" (allowed: 1.2, 1.3)");
}

TEST_F(PoolTls, InsecureSkipVerifyIsABool) {
  ExpectError(Head() + "    tls:\n      insecure_skip_verify: sometimes\n", 7, 29,
              "pools[0].tls.insecure_skip_verify", "sometimes");
}

}  // namespace
}  // namespace infergate::config
