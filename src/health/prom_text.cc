// A forgiving reader of the Prometheus text format: one pass over the lines, summing the samples
// of the metrics asked for and skipping whatever does not parse.
#include "infergate/health/prom_text.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <system_error>

namespace infergate::health {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsNameStart(char c) { return IsLetter(c) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }
bool IsLabelStart(char c) { return IsLetter(c) || c == '_'; }
bool IsLabelChar(char c) { return IsLabelStart(c) || IsDigit(c); }

struct Sample {
  std::string_view name;
  double value = 0;
};

// A cursor over one line; every read checks the bounds.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : line_(line) {}

  // The line's sample, or nullopt for a comment, a blank line or garbage.
  std::optional<Sample> Parse() {
    SkipBlanks();
    if (AtEnd() || Peek() == '#') return std::nullopt;
    if (!IsNameStart(Peek())) return std::nullopt;
    Sample sample;
    size_t start = pos_;
    while (!AtEnd() && IsNameChar(Peek())) ++pos_;
    sample.name = line_.substr(start, pos_ - start);
    size_t blanks = SkipBlanks();
    if (!AtEnd() && Peek() == '{') {
      if (!SkipLabels()) return std::nullopt;
      blanks = SkipBlanks();
    }
    if (blanks == 0) return std::nullopt;  // the value must stand apart
    std::optional<double> value = ParseValue(Token());
    if (!value) return std::nullopt;
    sample.value = *value;
    SkipBlanks();
    if (!AtEnd() && !IsTimestamp(Token())) return std::nullopt;
    SkipBlanks();
    if (!AtEnd()) return std::nullopt;  // more than a timestamp after the value
    return sample;
  }

 private:
  bool AtEnd() const { return pos_ >= line_.size(); }
  char Peek() const { return line_[pos_]; }

  size_t SkipBlanks() {
    size_t start = pos_;
    while (!AtEnd() && IsBlank(Peek())) ++pos_;
    return pos_ - start;
  }

  // Up to the next blank or the end of the line.
  std::string_view Token() {
    size_t start = pos_;
    while (!AtEnd() && !IsBlank(Peek())) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  // `{name="value",...}` with an optional trailing comma; false when malformed.
  bool SkipLabels() {
    ++pos_;  // '{'
    while (true) {
      SkipBlanks();
      if (AtEnd()) return false;
      if (Peek() == '}') {
        ++pos_;
        return true;
      }
      if (!IsLabelStart(Peek())) return false;
      while (!AtEnd() && IsLabelChar(Peek())) ++pos_;
      SkipBlanks();
      if (AtEnd() || Peek() != '=') return false;
      ++pos_;
      SkipBlanks();
      if (AtEnd() || Peek() != '"') return false;
      ++pos_;
      if (!SkipQuoted()) return false;
      SkipBlanks();
      if (AtEnd()) return false;
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() != '}') return false;
      ++pos_;
      return true;
    }
  }

  // The rest of a quoted label value, through its closing quote; a backslash escapes the next
  // character (\\, \", \n).
  bool SkipQuoted() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == '\\') {
        pos_ += 2;  // may step past the end: AtEnd() then holds
        continue;
      }
      ++pos_;
      if (c == '"') return true;
    }
    return false;
  }

  // A Go-style float: decimal or exponent notation, NaN, +Inf, -Inf (any case).
  static std::optional<double> ParseValue(std::string_view token) {
    if (!token.empty() && token.front() == '+') {
      token.remove_prefix(1);
      if (!token.empty() && (token.front() == '+' || token.front() == '-')) return std::nullopt;
    }
    if (token.empty()) return std::nullopt;
    double value = 0;
    const char* end = token.data() + token.size();
    auto [ptr, ec] = std::from_chars(token.data(), end, value, std::chars_format::general);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
  }

  // Milliseconds since the epoch: an optionally negative integer.
  static bool IsTimestamp(std::string_view token) {
    if (!token.empty() && token.front() == '-') token.remove_prefix(1);
    if (token.empty()) return false;
    for (char c : token) {
      if (!IsDigit(c)) return false;
    }
    return true;
  }

  std::string_view line_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::optional<double>> SumPromSamples(std::string_view text,
                                                  std::span<const std::string_view> names) {
  std::vector<std::optional<double>> sums(names.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::optional<Sample> sample = LineParser(line).Parse();
    if (!sample || !std::isfinite(sample->value)) continue;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != sample->name) continue;
      double sum = sums[i].value_or(0.0) + sample->value;
      if (std::isfinite(sum)) sums[i] = sum;  // an overflowing sum keeps what it had
    }
  }
  return sums;
}

}  // namespace infergate::health
