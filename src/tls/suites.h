// The cipher suites and key-exchange groups of the listeners and the backend connections:
// Mozilla's "intermediate" TLS 1.2 suites without the DHE ones (ECDHE only: forward secret, no
// parameters to load); TLS 1.3 keeps OpenSSL's AEAD suites.
#pragma once

#include <string>

namespace infergate::tls {

inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kGroups = "X25519:P-256:P-384";

// OpenSSL's queued errors as one line, the queue emptied ("unknown error" when none).
std::string OpenSslErrors();

}  // namespace infergate::tls
