// Formatting one access log line: JSON with hostile input escaped, or key=value text.
#include <charconv>
#include <cstdio>
#include <ctime>

#include "infergate/core/error.h"
#include "infergate/observability/access_log.h"

namespace infergate::observability {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it does not start with one.
size_t Utf8Sequence(std::string_view s) {
  const auto b = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs are escaped by the error bodies' escaper; DEL and invalid UTF-8 here.
    size_t j = i;
    while (j < s.size() && static_cast<unsigned char>(s[j]) < 0x7f) ++j;
    AppendJsonEscaped(out, s.substr(i, j - i));
    if (j == s.size()) break;
    if (static_cast<unsigned char>(s[j]) == 0x7f) {
      out += "\\u007f";
      i = j + 1;
      continue;
    }
    const size_t n = Utf8Sequence(s.substr(j));
    if (n == 0) {
      out += "\\ufffd";
      i = j + 1;
    } else {
      out.append(s.substr(j, n));
      i = j + n;
    }
  }
  out += '"';
}

bool Bare(std::string_view s) {
  if (s.empty() || s == "-") return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendTextValue(std::string& out, std::string_view s) {
  if (Bare(s)) {
    out.append(s);
    return;
  }
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += '"';
}

void AppendTime(std::string& out, std::chrono::system_clock::time_point t) {
  const auto ms_total = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs =
      static_cast<std::time_t>(ms_total >= 0 ? ms_total / 1000 : (ms_total - 999) / 1000);
  const int ms = static_cast<int>(ms_total - static_cast<int64_t>(secs) * 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];
  const int n =
      std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  out.append(buf, static_cast<size_t>(n));
}

// Writes the fields in order, as JSON members or text pairs.
class LineWriter {
 public:
  LineWriter(LogFormat format, std::string& out) : json_(format == LogFormat::kJson), out_(out) {
    if (json_) out_ += '{';
  }
  void Finish() { out_ += json_ ? "}\n" : "\n"; }

  void String(std::string_view key, std::string_view value, size_t cap = 0) {
    Key(key);
    if (value.empty()) return Null();
    if (cap > 0 && value.size() > cap) value = value.substr(0, cap);
    json_ ? AppendJsonString(out_, value) : AppendTextValue(out_, value);
  }
  void Raw(std::string_view key, std::string_view text) {
    Key(key);
    out_.append(text);
  }
  void Integer(std::string_view key, std::optional<uint64_t> v) {
    Key(key);
    if (!v) return Null();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), *v);
    out_.append(buf, r.ptr);
  }
  void Millis(std::string_view key, std::optional<double> v) {
    Key(key);
    if (!v) return Null();
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), *v < 0 ? 0.0 : *v, std::chars_format::fixed, 3);
    out_.append(buf, r.ptr);
  }
  void Bool(std::string_view key, bool v) { Raw(key, v ? "true" : "false"); }
  void Time(std::string_view key, std::chrono::system_clock::time_point t) {
    Key(key);
    if (json_) out_ += '"';
    AppendTime(out_, t);
    if (json_) out_ += '"';
  }

 private:
  void Key(std::string_view key) {
    if (!first_) out_ += json_ ? ',' : ' ';
    first_ = false;
    if (json_) {
      out_ += '"';
      out_.append(key);
      out_ += "\":";
    } else {
      out_.append(key);
      out_ += '=';
    }
  }
  void Null() { out_ += json_ ? "null" : "-"; }

  bool json_;
  bool first_ = true;
  std::string& out_;
};

}  // namespace

void FormatAccessLine(const AccessLogEntry& e, LogFormat format, std::string* out) {
  LineWriter w(format, *out);
  w.Time("time", e.time);
  w.String("request_id", e.request_id);
  w.String("trace_id", e.trace_id);
  w.String("client", e.client);
  w.String("listener", e.listener);
  w.String("protocol", e.protocol);
  w.String("method", e.method);
  w.String("path", e.path, kAccessLogMaxPath);
  w.String("model", e.model, kAccessLogMaxModel);
  w.String("model_served", e.model_served, kAccessLogMaxModel);
  w.String("route", e.route);
  w.String("pool", e.pool);
  w.String("backend", e.backend);
  w.String("tenant", e.tenant);
  w.Integer("status", e.status > 0 ? std::optional<uint64_t>(e.status) : std::nullopt);
  w.String("error", e.error);
  w.Integer("attempts", static_cast<uint64_t>(e.attempts < 0 ? 0 : e.attempts));
  w.String("degraded", e.degraded);
  w.String("fallback", e.fallback);
  w.Millis("ttfb_ms", e.ttfb_ms);
  w.Millis("ttft_ms", e.ttft_ms);
  w.Millis("duration_ms", e.duration_ms);
  w.Integer("bytes", e.bytes);
  w.Integer("input_tokens", e.input_tokens);
  w.Integer("output_tokens", e.output_tokens);
  w.Bool("tokens_estimated", e.tokens_estimated);
  w.Finish();
}

}  // namespace infergate::observability
