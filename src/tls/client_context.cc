// Client TLS contexts: one SSL_CTX per pool, shared by every thread that connects to its
// backends. Sessions are not cached inside OpenSSL (SSL_SESS_CACHE_NO_INTERNAL_STORE): the
// new-session callback hands each one to the connection's SessionSlot, which TLS 1.3 needs
// because its tickets arrive after the handshake.
#include "infergate/tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/suites.h"

namespace infergate::tls {
namespace {

// The SSL ex_data index that points at a connection's SessionSlot (app_data is Asio's).
int SlotIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A new session for the connection's slot: the slot takes OpenSSL's reference (return 1).
int NewSession(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_ex_data(ssl, SlotIndex()));
  if (slot == nullptr) return 0;
  slot->Replace(session);
  return 1;
}

// `name` without an IPv6 zone ("fe80::1%eth0"), when it is an IP address.
bool IsIpAddress(const std::string& name, std::string* address) {
  *address = name.substr(0, name.find('%'));
  unsigned char out[16];
  return inet_pton(AF_INET, address->c_str(), out) == 1 ||
         inet_pton(AF_INET6, address->c_str(), out) == 1;
}

}  // namespace

SessionSlot::~SessionSlot() { SSL_SESSION_free(session_); }

void SessionSlot::Replace(SSL_SESSION* session) {
  SSL_SESSION_free(session_);
  session_ = session;
}

std::string_view HandshakeFailureName(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::kUntrusted:
      return "untrusted";
    case HandshakeFailure::kExpired:
      return "expired";
    case HandshakeFailure::kNotYetValid:
      return "not_yet_valid";
    case HandshakeFailure::kNameMismatch:
      return "name_mismatch";
    case HandshakeFailure::kVerifyFailed:
      return "verify_failed";
    case HandshakeFailure::kHandshake:
      return "handshake";
    case HandshakeFailure::kCancelled:
      break;
  }
  return "cancelled";
}

HandshakeFailure ClassifyHandshakeFailure(const SSL* ssl, std::string* detail) {
  ERR_clear_error();
  // Without SSL_VERIFY_PEER a verification result never fails a handshake.
  const long result =
      (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (result == X509_V_OK) return HandshakeFailure::kHandshake;
  *detail = X509_verify_cert_error_string(result);
  switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return HandshakeFailure::kUntrusted;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return HandshakeFailure::kExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return HandshakeFailure::kNotYetValid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return HandshakeFailure::kNameMismatch;
    default:
      return HandshakeFailure::kVerifyFailed;
  }
}

std::shared_ptr<ClientContext> ClientContext::Load(const ClientOptions& o, std::string* error) {
  ERR_clear_error();
  std::shared_ptr<ClientContext> self(new ClientContext());
  self->ctx_ = SSL_CTX_new(TLS_client_method());
  if (self->ctx_ == nullptr) {
    *error = "cannot make a TLS context: " + OpenSslErrors();
    return nullptr;
  }
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_min_proto_version(ctx, o.min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  SSL_CTX_set1_groups_list(ctx, kGroups);
  self->verify_ = o.verify;
  if (o.verify) {
    if (o.ca.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        *error = "cannot load the system CA store: " + OpenSslErrors();
        return nullptr;
      }
    } else if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1) {
      *error = o.ca + ": not a readable PEM file of CA certificates (" + OpenSslErrors() + ")";
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!o.certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.certificate.c_str()) != 1) {
      *error = o.certificate + ": not a readable PEM certificate chain (" + OpenSslErrors() + ")";
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      *error = o.private_key + ": not a PEM private key matching the certificate in " +
               o.certificate + " (" + OpenSslErrors() + ")";
      return nullptr;
    }
  }
  // The upstream client speaks HTTP/1.1: said in ALPN, so a server that would pick h2 does not.
  static constexpr unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn) - 1);
  // Sessions go to the connection's slot only (TLS 1.3 tickets included), never to a cache
  // inside the context that every worker would share behind a lock.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &NewSession);
  return self;
}

ClientContext::~ClientContext() { SSL_CTX_free(ctx_); }

SSL* ClientContext::NewSsl(const std::string& server_name, SessionSlot* slot,
                           std::string* error) const {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) {
    *error = "cannot make a TLS connection: " + OpenSslErrors();
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  std::string address;
  const bool ip = IsIpAddress(server_name, &address);
  bool ok = ip || SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;
  if (ok && verify_) {
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, server_name.c_str()) == 1;
    }
  }
  if (!ok) {
    *error = "cannot use \"" + server_name + "\" as the TLS server name: " + OpenSslErrors();
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_ex_data(ssl, SlotIndex(), slot);
  if (slot != nullptr && slot->get() != nullptr && SSL_SESSION_is_resumable(slot->get()) == 1) {
    // A copy: OpenSSL marks a TLS 1.3 session used up once a handshake resumed it (RFC 8446
    // discourages reusing a ticket, for privacy, which is moot between a gateway and its own
    // backends), and a server that does not renew tickets sends no new one. The slot's session
    // stays on offer until a newer one arrives, the ticket's lifetime ends (the client then
    // stops offering it) or the backend refuses it (a full handshake brings a new one).
    if (SSL_SESSION* copy = SSL_SESSION_dup(slot->get())) {
      SSL_set_session(ssl, copy);
      SSL_SESSION_free(copy);
    }
  }
  return ssl;
}

void KeepSessionResumable(SSL* ssl) {
  if (ssl != nullptr && SSL_is_init_finished(ssl)) {
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
}

}  // namespace infergate::tls
