// Session-ticket keys kept in memory and rotated: tickets are encrypted (AES-256-CBC) and
// authenticated (HMAC-SHA256) with the current key; a ticket sealed with the previous key is
// still accepted (and renewed), older ones fall back to a full handshake. Nothing is written to
// disk, so a restart forgets every ticket. One object per listener, kept across certificate
// reloads so a reload does not cost every client its session. Thread-safe: every worker's
// handshakes share it.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace infergate::tls {

class TicketKeys {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // The key changes every `rotate_every`; a ticket lives at most twice that.
  explicit TicketKeys(std::chrono::seconds rotate_every = std::chrono::hours(1),
                      Clock now = &std::chrono::steady_clock::now);
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Makes `ctx` seal and open its tickets with these keys (the object must outlive ctx's use).
  void Install(SSL_CTX* ctx);
  // The lifetime a ticket is accepted for, to advertise as the session timeout.
  std::chrono::seconds lifetime() const { return rotate_every_ * 2; }
  uint64_t rotations() const;

 private:
  struct Key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
  };
  friend struct TicketCallback;
  // Under mu_: rotates when the current key's period is over.
  void RotateIfDue();
  static bool Fresh(Key& key);

  const std::chrono::seconds rotate_every_;
  const Clock now_;
  mutable std::mutex mu_;
  Key current_{};
  Key previous_{};
  bool has_previous_ = false;
  std::chrono::steady_clock::time_point rotate_at_;
  uint64_t rotations_ = 0;
};

}  // namespace infergate::tls
