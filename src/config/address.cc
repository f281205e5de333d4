// Listen addresses and backend URLs.
#include "config/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace infergate::config::detail {
namespace {

constexpr uint16_t kDefaultHttpPort = 80;
constexpr uint16_t kDefaultHttpsPort = 443;
constexpr size_t kMaxHostLength = 253;

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint16_t> ParsePort(std::string_view text) {
  if (!IsDigits(text) || text.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : text) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

bool IsIpv6Literal(std::string_view text) {
  std::string_view address = text.substr(0, text.find('%'));
  if (address.size() != text.size()) {
    std::string_view zone = text.substr(address.size() + 1);
    if (zone.empty() || !std::all_of(zone.begin(), zone.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        })) {
      return false;
    }
  }
  in6_addr out{};
  return inet_pton(AF_INET6, std::string(address).c_str(), &out) == 1;
}

bool IsHostName(std::string_view text) {
  if (text.empty() || text.size() > kMaxHostLength) return false;
  bool numeric = std::all_of(text.begin(), text.end(),
                             [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  if (numeric) {
    in_addr out{};
    return inet_pton(AF_INET, std::string(text).c_str(), &out) == 1;
  }
  if (text.front() == '.' || text.back() == '.' || text.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// Splits "host:port", "[v6]:port" or ":port" (the port optional when `default_port` is set).
std::optional<HostPort> SplitHostPort(std::string_view text, std::optional<uint16_t> default_port,
                                      std::string* why) {
  std::string_view host;
  std::optional<std::string_view> port_text;
  bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *why = "missing \"]\" after the IPv6 address";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *why = "expected \":port\" after \"]\"";
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      *why = "IPv6 addresses need brackets, e.g. [::1]:8080";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }

  HostPort out;
  if (!port_text) {
    if (!default_port) {
      *why = "missing port";
      return std::nullopt;
    }
    out.port = *default_port;
  } else if (port_text->empty()) {
    *why = "missing port after \":\"";
    return std::nullopt;
  } else if (std::optional<uint16_t> port = ParsePort(*port_text)) {
    out.port = *port;
  } else {
    *why = "port " + Quoted(*port_text) + " is not a number from 0 to 65535";
    return std::nullopt;
  }

  if (bracketed) {
    if (!IsIpv6Literal(host)) {
      *why = Quoted(host) + " is not an IPv6 address";
      return std::nullopt;
    }
  } else if (host.empty()) {
    if (default_port) {
      *why = "missing host";
      return std::nullopt;
    }
    host = "0.0.0.0";
  } else if (!IsHostName(host)) {
    *why = "invalid host " + Quoted(host);
    return std::nullopt;
  }
  out.host = std::string(host);
  return out;
}

}  // namespace

std::optional<HostPort> ParseHostPortWithReason(std::string_view text, std::string* why) {
  if (text.empty()) {
    *why = "empty address";
    return std::nullopt;
  }
  return SplitHostPort(text, std::nullopt, why);
}

std::optional<HostPort> ParseBackendUrl(std::string_view url, std::string* why, bool* https) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    *why = "missing scheme (write e.g. http://" +
           std::string(url.empty() ? "10.0.0.11:8000" : url) + ")";
    return std::nullopt;
  }
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") {
    *why = "unsupported scheme " + Quoted(scheme) + " (allowed: http, https)";
    return std::nullopt;
  }
  const bool tls = scheme == "https";
  if (https != nullptr) *https = tls;
  std::string_view rest = url.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (tail.find_first_of("?#") != std::string_view::npos) {
    *why = "a query or fragment is not allowed";
    return std::nullopt;
  }
  if (!tail.empty() && tail != "/") {
    *why = "path " + Quoted(tail) +
           " is not allowed (the client's path is forwarded as is; write only scheme, host and "
           "port)";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    *why = "user info (\"user@\") is not allowed";
    return std::nullopt;
  }
  if (authority.empty()) {
    *why = "missing host";
    return std::nullopt;
  }
  std::optional<HostPort> address =
      SplitHostPort(authority, tls ? kDefaultHttpsPort : kDefaultHttpPort, why);
  if (!address) return std::nullopt;
  if (address->port == 0) {
    *why = "port 0 is not allowed for a backend";
    return std::nullopt;
  }
  std::transform(address->host.begin(), address->host.end(), address->host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return address;
}

std::string HostPortName(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) {
    return "[" + address.host + "]:" + std::to_string(address.port);
  }
  return address.host + ":" + std::to_string(address.port);
}

std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

}  // namespace infergate::config::detail
