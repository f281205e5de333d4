// The token accounting codec: an SSE event splitter that may leave the usage event out, and a
// JSON scanner that keeps only the top-level "model" and "usage" values. simdjson's validating
// DOM parser reads what they keep (one event, or one value: small documents).
#include "infergate/exchange/usage_codec.h"

#include <simdjson.h>

#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace infergate::exchange {
namespace {

namespace dom = simdjson::dom;

// The first `a` or `b` in `s` at or after `i` (s.size() if none), sixteen bytes at a time where
// SSE2 is there: it finds every SSE line end and every JSON string end of every answer.
// (string_view::find_first_of with two bytes calls memchr once per byte.)
size_t FindEither(std::string_view s, size_t i, char a, char b) {
#if defined(__SSE2__)
  const __m128i va = _mm_set1_epi8(a);
  const __m128i vb = _mm_set1_epi8(b);
  while (s.size() - i >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
    if (hits != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
    i += 16;
  }
#endif
  while (i < s.size() && s[i] != a && s[i] != b) ++i;
  return i;
}

// Parses `buf` as one complete JSON document (validated; events and values are small, so a DOM
// costs little). Its size grows by the padding simdjson reads past the end, then shrinks back.
template <typename Fn>
void WithDocument(std::string& buf, Fn&& fn) {
  thread_local dom::parser parser;
  const size_t len = buf.size();
  buf.append(simdjson::SIMDJSON_PADDING, '\0');
  dom::element doc;
  if (!parser.parse(buf.data(), len, false).get(doc)) fn(doc);
  buf.resize(len);
}

struct Counts {
  std::optional<uint64_t> input, output;
};

// A usage object: chat/completions (prompt_tokens, completion_tokens) or the Responses API
// (input_tokens, output_tokens). nullopt: not an object (null: no usage).
std::optional<Counts> ReadCounts(dom::element usage) {
  dom::object obj;
  if (usage.get_object().get(obj)) return std::nullopt;
  Counts c;
  for (auto [key, value] : obj) {
    const bool input = key == "prompt_tokens" || key == "input_tokens";
    const bool output = key == "completion_tokens" || key == "output_tokens";
    uint64_t n = 0;
    if ((!input && !output) || value.get_uint64().get(n)) continue;
    (input ? c.input : c.output) = n;
  }
  return c;
}

bool NonEmptyString(dom::element v) {
  std::string_view s;
  return !v.get_string().get(s) && !s.empty();
}

// Whether a choice carries generated text: a chat delta's content or reasoning, or a legacy
// completion's text.
bool ChoiceHasContent(dom::element choice) {
  dom::object obj;
  if (choice.get_object().get(obj)) return false;
  dom::element text, delta;
  if (!obj.at_key("text").get(text) && NonEmptyString(text)) return true;
  dom::object d;
  if (obj.at_key("delta").get(delta) || delta.get_object().get(d)) return false;
  for (auto [key, value] : d) {
    if ((key == "content" || key == "reasoning_content" || key == "reasoning") &&
        NonEmptyString(value))
      return true;
  }
  return false;
}

// Responses API stream events whose "delta" is generated text.
bool IsTextDeltaType(std::string_view type) {
  return type == "response.output_text.delta" || type == "response.refusal.delta" ||
         type == "response.reasoning_text.delta";
}

}  // namespace

void UsageCodec::Start(Format format, bool strip_usage) {
  // Member by member rather than `*this = UsageCodec{}`: building and moving a whole codec cost
  // more than scanning a small answer, and this runs twice per request. Strings keep their
  // capacity either way.
  line_.clear();
  data_.clear();
  raw_.clear();
  key_.clear();
  value_.clear();
  model_.clear();
  line_long_ = pending_cr_ = has_data_ = event_given_up_ = drop_event_ = false;
  depth_ = 0;
  in_string_ = escape_ = expect_key_ = key_string_ = key_long_ = after_colon_ = false;
  capture_ = 0;
  value_long_ = false;
  input_.reset();
  output_.reset();
  content_events_ = 0;
  first_token_ = first_token_taken_ = false;
  stripped_ = 0;
  format_ = format;
  strip_ = strip_usage;
}

void UsageCodec::Feed(std::string_view piece, std::string* out) {
  if (format_ == Format::kSse) {
    FeedSse(piece, out);
  } else if (format_ == Format::kJson) {
    FeedJson(piece);
  }
}

bool UsageCodec::TakeFirstToken() {
  if (!first_token_ || first_token_taken_) return false;
  first_token_taken_ = true;
  return true;
}

TokenUsage UsageCodec::Result() const {
  TokenUsage u;
  u.input_tokens = input_;
  u.output_tokens = output_;
  if (!output_ && content_events_ > 0) {
    u.output_tokens = content_events_;
    u.estimated = true;
  }
  u.model = model_;
  return u;
}

// ---- SSE

void UsageCodec::FeedSse(std::string_view piece, std::string* out) {
  auto hold = [this, out](std::string_view bytes) {
    if (!filtering()) return;
    if (event_given_up_) {
      out->append(bytes);
      return;
    }
    raw_.append(bytes);
    if (raw_.size() > kMaxEvent) GiveUpEvent(out);
  };
  size_t i = 0;
  while (i < piece.size()) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (piece[i] == '\n') {  // "\r\n": one line end
        hold(piece.substr(i, 1));
        ++i;
        EndLine(out);
        continue;
      }
      EndLine(out);
    }
    const size_t end = FindEither(piece, i, '\r', '\n');
    const size_t eol = end == piece.size() ? std::string_view::npos : end;
    const std::string_view text = piece.substr(i, end - i);
    hold(text);
    if (!line_long_) {
      if (line_.size() + text.size() > kMaxEvent) {
        line_long_ = true;
        std::string().swap(line_);
      } else {
        line_.append(text);
      }
    }
    i = end;
    if (eol == std::string_view::npos) break;
    hold(piece.substr(i, 1));
    if (piece[i++] == '\r') {
      pending_cr_ = true;  // a line end; a '\n' right after it belongs to it
      continue;
    }
    EndLine(out);
  }
}

void UsageCodec::EndLine(std::string* out) {
  if (line_.empty() && !line_long_) {
    EndEvent(out);
    return;
  }
  if (line_long_) {
    GiveUpEvent(out);
  } else if (!event_given_up_ && line_.starts_with("data")) {
    std::string_view value = std::string_view(line_).substr(4);
    if (value.empty() || value.front() == ':') {  // "data" alone is an empty data line
      if (!value.empty()) value.remove_prefix(1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_.append(value);
      has_data_ = true;
      if (data_.size() > kMaxEvent) GiveUpEvent(out);
    }
  }
  line_.clear();
  line_long_ = false;
}

void UsageCodec::GiveUpEvent(std::string* out) {
  if (!event_given_up_ && filtering()) out->append(raw_);
  event_given_up_ = true;
  std::string().swap(raw_);
  std::string().swap(data_);
  has_data_ = false;
}

void UsageCodec::EndEvent(std::string* out) {
  drop_event_ = false;
  if (!event_given_up_ && has_data_) ParseEvent();
  if (filtering() && !event_given_up_) {
    if (drop_event_) {
      ++stripped_;
    } else {
      out->append(raw_);
    }
  }
  raw_.clear();
  data_.clear();
  has_data_ = false;
  event_given_up_ = false;
  drop_event_ = false;
}

void UsageCodec::End(std::string* out) {
  if (format_ == Format::kJson && depth_ == 1 && after_colon_) JsonValueEnded();  // cut short
  if (format_ != Format::kSse) return;
  if (pending_cr_) {
    pending_cr_ = false;
    EndLine(out);
  }
  if (!line_.empty() || line_long_) EndLine(out);
  // An unterminated event: read for its tokens, passed on as it came (never removed).
  if (!event_given_up_ && has_data_) ParseEvent();
  if (filtering() && !event_given_up_) out->append(raw_);
  raw_.clear();
  data_.clear();
  has_data_ = false;
}

void UsageCodec::ParseEvent() {
  if (data_ == "[DONE]") return;
  WithDocument(data_, [this](dom::element doc) {
    dom::object obj;
    if (doc.get_object().get(obj)) return;
    bool content = false;
    bool has_usage = false;
    size_t choices = 0;
    std::string_view type;
    bool delta_text = false;
    auto take = [this, &has_usage](dom::element usage) {
      std::optional<Counts> c = ReadCounts(usage);
      if (!c) return;
      has_usage = true;
      if (c->input) input_ = c->input;
      if (c->output) output_ = c->output;
    };
    auto take_model = [this](dom::element m) {
      std::string_view name;
      if (!m.get_string().get(name) && !name.empty()) model_.assign(name);
    };
    for (auto [key, value] : obj) {
      if (key == "model") {
        take_model(value);
      } else if (key == "usage") {
        take(value);
      } else if (key == "choices") {
        dom::array arr;
        if (value.get_array().get(arr)) continue;
        for (dom::element choice : arr) {
          ++choices;
          if (ChoiceHasContent(choice)) content = true;
        }
      } else if (key == "type") {
        if (value.get_string().get(type)) type = {};
      } else if (key == "delta") {
        delta_text = NonEmptyString(value);
      } else if (key == "response") {  // Responses API: response.created ... response.completed
        dom::element m, usage;
        if (!value.at_key("model").get(m)) take_model(m);
        if (!value.at_key("usage").get(usage)) take(usage);
      }
    }
    if (delta_text && IsTextDeltaType(type)) content = true;
    if (content) {
      ++content_events_;
      first_token_ = true;
    }
    // The usage-only event a gateway-added include_usage makes the backend send: `usage` with
    // `choices` empty (or absent), no content, not a Responses event.
    drop_event_ = strip_ && has_usage && !content && choices == 0 && type.empty();
  });
}

// ---- JSON

// Per byte, only the few that change the scanner's state are looked at one by one: runs of
// other bytes (a string's contents, numbers, literals, whitespace) are skipped in a tight loop,
// and a kept value is appended as a range, not byte by byte (this runs on every JSON answer).
namespace {

// Bytes that matter inside the top-level object outside strings (all others only pass).
constexpr std::array<bool, 256> kStructural = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view("\"{}[]:,")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

size_t SkipUntil(std::string_view s, size_t i, const std::array<bool, 256>& stop) {
  while (i < s.size() && !stop[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

}  // namespace

void UsageCodec::FeedJson(std::string_view piece) {
  // The kept value's bytes in this piece start at `kept_from` (when capturing).
  size_t kept_from = 0;
  auto keep = [this, piece, &kept_from](size_t to) {
    const std::string_view bytes = piece.substr(kept_from, to - kept_from);
    if (value_long_) return;
    if (value_.size() + bytes.size() > kMaxValue) {
      value_long_ = true;
      std::string().swap(value_);
      return;
    }
    value_.append(bytes);
  };
  auto keep_key = [this](std::string_view bytes) {
    const size_t room = 16 - key_.size();
    if (bytes.size() > room) {
      key_long_ = true;
      bytes = bytes.substr(0, room);
    }
    key_.append(bytes);
  };
  size_t i = 0;
  while (i < piece.size()) {
    if (depth_ < 0) return;  // the top-level object ended, or the body is not one
    if (in_string_) {
      if (escape_) {
        escape_ = false;
        if (key_string_) keep_key(piece.substr(i, 1));
        ++i;
        continue;
      }
      const size_t stop = FindEither(piece, i, '"', '\\');  // a string's end or escape
      if (key_string_) keep_key(piece.substr(i, stop - i));
      if (stop == piece.size()) {
        i = stop;
        break;
      }
      i = stop + 1;
      if (piece[stop] == '\\') {
        escape_ = true;
        if (key_string_) keep_key(piece.substr(stop, 1));
        continue;
      }
      in_string_ = false;
      if (key_string_) {
        key_string_ = expect_key_ = false;
        kept_from = i;  // a key is never part of a kept value (only in malformed JSON)
      }
      continue;
    }
    if (depth_ > 0) {
      i = SkipUntil(piece, i, kStructural);
      if (i == piece.size()) break;
    }
    const char c = piece[i];
    switch (c) {
      case '"':
        in_string_ = true;
        if (depth_ == 1 && expect_key_) {
          if (after_colon_ && capture_ != 0) keep(i);
          key_string_ = true;
          key_.clear();
          key_long_ = false;
        }
        break;
      case '{':
      case '[':
        if (depth_ == 0) {
          if (c != '{') {
            depth_ = -1;
            return;
          }
          depth_ = 1;
          expect_key_ = true;
          break;
        }
        ++depth_;
        break;
      case '}':
      case ']':
        if (depth_ == 1) {
          if (after_colon_ && capture_ != 0) {  // (a value nobody keeps has nothing to end)
            keep(i);
            JsonValueEnded();
          }
          depth_ = -1;
          return;
        }
        --depth_;
        break;
      case ':':
        if (depth_ == 1 && !after_colon_) {
          after_colon_ = true;
          const std::string_view key(key_);
          capture_ = key_long_ ? 0 : key == "model" ? 1 : key == "usage" ? 2 : 0;
          value_.clear();
          value_long_ = false;
          kept_from = i + 1;
        }
        break;
      case ',':
        if (depth_ == 1) {
          if (after_colon_ && capture_ != 0) {  // (a value nobody keeps has nothing to end)
            keep(i);
            JsonValueEnded();
          }
          after_colon_ = false;
          expect_key_ = true;
        }
        break;
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      default:
        if (depth_ == 0) {  // not a JSON object
          depth_ = -1;
          return;
        }
        break;
    }
    ++i;
  }
  // The value goes on in the next piece.
  if (after_colon_ && capture_ != 0 && !key_string_) keep(piece.size());
}

// The plain forms of the two values a JSON answer is read for, without simdjson (whose set-up
// cost most of a small answer's accounting): "model" as a string of printable ASCII without
// escapes, "usage" as an object whose members are such keys with integers of up to 18 digits.
// Anything else (escapes, other bytes, nested values, signs, fractions, malformed JSON) is
// left to simdjson, so the outcome is the same either way.
namespace {

bool JsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct Plain {
  std::string_view s;
  size_t i = 0;

  void Space() {
    while (i < s.size() && JsonSpace(s[i])) ++i;
  }
  bool Eat(char c) {
    if (i == s.size() || s[i] != c) return false;
    ++i;
    return true;
  }
  // A string of printable ASCII, no escapes; its contents.
  bool String(std::string_view* out) {
    static constexpr std::array<bool, 256> kPlainByte = [] {
      std::array<bool, 256> t{};
      for (int c = 0x20; c <= 0x7e; ++c) t[c] = c != '"' && c != '\\';
      return t;
    }();
    if (!Eat('"')) return false;
    const size_t from = i;
    while (i < s.size() && kPlainByte[static_cast<unsigned char>(s[i])]) ++i;
    if (i == s.size() || s[i] != '"') return false;
    *out = s.substr(from, i++ - from);
    return true;
  }
  // A non-negative integer of up to 18 digits (no overflow), not followed by a fraction.
  bool Integer(uint64_t* out) {
    const size_t from = i;
    uint64_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      n = n * 10 + static_cast<uint64_t>(s[i++] - '0');
    const size_t digits = i - from;
    if (digits == 0 || digits > 18 || (digits > 1 && s[from] == '0')) return false;
    if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) return false;
    *out = n;
    return true;
  }
  bool End() {
    Space();
    return i == s.size();
  }
};

// The model when `json` is a plain string; false: not plain, ask simdjson.
bool PlainModel(std::string_view json, std::string_view* model) {
  Plain p{json};
  p.Space();
  return p.String(model) && p.End();
}

// The counts when `json` is a plain usage object; false: not plain, ask simdjson.
bool PlainCounts(std::string_view json, Counts* counts) {
  Plain p{json};
  p.Space();
  if (!p.Eat('{')) return false;
  p.Space();
  if (p.Eat('}')) return p.End();
  Counts c;
  while (true) {
    std::string_view key;
    uint64_t n = 0;
    if (!p.String(&key)) return false;
    p.Space();
    if (!p.Eat(':')) return false;
    p.Space();
    if (!p.Integer(&n)) return false;
    if (key == "prompt_tokens" || key == "input_tokens") c.input = n;
    if (key == "completion_tokens" || key == "output_tokens") c.output = n;
    p.Space();
    if (p.Eat('}')) break;
    if (!p.Eat(',')) return false;
    p.Space();
  }
  if (!p.End()) return false;
  *counts = c;
  return true;
}

}  // namespace

void UsageCodec::JsonValueEnded() {
  const int which = capture_;
  capture_ = 0;
  if (which == 0 || value_long_ || value_.empty()) return;
  std::string_view model;
  Counts counts;
  if (which == 1 && PlainModel(value_, &model)) {
    if (!model.empty()) model_.assign(model);
  } else if (which == 2 && PlainCounts(value_, &counts)) {
    if (counts.input) input_ = counts.input;
    if (counts.output) output_ = counts.output;
  } else {
    ReadValue(which);
  }
  value_.clear();
}

void UsageCodec::ReadValue(int which) {
  WithDocument(value_, [this, which](dom::element doc) {
    if (which == 1) {
      std::string_view m;
      if (!doc.get_string().get(m) && !m.empty()) model_.assign(m);
      return;
    }
    std::optional<Counts> c = ReadCounts(doc);
    if (c && c->input) input_ = c->input;
    if (c && c->output) output_ = c->output;
  });
}

}  // namespace infergate::exchange
