// A listener's keys besides its name and address: request limits, client timeouts, the
// connection cap, the protocols it serves and its http2 settings and flood defences.
// config/infergate.yaml documents them.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr int64_t kMaxRequestHeaders = 10000;
constexpr int64_t kMaxListenerConnections = 10000000;
constexpr int64_t kMaxStreams = 100000;
constexpr uint64_t kMaxWindow = (1u << 31) - 1;  // RFC 9113 6.9.1
constexpr int64_t kMaxPerInterval = 100000000;

constexpr std::string_view kHttp2Keys[] = {"max_concurrent_streams",
                                           "initial_stream_window",
                                           "initial_connection_window",
                                           "max_connection_body_bytes",
                                           "flood_interval",
                                           "max_resets_per_interval",
                                           "max_pings_per_interval",
                                           "max_settings_per_interval",
                                           "max_priority_per_interval",
                                           "max_window_updates_per_interval",
                                           "max_empty_frames_per_interval"};

constexpr std::string_view kTlsKeys[] = {"certificates", "min_version", "alpn", "client_ca"};
constexpr std::string_view kCertificateKeys[] = {"certificate", "private_key"};

enum class Protocol { kHttp1, kH2c };
constexpr std::pair<std::string_view, Protocol> kProtocolNames[] = {{"http1", Protocol::kHttp1},
                                                                    {"h2c", Protocol::kH2c}};

void ReadWindow(Reader& reader, const Map& map, std::string_view key, uint64_t min, uint32_t& out) {
  const Value* v = map.Find(key);
  if (v == nullptr) return;
  std::optional<uint64_t> size = reader.Size(*v, min);
  if (!size) return;
  if (*size > kMaxWindow) {
    reader.diag().Add(*v, "at most 2147483647 bytes (the largest HTTP/2 window)");
    return;
  }
  out = static_cast<uint32_t>(*size);
}

void ReadProtocols(Reader& reader, const Value& v, ListenerConfig& out) {
  auto items = reader.List(v, "serve at least one of http1, h2c");
  if (!items) return;
  bool http1 = false, h2c = false;
  for (const Value& item : *items) {
    std::optional<Protocol> p = reader.Enum<Protocol>(item, kProtocolNames);
    if (!p) return;
    bool& seen = *p == Protocol::kHttp1 ? http1 : h2c;
    if (seen) {
      reader.diag().Add(item, "listed twice");
      return;
    }
    seen = true;
  }
  out.http1 = http1;
  out.h2c = h2c;
}

void ReadTls(Reader& reader, const Value& v, ListenerTlsConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kTlsKeys);
  if (!map) return;
  if (const Value* certs = map->Require("certificates", reader.diag())) {
    if (auto items = reader.List(*certs, "at least one certificate")) {
      for (const Value& item : *items) {
        std::optional<Map> cert = reader.Mapping(item, kCertificateKeys);
        if (!cert) continue;
        ListenerTlsConfig::Certificate c;
        const Value* crt = cert->Require("certificate", reader.diag());
        const Value* key = cert->Require("private_key", reader.diag());
        std::optional<std::string> crt_path = crt ? ReadableFile(reader, *crt) : std::nullopt;
        std::optional<std::string> key_path = key ? ReadableFile(reader, *key) : std::nullopt;
        if (crt_path && key_path) out.certificates.push_back({*crt_path, *key_path});
      }
    }
  }
  if (const Value* mv = map->Find("min_version")) {
    static constexpr std::pair<std::string_view, bool> kVersions[] = {{"1.2", false},
                                                                      {"1.3", true}};
    if (auto only13 = reader.Enum<bool>(*mv, kVersions)) out.tls13_only = *only13;
  }
  if (const Value* alpn = map->Find("alpn")) {
    static constexpr std::pair<std::string_view, int> kAlpn[] = {{"h2", 0}, {"http/1.1", 1}};
    if (auto items = reader.List(*alpn, "offer at least one of h2, http/1.1")) {
      std::vector<std::string> protocols;
      for (const Value& item : *items) {
        auto p = reader.Enum<int>(item, kAlpn);
        if (!p) return;
        const std::string name(kAlpn[*p].first);
        if (std::find(protocols.begin(), protocols.end(), name) != protocols.end()) {
          reader.diag().Add(item, "listed twice");
          return;
        }
        protocols.push_back(name);
      }
      out.alpn = std::move(protocols);
    }
  }
  if (const Value* ca = map->Find("client_ca")) {
    if (auto path = ReadableFile(reader, *ca)) out.client_ca = *path;
  }
}

void ReadHttp2(Reader& reader, const Value& v, Http2Config& out) {
  std::optional<Map> map = reader.Mapping(v, kHttp2Keys, true);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Integer("max_concurrent_streams", out.max_concurrent_streams, 1, kMaxStreams);
  ReadWindow(reader, *map, "initial_stream_window", 1, out.initial_stream_window);
  ReadWindow(reader, *map, "initial_connection_window", 65535, out.initial_connection_window);
  if (const Value* v = map->Find("max_connection_body_bytes")) {
    if (auto size = reader.Size(*v, 1)) out.max_connection_body_bytes = *size;
  }
  keys.Time("flood_interval", out.flood_interval, true);
  keys.Integer("max_resets_per_interval", out.max_resets_per_interval, 1, kMaxPerInterval);
  keys.Integer("max_pings_per_interval", out.max_pings_per_interval, 1, kMaxPerInterval);
  keys.Integer("max_settings_per_interval", out.max_settings_per_interval, 1, kMaxPerInterval);
  keys.Integer("max_priority_per_interval", out.max_priority_per_interval, 1, kMaxPerInterval);
  keys.Integer("max_window_updates_per_interval", out.max_window_updates_per_interval, 1,
               kMaxPerInterval);
  keys.Integer("max_empty_frames_per_interval", out.max_empty_frames_per_interval, 1,
               kMaxPerInterval);
}

}  // namespace

// A file the gateway must read at start: reported at the value when it cannot be.
std::optional<std::string> ReadableFile(Reader& reader, const Value& v) {
  std::optional<std::string> path = reader.NonEmptyString(v);
  if (!path) return std::nullopt;
  if (::access(path->c_str(), R_OK) != 0) {
    reader.diag().Add(v, "cannot read " + Quoted(*path) + ": " + std::strerror(errno));
    return std::nullopt;
  }
  return path;
}

void ReadListenerLimits(Reader& reader, const Map& map, ListenerConfig& out) {
  auto read = [&map](std::string_view key, auto& field, auto parse) {
    if (const Value* v = map.Find(key)) {
      if (auto parsed = parse(*v)) field = static_cast<std::decay_t<decltype(field)>>(*parsed);
    }
  };
  auto positive = [&](const Value& x) { return reader.DurationValue(x, true); };
  read("max_request_header_bytes", out.max_request_header_bytes,
       [&](const Value& x) { return reader.Size(x, 1); });
  read("max_request_headers", out.max_request_headers,
       [&](const Value& x) { return reader.Integer(x, 1, kMaxRequestHeaders); });
  read("max_request_body_bytes", out.max_request_body_bytes,
       [&](const Value& x) { return reader.Size(x, 0); });
  read("header_timeout", out.header_timeout, positive);
  read("body_timeout", out.body_timeout, positive);
  read("keepalive_timeout", out.keepalive_timeout, positive);
  read("send_timeout", out.send_timeout, positive);
  read("max_connections", out.max_connections,
       [&](const Value& x) { return reader.Integer(x, 0, kMaxListenerConnections); });
  if (const Value* v = map.Find("protocols")) ReadProtocols(reader, *v, out);
  if (const Value* v = map.Find("http2")) ReadHttp2(reader, *v, out.http2);
  if (const Value* v = map.Find("tls")) ReadTls(reader, *v, out.tls.emplace());
  if (const Value* v = map.Find("cors")) ReadCors(reader, *v, out.cors.emplace());
}

}  // namespace infergate::config::detail
