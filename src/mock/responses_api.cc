// Hand-formatted Responses API objects and events for the mock server.
#include "mock/responses_api.h"

#include "mock/responses.h"

namespace infergate::mock {
namespace {

// Sequence numbers: four opening events, one delta per token, then the four closing events.
constexpr int64_t kOpeningEvents = 4;

void AppendText(std::string& out, const ResponsesShape& shape) {
  out += '"';
  for (int64_t i = 0; i < shape.tokens; ++i) {
    if (i > 0) out += ' ';
    AppendTokenText(out, i);
  }
  out += '"';
}

// {"type":"output_text","text":...,"annotations":[]}; the text empty when `with_text` is false.
void AppendTextPart(std::string& out, const ResponsesShape& shape, bool with_text) {
  out += R"({"type":"output_text","text":)";
  if (with_text) {
    AppendText(out, shape);
  } else {
    out += R"("")";
  }
  out += R"(,"annotations":[]})";
}

// The assistant message item; in progress (no content yet) or completed.
void AppendMessageItem(std::string& out, const ResponsesShape& shape, bool completed) {
  out += R"({"id":)";
  AppendJsonString(out, shape.item_id);
  out += completed ? R"(,"type":"message","status":"completed","role":"assistant","content":[)"
                   : R"(,"type":"message","status":"in_progress","role":"assistant","content":[)";
  if (completed) AppendTextPart(out, shape, true);
  out += "]}";
}

void AppendUsage(std::string& out, const ResponsesShape& shape) {
  out += R"({"input_tokens":)";
  AppendInt(out, shape.input_tokens);
  out += R"(,"input_tokens_details":{"cached_tokens":0},"output_tokens":)";
  AppendInt(out, shape.tokens);
  out += R"(,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":)";
  AppendInt(out, shape.input_tokens + shape.tokens);
  out += '}';
}

// The response object; `completed` false gives the in-progress one (no output, usage null).
void AppendResponse(std::string& out, const ResponsesShape& shape, bool completed) {
  out += R"({"id":)";
  AppendJsonString(out, shape.id);
  out += R"(,"object":"response","created_at":)";
  AppendInt(out, shape.created_at);
  out += completed ? R"(,"status":"completed")" : R"(,"status":"in_progress")";
  out += R"(,"error":null,"incomplete_details":null,"instructions":null,)"
         R"("max_output_tokens":null,"model":)";
  AppendJsonString(out, shape.model);
  out += R"(,"output":[)";
  if (completed) AppendMessageItem(out, shape, true);
  out += R"(],"parallel_tool_calls":true,"previous_response_id":null,"temperature":1.0,)"
         R"("text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,)"
         R"("truncation":"disabled","usage":)";
  if (completed) {
    AppendUsage(out, shape);
  } else {
    out += "null";
  }
  out += R"(,"metadata":{}})";
}

// "event: <type>\ndata: {"type":<type>,"sequence_number":<n>" (the caller closes the object).
void OpenEvent(std::string& out, std::string_view type, int64_t sequence) {
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += "\",\"sequence_number\":";
  AppendInt(out, sequence);
}

void CloseEvent(std::string& out) { out += "}\n\n"; }

// ,"item_id":...,"output_index":0,"content_index":0
void AppendPosition(std::string& out, const ResponsesShape& shape) {
  out += R"(,"item_id":)";
  AppendJsonString(out, shape.item_id);
  out += R"(,"output_index":0,"content_index":0)";
}

}  // namespace

void AppendResponseObject(std::string& out, const ResponsesShape& shape) {
  AppendResponse(out, shape, true);
}

void AppendResponsesStreamEvent(std::string& out, const ResponsesShape& shape, int64_t index) {
  if (index == 0) {
    for (int64_t seq = 0; seq < 2; ++seq) {
      OpenEvent(out, seq == 0 ? "response.created" : "response.in_progress", seq);
      out += R"(,"response":)";
      AppendResponse(out, shape, false);
      CloseEvent(out);
    }
    OpenEvent(out, "response.output_item.added", 2);
    out += R"(,"output_index":0,"item":)";
    AppendMessageItem(out, shape, false);
    CloseEvent(out);
    OpenEvent(out, "response.content_part.added", 3);
    AppendPosition(out, shape);
    out += R"(,"part":)";
    AppendTextPart(out, shape, false);
    CloseEvent(out);
  }
  if (index >= shape.tokens) return;
  OpenEvent(out, "response.output_text.delta", kOpeningEvents + index);
  AppendPosition(out, shape);
  out += R"(,"delta":")";
  AppendTokenText(out, index);
  if (index + 1 < shape.tokens) out += ' ';
  out += R"(","logprobs":[])";
  CloseEvent(out);
}

void AppendResponsesStreamTail(std::string& out, const ResponsesShape& shape) {
  int64_t seq = kOpeningEvents + shape.tokens;
  OpenEvent(out, "response.output_text.done", seq++);
  AppendPosition(out, shape);
  out += R"(,"text":)";
  AppendText(out, shape);
  out += R"(,"logprobs":[])";
  CloseEvent(out);
  OpenEvent(out, "response.content_part.done", seq++);
  AppendPosition(out, shape);
  out += R"(,"part":)";
  AppendTextPart(out, shape, true);
  CloseEvent(out);
  OpenEvent(out, "response.output_item.done", seq++);
  out += R"(,"output_index":0,"item":)";
  AppendMessageItem(out, shape, true);
  CloseEvent(out);
  OpenEvent(out, "response.completed", seq);
  out += R"(,"response":)";
  AppendResponse(out, shape, true);
  CloseEvent(out);
}

}  // namespace infergate::mock
