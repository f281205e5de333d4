// What the gateway's own GET /v1/models lists: the model names a client can send. Pure
// functions of the config and the backends' reported lists, so unit tests need no sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/upstream/model_catalog.h"

namespace infergate::exchange {

struct ListedModel {
  std::string id;
  std::string owned_by;
  int64_t created = 0;  // Unix seconds
};

// With models.list: exactly that list, in its order (owned_by "" becomes the first pool of the
// first route admitting the id, else "infergate"). Otherwise, deduplicated (the first owner
// wins) and sorted by id: (a) the literal names (no '*' or '?') in routes' model matchers,
// owned by the route's first target pool; then (b) each pool's reported ids (`reported` may be
// null) that some route to that pool without rewrite_model admits (its model globs match, or it
// has no model matcher). An id only a rewriting route reaches is not listed: the route's own
// names are. `created`: the time given to names the config makes known.
std::vector<ListedModel> ListModels(const config::Config& config,
                                    const upstream::ModelCatalog::Reported* reported,
                                    int64_t created);

// {"object":"list","data":[...]} and one {"id":...,"object":"model",...}, as OpenAI writes them.
std::string ModelListJson(const std::vector<ListedModel>& models);
std::string ModelJson(const ListedModel& model);

// The model id of a models request path: "" for /v1/models, "a/b" for /v1/models/a%2Fb or
// /v1/models/a/b; nullopt for other paths. `*bad_encoding` is set when a '%' is not followed
// by two hex digits (the id is then the path's rest as sent).
std::optional<std::string> ModelsPathId(std::string_view path, bool* bad_encoding);

}  // namespace infergate::exchange
