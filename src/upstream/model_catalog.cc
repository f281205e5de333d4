// The backends' model lists (ModelCatalog) and the parser of an OpenAI model list.
#include "infergate/upstream/model_catalog.h"

#include <simdjson.h>

#include <set>

namespace infergate::upstream {

namespace od = simdjson::ondemand;

std::optional<std::vector<ReportedModel>> ParseModelList(std::string_view body, int64_t now) {
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  od::object root;
  if (doc.get_object().get(root)) return std::nullopt;
  od::array data;
  if (root.find_field_unordered("data").get_array().get(data)) return std::nullopt;
  std::vector<ReportedModel> out;
  std::set<std::string, std::less<>> seen;
  for (auto element : data) {
    od::object entry;
    if (element.get_object().get(entry)) return std::nullopt;
    ReportedModel m;
    m.created = now;
    for (auto field : entry) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return std::nullopt;
      if (key == "id") {
        std::string_view id;
        if (field.value().get_string().get(id)) return std::nullopt;
        m.id.assign(id);
      } else if (key == "created") {
        int64_t created = 0;
        if (!field.value().get_int64().get(created) && created >= 0) m.created = created;
      }
    }
    if (m.id.empty() || !seen.insert(m.id).second) continue;
    out.push_back(std::move(m));
  }
  return out;
}

void ModelCatalog::Set(const std::string& pool, const std::string& backend,
                       std::vector<ReportedModel> models) {
  std::lock_guard lock(mu_);
  by_backend_[{pool, backend}] = std::move(models);
  Rebuild();
}

void ModelCatalog::Retain(const config::Config& config) {
  std::set<std::pair<std::string, std::string>> keep;
  for (const config::PoolConfig& p : config.pools) {
    for (const config::BackendConfig& b : p.backends) keep.emplace(p.name, b.name);
  }
  std::lock_guard lock(mu_);
  std::erase_if(by_backend_, [&](const auto& entry) { return !keep.contains(entry.first); });
  Rebuild();
}

std::shared_ptr<const ModelCatalog::Reported> ModelCatalog::reported() const {
  std::lock_guard lock(mu_);
  return reported_;
}

void ModelCatalog::Rebuild() {
  auto next = std::make_shared<Reported>();
  std::set<std::pair<std::string_view, std::string_view>> seen;  // pool, id
  for (const auto& [key, models] : by_backend_) {
    std::vector<ReportedModel>& list = (*next)[key.first];
    for (const ReportedModel& m : models) {
      if (seen.emplace(key.first, m.id).second) list.push_back(m);
    }
  }
  reported_ = std::move(next);
}

}  // namespace infergate::upstream
