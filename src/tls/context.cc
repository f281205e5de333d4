// Server TLS contexts: one SSL_CTX per certificate, configured alike; the first one's serves a
// handshake unless SNI names another certificate (matched by OpenSSL's own host check, so
// wildcards and SANs behave as browsers expect).
#include "infergate/tls/context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>

#include "tls/suites.h"

namespace infergate::tls {

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

namespace {

// Whether `path` holds a PEM private key OpenSSL can read (so a refused key is a mismatch).
bool KeyReadable(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_PKEY_free(key);
  return key != nullptr;
}

// A certificate's notAfter in seconds since the Unix epoch (0 when it cannot be read).
int64_t NotAfter(X509* cert) {
  struct tm t = {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &t) != 1) return 0;
  return static_cast<int64_t>(timegm(&t));
}

std::string SubjectName(X509* cert) {
  char buf[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace

struct ServerContext::Leaf {
  SSL_CTX* ctx = nullptr;
  X509* cert = nullptr;  // owned by ctx
  ~Leaf() { SSL_CTX_free(ctx); }
};

struct ContextCallbacks {
  // ALPN: the first of the server's protocols the client offers; none shared: no ALPN (the
  // connection speaks HTTP/1.1), rather than a handshake failure.
  static int Alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void* arg) {
    auto* self = static_cast<ServerContext*>(arg);
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, self->alpn_wire_.data(),
                              static_cast<unsigned int>(self->alpn_wire_.size()), in,
                              inlen) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }

  // SNI: the first certificate whose names match; else the default one.
  static int ServerName(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<ServerContext*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_OK;
    for (const auto& leaf : self->leaves_) {
      if (X509_check_host(leaf->cert, name, std::strlen(name), 0, nullptr) == 1) {
        if (leaf->ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, leaf->ctx);
        return SSL_TLSEXT_ERR_OK;
      }
    }
    return SSL_TLSEXT_ERR_OK;
  }
};

std::shared_ptr<ServerContext> ServerContext::Load(const ServerOptions& o, std::string* error) {
  ERR_clear_error();
  if (o.certificates.empty()) {
    *error = "no certificate";
    return nullptr;
  }
  std::shared_ptr<ServerContext> self(new ServerContext());
  self->tickets_ = o.tickets ? o.tickets : std::make_shared<TicketKeys>();
  for (const std::string& p : o.alpn) {
    self->alpn_wire_.push_back(static_cast<unsigned char>(p.size()));
    self->alpn_wire_.insert(self->alpn_wire_.end(), p.begin(), p.end());
  }
  STACK_OF(X509_NAME)* client_cas = nullptr;
  if (!o.client_ca.empty()) {
    client_cas = SSL_load_client_CA_file(o.client_ca.c_str());
    if (client_cas == nullptr) {
      *error =
          o.client_ca + ": not a readable PEM file of CA certificates (" + OpenSslErrors() + ")";
      return nullptr;
    }
  }
  for (const CertificateFiles& files : o.certificates) {
    auto leaf = std::make_unique<Leaf>();
    leaf->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX* ctx = leaf->ctx;
    SSL_CTX_set_min_proto_version(ctx, o.min_version);
    // The server's suite order (AES-GCM first; ChaCha20 for a client that prefers it, i.e. one
    // without AES hardware): scanners (testssl.sh) rate a TLS 1.2 server without an order high.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
    SSL_CTX_set1_groups_list(ctx, kGroups);
    // Resumption by tickets only: no server-side session cache for a client to fill, and a
    // ticket opens on every worker and after a certificate reload. The session id context
    // lets sessions of a client-certificate listener resume (OpenSSL refuses them without).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    static constexpr unsigned char kSessionContext[] = "infergate";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    self->tickets_->Install(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, &ContextCallbacks::Alpn, self.get());
    SSL_CTX_set_tlsext_servername_callback(ctx, &ContextCallbacks::ServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, self.get());
    if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate.c_str()) != 1) {
      *error =
          files.certificate + ": not a readable PEM certificate chain (" + OpenSslErrors() + ")";
      sk_X509_NAME_pop_free(client_cas, X509_NAME_free);
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, files.private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      *error =
          KeyReadable(files.private_key)
              ? files.private_key + ": does not match the certificate in " + files.certificate
              : files.private_key + ": not a readable PEM private key (" + OpenSslErrors() + ")";
      ERR_clear_error();
      sk_X509_NAME_pop_free(client_cas, X509_NAME_free);
      return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      *error = files.private_key + ": does not match the certificate in " + files.certificate;
      ERR_clear_error();
      sk_X509_NAME_pop_free(client_cas, X509_NAME_free);
      return nullptr;
    }
    if (client_cas != nullptr) {
      if (SSL_CTX_load_verify_locations(ctx, o.client_ca.c_str(), nullptr) != 1) {
        *error = o.client_ca + ": " + OpenSslErrors();
        sk_X509_NAME_pop_free(client_cas, X509_NAME_free);
        return nullptr;
      }
      SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(client_cas));
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    leaf->cert = SSL_CTX_get0_certificate(ctx);
    self->names_.push_back(SubjectName(leaf->cert));
    const int64_t expiry = NotAfter(leaf->cert);
    if (self->not_after_ == 0 || (expiry != 0 && expiry < self->not_after_))
      self->not_after_ = expiry;
    self->leaves_.push_back(std::move(leaf));
  }
  sk_X509_NAME_pop_free(client_cas, X509_NAME_free);
  // The default certificate's context starts every handshake; SNI may switch to another.
  self->ctx_ = self->leaves_.front()->ctx;
  return self;
}

ServerContext::~ServerContext() = default;

AppProtocol NegotiatedProtocol(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  if (len == 2 && std::memcmp(data, "h2", 2) == 0) return AppProtocol::kH2;
  return AppProtocol::kHttp1;
}

}  // namespace infergate::tls
