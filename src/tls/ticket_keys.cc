// Session-ticket sealing through OpenSSL 3's EVP ticket-key callback (the key name selects the
// key; OpenSSL does the framing, the encryption and the MAC check).
#include "infergate/tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

namespace infergate::tls {

namespace {

// The SSL_CTX ex_data slot that points at the TicketKeys (app_data is Asio's).
int ExIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool SetMacKey(EVP_MAC_CTX* hctx, unsigned char* key, size_t len) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, len),
                         OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

}  // namespace

struct TicketCallback {
  // enc 1: seal a new ticket with the current key. enc 0: open one; 1 accepts it, 2 accepts it
  // and asks for a new ticket (sealed with an older key), 0 refuses it (a full handshake), -1 is
  // an error.
  static int Run(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx,
                 EVP_MAC_CTX* hctx, int enc) {
    auto* self = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ExIndex()));
    if (self == nullptr) return enc ? -1 : 0;
    std::lock_guard lock(self->mu_);
    self->RotateIfDue();
    const int iv_len = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (enc) {
      TicketKeys::Key& k = self->current_;
      if (RAND_bytes(iv, iv_len) != 1) return -1;
      std::memcpy(key_name, k.name, sizeof(k.name));
      if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
      return SetMacKey(hctx, k.hmac, sizeof(k.hmac)) ? 1 : -1;
    }
    TicketKeys::Key* k = nullptr;
    int accepted = 1;
    if (std::memcmp(key_name, self->current_.name, sizeof(self->current_.name)) == 0) {
      k = &self->current_;
    } else if (self->has_previous_ &&
               std::memcmp(key_name, self->previous_.name, sizeof(self->previous_.name)) == 0) {
      k = &self->previous_;
      accepted = 2;
    }
    if (k == nullptr) return 0;
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes, iv) != 1) return -1;
    return SetMacKey(hctx, k->hmac, sizeof(k->hmac)) ? accepted : -1;
  }
};

TicketKeys::TicketKeys(std::chrono::seconds rotate_every, Clock now)
    : rotate_every_(rotate_every), now_(std::move(now)) {
  Fresh(current_);
  rotate_at_ = now_() + rotate_every_;
}

TicketKeys::~TicketKeys() {
  OPENSSL_cleanse(&current_, sizeof(current_));
  OPENSSL_cleanse(&previous_, sizeof(previous_));
}

bool TicketKeys::Fresh(Key& key) {
  return RAND_bytes(key.name, sizeof(key.name)) == 1 && RAND_bytes(key.aes, sizeof(key.aes)) == 1 &&
         RAND_bytes(key.hmac, sizeof(key.hmac)) == 1;
}

void TicketKeys::RotateIfDue() {
  const auto now = now_();
  if (now < rotate_at_) return;
  Key next{};
  if (!Fresh(next)) return;  // no randomness: keep the current key rather than a weak one
  previous_ = current_;
  has_previous_ = true;
  current_ = next;
  OPENSSL_cleanse(&next, sizeof(next));
  rotate_at_ = now + rotate_every_;
  ++rotations_;
}

uint64_t TicketKeys::rotations() const {
  std::lock_guard lock(mu_);
  return rotations_;
}

void TicketKeys::Install(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ExIndex(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketCallback::Run);
  SSL_CTX_set_timeout(ctx, static_cast<long>(lifetime().count()));
}

}  // namespace infergate::tls
