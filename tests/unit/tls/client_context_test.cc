// Client TLS contexts, handshaken in memory (a BIO pair, no sockets) against the gateway's own
// server context: chain and name verification with the failure classified, an IP verified as an
// address and not sent as SNI, and sessions resumed through a SessionSlot.
#include "infergate/tls/client_context.h"

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

#include "infergate/tls/context.h"
#include "unit/tls/test_certs.h"

namespace infergate::tls {
namespace {

using testing::Key;
using testing::MakeCert;

class Client : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/infergate-tls-client-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ca_ = MakeCert("test-ca", ca_key_.k, nullptr, nullptr, "", 1);
    other_ca_ = MakeCert("other-ca", other_key_.k, nullptr, nullptr, "", 2);
    ca_path_ = Write("ca.pem", ca_);
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
  // A server for a leaf with `san`, signed by the test CA unless `issuer` says otherwise.
  std::shared_ptr<ServerContext> Server(const std::string& san, long from = -60, long to = 3600,
                                        X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr,
                                        int min_version = TLS1_2_VERSION) {
    Key key;
    const long serial = ++serial_;
    X509* cert = MakeCert("leaf", key.k, issuer ? issuer : ca_, issuer_key ? issuer_key : ca_key_.k,
                          san, serial, from, to);
    ServerOptions o;
    const std::string base = "leaf" + std::to_string(serial);
    o.certificates = {{Write(base + ".crt", cert), Write(base + ".key", key.k)}};
    o.min_version = min_version;
    X509_free(cert);
    std::string error;
    auto ctx = ServerContext::Load(o, &error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }
  std::shared_ptr<ClientContext> Context(ClientOptions o = {}) {
    if (o.ca.empty()) o.ca = ca_path_;
    std::string error;
    auto ctx = ClientContext::Load(o, &error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }

  struct Result {
    bool ok = false;
    bool reused = false;
    HandshakeFailure failure = HandshakeFailure::kHandshake;
    std::string detail;
    std::string sni;   // what the server saw
    std::string alpn;  // what ALPN chose
  };
  // One connection: handshake, one byte each way (the TLS 1.3 tickets arrive with it), then
  // freed, with the session kept resumable unless `keep` is false.
  Result Connect(const ServerContext& server, const ClientContext& client, const std::string& name,
                 SessionSlot* slot, bool keep = true) {
    std::string error;
    SSL* c = client.NewSsl(name, slot, &error);
    EXPECT_NE(c, nullptr) << error;
    SSL* s = SSL_new(server.native());
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_accept_state(s);
    bool c_done = false, s_done = false, failed = false;
    for (int i = 0; i < 100 && !(c_done && s_done) && !failed; ++i) {
      if (!c_done) {
        const int rc = SSL_do_handshake(c);
        c_done = rc == 1;
        failed = !c_done && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ;
      }
      if (!s_done && !failed) {
        const int rs = SSL_do_handshake(s);
        s_done = rs == 1;
        failed = !s_done && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ;
      }
    }
    Result r;
    r.ok = c_done && s_done;
    if (r.ok) {
      r.reused = SSL_session_reused(c) == 1;
      const char* sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
      r.sni = sni ? sni : "";
      const unsigned char* alpn = nullptr;
      unsigned int alpn_len = 0;
      SSL_get0_alpn_selected(c, &alpn, &alpn_len);
      r.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
      char byte = 'x';
      SSL_write(s, &byte, 1);
      SSL_read(c, &byte, 1);
      if (keep) KeepSessionResumable(c);
    } else {
      r.failure = ClassifyHandshakeFailure(c, &r.detail);
    }
    ERR_clear_error();
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
    return r;
  }

  std::string dir_;
  Key ca_key_, other_key_;
  X509* ca_ = nullptr;
  X509* other_ca_ = nullptr;
  std::string ca_path_;
  long serial_ = 10;
};

TEST_F(Client, VerifiesTheChainAndTheNameAndSendsSniAndAlpn) {
  auto server = Server("DNS:api.test");  // offers h2 first
  auto client = Context();
  SessionSlot slot;
  Result r = Connect(*server, *client, "api.test", &slot);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.sni, "api.test");
  EXPECT_EQ(r.alpn, "http/1.1");  // the upstream client speaks HTTP/1.1 only
}

TEST_F(Client, AnotherCaIsUntrusted) {
  auto server = Server("DNS:api.test", -60, 3600, other_ca_, other_key_.k);
  SessionSlot slot;
  Result r = Connect(*server, *Context(), "api.test", &slot);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, HandshakeFailure::kUntrusted);
  EXPECT_EQ(HandshakeFailureName(r.failure), "untrusted");
  EXPECT_EQ(r.detail, "unable to get local issuer certificate");
}

TEST_F(Client, AnExpiredCertificateIsRefused) {
  auto server = Server("DNS:api.test", -7200, -3600);
  SessionSlot slot;
  Result r = Connect(*server, *Context(), "api.test", &slot);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, HandshakeFailure::kExpired);
  EXPECT_EQ(r.detail, "certificate has expired");
}

TEST_F(Client, ACertificateNotYetValidIsRefused) {
  auto server = Server("DNS:api.test", 3600, 7200);
  SessionSlot slot;
  Result r = Connect(*server, *Context(), "api.test", &slot);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, HandshakeFailure::kNotYetValid);
}

TEST_F(Client, AWrongNameIsRefused) {
  auto server = Server("DNS:api.test");
  SessionSlot slot;
  Result r = Connect(*server, *Context(), "other.test", &slot);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, HandshakeFailure::kNameMismatch);
  EXPECT_EQ(HandshakeFailureName(r.failure), "name_mismatch");
}

TEST_F(Client, AnIpIsVerifiedAsAnAddressAndNotSentAsSni) {
  auto server = Server("IP:127.0.0.1");
  auto client = Context();
  SessionSlot slot;
  Result r = Connect(*server, *client, "127.0.0.1", &slot);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.sni, "");
  SessionSlot other_slot;  // a slot belongs to one backend and its name
  Result other = Connect(*server, *client, "127.0.0.2", &other_slot);
  EXPECT_FALSE(other.ok);
  EXPECT_EQ(other.failure, HandshakeFailure::kNameMismatch);
  auto dns_server = Server("DNS:127.0.0.1");  // a name that looks like the address is not one
  SessionSlot dns_slot;
  EXPECT_FALSE(Connect(*dns_server, *client, "127.0.0.1", &dns_slot).ok);
}

TEST_F(Client, InsecureSkipVerifyAcceptsAnyCertificate) {
  auto server = Server("DNS:api.test", -7200, -3600, other_ca_, other_key_.k);
  ClientOptions o;
  o.verify = false;
  auto client = Context(o);
  EXPECT_FALSE(client->verifies());
  SessionSlot slot;
  EXPECT_TRUE(Connect(*server, *client, "wrong.test", &slot).ok);
}

TEST_F(Client, MinVersionOneThreeRefusesATls12Server) {
  ClientOptions o;
  o.min_version = TLS1_3_VERSION;
  auto client = Context(o);
  auto server = Server("DNS:api.test");
  SSL_CTX_set_max_proto_version(server->native(), TLS1_2_VERSION);
  SessionSlot slot;
  Result r = Connect(*server, *client, "api.test", &slot);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, HandshakeFailure::kHandshake);
}

// The slot catches the TLS 1.3 ticket that follows the handshake; the next connection resumes.
TEST_F(Client, TheNextConnectionResumesTheSlotsSession) {
  auto server = Server("DNS:api.test");
  auto client = Context();
  SessionSlot slot;
  Result first = Connect(*server, *client, "api.test", &slot);
  ASSERT_TRUE(first.ok);
  EXPECT_FALSE(first.reused);
  ASSERT_NE(slot.get(), nullptr);
  Result second = Connect(*server, *client, "api.test", &slot);
  ASSERT_TRUE(second.ok);
  EXPECT_TRUE(second.reused);
  // The backend issued no ticket on the resumed connection: the slot's is offered again.
  Result third = Connect(*server, *client, "api.test", &slot);
  EXPECT_TRUE(third.reused);
}

TEST_F(Client, Tls12SessionsResumeToo) {
  auto server = Server("DNS:api.test");
  SSL_CTX_set_max_proto_version(server->native(), TLS1_2_VERSION);
  auto client = Context();
  SessionSlot slot;
  ASSERT_TRUE(Connect(*server, *client, "api.test", &slot).ok);
  ASSERT_NE(slot.get(), nullptr);
  EXPECT_TRUE(Connect(*server, *client, "api.test", &slot).reused);
}

// Why KeepSessionResumable exists: OpenSSL invalidates the session of a connection freed
// without a shutdown.
TEST_F(Client, AConnectionFreedWithoutShutdownLosesItsSession) {
  auto server = Server("DNS:api.test");
  auto client = Context();
  SessionSlot slot;
  ASSERT_TRUE(Connect(*server, *client, "api.test", &slot, /*keep=*/false).ok);
  ASSERT_NE(slot.get(), nullptr);
  EXPECT_EQ(SSL_SESSION_is_resumable(slot.get()), 0);
  EXPECT_FALSE(Connect(*server, *client, "api.test", &slot).reused);
}

TEST_F(Client, LoadErrorsNameTheFile) {
  std::string error;
  ClientOptions missing;
  missing.ca = dir_ + "/nope.pem";
  EXPECT_FALSE(ClientContext::Load(missing, &error));
  EXPECT_NE(error.find(dir_ + "/nope.pem"), std::string::npos) << error;
  Key key, other;
  X509* cert = MakeCert("me", key.k, ca_, ca_key_.k, "DNS:me", 99);
  ClientOptions mismatched;
  mismatched.ca = ca_path_;
  mismatched.certificate = Write("me.crt", cert);
  mismatched.private_key = Write("other.key", other.k);
  X509_free(cert);
  EXPECT_FALSE(ClientContext::Load(mismatched, &error));
  EXPECT_NE(error.find(dir_ + "/other.key"), std::string::npos) << error;
  ClientOptions system;  // the system store loads whether or not it holds anything
  EXPECT_TRUE(ClientContext::Load(system, &error)) << error;
}

}  // namespace
}  // namespace infergate::tls
