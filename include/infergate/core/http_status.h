// HTTP status reason phrases (RFC 9110), shared by the gateway, the mock and the tools.
#pragma once

#include <string_view>

namespace infergate {

// The reason phrase for `status`, or "Unknown".
std::string_view ReasonPhrase(int status);

}  // namespace infergate
