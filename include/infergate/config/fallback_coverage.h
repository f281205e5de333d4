// Load-time warnings about fallback chains that cannot serve every endpoint their route admits:
// a static answer or a runner has no embeddings shape, so a route whose fallbacks are only such
// entries answers a degraded embeddings request with 503 fallbacks_failed. Not an error (the
// operator may mean it); `--check-config` prints these and the server logs them at load and
// reload.
#pragma once

#include <string>
#include <vector>

#include "infergate/config/config.h"

namespace infergate::config {

// The inference endpoints a fallback chain may be asked to answer.
inline constexpr const char* kInferenceEndpoints[] = {"/v1/chat/completions", "/v1/completions",
                                                      "/v1/responses", "/v1/embeddings"};

// Whether the route's match admits `path`: its `path` equals it, or its `path_prefix` is a
// prefix of it, or it names neither; and its methods (if any) include POST.
bool RouteAdmitsEndpoint(const RouteConfig& route, const std::string& path);

// Whether a fallback has an answer for the endpoint: a pool serves everything; a static answer
// or a runner serves all but embeddings.
bool FallbackServesEndpoint(const FallbackConfig& fallback, const std::string& path);

// One message per (route with fallbacks, admitted endpoint none of them serves), e.g.
// "routes.chat: /v1/embeddings: no fallback can answer it (static, runner:tiny serve chat
// completions, completions and responses only); degraded requests to it get 503".
std::vector<std::string> FallbackCoverageWarnings(const Config& config);

}  // namespace infergate::config
