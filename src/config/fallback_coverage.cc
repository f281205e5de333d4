// Fallback chains checked against the inference endpoints their routes admit.
#include "infergate/config/fallback_coverage.h"

#include <algorithm>

namespace infergate::config {

bool RouteAdmitsEndpoint(const RouteConfig& route, const std::string& path) {
  const RouteMatch& m = route.match;
  if (!m.methods.empty() &&
      std::find(m.methods.begin(), m.methods.end(), "POST") == m.methods.end())
    return false;
  if (m.path && *m.path != path) return false;
  if (m.path_prefix && !path.starts_with(*m.path_prefix)) return false;
  return true;
}

bool FallbackServesEndpoint(const FallbackConfig& fallback, const std::string& path) {
  return fallback.kind == FallbackConfig::Kind::kPool || path != "/v1/embeddings";
}

std::vector<std::string> FallbackCoverageWarnings(const Config& config) {
  std::vector<std::string> out;
  for (const RouteConfig& route : config.routes) {
    if (route.fallbacks.empty()) continue;
    for (const char* endpoint : kInferenceEndpoints) {
      const std::string path = endpoint;
      if (!RouteAdmitsEndpoint(route, path)) continue;
      const bool served =
          std::any_of(route.fallbacks.begin(), route.fallbacks.end(),
                      [&path](const FallbackConfig& f) { return FallbackServesEndpoint(f, path); });
      if (served) continue;
      std::string names;
      for (const FallbackConfig& f : route.fallbacks) {
        if (!names.empty()) names += ", ";
        names += f.name;
      }
      out.push_back("routes." + route.name + ": " + path + ": no fallback can answer it (" + names +
                    ": own answers serve chat completions, completions and responses only); "
                    "degraded requests to it get 503 fallbacks_failed");
    }
  }
  return out;
}

}  // namespace infergate::config
