// Tenant identification: SHA-256 of the presented bearer key (OpenSSL EVP) looked up among the
// configured key hashes, else a verified client certificate's names, else a trusted header naming
// the tenant. Keys are never kept or logged.
#include "infergate/isolation/tenants.h"

#include <openssl/evp.h>

#include <memory>

namespace infergate::isolation {
namespace {

constexpr size_t kDigestBytes = 32;
constexpr char kHex[] = "0123456789abcdef";

// The SHA-256 implementation, fetched once (an implicit fetch per digest costs a provider
// lookup). Kept for the life of the process.
const EVP_MD* Sha256() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

// One digest context per thread, reused (no allocation per key).
EVP_MD_CTX* ThreadContext() {
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> BearerKey(std::string_view authorization) {
  authorization = Trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() < kScheme.size() ||
      !EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (!rest.empty() && !IsSpace(rest.front())) return std::nullopt;  // "Bearerx..."
  return Trim(rest);
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = ThreadContext();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, text.data(), text.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, digest, &size) != 1 || size != kDigestBytes) {
    return {};  // out of memory in OpenSSL: matches no configured hash
  }
  std::string hex(2 * kDigestBytes, '\0');
  for (size_t i = 0; i < kDigestBytes; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return hex;
}

TenantTable::TenantTable(const config::Config& config) {
  for (size_t i = 0; i < config.tenants.size(); ++i) {
    const config::TenantConfig& tenant = config.tenants[i];
    for (const std::string& hash : tenant.api_key_sha256) {
      std::string lower(hash);
      for (char& c : lower) c = Lower(c);
      by_key_hash_.emplace(std::move(lower), i);  // a duplicate keeps its first tenant
    }
    if (!tenant.name.empty()) by_name_.emplace(tenant.name, i);
    for (const std::string& name : tenant.certificate_names) by_certificate_name_.emplace(name, i);
  }
}

TenantLookup TenantTable::Identify(std::string_view authorization, std::string_view tenant_header,
                                   std::span<const std::string> certificate_names) const {
  TenantLookup out;
  if (const std::optional<std::string_view> key = BearerKey(authorization)) {
    out.key_presented = true;
    if (!key->empty() && !by_key_hash_.empty()) {
      if (auto it = by_key_hash_.find(Sha256Hex(*key)); it != by_key_hash_.end()) {
        out.tenant = it->second;
        out.key_sha256 = &it->first;
        return out;
      }
    }
  }
  if (!by_certificate_name_.empty()) {
    for (const std::string& name : certificate_names) {
      if (auto it = by_certificate_name_.find(name); it != by_certificate_name_.end()) {
        out.tenant = it->second;
        return out;
      }
    }
  }
  tenant_header = Trim(tenant_header);
  if (!tenant_header.empty() && !by_name_.empty()) {
    if (auto it = by_name_.find(std::string(tenant_header)); it != by_name_.end()) {
      out.tenant = it->second;
    }
  }
  return out;
}

}  // namespace infergate::isolation
