// The gateway's model list (model_list.h): route names, backends' reports mapped back through
// rewrites, or the configured list; and its OpenAI JSON.
#include "infergate/exchange/model_list.h"

#include <algorithm>
#include <set>

#include "infergate/core/error.h"
#include "infergate/routing/route_table.h"

namespace infergate::exchange {
namespace {

bool IsGlob(std::string_view name) { return name.find_first_of("*?") != std::string_view::npos; }

bool Admits(const config::RouteConfig& route, std::string_view id) {
  if (route.match.models.empty()) return true;
  return std::any_of(route.match.models.begin(), route.match.models.end(),
                     [&](const std::string& glob) { return routing::GlobMatch(glob, id); });
}

bool Targets(const config::RouteConfig& route, std::string_view pool) {
  return std::any_of(route.to.begin(), route.to.end(),
                     [&](const config::WeightedTarget& t) { return t.pool == pool; });
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<ListedModel> ListModels(const config::Config& config,
                                    const upstream::ModelCatalog::Reported* reported,
                                    int64_t created) {
  std::vector<ListedModel> out;
  if (!config.models.list.empty()) {
    for (const config::ModelListEntry& e : config.models.list) {
      std::string owner = e.owned_by;
      if (owner.empty()) {
        for (const config::RouteConfig& r : config.routes) {
          if (!r.to.empty() && Admits(r, e.id)) {
            owner = r.to.front().pool;
            break;
          }
        }
      }
      out.push_back({e.id, owner.empty() ? "infergate" : owner, created});
    }
    return out;
  }
  std::set<std::string, std::less<>> seen;
  for (const config::RouteConfig& r : config.routes) {
    if (r.to.empty()) continue;
    for (const std::string& name : r.match.models) {
      if (IsGlob(name) || !seen.insert(name).second) continue;
      out.push_back({name, r.to.front().pool, created});
    }
  }
  if (reported != nullptr) {
    for (const config::PoolConfig& pool : config.pools) {
      auto it = reported->find(pool.name);
      if (it == reported->end()) continue;
      for (const upstream::ReportedModel& m : it->second) {
        if (seen.contains(m.id)) continue;
        const bool admitted =
            std::any_of(config.routes.begin(), config.routes.end(), [&](const auto& r) {
              return !r.rewrite_model && Targets(r, pool.name) && Admits(r, m.id);
            });
        if (!admitted) continue;
        seen.insert(m.id);
        out.push_back({m.id, pool.name, m.created});
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ListedModel& a, const ListedModel& b) { return a.id < b.id; });
  return out;
}

std::string ModelJson(const ListedModel& model) {
  std::string out = R"({"id":")";
  AppendJsonEscaped(out, model.id);
  out += R"(","object":"model","created":)";
  out += std::to_string(model.created);
  out += R"(,"owned_by":")";
  AppendJsonEscaped(out, model.owned_by);
  out += "\"}";
  return out;
}

std::string ModelListJson(const std::vector<ListedModel>& models) {
  std::string out = R"({"object":"list","data":[)";
  for (size_t i = 0; i < models.size(); ++i) {
    if (i > 0) out += ',';
    out += ModelJson(models[i]);
  }
  out += "]}";
  return out;
}

std::optional<std::string> ModelsPathId(std::string_view path, bool* bad_encoding) {
  *bad_encoding = false;
  constexpr std::string_view kList = "/v1/models";
  if (path == kList) return std::string();
  if (!path.starts_with(kList) || path.size() <= kList.size() + 1 || path[kList.size()] != '/')
    return std::nullopt;
  const std::string_view raw = path.substr(kList.size() + 1);
  std::string id;
  id.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      id += raw[i];
      continue;
    }
    const int hi = i + 2 < raw.size() ? HexDigit(raw[i + 1]) : -1;
    const int lo = hi >= 0 ? HexDigit(raw[i + 2]) : -1;
    if (lo < 0) {
      *bad_encoding = true;
      return std::string(raw);
    }
    id += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return id;
}

}  // namespace infergate::exchange
