// The top-level `models` mapping: the list GET /v1/models answers with (instead of what routes
// and backends make known) and how often backends are asked for theirs.
#include <set>
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kModelsKeys[] = {"list", "refresh"};
constexpr std::string_view kModelEntryKeys[] = {"id", "owned_by"};

}  // namespace

void ReadModels(Reader& reader, const Value& v, ModelsConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kModelsKeys, /*null_is_empty=*/true);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Time("refresh", out.refresh, /*must_be_positive=*/false);
  const Value* list = map->Find("list");
  if (list == nullptr) return;
  auto items = reader.List(*list, "omit list to list the models routes and backends make known");
  if (!items) return;
  std::map<std::string, int> first_line;
  for (const Value& item : *items) {
    ModelListEntry entry;
    const Value* id_at = &item;
    Value id_value;
    if (item.node.IsMap()) {
      std::optional<Map> m = reader.Mapping(item, kModelEntryKeys);
      if (!m) continue;
      const Value* id = m->Require("id", reader.diag());
      if (id == nullptr) continue;
      id_value = *id;
      id_at = &id_value;
      if (const Value* owner = m->Find("owned_by")) {
        std::optional<std::string> text = reader.String(*owner);
        if (!text) continue;
        entry.owned_by = *text;
      }
    } else if (!item.node.IsScalar()) {
      reader.diag().Add(item, item.node.IsNull()
                                  ? "missing value (expected a model id or {id: ID, owned_by: X})"
                                  : "expected a model id or {id: ID, owned_by: X} (found a list)");
      continue;
    }
    std::optional<std::string> id = reader.NonEmptyString(*id_at);
    if (!id) continue;
    auto [it, inserted] = first_line.emplace(*id, id_at->pos.line);
    if (!inserted) {
      reader.diag().Add(*id_at, "model " + Quoted(*id) + " is listed twice (first at line " +
                                    std::to_string(it->second) + ")");
      continue;
    }
    entry.id = std::move(*id);
    out.list.push_back(std::move(entry));
  }
}

}  // namespace infergate::config::detail
