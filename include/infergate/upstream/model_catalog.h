// The models each pool's backends report on GET /v1/models, as the health controller last read
// them: kept per backend (pool name + backend name) across reloads, so a reload neither forgets
// nor re-asks what it knows. The gateway's own GET /v1/models reads it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infergate/config/config.h"

namespace infergate::upstream {

// Largest /v1/models body read from a backend; a bigger one fails that poll.
inline constexpr size_t kMaxModelListBytes = 1 << 20;

struct ReportedModel {
  std::string id;
  int64_t created = 0;  // Unix seconds, as the backend said (else when first read)
};

// The ids in an OpenAI model list ({"data":[{"id":...,"created":...},...]}), in its order;
// nullopt when `body` is not one. `now`: the `created` of entries without one.
std::optional<std::vector<ReportedModel>> ParseModelList(std::string_view body, int64_t now);

// Thread-safe: the control thread writes, exchanges read (only on GET /v1/models).
class ModelCatalog {
 public:
  // Per pool name, the models its backends reported: each id once, in backend-name order.
  using Reported = std::map<std::string, std::vector<ReportedModel>, std::less<>>;

  // A backend's latest list (replacing its previous one).
  void Set(const std::string& pool, const std::string& backend, std::vector<ReportedModel> models);
  // Forgets the backends `config` no longer has.
  void Retain(const config::Config& config);
  // What is known now (never null); unchanged by later Sets.
  std::shared_ptr<const Reported> reported() const;

 private:
  void Rebuild();  // requires mu_

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::vector<ReportedModel>> by_backend_;
  std::shared_ptr<const Reported> reported_ = std::make_shared<Reported>();
};

}  // namespace infergate::upstream
