// Renders the gateway's own answers as OpenAI chat.completion / text_completion bodies and
// server-sent chunk events, and streams of any endpoint (the Responses API's: responses_api.cc).
#include "infergate/degrade/openai_response.h"

#include <utility>

#include "infergate/core/error.h"
#include "infergate/degrade/responses_api.h"

namespace infergate::degrade {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void AppendQuoted(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

// {"id":...,"object":<object>,"created":...,"model":...,"choices":
void AppendHead(std::string& out, const ResponseMeta& meta, std::string_view object) {
  out += R"({"id":)";
  AppendQuoted(out, meta.id);
  out += R"(,"object":")";
  out += object;
  out += R"(","created":)";
  out += std::to_string(meta.created);
  out += R"(,"model":)";
  AppendQuoted(out, meta.model);
  out += R"(,"choices":)";
}

// "usage":{"prompt_tokens":P,"completion_tokens":C,"total_tokens":P+C}
void AppendUsage(std::string& out, const AnswerUsage& usage) {
  out += R"("usage":{"prompt_tokens":)";
  out += std::to_string(usage.prompt_tokens);
  out += R"(,"completion_tokens":)";
  out += std::to_string(usage.completion_tokens);
  out += R"(,"total_tokens":)";
  out += std::to_string(usage.prompt_tokens + usage.completion_tokens);
  out += '}';
}

bool IsChat(const ResponseMeta& meta) { return meta.endpoint != Endpoint::kCompletions; }

std::string_view ChunkObject(const ResponseMeta& meta) {
  return IsChat(meta) ? "chat.completion.chunk" : "text_completion";
}

// One SSE event around a chunk whose choice holds `choice_body`, `logprobs` and `finish_reason`
// (already JSON: "null" or "\"stop\"").
std::string RenderChunkEvent(const ResponseMeta& meta, std::string_view choice_body,
                             std::string_view finish_reason, std::string_view logprobs = "null") {
  std::string out;
  out.reserve(160 + meta.id.size() + meta.model.size() + choice_body.size() + logprobs.size());
  out += "data: ";
  AppendHead(out, meta, ChunkObject(meta));
  out += R"([{"index":0,)";
  out += choice_body;
  out += R"(,"logprobs":)";
  out += logprobs;
  out += R"(,"finish_reason":)";
  out += finish_reason;
  out += "}]}\n\n";
  return out;
}

}  // namespace

Endpoint EndpointOf(std::string_view path) {
  const size_t query = path.find('?');
  if (query != std::string_view::npos) path = path.substr(0, query);
  if (path.ends_with("/chat/completions")) return Endpoint::kChat;
  if (path.ends_with("/completions")) return Endpoint::kCompletions;
  if (path.ends_with("/responses")) return Endpoint::kResponses;
  if (path.ends_with("/embeddings")) return Endpoint::kEmbeddings;
  return Endpoint::kOther;
}

bool OwnAnswersServe(Endpoint endpoint) {
  return endpoint == Endpoint::kChat || endpoint == Endpoint::kCompletions ||
         endpoint == Endpoint::kResponses;
}

std::string OwnAnswerModel(bool report_requested, std::string_view entry_model,
                           std::string_view client_model) {
  const bool client = entry_model.empty() || (report_requested && !client_model.empty());
  return std::string(client ? client_model : entry_model);
}

std::string MakeResponseId(Endpoint endpoint, std::string_view request_id) {
  std::string id = endpoint == Endpoint::kCompletions ? "cmpl-"
                   : endpoint == Endpoint::kResponses ? "resp_"
                                                      : "chatcmpl-";
  id += request_id;
  return id;
}

std::string RenderCompletion(const ResponseMeta& meta, std::string_view content,
                             const AnswerUsage& usage, const AnswerDetails& details) {
  if (meta.endpoint == Endpoint::kResponses) return RenderResponse(meta, content, usage, details);
  std::string out;
  out.reserve(256 + meta.id.size() + meta.model.size() + content.size());
  AppendHead(out, meta, IsChat(meta) ? "chat.completion" : "text_completion");
  out += R"([{"index":0,)";
  if (IsChat(meta)) {
    out += R"("message":{"role":"assistant","content":)";
    AppendQuoted(out, content);
    out += '}';
  } else {
    out += R"("text":)";
    AppendQuoted(out, content);
  }
  out += R"(,"logprobs":)";
  if (!details.logprobs) {
    out += "null";
  } else if (IsChat(meta)) {
    AppendChatLogprobs(out, details.tokens);
  } else {
    uint64_t offset = 0;
    AppendLegacyLogprobs(out, details.tokens, offset);
  }
  out += R"(,"finish_reason":)";
  AppendQuoted(out, details.finish_reason);
  out += "}],";
  AppendUsage(out, usage);
  out += '}';
  return out;
}

std::string RenderRoleEvent(const ResponseMeta& meta) {
  if (!IsChat(meta)) return "";
  return RenderChunkEvent(meta, R"("delta":{"role":"assistant","content":""})", "null");
}

std::string RenderDeltaEvent(const ResponseMeta& meta, std::string_view delta,
                             std::string_view logprobs_json) {
  std::string body = IsChat(meta) ? R"("delta":{"content":)" : R"("text":)";
  AppendQuoted(body, delta);
  if (IsChat(meta)) body += '}';
  return RenderChunkEvent(meta, body, "null", logprobs_json);
}

std::string RenderFinishEvent(const ResponseMeta& meta, std::string_view finish_reason) {
  std::string reason;
  AppendQuoted(reason, finish_reason);
  return RenderChunkEvent(meta, IsChat(meta) ? R"("delta":{})" : R"("text":"")", reason);
}

std::string RenderUsageEvent(const ResponseMeta& meta, const AnswerUsage& usage) {
  std::string out;
  out.reserve(200 + meta.id.size() + meta.model.size());
  out += "data: ";
  AppendHead(out, meta, ChunkObject(meta));
  out += "[],";
  AppendUsage(out, usage);
  out += "}\n\n";
  return out;
}

AnswerStream::AnswerStream(ResponseMeta meta, bool include_usage)
    : meta_(std::move(meta)), include_usage_(include_usage) {}

std::string AnswerStream::Begin() {
  if (meta_.endpoint == Endpoint::kResponses) return RenderResponseOpening(meta_, sequence_);
  return RenderRoleEvent(meta_);
}

std::string AnswerStream::Piece(std::string_view piece, bool logprobs,
                                std::span<const TokenLogprob> tokens) {
  if (meta_.endpoint == Endpoint::kResponses) {
    text_ += piece;
    // The done events repeat every token's logprobs.
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    return RenderResponseDelta(meta_, piece, sequence_, tokens);
  }
  if (!logprobs) return RenderDeltaEvent(meta_, piece);
  std::string json;
  if (IsChat(meta_)) {
    AppendChatLogprobs(json, tokens);
  } else {
    AppendLegacyLogprobs(json, tokens, text_offset_);
  }
  return RenderDeltaEvent(meta_, piece, json);
}

std::string AnswerStream::End(const AnswerUsage& usage, std::string_view finish_reason,
                              bool logprobs) {
  if (meta_.endpoint == Endpoint::kResponses) {
    return RenderResponseClosing(meta_, text_, usage, sequence_,
                                 AnswerDetails{finish_reason, logprobs, tokens_});
  }
  std::string out = RenderFinishEvent(meta_, finish_reason);
  if (include_usage_) out += RenderUsageEvent(meta_, usage);
  out += kDoneEvent;
  return out;
}

std::vector<std::string_view> SplitTokens(std::string_view text) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = start;
    while (end < text.size() && IsAsciiSpace(text[end])) ++end;   // leading whitespace
    while (end < text.size() && !IsAsciiSpace(text[end])) ++end;  // the word
    pieces.push_back(text.substr(start, end - start));
    start = end;
  }
  return pieces;
}

}  // namespace infergate::degrade
