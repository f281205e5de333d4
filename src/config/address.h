// Parsing of listen addresses ("host:port") and backend URLs ("http[s]://host:port"), saying why
// a malformed one is refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "infergate/config/config.h"

namespace infergate::config::detail {

// On failure returns nullopt and sets *why to the reason, e.g. "missing port".
std::optional<HostPort> ParseHostPortWithReason(std::string_view text, std::string* why);

// Accepts "http://host[:port][/]" and "https://host[:port][/]"; the port defaults to 80 or 443,
// the host is lower-cased, and *https (when given) says which scheme it was.
std::optional<HostPort> ParseBackendUrl(std::string_view url, std::string* why,
                                        bool* https = nullptr);

// "host:port", or "[v6]:port" for an IPv6 literal.
std::string HostPortName(const HostPort& address);

// `text` in double quotes, for messages.
std::string Quoted(std::string_view text);

}  // namespace infergate::config::detail
