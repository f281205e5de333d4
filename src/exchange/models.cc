// Phase: the gateway's own GET /v1/models and /v1/models/{id} (HEAD too), on every listener,
// after authentication and before routing: the names a client can send (model_list.h).
#include <algorithm>

#include "infergate/exchange/exchange.h"
#include "infergate/exchange/model_list.h"

namespace infergate::exchange {
namespace asio = boost::asio;

asio::awaitable<void> Exchange::AnswerModels(std::string_view id_view) {
  const std::string id(id_view);
  const config::Config& cfg = *snapshot_->config;
  if (!cfg.tenants.empty() || server_->listener().require_api_key) {
    PhaseResult denied = Identify();
    if (denied) {
      Error err = std::move(*denied);
      co_await SendError(err);
      co_return;
    }
  }
  std::shared_ptr<const upstream::ModelCatalog::Reported> reported;
  if (snapshot_->models) reported = snapshot_->models->reported();
  const std::vector<ListedModel> models = ListModels(cfg, reported.get(), snapshot_->loaded_at);
  std::string body;
  if (id.empty()) {
    body = ModelListJson(models);
  } else {
    auto it = std::find_if(models.begin(), models.end(),
                           [&](const ListedModel& m) { return m.id == id; });
    if (it == models.end()) {
      Error err{ErrorKind::kModelNotFound, "The model `" + id + "` does not exist", "model"};
      co_await SendError(err);
      co_return;
    }
    body = ModelJson(*it);
  }
  OwnHead(/*stream=*/false, body.size());
  server_->WriteBody(body);
  server_->WriteEnd();
  co_await Flush();
}

}  // namespace infergate::exchange
