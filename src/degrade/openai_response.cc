// Renders the gateway's own answers as OpenAI chat.completion / text_completion bodies and
// server-sent chunk events.
#include "infergate/degrade/openai_response.h"

#include "infergate/core/error.h"

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

// {"id":...,"object":<object>,"created":...,"model":...,"choices":[{"index":0,
void AppendHead(std::string& out, const ResponseMeta& meta, std::string_view object) {
  out += R"({"id":)";
  AppendQuoted(out, meta.id);
  out += R"(,"object":")";
  out += object;
  out += R"(","created":)";
  out += std::to_string(meta.created);
  out += R"(,"model":)";
  AppendQuoted(out, meta.model);
  out += R"(,"choices":[{"index":0,)";
}

std::string_view ChunkObject(const ResponseMeta& meta) {
  return meta.chat ? "chat.completion.chunk" : "text_completion";
}

// One SSE event around a chunk whose choice holds `delta_or_text` and `finish_reason`
// (already JSON: "null" or "\"stop\"").
std::string RenderChunkEvent(const ResponseMeta& meta, std::string_view choice_body,
                             std::string_view finish_reason) {
  std::string out;
  out.reserve(160 + meta.id.size() + meta.model.size() + choice_body.size());
  out += "data: ";
  AppendHead(out, meta, ChunkObject(meta));
  out += choice_body;
  out += R"(,"logprobs":null,"finish_reason":)";
  out += finish_reason;
  out += "}]}\n\n";
  return out;
}

}  // namespace

bool IsChatPath(std::string_view path) {
  const size_t query = path.find('?');
  if (query != std::string_view::npos) path = path.substr(0, query);
  return !path.ends_with("/completions") || path.ends_with("/chat/completions");
}

std::string MakeCompletionId(bool chat, std::string_view request_id) {
  std::string id = chat ? "chatcmpl-" : "cmpl-";
  id += request_id;
  return id;
}

std::string RenderCompletion(const ResponseMeta& meta, std::string_view content,
                             uint32_t completion_tokens) {
  std::string out;
  out.reserve(256 + meta.id.size() + meta.model.size() + content.size());
  AppendHead(out, meta, meta.chat ? "chat.completion" : "text_completion");
  if (meta.chat) {
    out += R"("message":{"role":"assistant","content":)";
    AppendQuoted(out, content);
    out += '}';
  } else {
    out += R"("text":)";
    AppendQuoted(out, content);
  }
  const std::string tokens = std::to_string(completion_tokens);
  out += R"(,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":0,)";
  out += R"("completion_tokens":)";
  out += tokens;
  out += R"(,"total_tokens":)";
  out += tokens;
  out += "}}";
  return out;
}

std::string RenderRoleEvent(const ResponseMeta& meta) {
  if (!meta.chat) return "";
  return RenderChunkEvent(meta, R"("delta":{"role":"assistant","content":""})", "null");
}

std::string RenderDeltaEvent(const ResponseMeta& meta, std::string_view delta) {
  std::string body = meta.chat ? R"("delta":{"content":)" : R"("text":)";
  AppendQuoted(body, delta);
  if (meta.chat) body += '}';
  return RenderChunkEvent(meta, body, "null");
}

std::string RenderFinishEvent(const ResponseMeta& meta) {
  return RenderChunkEvent(meta, meta.chat ? R"("delta":{})" : R"("text":"")", R"("stop")");
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
