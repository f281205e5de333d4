// Client-side TLS contexts on OpenSSL 3, for connections to backends: TLS 1.2 and 1.3 with the
// server side's forward-secret AEAD suites, the peer's chain and name verified, SNI, an optional
// client certificate, and sessions kept per backend so that a reconnect resumes.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace infergate::tls {

struct ClientOptions {
  std::string ca;  // PEM file of CA certificates; "": the system store (OpenSSL's default paths)
  std::string certificate;           // optional client certificate (PEM chain, leaf first)
  std::string private_key;           // its key (PEM), set together with `certificate`
  int min_version = TLS1_2_VERSION;  // TLS1_2_VERSION or TLS1_3_VERSION
  bool verify = true;                // false: insecure_skip_verify (no chain or name check)
};

// The latest session one thread holds for one backend: the sessions the backend issues (TLS 1.2
// in the handshake, TLS 1.3 tickets after it) replace it, and the next connection offers it.
// Used by one thread only (a worker, or the health controller's); not thread-safe.
class SessionSlot {
 public:
  SessionSlot() = default;
  ~SessionSlot();
  SessionSlot(const SessionSlot&) = delete;
  SessionSlot& operator=(const SessionSlot&) = delete;

  SSL_SESSION* get() const { return session_; }  // borrowed; null when none
  void Replace(SSL_SESSION* session);            // takes over the caller's reference
  void Clear() { Replace(nullptr); }

 private:
  SSL_SESSION* session_ = nullptr;
};

// Why a client handshake failed, for metrics (stable label values) and messages.
enum class HandshakeFailure {
  kUntrusted,     // the chain does not lead to a trusted CA (or is self-signed)
  kExpired,       // a certificate's notAfter is past
  kNotYetValid,   // a certificate's notBefore is in the future
  kNameMismatch,  // the certificate does not name server_name
  kVerifyFailed,  // another verification error (revoked, bad signature, wrong purpose, ...)
  kHandshake,     // no verification error: a protocol failure, an alert, a reset
  kCancelled,     // cut before it finished (the connect timeout, or the request ended)
};
inline constexpr int kHandshakeFailureCount = 7;
// "untrusted", "expired", "not_yet_valid", "name_mismatch", "verify_failed", "handshake",
// "cancelled".
std::string_view HandshakeFailureName(HandshakeFailure f);

// After a failed client handshake on `ssl`: the kind, and in *detail why in words (OpenSSL's
// verification message, e.g. "certificate has expired", or its error queue; the queue emptied).
HandshakeFailure ClassifyHandshakeFailure(const SSL* ssl, std::string* detail);

// Immutable once loaded; SSL_new on it is thread-safe, so one context serves every worker.
class ClientContext {
 public:
  // Reads the CA file (or the system store) and the client certificate and key. The error names
  // the file and what is wrong.
  static std::shared_ptr<ClientContext> Load(const ClientOptions& options, std::string* error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A new client SSL for one connection: `server_name` is verified (chain and name, unless
  // verification is off) and sent as SNI, except that an IP address is verified as an address
  // and not sent. The slot's session is offered for resumption, and the sessions the server
  // issues on this connection go to `slot`, which must outlive the SSL. Null on failure (out of
  // memory, a name OpenSSL refuses), with the reason in *error.
  SSL* NewSsl(const std::string& server_name, SessionSlot* slot, std::string* error) const;

  bool verifies() const { return verify_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  ClientContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
};

// Marks a connection's session as properly closed, so that freeing its SSL keeps the session
// resumable (OpenSSL invalidates the session of an SSL freed without a shutdown; a fatal TLS
// error has invalidated it already). Call before freeing a connection whose handshake completed.
void KeepSessionResumable(SSL* ssl);

}  // namespace infergate::tls
