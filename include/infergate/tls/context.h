// Server-side TLS contexts on OpenSSL 3: certificates chosen by SNI (the first is the default),
// TLS 1.2 and 1.3 only with forward-secret AEAD suites for 1.2 (Mozilla's "intermediate"
// profile), no renegotiation or compression, session tickets with keys kept in memory and
// rotated, ALPN choosing h2 or http/1.1, and optional client-certificate verification. A context
// is immutable once loaded; a certificate reload builds a new one, so handshakes already begun
// keep the old one.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/tls/ticket_keys.h"

namespace infergate::tls {

struct CertificateFiles {
  std::string certificate;  // PEM: the leaf first, then its chain
  std::string private_key;  // PEM
};

struct ServerOptions {
  std::vector<CertificateFiles> certificates;          // at least one; the first is the default
  int min_version = TLS1_2_VERSION;                    // TLS1_2_VERSION or TLS1_3_VERSION
  std::vector<std::string> alpn = {"h2", "http/1.1"};  // in the server's order of preference
  std::string client_ca;  // PEM; when set, a client certificate is required and verified
  // The listener's session-ticket keys, kept across reloads (null: the context makes its own).
  std::shared_ptr<TicketKeys> tickets;
};

// The application protocol a handshake chose: kH2 only when ALPN said "h2".
enum class AppProtocol { kHttp1, kH2 };

class ServerContext {
 public:
  // Reads and checks every file: a certificate that does not parse, a key that does not match
  // its certificate, an unreadable CA file. The error names the file and what is wrong.
  static std::shared_ptr<ServerContext> Load(const ServerOptions& options, std::string* error);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  // The certificates' subject names as loaded (for logs: which certificate SNI may choose).
  const std::vector<std::string>& names() const { return names_; }
  // The earliest notAfter of the certificates, in seconds since the Unix epoch.
  int64_t not_after() const { return not_after_; }

 private:
  ServerContext() = default;
  friend struct ContextCallbacks;
  struct Leaf;
  SSL_CTX* ctx_ = nullptr;
  std::vector<std::unique_ptr<Leaf>> leaves_;  // SNI candidates, the default first
  std::vector<std::string> names_;
  int64_t not_after_ = 0;
  std::vector<unsigned char> alpn_wire_;  // the server's list, length-prefixed
  std::shared_ptr<TicketKeys> tickets_;
};

// After a completed handshake: what ALPN chose (HTTP/1.1 without ALPN).
AppProtocol NegotiatedProtocol(const SSL* ssl);

}  // namespace infergate::tls
