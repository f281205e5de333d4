// Fuzz driver for the config loader: LoadConfigString over arbitrary YAML text. It must return
// positioned errors (never throw), and a config it accepts must hold what config.h promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/config/header_regex.h"
#include "infergate/routing/route_table.h"

namespace {

using namespace infergate::config;  // NOLINT: the driver checks most of its types

constexpr std::string_view kFile = "fuzz.yaml";

void Require(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
bool InRange(const std::optional<size_t>& index, const std::vector<T>& items) {
  return !index || *index < items.size();
}

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool HasLowerAscii(std::string_view s) {
  for (char c : s) {
    if (c >= 'a' && c <= 'z') return true;
  }
  return false;
}

bool HasUpperAscii(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

// Every error names the file and, when it has a position, a line within the text and a column.
void CheckErrors(const std::vector<ConfigError>& errors, std::string_view yaml) {
  Require(!errors.empty());
  int breaks = 0;  // an upper bound on the lines the YAML reader can count
  for (char c : yaml) breaks += (c == '\n' || c == '\r') ? 1 : 0;
  for (size_t i = 0; i < errors.size(); ++i) {
    const ConfigError& e = errors[i];
    Require(e.file == kFile);
    Require(!e.message.empty());
    // An exception caught by the loader's last-resort handler is a loader bug.
    Require(!e.message.starts_with("internal error while loading the config"));
    Require(e.line >= 0 && e.line <= breaks + 1);
    Require(e.line == 0 ? e.column == 0 : e.column >= 1);
    const std::string text = e.ToString();
    const std::string prefix =
        std::string(kFile) +
        (e.line > 0 ? ":" + std::to_string(e.line) + ":" + std::to_string(e.column) : "") + ": ";
    Require(text.compare(0, prefix.size(), prefix) == 0);
    if (i > 0) {  // in document order, errors without a position first
      const ConfigError& prev = errors[i - 1];
      Require(prev.line < e.line || (prev.line == e.line && prev.column <= e.column));
    }
  }
}

void CheckRoute(const Config& c, const RouteConfig& r) {
  Require(!r.to.empty());
  for (const WeightedTarget& t : r.to) {
    Require(t.pool_index < c.pools.size());
    Require(c.pools[t.pool_index].name == t.pool);
    Require(t.weight >= 1 && t.weight <= 1000);
  }
  Require(!(r.match.path && r.match.path_prefix));
  Require(!r.match.path || r.match.path->starts_with('/'));
  Require(!r.match.path_prefix || r.match.path_prefix->starts_with('/'));
  for (const std::string& method : r.match.methods)
    Require(!method.empty() && !HasLowerAscii(method));
  for (const std::string& model : r.match.models) Require(!model.empty());
  for (const HeaderMatch& h : r.match.headers) {
    Require(!h.name.empty() && !HasUpperAscii(h.name));
    if (h.kind == HeaderMatch::Kind::kRegex) Require(CompileHeaderRegex(h.value).ok());
  }
  Require(r.retries >= 0 && r.retries <= 5);
  Require(InRange(r.compartment, c.compartments));
  Require(r.degrade.triggers < (1u << kTriggerCount));
  for (const FallbackConfig& f : r.fallbacks) {
    switch (f.kind) {
      case FallbackConfig::Kind::kPool:
        Require(f.pool < c.pools.size() && f.name == c.pools[f.pool].name);
        Require(InRange(f.compartment, c.compartments));
        break;
      case FallbackConfig::Kind::kRunner:
        Require(f.runner < c.runners.size() && f.name == "runner:" + c.runners[f.runner].name);
        break;
      case FallbackConfig::Kind::kStatic:
        Require(f.name == "static" && !f.text.empty());
        break;
    }
  }
}

// What a loaded config promises: non-empty required lists and every index in range.
void CheckConfig(const Config& c) {
  Require(c.source == kFile);
  Require(!c.listeners.empty() && !c.pools.empty() && !c.routes.empty());
  for (const PoolConfig& p : c.pools) {
    Require(!p.name.empty() && !p.backends.empty());
    for (const BackendConfig& b : p.backends) Require(b.weight >= 1 && b.weight <= 1000);
  }
  for (const RouteConfig& r : c.routes) CheckRoute(c, r);
  Require(!c.tiers.empty());
  Require(c.tenant_identification.anonymous_tier < c.tiers.size());
  Require(!HasUpperAscii(c.tenant_identification.header));
  for (const TenantConfig& t : c.tenants) {
    Require(t.tier < c.tiers.size());
    Require(InRange(t.compartment, c.compartments));
    for (const std::string& key : t.api_key_sha256) Require(IsLowerHex64(key));
  }
  for (const RunnerConfig& r : c.runners) {
    Require(r.compartment < c.compartments.size());
    Require(c.compartments[r.compartment].thread_pool.threads > 0);  // runners need threads
  }
}

}  // namespace

extern "C" int FuzzConfig(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    LoadResult result = LoadConfigString(yaml, std::string(kFile));
    if (!result.ok()) {
      CheckErrors(result.error(), yaml);
      return 0;
    }
    Require(*result != nullptr);
    CheckConfig(**result);
    // The router compiles what the loader accepted (its header regexes included) without throwing.
    infergate::routing::RouteTable table(*result);
    Require(table.config().routes.size() == (*result)->routes.size());
  } catch (const std::exception&) {
    std::abort();  // the loader returns errors; nothing may escape it
  }
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzConfig(data, size);
}
#endif
