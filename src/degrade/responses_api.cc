// The Responses API shapes of own answers: the `response` object with the fields the official
// SDKs read (their Response type; output_text concatenates the message's output_text parts) and
// its stream of typed events; an answer cut at max_output_tokens is "incomplete", and the
// output_text part carries the tokens' logprobs when the request asked for them.
#include "infergate/degrade/responses_api.h"

#include "infergate/core/error.h"

namespace infergate::degrade {
namespace {

void AppendQuoted(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

// Generation stopped at max_output_tokens (or the end of the runner's context): OpenAI's
// "incomplete" response.
bool Incomplete(const AnswerDetails& details) { return details.finish_reason == "length"; }

// {"type":"output_text","text":...,"annotations":[]}, with "logprobs":[...] when the request
// asked for them (include: ["message.output_text.logprobs"]).
void AppendTextPart(std::string& out, std::string_view text, const AnswerDetails& details = {}) {
  out += R"({"type":"output_text","text":)";
  AppendQuoted(out, text);
  out += R"(,"annotations":[])";
  if (details.logprobs) {
    out += R"(,"logprobs":)";
    AppendLogprobItems(out, details.tokens);
  }
  out += '}';
}

// The assistant message: in progress with no content, or done (completed or incomplete) with
// the text.
void AppendMessage(std::string& out, const ResponseMeta& meta, const std::string_view* text,
                   const AnswerDetails& details = {}) {
  out += R"({"type":"message","id":)";
  AppendQuoted(out, MessageId(meta));
  out += !text                 ? R"(,"status":"in_progress")"
         : Incomplete(details) ? R"(,"status":"incomplete")"
                               : R"(,"status":"completed")";
  out += R"(,"role":"assistant","content":[)";
  if (text) AppendTextPart(out, *text, details);
  out += "]}";
}

void AppendUsage(std::string& out, const AnswerUsage& u) {
  out += R"({"input_tokens":)";
  out += std::to_string(u.prompt_tokens);
  out += R"(,"input_tokens_details":{"cached_tokens":0},"output_tokens":)";
  out += std::to_string(u.completion_tokens);
  out += R"(,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":)";
  out += std::to_string(u.prompt_tokens + u.completion_tokens);
  out += '}';
}

// The response object. `text` and `usage` null: in progress, no output yet.
void AppendResponse(std::string& out, const ResponseMeta& meta, const std::string_view* text,
                    const AnswerUsage* usage, const AnswerDetails& details = {}) {
  const bool incomplete = text && Incomplete(details);
  out += R"({"id":)";
  AppendQuoted(out, meta.id);
  out += R"(,"object":"response","created_at":)";
  out += std::to_string(meta.created);
  out += !text        ? R"(,"status":"in_progress")"
         : incomplete ? R"(,"status":"incomplete")"
                      : R"(,"status":"completed")";
  out += incomplete ? R"(,"error":null,"incomplete_details":{"reason":"max_output_tokens"},)"
                    : R"(,"error":null,"incomplete_details":null,)";
  out += R"("instructions":null,"max_output_tokens":null,"metadata":{},"model":)";
  AppendQuoted(out, meta.model);
  out += R"(,"output":[)";
  if (text) AppendMessage(out, meta, text, details);
  out += R"(],"parallel_tool_calls":true,"previous_response_id":null,"temperature":null,)";
  out += R"("text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,)";
  out += R"("truncation":"disabled","usage":)";
  if (usage) {
    AppendUsage(out, *usage);
  } else {
    out += "null";
  }
  out += '}';
}

// "event: <type>\ndata: {"type":<type>,"sequence_number":N,<body>}\n\n"; `body` starts with
// the comma before its first member.
std::string Event(std::string_view type, uint64_t& seq, std::string_view body) {
  std::string out;
  out.reserve(64 + 2 * type.size() + body.size());
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += R"(","sequence_number":)";
  out += std::to_string(seq++);
  out += body;
  out += "}\n\n";
  return out;
}

// ,"item_id":"msg_..","output_index":0,"content_index":0
std::string PartPosition(const ResponseMeta& meta) {
  std::string out = R"(,"item_id":)";
  AppendQuoted(out, MessageId(meta));
  out += R"(,"output_index":0,"content_index":0)";
  return out;
}

}  // namespace

std::string MessageId(const ResponseMeta& meta) {
  std::string_view rid = meta.id;
  if (rid.starts_with("resp_")) rid.remove_prefix(5);
  std::string id = "msg_";
  id += rid;
  return id;
}

std::string RenderResponse(const ResponseMeta& meta, std::string_view text,
                           const AnswerUsage& usage, const AnswerDetails& details) {
  std::string out;
  out.reserve(700 + 2 * meta.id.size() + meta.model.size() + text.size());
  AppendResponse(out, meta, &text, &usage, details);
  return out;
}

std::string RenderResponseOpening(const ResponseMeta& meta, uint64_t& seq) {
  std::string response = R"(,"response":)";
  AppendResponse(response, meta, nullptr, nullptr);
  std::string out = Event("response.created", seq, response);
  out += Event("response.in_progress", seq, response);
  std::string item = R"(,"output_index":0,"item":)";
  AppendMessage(item, meta, nullptr);
  out += Event("response.output_item.added", seq, item);
  std::string part = PartPosition(meta);
  part += R"(,"part":)";
  AppendTextPart(part, "");
  out += Event("response.content_part.added", seq, part);
  return out;
}

std::string RenderResponseDelta(const ResponseMeta& meta, std::string_view delta, uint64_t& seq,
                                std::span<const TokenLogprob> tokens) {
  std::string body = PartPosition(meta);
  body += R"(,"delta":)";
  AppendQuoted(body, delta);
  body += R"(,"logprobs":)";
  AppendLogprobItems(body, tokens);
  return Event("response.output_text.delta", seq, body);
}

std::string RenderResponseClosing(const ResponseMeta& meta, std::string_view text,
                                  const AnswerUsage& usage, uint64_t& seq,
                                  const AnswerDetails& details) {
  std::string body = PartPosition(meta);
  body += R"(,"text":)";
  AppendQuoted(body, text);
  body += R"(,"logprobs":)";
  AppendLogprobItems(body, details.tokens);
  std::string out = Event("response.output_text.done", seq, body);
  std::string part = PartPosition(meta);
  part += R"(,"part":)";
  AppendTextPart(part, text, details);
  out += Event("response.content_part.done", seq, part);
  std::string item = R"(,"output_index":0,"item":)";
  AppendMessage(item, meta, &text, details);
  out += Event("response.output_item.done", seq, item);
  std::string response = R"(,"response":)";
  AppendResponse(response, meta, &text, &usage, details);
  out += Event(Incomplete(details) ? "response.incomplete" : "response.completed", seq, response);
  return out;
}

}  // namespace infergate::degrade
