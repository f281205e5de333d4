// Hand-formatted OpenAI-shaped JSON and SSE events for the mock server.
#include "mock/responses.h"

#include <charconv>
#include <cmath>

#include "infergate/core/error.h"

namespace infergate::mock {
namespace {

void AppendLower(std::string& out, std::string_view name) {
  for (char c : name) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

void AppendUsage(std::string& out, const CompletionShape& shape) {
  out += R"("usage":{"prompt_tokens":)";
  AppendInt(out, shape.prompt_tokens);
  out += R"(,"completion_tokens":)";
  AppendInt(out, shape.tokens);
  out += R"(,"total_tokens":)";
  AppendInt(out, shape.prompt_tokens + shape.tokens);
  out += '}';
}

void AppendPreamble(std::string& out, const CompletionShape& shape, std::string_view object) {
  out += R"({"id":")";
  out += shape.id;
  out += R"(","object":")";
  out += object;
  out += R"(","created":)";
  AppendInt(out, shape.created);
  out += R"(,"model":)";
  AppendJsonString(out, shape.model);
}

}  // namespace

void AppendTokenText(std::string& out, int64_t index) {
  out += "tok";
  AppendInt(out, index);
}

void AppendInt(std::string& out, int64_t value) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, res.ptr);
}

void AppendDouble(std::string& out, double value) {
  if (!std::isfinite(value)) value = 0;
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, res.ptr);
}

void AppendHex(std::string& out, uint64_t value) {
  char buf[20];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, 16);
  out.append(buf, res.ptr);
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

void AppendCompletion(std::string& out, const CompletionShape& shape) {
  AppendPreamble(out, shape, shape.chat ? "chat.completion" : "text_completion");
  out += shape.chat ? R"(,"choices":[{"index":0,"message":{"role":"assistant","content":")"
                    : R"(,"choices":[{"index":0,"text":")";
  for (int64_t i = 0; i < shape.tokens; ++i) {
    if (i > 0) out += ' ';
    AppendTokenText(out, i);
  }
  out += shape.chat ? R"("},"logprobs":null,"finish_reason":"stop"}],)"
                    : R"(","logprobs":null,"finish_reason":"stop"}],)";
  AppendUsage(out, shape);
  out += '}';
}

void AppendStreamEvent(std::string& out, const CompletionShape& shape, int64_t index) {
  bool last = index + 1 >= shape.tokens;
  out += "data: ";
  AppendPreamble(out, shape, shape.chat ? "chat.completion.chunk" : "text_completion");
  if (shape.chat) {
    out += index == 0 ? R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":")"
                      : R"(,"choices":[{"index":0,"delta":{"content":")";
  } else {
    out += R"(,"choices":[{"index":0,"text":")";
  }
  if (index < shape.tokens) {
    AppendTokenText(out, index);
    if (!last) out += ' ';
  }
  out += shape.chat ? R"("},"logprobs":null,"finish_reason":)"
                    : R"(","logprobs":null,"finish_reason":)";
  out += last ? R"("stop"}]})" : R"(null}]})";
  out += "\n\n";
}

void AppendUsageEvent(std::string& out, const CompletionShape& shape) {
  out += "data: ";
  AppendPreamble(out, shape, shape.chat ? "chat.completion.chunk" : "text_completion");
  out += R"(,"choices":[],)";
  AppendUsage(out, shape);
  out += "}\n\n";
}

void AppendErrorBody(std::string& out, std::string_view message, std::string_view type,
                     std::string_view code, std::string_view param) {
  out += R"({"error":{"message":)";
  AppendJsonString(out, message);
  out += R"(,"type":)";
  AppendJsonString(out, type);
  out += R"(,"param":)";
  if (param.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, param);
  }
  out += R"(,"code":)";
  if (code.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, code);
  }
  out += "}}";
}

void AppendRequestJson(std::string& out, const RequestHead& head, std::string_view body) {
  out += R"({"method":)";
  AppendJsonString(out, head.method);
  out += R"(,"target":)";
  AppendJsonString(out, head.target);
  out += R"(,"headers":{)";
  bool first = true;
  const auto& fields = head.fields;
  std::string lower;
  for (size_t i = 0; i < fields.size(); ++i) {
    lower.clear();
    AppendLower(lower, fields[i].name);
    bool duplicate = false;
    for (size_t j = 0; j < i; ++j) {
      if (EqualsLower(fields[j].name, lower)) {
        duplicate = true;
        break;
      }
    }
    if (duplicate) continue;
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, lower);
    out += ":\"";
    AppendJsonEscaped(out, fields[i].value);
    for (size_t j = i + 1; j < fields.size(); ++j) {
      if (EqualsLower(fields[j].name, lower)) {
        out += ", ";
        AppendJsonEscaped(out, fields[j].value);
      }
    }
    out += '"';
  }
  out += R"(},"body":)";
  AppendJsonString(out, body);
  out += '}';
}

void AppendChunk(std::string& out, std::string_view payload) {
  AppendHex(out, payload.size());
  out += "\r\n";
  out += payload;
  out += "\r\n";
}

}  // namespace infergate::mock
