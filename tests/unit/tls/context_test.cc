// Server TLS contexts, handshaken in memory (a BIO pair, no sockets) against OpenSSL's client
// with certificates this test makes itself: a throwaway CA per run, EC P-256 leaves.
#include "infergate/tls/context.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "unit/tls/test_certs.h"

namespace infergate::tls {
namespace {

using testing::Key;

// A CA (`ca`) or a leaf for `cn` (its SAN: DNS:cn), valid for an hour.
X509* MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               long serial) {
  return testing::MakeCert(cn, key, issuer, issuer_key, ca ? "" : "DNS:" + cn, serial);
}

class Pki : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/infergate-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ca_ = MakeCert("test-ca", ca_key_.k, nullptr, nullptr, true, 1);
    other_ca_ = MakeCert("other-ca", other_key_.k, nullptr, nullptr, true, 2);
  }
  void TearDown() override {
    X509_free(ca_);
    X509_free(other_ca_);
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string Write(const std::string& name, X509* cert) {
    return testing::WritePem(dir_, name, cert);
  }
  std::string Write(const std::string& name, EVP_PKEY* key) {
    return testing::WritePem(dir_, name, key);
  }
  // A leaf for `cn` signed by the test CA, as files.
  CertificateFiles Leaf(const std::string& cn, X509* issuer = nullptr,
                        EVP_PKEY* issuer_key = nullptr) {
    Key key;
    X509* cert = MakeCert(cn, key.k, issuer ? issuer : ca_, issuer_key ? issuer_key : ca_key_.k,
                          false, ++serial_);
    CertificateFiles f{Write(cn + ".crt", cert), Write(cn + ".key", key.k)};
    X509_free(cert);
    return f;
  }

  SSL_CTX* Client(int max_version = 0) {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c), ca_);
    if (max_version) SSL_CTX_set_max_proto_version(c, max_version);
    return c;
  }

  struct Result {
    bool ok = false;
    std::string peer_cn;
    AppProtocol protocol = AppProtocol::kHttp1;
    bool alpn = false;
    bool reused = false;
    std::shared_ptr<SSL_SESSION> session;
  };
  Result Handshake(const ServerContext& server, SSL_CTX* client_ctx, const char* sni,
                   std::vector<std::string> alpn = {}, SSL_SESSION* resume = nullptr) {
    SSL* s = SSL_new(server.native());
    SSL* c = SSL_new(client_ctx);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (sni) {
      SSL_set_tlsext_host_name(c, sni);
      SSL_set1_host(c, sni);
    }
    if (resume) SSL_set_session(c, resume);
    std::string wire;
    for (const auto& p : alpn) wire += static_cast<char>(p.size()) + p;
    if (!wire.empty())
      SSL_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()), wire.size());
    Result r;
    bool c_done = false, s_done = false;
    for (int i = 0; i < 100 && !(c_done && s_done); ++i) {
      if (!c_done) {
        const int rc = SSL_do_handshake(c);
        if (rc == 1)
          c_done = true;
        else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
          break;
      }
      if (!s_done) {
        const int rs = SSL_do_handshake(s);
        if (rs == 1)
          s_done = true;
        else if (SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
          break;
      }
    }
    r.ok = c_done && s_done;
    if (r.ok) {
      X509* peer = SSL_get1_peer_certificate(c);
      char cn[128] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      r.peer_cn = cn;
      X509_free(peer);
      r.protocol = NegotiatedProtocol(s);
      const unsigned char* d;
      unsigned int n = 0;
      SSL_get0_alpn_selected(c, &d, &n);
      r.alpn = n > 0;
      r.reused = SSL_session_reused(c) == 1;
      // TLS 1.3 tickets follow the handshake: one read takes them in (no data comes).
      char byte;
      SSL_read(c, &byte, 1);
      r.session.reset(SSL_get1_session(c), SSL_SESSION_free);
    }
    ERR_clear_error();
    // A connection closed without close_notify makes its session unresumable (OpenSSL).
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
    return r;
  }

  std::string dir_;
  Key ca_key_, other_key_;
  X509* ca_ = nullptr;
  X509* other_ca_ = nullptr;
  long serial_ = 10;
};

ServerOptions One(const CertificateFiles& files) {
  ServerOptions o;
  o.certificates = {files};
  return o;
}

std::shared_ptr<ServerContext> LoadOk(const ServerOptions& o) {
  std::string error;
  auto ctx = ServerContext::Load(o, &error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

TEST_F(Pki, AlpnChoosesH2WhenOfferedAndHttp1Otherwise) {
  auto server = LoadOk(One(Leaf("api.test")));
  SSL_CTX* client = Client();
  auto both = Handshake(*server, client, "api.test", {"h2", "http/1.1"});
  ASSERT_TRUE(both.ok);
  EXPECT_EQ(both.protocol, AppProtocol::kH2);
  auto h1 = Handshake(*server, client, "api.test", {"http/1.1"});
  ASSERT_TRUE(h1.ok);
  EXPECT_EQ(h1.protocol, AppProtocol::kHttp1);
  auto none = Handshake(*server, client, "api.test");
  ASSERT_TRUE(none.ok);
  EXPECT_FALSE(none.alpn);
  EXPECT_EQ(none.protocol, AppProtocol::kHttp1);
  auto unknown = Handshake(*server, client, "api.test", {"spdy/3"});
  ASSERT_TRUE(unknown.ok);  // no shared protocol: no ALPN, not a failure
  EXPECT_EQ(unknown.protocol, AppProtocol::kHttp1);
  SSL_CTX_free(client);
}

TEST_F(Pki, SniPicksTheCertificateAndUnknownNamesGetTheDefault) {
  ServerOptions o;
  o.certificates = {Leaf("a.test"), Leaf("b.test"), Leaf("*.w.test")};
  auto server = LoadOk(o);
  SSL_CTX* client = Client();
  EXPECT_EQ(Handshake(*server, client, "b.test").peer_cn, "b.test");
  EXPECT_EQ(Handshake(*server, client, "x.w.test").peer_cn, "*.w.test");
  SSL_CTX_set_verify(client, SSL_VERIFY_NONE, nullptr);  // the default does not match
  EXPECT_EQ(Handshake(*server, client, "unknown.test").peer_cn, "a.test");
  EXPECT_EQ(Handshake(*server, client, nullptr).peer_cn, "a.test");
  SSL_CTX_free(client);
}

TEST_F(Pki, OldProtocolsAreRefusedAndMinVersionHolds) {
  auto server = LoadOk(One(Leaf("api.test")));
  SSL_CTX* tls11 = Client(TLS1_1_VERSION);
  EXPECT_FALSE(Handshake(*server, tls11, "api.test").ok);
  SSL_CTX* tls12 = Client(TLS1_2_VERSION);
  EXPECT_TRUE(Handshake(*server, tls12, "api.test").ok);
  ServerOptions only13;
  only13.certificates = {Leaf("api.test")};
  only13.min_version = TLS1_3_VERSION;
  auto server13 = LoadOk(only13);
  EXPECT_FALSE(Handshake(*server13, tls12, "api.test").ok);
  SSL_CTX_free(tls11);
  SSL_CTX_free(tls12);
}

TEST_F(Pki, ClientCertificatesAreRequiredAndVerifiedWhenAClientCaIsSet) {
  ServerOptions o;
  o.certificates = {Leaf("api.test")};
  o.client_ca = Write("clients.pem", ca_);
  auto server = LoadOk(o);
  SSL_CTX* anonymous = Client();
  EXPECT_FALSE(Handshake(*server, anonymous, "api.test").ok);
  SSL_CTX* trusted = Client();
  CertificateFiles mine = Leaf("tenant-a");
  SSL_CTX_use_certificate_chain_file(trusted, mine.certificate.c_str());
  SSL_CTX_use_PrivateKey_file(trusted, mine.private_key.c_str(), SSL_FILETYPE_PEM);
  EXPECT_TRUE(Handshake(*server, trusted, "api.test").ok);
  SSL_CTX* stranger = Client();
  CertificateFiles theirs = Leaf("tenant-x", other_ca_, other_key_.k);
  SSL_CTX_use_certificate_chain_file(stranger, theirs.certificate.c_str());
  SSL_CTX_use_PrivateKey_file(stranger, theirs.private_key.c_str(), SSL_FILETYPE_PEM);
  EXPECT_FALSE(Handshake(*server, stranger, "api.test").ok);
  SSL_CTX_free(anonymous);
  SSL_CTX_free(trusted);
  SSL_CTX_free(stranger);
}

TEST_F(Pki, SessionsResume) {
  auto server = LoadOk(One(Leaf("api.test")));
  SSL_CTX* client = Client(TLS1_2_VERSION);  // the ticket arrives within the handshake
  auto first = Handshake(*server, client, "api.test");
  ASSERT_TRUE(first.ok);
  EXPECT_FALSE(first.reused);
  auto again = Handshake(*server, client, "api.test", {}, first.session.get());
  ASSERT_TRUE(again.ok);
  EXPECT_TRUE(again.reused);
  SSL_CTX_free(client);
}

// A certificate reload builds a new context; with the listener's ticket keys kept, a session
// from before the reload resumes after it, while unrelated keys cannot open the ticket.
TEST_F(Pki, TicketsOpenInAReloadedContextThatKeepsTheKeys) {
  auto keys = std::make_shared<TicketKeys>();
  ServerOptions o = One(Leaf("api.test"));
  o.tickets = keys;
  auto before = LoadOk(o);
  SSL_CTX* client = Client();  // TLS 1.3: the ticket comes after the handshake, in the pump
  auto first = Handshake(*before, client, "api.test");
  ASSERT_TRUE(first.ok);
  o.certificates = {Leaf("api.test")};
  auto after = LoadOk(o);
  auto resumed = Handshake(*after, client, "api.test", {}, first.session.get());
  ASSERT_TRUE(resumed.ok);
  EXPECT_TRUE(resumed.reused);
  o.tickets = std::make_shared<TicketKeys>();
  auto stranger = LoadOk(o);
  auto full = Handshake(*stranger, client, "api.test", {}, first.session.get());
  ASSERT_TRUE(full.ok);
  EXPECT_FALSE(full.reused);
  SSL_CTX_free(client);
}

// Keys rotate on a manual clock: a ticket sealed with the previous key still opens, one sealed
// two keys ago falls back to a full handshake.
TEST_F(Pki, TicketKeysRotateAndThePreviousKeyStillOpens) {
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(100);
  auto keys = std::make_shared<TicketKeys>(std::chrono::seconds(60), [&now] { return now; });
  ServerOptions o = One(Leaf("api.test"));
  o.tickets = keys;
  auto server = LoadOk(o);
  SSL_CTX* client = Client(TLS1_2_VERSION);
  auto first = Handshake(*server, client, "api.test");
  ASSERT_TRUE(first.ok);
  now += std::chrono::seconds(61);
  auto second = Handshake(*server, client, "api.test", {}, first.session.get());
  ASSERT_TRUE(second.ok);
  EXPECT_TRUE(second.reused);
  EXPECT_EQ(keys->rotations(), 1u);
  now += std::chrono::seconds(61);
  auto third = Handshake(*server, client, "api.test", {}, first.session.get());
  ASSERT_TRUE(third.ok);
  EXPECT_FALSE(third.reused);
  EXPECT_EQ(keys->rotations(), 2u);
  SSL_CTX_free(client);
}

// Sessions of a client-certificate listener resume too (they need a session id context).
TEST_F(Pki, ClientCertificateSessionsResume) {
  ServerOptions o = One(Leaf("api.test"));
  o.client_ca = Write("clients.pem", ca_);
  auto server = LoadOk(o);
  SSL_CTX* trusted = Client();
  CertificateFiles mine = Leaf("tenant-a");
  SSL_CTX_use_certificate_chain_file(trusted, mine.certificate.c_str());
  SSL_CTX_use_PrivateKey_file(trusted, mine.private_key.c_str(), SSL_FILETYPE_PEM);
  auto first = Handshake(*server, trusted, "api.test");
  ASSERT_TRUE(first.ok);
  auto again = Handshake(*server, trusted, "api.test", {}, first.session.get());
  ASSERT_TRUE(again.ok);
  EXPECT_TRUE(again.reused);
  SSL_CTX_free(trusted);
}

// The server's suite order applies (testssl.sh rates its absence high), ChaCha20 first only
// for a client that puts it first.
TEST_F(Pki, TheServerOrdersTheSuites) {
  auto server = LoadOk(One(Leaf("api.test")));
  const uint64_t options = SSL_CTX_get_options(server->native());
  EXPECT_NE(options & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
  EXPECT_NE(options & SSL_OP_PRIORITIZE_CHACHA, 0u);
  EXPECT_NE(options & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_NE(options & SSL_OP_NO_COMPRESSION, 0u);
}

TEST_F(Pki, BadFilesAreNamedInTheError) {
  std::string error;
  ServerOptions missing;
  missing.certificates = {{dir_ + "/nope.crt", dir_ + "/nope.key"}};
  EXPECT_FALSE(ServerContext::Load(missing, &error));
  EXPECT_NE(error.find(dir_ + "/nope.crt"), std::string::npos) << error;
  CertificateFiles a = Leaf("a.test"), b = Leaf("b.test");
  ServerOptions mismatched;
  mismatched.certificates = {{a.certificate, b.private_key}};
  EXPECT_FALSE(ServerContext::Load(mismatched, &error));
  EXPECT_NE(error.find("does not match the certificate in " + a.certificate), std::string::npos)
      << error;
  ServerOptions bad_ca;
  bad_ca.certificates = {a};
  bad_ca.client_ca = a.private_key;  // not certificates
  EXPECT_FALSE(ServerContext::Load(bad_ca, &error));
  EXPECT_NE(error.find(a.private_key), std::string::npos) << error;
}

}  // namespace
}  // namespace infergate::tls
