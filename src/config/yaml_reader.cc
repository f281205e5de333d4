// Typed reading of yaml-cpp nodes with positioned, collected errors.
#include "config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <sstream>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>

namespace infergate::config::detail {
namespace {

constexpr size_t kMaxQuotedLength = 60;

std::string Quote(std::string_view text) {
  bool cut = text.size() > kMaxQuotedLength;
  if (cut) text = text.substr(0, kMaxQuotedLength);
  std::string out;
  out.reserve(text.size() + 5);
  out += '"';
  out += text;
  out += cut ? "...\"" : "\"";
  return out;
}

// "a list", "a mapping", "\"text\"": what was found where something else was expected.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "an empty value";
  }
}

std::string Expected(const YAML::Node& node, std::string_view what) {
  if (node.IsNull()) return "missing value (expected " + std::string(what) + ")";
  return "expected " + std::string(what) + " (found " + Describe(node) + ")";
}

// The position of a value: an empty value has no text of its own, and yaml-cpp marks it at the
// next token, so it is reported at its key instead.
Pos ValuePos(const YAML::Node& value, Pos key_pos) {
  Pos pos = PosOf(value);
  if (pos.line == 0 || (value.IsNull() && pos.line != key_pos.line)) return key_pos;
  return pos;
}

std::optional<std::string_view> Suggest(std::string_view key,
                                        std::span<const std::string_view> allowed) {
  constexpr size_t kMaxDistance = 2;
  std::optional<std::string_view> best;
  size_t best_distance = kMaxDistance + 1;
  for (std::string_view candidate : allowed) {
    size_t d = EditDistance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

bool ParseInt64(std::string_view text, int64_t* out) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  constexpr size_t kMaxDigits = 18;
  if (text.empty() || text.size() > kMaxDigits) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = negative ? -v : v;
  return true;
}

// The index of the comment's "#" in `line`, or npos.
size_t CommentStart(std::string_view line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return i;
    }
  }
  return std::string_view::npos;
}

// The shortest text that reads back as `value`: "0", "100", "1.4".
std::string FormatNumber(double value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return std::to_string(value);
  return std::string(buffer, end);
}

std::string DescribeRange(const NumberRange& range) {
  std::string out = (range.min_exclusive ? "greater than " : "at least ") + FormatNumber(range.min);
  if (std::isfinite(range.max)) out += " and at most " + FormatNumber(range.max);
  return out;
}

Pos PosAtOffset(std::string_view source, size_t offset) {
  size_t line_start = offset == 0 ? std::string_view::npos : source.rfind('\n', offset - 1);
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  int line = 1 + static_cast<int>(std::count(source.begin(), source.begin() + offset, '\n'));
  return {line, static_cast<int>(offset - line_start) + 1};
}

}  // namespace

Pos PrecedingTokenPos(std::string_view source, size_t offset) {
  size_t i = std::min(offset, source.size());
  while (i > 0) {
    char c = source[i - 1];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      --i;
      continue;
    }
    size_t line_start = source.rfind('\n', i - 1);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    size_t comment = CommentStart(source.substr(line_start, i - line_start));
    if (comment != std::string_view::npos) {
      i = line_start + comment;
      continue;
    }
    return PosAtOffset(source, i - 1);
  }
  return {};
}

namespace {

// Sees where each document starts and builds nothing.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start = YAML::Mark::null_mark();
};

}  // namespace

std::vector<YAML::Node> LoadAllDocuments(const std::string& yaml) {
  // A first pass that only walks the events: every document takes at least one token, so two
  // documents that start at the same place mean the parser is stuck there.
  std::istringstream input(yaml);
  YAML::Parser parser(input);
  DocumentStarts probe;
  int last_start = -1;
  for (size_t documents = 0; parser.HandleNextDocument(probe); ++documents) {
    const int at = probe.start.pos;
    if (at == last_start || documents > yaml.size()) {
      const bool inside = at >= 0 && static_cast<size_t>(at) < yaml.size();
      throw YAML::ParserException(
          probe.start, inside ? "unexpected " + Quote(yaml.substr(at, 1)) : "unexpected token");
    }
    last_start = at;
  }
  return YAML::LoadAll(yaml);
}

Pos PosOf(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string ChildPath(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out += key;
  return out;
}

std::string ItemPath(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string JoinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::vector<std::string_view> views(names.begin(), names.end());
  return JoinNames(views);
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool IsSha256Hex(std::string_view hex) {
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string Sha256HexError(std::string_view what, size_t length) {
  return "expected " + std::string(what) + " as 64 hex digits (found " + std::to_string(length) +
         " characters; compute it with: printf %s \"$KEY\" | sha256sum)";
}

bool IsToken(std::string_view text) {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

std::optional<bool> BoolFromText(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

void Diagnostics::Add(Pos pos, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(path), std::move(message)});
}

std::vector<ConfigError> Diagnostics::TakeSorted() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

const Value* Map::Find(std::string_view key) const {
  for (const MapEntry& entry : entries_) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

const Value* Map::Require(std::string_view key, Diagnostics& diag) const {
  const Value* v = Find(key);
  if (v == nullptr) diag.Add(self_, "missing required key \"" + std::string(key) + "\"");
  return v;
}

std::optional<Map> Reader::Mapping(const Value& v, std::span<const std::string_view> allowed,
                                   bool null_is_empty) {
  if (null_is_empty && v.node.IsNull()) return Map(v, {});
  return ReadMap(v, allowed, false);
}

std::optional<Map> Reader::AnyKeyMapping(const Value& v) { return ReadMap(v, {}, true); }

std::optional<Map> Reader::ReadMap(const Value& v, std::span<const std::string_view> allowed,
                                   bool any_key) {
  if (!v.node.IsMap()) {
    diag_.Add(v, Expected(v.node, "a mapping"));
    return std::nullopt;
  }
  std::vector<MapEntry> entries;
  std::vector<MapEntry> seen;  // every string key, for duplicate detection
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    Pos key_pos = PosOf(it->first);
    if (key_pos.line == 0) key_pos = v.pos;
    if (!it->first.IsScalar()) {
      diag_.Add(key_pos, v.path, "expected a string key (found " + Describe(it->first) + ")");
      continue;
    }
    std::string key = it->first.Scalar();
    std::string path = ChildPath(v.path, key);
    auto first =
        std::find_if(seen.begin(), seen.end(), [&](const MapEntry& e) { return e.key == key; });
    if (first != seen.end()) {
      diag_.Add(key_pos, path,
                "duplicate key \"" + key + "\" (first at line " +
                    std::to_string(first->key_pos.line) + ")");
      continue;
    }
    MapEntry entry{key, key_pos, Value{it->second, path, ValuePos(it->second, key_pos)}};
    seen.push_back(entry);
    if (!any_key && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string message = "unknown key \"" + key + "\" (allowed: " + JoinNames(allowed) + ")";
      if (auto suggestion = Suggest(key, allowed)) {
        message += "; did you mean \"" + std::string(*suggestion) + "\"?";
      }
      diag_.Add(key_pos, path, std::move(message));
      continue;
    }
    entries.push_back(std::move(entry));
  }
  return Map(v, std::move(entries));
}

std::optional<std::vector<Value>> Reader::List(const Value& v, std::string_view if_empty) {
  if (!v.node.IsSequence()) {
    std::string message = Expected(v.node, "a list");
    if (v.node.IsMap()) message += "; start each item with \"- \"";
    diag_.Add(v, std::move(message));
    return std::nullopt;
  }
  if (v.node.size() == 0) {
    diag_.Add(v, "empty list (" + std::string(if_empty) + ")");
    return std::nullopt;
  }
  std::vector<Value> items;
  size_t index = 0;
  for (auto it = v.node.begin(); it != v.node.end(); ++it, ++index) {
    Pos pos = PosOf(*it);
    if (it->IsNull() && !it->Mark().is_null() && it->Mark().pos >= 0) {
      pos = PrecedingTokenPos(source_, static_cast<size_t>(it->Mark().pos));
    }
    if (pos.line == 0) pos = v.pos;
    items.push_back(Value{*it, ItemPath(v.path, index), pos});
  }
  return items;
}

std::optional<std::vector<std::pair<std::string, Value>>> Reader::StringOrList(
    const Value& v, std::string_view if_empty) {
  std::vector<std::pair<std::string, Value>> out;
  if (v.node.IsScalar()) {
    out.emplace_back(v.node.Scalar(), v);
    return out;
  }
  if (!v.node.IsSequence()) {
    diag_.Add(v, Expected(v.node, "a string or a list of strings"));
    return std::nullopt;
  }
  std::optional<std::vector<Value>> items = List(v, if_empty);
  if (!items) return std::nullopt;
  bool ok = true;
  for (const Value& item : *items) {
    std::optional<std::string> text = String(item);
    if (text) {
      out.emplace_back(std::move(*text), item);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

bool Reader::ExpectScalar(const Value& v, std::string_view what) {
  if (v.node.IsScalar()) return true;
  diag_.Add(v, Expected(v.node, what));
  return false;
}

std::optional<std::string> Reader::String(const Value& v) {
  if (!ExpectScalar(v, "a string")) return std::nullopt;
  return v.node.Scalar();
}

std::optional<std::string> Reader::NonEmptyString(const Value& v) {
  std::optional<std::string> text = String(v);
  if (text && text->empty()) {
    diag_.Add(v, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<int64_t> Reader::Integer(const Value& v, int64_t min, int64_t max) {
  if (!ExpectScalar(v, "an integer")) return std::nullopt;
  const std::string& text = v.node.Scalar();
  int64_t n = 0;
  if (!ParseInt64(text, &n)) {
    diag_.Add(v, Quote(text) + " is not an integer");
    return std::nullopt;
  }
  if (n < min || n > max) {
    diag_.Add(v, text + " is out of range (allowed: " + std::to_string(min) + ".." +
                     std::to_string(max) + ")");
    return std::nullopt;
  }
  return n;
}

std::optional<bool> Reader::Bool(const Value& v) {
  if (!ExpectScalar(v, "true or false")) return std::nullopt;
  const std::string& text = v.node.Scalar();
  if (std::optional<bool> flag = BoolFromText(text)) return flag;
  diag_.Add(v, "expected true or false (found " + Quote(text) + ")");
  return std::nullopt;
}

std::optional<double> Reader::Number(const Value& v, NumberRange range) {
  if (!ExpectScalar(v, "a number")) return std::nullopt;
  const std::string& text = v.node.Scalar();
  double n = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, n, std::chars_format::general);
  if (text.empty() || error != std::errc() || stop != end || !std::isfinite(n)) {
    std::string message = Quote(text) + " is not a number";
    if (text.size() > 1 && text.back() == '%') {
      message +=
          " (write a percentage without \"%\", e.g. " + text.substr(0, text.size() - 1) + ")";
    }
    diag_.Add(v, std::move(message));
    return std::nullopt;
  }
  bool below = range.min_exclusive ? n <= range.min : n < range.min;
  if (below || n > range.max) {
    diag_.Add(v, text + " is out of range (allowed: " + DescribeRange(range) + ")");
    return std::nullopt;
  }
  return n;
}

std::optional<Duration> Reader::DurationValue(const Value& v, bool must_be_positive) {
  if (!ExpectScalar(v, "a duration")) return std::nullopt;
  const std::string& text = v.node.Scalar();
  std::optional<Duration> d = ParseDuration(text);
  if (!d) {
    diag_.Add(v, Quote(text) + " is not a duration (write e.g. 250ms, 30s, 2m)");
    return std::nullopt;
  }
  if (must_be_positive && d->count() <= 0) {
    diag_.Add(v, "must be greater than 0 (found " + Quote(text) + ")");
    return std::nullopt;
  }
  return d;
}

std::optional<uint64_t> Reader::Size(const Value& v, uint64_t min) {
  if (!ExpectScalar(v, "a size")) return std::nullopt;
  const std::string& text = v.node.Scalar();
  std::optional<uint64_t> size = ParseSize(text);
  if (!size) {
    diag_.Add(v, Quote(text) + " is not a size (write e.g. 512, 64KiB, 16MiB)");
    return std::nullopt;
  }
  if (*size < min) {
    diag_.Add(v, (min == 1 ? std::string("must be greater than 0")
                           : "must be at least " + FormatSize(min)) +
                     " (found " + Quote(text) + ")");
    return std::nullopt;
  }
  return size;
}

}  // namespace infergate::config::detail
