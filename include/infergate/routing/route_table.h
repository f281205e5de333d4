// The route table: an immutable, compiled form of the config's routes. Routes are tried in
// order and the first match wins. The body's "model" field is looked at only when a route
// whose head conditions match needs it, and then at most once per request.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/error.h"
#include "infergate/core/expected.h"
#include "infergate/core/header_field.h"
#include "infergate/core/random.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace infergate::routing {

using HeaderField = ::infergate::HeaderField;  // name compared case-insensitively

struct RequestView {
  std::string_view method;  // as received, e.g. "POST"
  std::string_view path;    // request target without the query string
  std::string_view host;    // Host header value (may carry ":port")
  std::span<const HeaderField> headers;
};

// Supplies the body's "model" field on demand. Returns the model (nullopt when the body has no
// string "model" at the top level) or an Error (kMalformedJson, kBodyTooLarge, ...).
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual Expected<std::optional<std::string_view>, Error> Model() = 0;
};

struct RouteMatchResult {
  size_t route_index = 0;
  const config::RouteConfig* route = nullptr;
};

class RouteTable {
 public:
  // Compiles each header regex once (RE2). Throws std::invalid_argument when one does not
  // compile, which the config loader has already ruled out for a loaded config.
  explicit RouteTable(std::shared_ptr<const config::Config> config);
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;

  // The first matching route; nullopt when none matches. An Error only when a route needed the
  // model and the body could not be read as JSON.
  Expected<std::optional<RouteMatchResult>, Error> Find(const RequestView& request,
                                                        ModelSource& model) const;

  // When nothing matched: the methods of the routes that match the request but for its method
  // (for a 405 with Allow), deduplicated, in route order; empty when the method was not why.
  std::vector<std::string> MethodsFor(const RequestView& request) const;

  // Chooses among the route's weighted targets; returns an index into Config::pools.
  size_t PickPool(const config::RouteConfig& route, Rng& rng) const;

  const config::Config& config() const { return *config_; }

 private:
  struct CompiledHeader {
    const config::HeaderMatch* spec;
    std::unique_ptr<const re2::RE2> regex;  // kRegex only; whole-value match
  };
  struct CompiledRoute {
    const config::RouteConfig* route;
    std::vector<CompiledHeader> headers;
    uint32_t total_weight = 0;
  };
  bool HeadMatches(const CompiledRoute& r, const RequestView& request,
                   bool ignore_method = false) const;

  std::shared_ptr<const config::Config> config_;
  std::vector<CompiledRoute> routes_;
};

// Shell-style glob: '*' any run, '?' one character; case-sensitive.
bool GlobMatch(std::string_view pattern, std::string_view text);
// Host comparison: case-insensitive, the request's ":port" ignored, "*.example.com" matches
// any subdomain (not the apex).
bool HostMatch(std::string_view pattern, std::string_view host);

}  // namespace infergate::routing
