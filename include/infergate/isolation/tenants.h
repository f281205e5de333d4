// Tenant identification: an API key (Authorization: Bearer KEY) matched against SHA-256 hashes
// from the config, a verified client certificate's names, or a trusted header naming the tenant.
// Keys are hashed on arrival and never stored or logged in clear. Immutable after construction;
// thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "infergate/config/config.h"

namespace infergate::isolation {

// Lower-case hex SHA-256 of `text` (64 characters).
std::string Sha256Hex(std::string_view text);

// The key of "Bearer KEY" (scheme case-insensitive, spaces trimmed); nullopt for another scheme
// or no header. "Bearer" alone yields an empty key.
std::optional<std::string_view> BearerKey(std::string_view authorization);

struct TenantLookup {
  std::optional<size_t> tenant;  // index into Config::tenants
  bool key_presented = false;    // an Authorization: Bearer header was present
  // The hex SHA-256 of the key that identified the tenant (owned by the table); null otherwise.
  const std::string* key_sha256 = nullptr;
};

class TenantTable {
 public:
  explicit TenantTable(const config::Config& config);
  // `authorization`: the Authorization header's value ("" when absent); `tenant_header`: the
  // configured tenant header's value ("" when absent or not configured); `certificate_names`:
  // the names of the client certificate the TLS handshake verified (empty without one). A known
  // API key wins; then the first certificate name a tenant lists; then the header's value when
  // it names a tenant.
  TenantLookup Identify(std::string_view authorization, std::string_view tenant_header,
                        std::span<const std::string> certificate_names = {}) const;
  bool empty() const { return by_key_hash_.empty() && by_name_.empty(); }

 private:
  std::unordered_map<std::string, size_t> by_key_hash_;  // hex SHA-256 -> tenant
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_map<std::string, size_t> by_certificate_name_;
};

}  // namespace infergate::isolation
