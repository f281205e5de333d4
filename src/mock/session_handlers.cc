// What the mock answers: control endpoints, completions (after the x-mock-* steering and the
// injected failure status), the model list, and errors.
#include "mock/session.h"

#include <ctime>
#include <string>

#include "infergate/core/log.h"

namespace infergate::mock {

// ---- Request handling.

void Session::OnBodyComplete() {
  if (counted_) shared_.Record(head_, body_);
  resp_body_.clear();
  switch (endpoint_) {
    case Endpoint::kMockStats:
      shared_.AppendStats(resp_body_);
      Respond(200, kJson);
      return;
    case Endpoint::kMockReset:
      shared_.Reset();
      resp_body_ = R"({"status":"ok"})";
      Respond(200, kJson);
      return;
    case Endpoint::kMockGauges:
      HandleGauges();
      return;
    case Endpoint::kHealth:
      shared_.health_checks.fetch_add(1, std::memory_order_relaxed);
      resp_body_ = R"({"status":"ok"})";
      Respond(200, kJson);
      return;
    case Endpoint::kMetrics:
      shared_.AppendMetrics(resp_body_);
      Respond(200, "text/plain; version=0.0.4; charset=utf-8");
      return;
    default:
      break;
  }
  if (controls_.hang) {
    state_ = State::kHanging;
    WatchPeer();
    return;
  }
  const bool completion = endpoint_ == Endpoint::kChat || endpoint_ == Endpoint::kCompletions ||
                          endpoint_ == Endpoint::kResponses || endpoint_ == Endpoint::kEmbeddings;
  if (controls_.status == 0 && completion)
    controls_.status = static_cast<int>(shared_.fail_status.load());
  if (controls_.status != 0) {
    if (!controls_.error_body.empty()) {  // x-mock-error-body: a model server's own error JSON
      resp_body_ = controls_.error_body;
    } else {
      std::string message = "Mock error: status " + std::to_string(controls_.status);
      AppendErrorBody(resp_body_, message,
                      controls_.status < 500 ? "invalid_request_error" : "server_error",
                      "mock_status");
    }
    RespondAfter(controls_.status, kJson, controls_.ttft);
    return;
  }
  switch (endpoint_) {
    case Endpoint::kChat:
    case Endpoint::kCompletions:
    case Endpoint::kResponses:
      HandleCompletion();
      return;
    case Endpoint::kEmbeddings:
      HandleEmbeddings();
      return;
    case Endpoint::kModels:
      HandleModels();
      return;
    case Endpoint::kModel:
      HandleModel();
      return;
    case Endpoint::kWrongMethod:
      ErrorResponse(405,
                    "Method " + std::string(head_.method) + " is not allowed for " +
                        std::string(head_.Path()) + ".",
                    "invalid_request_error", "method_not_allowed");
      return;
    default:
      ErrorResponse(404,
                    "Unknown request URL: " + std::string(head_.method) + " " +
                        std::string(head_.Path()) + ".",
                    "invalid_request_error", "unknown_url");
      return;
  }
}

void Session::HandleCompletion() {
  request_.has_model = false;
  request_.model.clear();
  request_.stream = false;
  request_.include_usage = false;
  if (!ParseCompletionRequest(body_, &request_)) {
    ErrorResponse(400, "We could not parse the JSON body of your request.", "invalid_request_error",
                  "invalid_json");
    return;
  }
  if (request_.has_model) shared_.CountModel(request_.model);
  int model_index = request_.has_model ? shared_.FindModel(request_.model) : -1;
  if (model_index < 0) {
    ErrorResponse(404, "The model `" + request_.model + "` does not exist.",
                  "invalid_request_error", "model_not_found");
    return;
  }
  bool chat = endpoint_ == Endpoint::kChat;
  const bool responses = endpoint_ == Endpoint::kResponses;
  const int64_t serial = shared_.next_id.fetch_add(1, std::memory_order_relaxed) + 1;
  response_id_.assign(responses ? "resp_mock_" : chat ? "chatcmpl-mock-" : "cmpl-mock-");
  AppendInt(response_id_, serial);
  shape_.chat = chat;
  shape_.id = response_id_;
  shape_.model = shared_.options().models[static_cast<size_t>(model_index)];
  shape_.created = static_cast<int64_t>(std::time(nullptr));
  shape_.tokens = controls_.tokens;
  shape_.prompt_tokens = static_cast<int64_t>(body_.size() / 4) + 1;
  if (responses) {
    item_id_.assign("msg_mock_");
    AppendInt(item_id_, serial);
    responses_shape_ = ResponsesShape{.id = response_id_,
                                      .item_id = item_id_,
                                      .model = shape_.model,
                                      .created_at = shape_.created,
                                      .tokens = shape_.tokens,
                                      .input_tokens = shape_.prompt_tokens};
  }
  if (request_.stream) {
    StartStream();
    return;
  }
  Duration wait = CompletionDelay(controls_);
  if (controls_.close_after >= 0) {
    abort_after_wait_ = true;
    Wait(wait);
    return;
  }
  if (responses) {
    AppendResponseObject(resp_body_, responses_shape_);
  } else {
    AppendCompletion(resp_body_, shape_);
  }
  RespondAfter(200, kJson, wait);
}

// Not streamed: answered after the ttft (x-mock-close-after-tokens drops the connection then).
void Session::HandleEmbeddings() {
  embeddings_ = EmbeddingsRequest{};
  EmbeddingsError error;
  if (!ParseEmbeddingsRequest(body_, &embeddings_, &error)) {
    ErrorResponse(400, error.message, "invalid_request_error", error.code, error.param);
    return;
  }
  if (embeddings_.has_model) shared_.CountModel(embeddings_.model);
  const int model_index = embeddings_.has_model ? shared_.FindModel(embeddings_.model) : -1;
  if (model_index < 0) {
    ErrorResponse(404, "The model `" + embeddings_.model + "` does not exist.",
                  "invalid_request_error", "model_not_found");
    return;
  }
  if (controls_.close_after >= 0) {
    abort_after_wait_ = true;
    Wait(controls_.ttft);
    return;
  }
  AppendEmbeddings(resp_body_, embeddings_,
                   shared_.options().models[static_cast<size_t>(model_index)]);
  RespondAfter(200, kJson, controls_.ttft);
}

void Session::HandleModels() {
  resp_body_ = R"({"object":"list","data":[)";
  const auto& models = shared_.options().models;
  for (size_t i = 0; i < models.size(); ++i) {
    if (i > 0) resp_body_ += ',';
    AppendModelObject(models[i]);
  }
  resp_body_ += "]}";
  Respond(200, kJson);
}

void Session::HandleModel() {
  std::string_view name = head_.Path().substr(11);
  int index = shared_.FindModel(name);
  if (index < 0) {
    ErrorResponse(404, "The model `" + std::string(name) + "` does not exist.",
                  "invalid_request_error", "model_not_found");
    return;
  }
  AppendModelObject(shared_.options().models[static_cast<size_t>(index)]);
  Respond(200, kJson);
}

void Session::AppendModelObject(std::string_view name) {
  resp_body_ += R"({"id":)";
  AppendJsonString(resp_body_, name);
  resp_body_ += R"(,"object":"model","created":1700000000,"owned_by":"infergate-mock"})";
}

void Session::HandleGauges() {
  using namespace simdjson;
  ondemand::document doc;
  ondemand::object obj;
  bool ok = ThreadParser().iterate(Padded(body_)).get(doc) == SUCCESS &&
            doc.get_object().get(obj) == SUCCESS;
  int64_t waiting = shared_.waiting.load();
  int64_t running = shared_.running_override.load();
  double kv = shared_.kv_cache_usage.load();
  int64_t fail = shared_.fail_status.load();
  if (ok) {
    for (auto field_result : obj) {
      ondemand::field field;
      std::string_view key;
      double v = 0;
      if (std::move(field_result).get(field) != SUCCESS ||
          field.unescaped_key().get(key) != SUCCESS) {
        ok = false;
        break;
      }
      bool known = key == "waiting" || key == "running" || key == "kv_cache_usage" ||
                   key == "gpu_cache_usage_perc" || key == "fail_status";
      if (!known) continue;
      if (field.value().get_double().get(v) != SUCCESS) {
        ok = false;
        break;
      }
      if (key == "waiting") {
        waiting = static_cast<int64_t>(v);
      } else if (key == "running") {
        running = v < 0 ? -1 : static_cast<int64_t>(v);
      } else if (key == "fail_status") {
        fail = v >= 400 && v <= 599 ? static_cast<int64_t>(v) : 0;
      } else {
        kv = v;
      }
    }
    ok = ok && AtEnd(doc);
  }
  if (!ok) {
    ErrorResponse(400, "We could not parse the JSON body of your request.", "invalid_request_error",
                  "invalid_json");
    return;
  }
  shared_.waiting.store(waiting);
  shared_.running_override.store(running);
  shared_.kv_cache_usage.store(kv);
  shared_.fail_status.store(fail);
  shared_.AppendGauges(resp_body_);
  Respond(200, kJson);
}

void Session::ErrorResponse(int status, const std::string& message, std::string_view type,
                            std::string_view code, std::string_view param) {
  resp_body_.clear();
  AppendErrorBody(resp_body_, message, type, code, param);
  Respond(status, kJson);
}

// A malformed request: answer and close the connection.
void Session::ProtocolError(int status) {
  keep_alive_ = false;
  controls_.echo = false;
  resp_body_.clear();
  AppendErrorBody(resp_body_,
                  status == 413   ? "Request body too large."
                  : status == 431 ? "Request header fields too large."
                                  : "Malformed HTTP request.",
                  "invalid_request_error", status == 413 ? "request_too_large" : "bad_request");
  Respond(status, kJson);
}
}  // namespace infergate::mock
