// A pool's tls block: how the gateway verifies its https:// backends and what it shows them. The
// files are read and parsed at load (a CA file without a certificate, a key that does not match
// its certificate), so a bad file is a positioned error naming it rather than a failed start.
// config/infergate.yaml documents the keys.
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kPoolTlsKeys[] = {
    "ca",          "server_name",         "client_certificate", "client_private_key",
    "min_version", "insecure_skip_verify"};

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

// Never prompts on the terminal for an encrypted key's pass phrase: such a key is refused.
int NoPassphrase(char*, int, int, void*) { return -1; }

// The first line of OpenSSL's queued errors (the queue emptied), or "".
std::string OpenSslReason() {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return "";
  const char* reason = ERR_reason_error_string(e);
  return reason ? std::string(" (") + reason + ")" : "";
}

BioPtr Open(const std::string& path) { return BioPtr(BIO_new_file(path.c_str(), "r"), &BIO_free); }

// A file of one or more PEM CA certificates.
std::optional<std::string> ReadCaFile(Reader& reader, const Value& v) {
  std::optional<std::string> path = ReadableFile(reader, v);
  if (!path) return std::nullopt;
  BioPtr bio = Open(*path);
  size_t count = 0;
  while (bio) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr);
    if (cert == nullptr) break;
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();  // the end of the file reads as an error
  if (count == 0) {
    reader.diag().Add(v, Quoted(*path) +
                             " holds no PEM certificate (expected the CA certificates "
                             "backends must chain to)");
    return std::nullopt;
  }
  return path;
}

// Whether `text` is an IPv4 or IPv6 address (no brackets, no port).
bool IsIpAddress(const std::string& text) {
  unsigned char out[16];
  return inet_pton(AF_INET, text.c_str(), out) == 1 || inet_pton(AF_INET6, text.c_str(), out) == 1;
}

// A DNS name (letters, digits, '-', '.') or an IP address, lower-cased.
std::optional<std::string> ReadServerName(Reader& reader, const Value& v) {
  std::optional<std::string> text = reader.NonEmptyString(v);
  if (!text) return std::nullopt;
  std::string name = Lower(*text);
  if (IsIpAddress(name)) return name;
  bool ok = name.size() <= 253 && name.front() != '.' && name.back() != '.' &&
            name.find("..") == std::string::npos;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  }
  if (!ok) {
    reader.diag().Add(v, Quoted(*text) +
                             " is not a host name or IP address (write the name the backend's "
                             "certificate carries, without scheme or port)");
    return std::nullopt;
  }
  return name;
}

// The client certificate and its key: both or neither, each parsed, the key the certificate's.
void ReadClientCertificate(Reader& reader, const Map& map, PoolTlsConfig& out) {
  const Value* cert_at = map.Find("client_certificate");
  const Value* key_at = map.Find("client_private_key");
  if (cert_at == nullptr && key_at == nullptr) return;
  if (cert_at == nullptr || key_at == nullptr) {
    reader.diag().Add(cert_at ? *cert_at : *key_at,
                      cert_at
                          ? "client_certificate needs client_private_key too (both or neither)"
                          : "client_private_key needs client_certificate too (both or neither)");
    return;
  }
  std::optional<std::string> cert_path = ReadableFile(reader, *cert_at);
  std::optional<std::string> key_path = ReadableFile(reader, *key_at);
  if (!cert_path || !key_path) return;
  X509* cert = nullptr;
  if (BioPtr bio = Open(*cert_path)) {
    cert = PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr);
  }
  if (cert == nullptr) {
    reader.diag().Add(*cert_at, Quoted(*cert_path) + " is not a PEM certificate" + OpenSslReason());
    return;
  }
  EVP_PKEY* key = nullptr;
  if (BioPtr bio = Open(*key_path)) {
    key = PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr);
  }
  if (key == nullptr) {
    reader.diag().Add(
        *key_at, Quoted(*key_path) + " is not an unencrypted PEM private key" + OpenSslReason());
  } else if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    reader.diag().Add(
        *key_at, Quoted(*key_path) + " does not match the certificate in " + Quoted(*cert_path));
  } else {
    out.client_certificate = *cert_path;
    out.client_private_key = *key_path;
  }
  EVP_PKEY_free(key);
  X509_free(cert);
}

}  // namespace

void ReadPoolTls(Reader& reader, const Map& pool, PoolConfig& out) {
  size_t https = 0, http = 0;
  for (const BackendConfig& b : out.backends) {
    if (b.name.empty()) continue;  // refused (reported)
    ++(b.https ? https : http);
  }
  PoolTlsConfig tls;
  const Value* block = pool.Find("tls");
  if (block != nullptr) ReadTlsBlock(reader, *block, tls);
  if (https > 0 && http > 0) {
    if (const Value* backends = pool.Find("backends")) {
      reader.diag().Add(*backends,
                        "mixes http:// and https:// backends; a pool's backends share one TLS "
                        "setting, so put them in separate pools (a route can fall back from one "
                        "to the other)");
    }
  } else if (https > 0) {
    out.tls = std::move(tls);
  } else if (block != nullptr && http > 0) {
    reader.diag().Add(*block,
                      "a tls block applies to https:// backends, and this pool's are http://: "
                      "write them as https://host[:port], or remove the tls block");
  }
}

// Also shared_state.redis.tls's mapping form (limits_keys.cc).
void ReadTlsBlock(Reader& reader, const Value& v, PoolTlsConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kPoolTlsKeys, true);
  if (!map) return;
  if (const Value* ca = map->Find("ca")) {
    if (auto path = ReadCaFile(reader, *ca)) out.ca = *path;
  }
  if (const Value* name = map->Find("server_name")) {
    if (auto text = ReadServerName(reader, *name)) out.server_name = *text;
  }
  ReadClientCertificate(reader, *map, out);
  if (const Value* mv = map->Find("min_version")) {
    static constexpr std::pair<std::string_view, bool> kVersions[] = {{"1.2", false},
                                                                      {"1.3", true}};
    if (auto only13 = reader.Enum<bool>(*mv, kVersions)) out.tls13_only = *only13;
  }
  Keys keys(reader, *map);
  keys.Bool("insecure_skip_verify", out.insecure_skip_verify);
}

}  // namespace infergate::config::detail
