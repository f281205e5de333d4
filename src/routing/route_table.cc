// The compiled route table: first-match route lookup with a lazily read model, weighted pool
// choice, and the glob and host comparisons routes use.
#include "infergate/routing/route_table.h"

#include <re2/re2.h>

#include <functional>
#include <stdexcept>
#include <utility>

#include "infergate/config/header_regex.h"

namespace infergate::routing {
namespace {

using config::HeaderMatch;
using config::RouteConfig;

inline char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         EqualsIgnoreCase(text.substr(text.size() - suffix.size()), suffix);
}

// "host", "host:port", "[v6]", "[v6]:port" and a bare "v6" literal all reduce to the host name
// without brackets, port or a trailing root dot.
std::string_view HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) return host.substr(1, close - 1);
    return host;
  }
  const size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  return host;
}

// RE2 runs in time linear in the value (no backtracking, no recursion per character), so a
// regex condition needs no cap on the value's length beyond the listener's header limits.
bool HeaderHolds(const HeaderMatch& spec, const re2::RE2* regex,
                 std::span<const HeaderField> headers) {
  const bool want_absent = spec.kind == HeaderMatch::Kind::kAbsent;
  for (const HeaderField& h : headers) {
    if (!EqualsIgnoreCase(h.name, spec.name)) continue;
    switch (spec.kind) {
      case HeaderMatch::Kind::kPresent:
        return true;
      case HeaderMatch::Kind::kAbsent:
        return false;
      case HeaderMatch::Kind::kExact:
        if (h.value == spec.value) return true;
        break;
      case HeaderMatch::Kind::kRegex:
        if (re2::RE2::FullMatch(re2::StringPiece(h.value.data(), h.value.size()), *regex)) {
          return true;
        }
        break;
    }
  }
  return want_absent;
}

bool AnyGlobMatches(const std::vector<std::string>& globs, std::string_view text) {
  for (const std::string& glob : globs) {
    if (GlobMatch(glob, text)) return true;
  }
  return false;
}

}  // namespace

RouteTable::RouteTable(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {
  routes_.reserve(config_->routes.size());
  for (const RouteConfig& route : config_->routes) {
    CompiledRoute compiled;
    compiled.route = &route;
    compiled.headers.reserve(route.match.headers.size());
    for (const HeaderMatch& spec : route.match.headers) {
      CompiledHeader header{&spec, nullptr};
      if (spec.kind == HeaderMatch::Kind::kRegex) {
        auto regex = config::CompileHeaderRegex(spec.value);
        if (!regex) {
          throw std::invalid_argument("route \"" + route.name + "\": header " + spec.name +
                                      ": invalid regex: " + regex.error());
        }
        header.regex = std::move(*regex);
      }
      compiled.headers.push_back(std::move(header));
    }
    for (const config::WeightedTarget& target : route.to) compiled.total_weight += target.weight;
    routes_.push_back(std::move(compiled));
  }
}

RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

bool RouteTable::HeadMatches(const CompiledRoute& r, const RequestView& request,
                             bool ignore_method) const {
  const config::RouteMatch& m = r.route->match;
  if (m.path && request.path != *m.path) return false;
  if (m.path_prefix && !request.path.starts_with(*m.path_prefix)) return false;
  if (!m.methods.empty() && !ignore_method) {
    bool any = false;
    for (const std::string& method : m.methods) {
      if (request.method == method) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  for (const CompiledHeader& h : r.headers) {
    if (!HeaderHolds(*h.spec, h.regex.get(), request.headers)) return false;
  }
  if (m.host && !HostMatch(*m.host, request.host)) return false;
  return true;
}

std::vector<std::string> RouteTable::MethodsFor(const RequestView& request) const {
  std::vector<std::string> out;
  for (const CompiledRoute& r : routes_) {
    const std::vector<std::string>& methods = r.route->match.methods;
    if (methods.empty() || !HeadMatches(r, request, true)) continue;
    for (const std::string& m : methods) {
      if (m == request.method) return {};  // the method matches a route: not why
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  return out;
}

Expected<std::optional<RouteMatchResult>, Error> RouteTable::Find(const RequestView& request,
                                                                  ModelSource& model) const {
  bool model_read = false;
  std::optional<std::string_view> body_model;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const CompiledRoute& r = routes_[i];
    if (!HeadMatches(r, request)) continue;
    if (r.route->needs_model() && !model_read) {
      auto read = model.Model();
      if (!read) return MakeUnexpected(std::move(read.error()));
      body_model = *read;
      model_read = true;
    }
    const std::vector<std::string>& globs = r.route->match.models;
    if (!globs.empty() && (!body_model || !AnyGlobMatches(globs, *body_model))) continue;
    return std::optional<RouteMatchResult>(RouteMatchResult{i, r.route});
  }
  return std::optional<RouteMatchResult>();
}

size_t RouteTable::PickPool(const config::RouteConfig& route, Rng& rng) const {
  if (route.to.size() == 1) return route.to.front().pool_index;
  if (route.to.empty()) return 0;
  uint64_t total = 0;
  const RouteConfig* first = config_->routes.data();
  const RouteConfig* last = first + config_->routes.size();
  if (!std::less<const RouteConfig*>{}(&route, first) &&
      std::less<const RouteConfig*>{}(&route, last)) {
    total = routes_[static_cast<size_t>(&route - first)].total_weight;
  } else {
    for (const config::WeightedTarget& target : route.to) total += target.weight;
  }
  if (total == 0) return route.to.front().pool_index;
  uint64_t pick = rng.Below(total);
  for (const config::WeightedTarget& target : route.to) {
    if (pick < target.weight) return target.pool_index;
    pick -= target.weight;
  }
  return route.to.back().pool_index;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool HostMatch(std::string_view pattern, std::string_view host) {
  const std::string_view want = HostName(pattern);
  const std::string_view name = HostName(host);
  if (name.empty()) return false;
  if (want == "*") return true;
  if (want.starts_with("*.")) {
    const std::string_view suffix = want.substr(1);
    return name.size() > suffix.size() && EndsWithIgnoreCase(name, suffix);
  }
  return EqualsIgnoreCase(want, name);
}

}  // namespace infergate::routing
