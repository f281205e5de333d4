// The JSON of token logprobs in OpenAI's chat and legacy completion shapes.
#include "infergate/degrade/logprobs.h"

#include <cmath>
#include <cstdio>

#include "infergate/core/error.h"

namespace infergate::degrade {
namespace {

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void AppendQuoted(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

// A log probability; OpenAI writes -9999.0 for a token the model gives no probability at all.
void AppendLogprob(std::string& out, float lp) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", std::isfinite(lp) ? static_cast<double>(lp) : -9999.0);
  out += buf;
}

void AppendBytes(std::string& out, std::string_view bytes) {
  out += '[';
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(static_cast<unsigned char>(bytes[i]));
  }
  out += ']';
}

// {"token":..,"logprob":..,"bytes":[..]
void AppendTokenFields(std::string& out, std::string_view token, float lp) {
  out += R"({"token":)";
  AppendQuoted(out, TokenDisplay(token));
  out += R"(,"logprob":)";
  AppendLogprob(out, lp);
  out += R"(,"bytes":)";
  AppendBytes(out, token);
}

}  // namespace

std::string TokenDisplay(std::string_view bytes) {
  if (ValidUtf8(bytes)) return std::string(bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "bytes:";
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

void AppendChatLogprobs(std::string& out, std::span<const TokenLogprob> tokens) {
  out += R"({"content":)";
  AppendLogprobItems(out, tokens);
  out += R"(,"refusal":null})";
}

void AppendLogprobItems(std::string& out, std::span<const TokenLogprob> tokens) {
  out += '[';
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ',';
    AppendTokenFields(out, tokens[i].token, tokens[i].logprob);
    out += R"(,"top_logprobs":[)";
    for (size_t k = 0; k < tokens[i].top.size(); ++k) {
      if (k > 0) out += ',';
      AppendTokenFields(out, tokens[i].top[k].first, tokens[i].top[k].second);
      out += '}';
    }
    out += "]}";
  }
  out += ']';
}

void AppendLegacyLogprobs(std::string& out, std::span<const TokenLogprob> tokens,
                          uint64_t& text_offset) {
  out += R"({"tokens":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuoted(out, TokenDisplay(tokens[i].token));
  }
  out += R"(],"token_logprobs":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ',';
    AppendLogprob(out, tokens[i].logprob);
  }
  out += R"(],"top_logprobs":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ',';
    out += '{';
    // A dict: a token that two alternatives render alike appears once (the likelier).
    std::vector<std::string> seen;
    bool first = true;
    for (const auto& [token, lp] : tokens[i].top) {
      std::string shown = TokenDisplay(token);
      bool dup = false;
      for (const auto& s : seen) dup = dup || s == shown;
      if (dup) continue;
      if (!first) out += ',';
      first = false;
      AppendQuoted(out, shown);
      out += ':';
      AppendLogprob(out, lp);
      seen.push_back(std::move(shown));
    }
    out += '}';
  }
  out += R"(],"text_offset":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(text_offset);
    text_offset += tokens[i].token.size();
  }
  out += "]}";
}

}  // namespace infergate::degrade
