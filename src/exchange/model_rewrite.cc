// The answer's model as the client asked for it (response_model: requested).
#include "infergate/exchange/model_rewrite.h"

#include "infergate/core/error.h"

namespace infergate::exchange {

void ModelRewriter::Start(Format format, std::string model) {
  format_ = model.empty() ? Format::kOff : format;
  model_ = std::move(model);
  json_.Reset();
  line_.clear();
  line_long_ = false;
}

void ModelRewriter::Feed(std::string_view piece, std::string* out) {
  if (format_ == Format::kJson) {
    json_.Feed(piece, model_, out);
  } else if (format_ == Format::kSse) {
    FeedSse(piece, out);
  } else {
    out->append(piece);
  }
}

void ModelRewriter::End(std::string* out) {
  if (format_ != Format::kSse || line_.empty()) return;
  out->append(line_);  // no line end: not a complete event line
  line_.clear();
}

// Whole lines at a time: a line is held until its end (up to kMaxLine bytes; past that it goes
// out as it came, up to its end).
void ModelRewriter::FeedSse(std::string_view piece, std::string* out) {
  while (!piece.empty()) {
    const size_t nl = piece.find('\n');
    const size_t len = nl == std::string_view::npos ? piece.size() : nl + 1;
    const std::string_view chunk = piece.substr(0, len);
    piece.remove_prefix(len);
    if (line_long_) {
      out->append(chunk);
      line_long_ = nl == std::string_view::npos;
      continue;
    }
    if (line_.size() + chunk.size() > kMaxLine + (nl == std::string_view::npos ? 0 : 1)) {
      out->append(line_);
      out->append(chunk);
      line_.clear();
      line_long_ = nl == std::string_view::npos;
      continue;
    }
    line_.append(chunk);
    if (nl != std::string_view::npos) EndLine(out);
  }
}

// A complete line: a data line's JSON is scanned, anything else goes out as it is.
void ModelRewriter::EndLine(std::string* out) {
  std::string_view line = line_;
  if (line.starts_with("data:")) {
    out->append("data:");
    json_.Reset();
    json_.Feed(line.substr(5), model_, out);
  } else {
    out->append(line);
  }
  line_.clear();
}

void ModelRewriter::Scanner::Reset() { *this = Scanner{}; }

// The bytes of a value string (or of the value being replaced) up to its next quote or
// backslash are taken as a run; everything else byte by byte.
void ModelRewriter::Scanner::Feed(std::string_view in, const std::string& model, std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    if (done) {  // the model is swapped: the rest of this text passes as it is
      out->append(in.substr(i));
      return;
    }
    if ((in_string || swapping) && !reading_key && !escape && hex_left == 0) {
      const size_t stop = in.find_first_of("\"\\", i);
      const size_t end = stop == std::string_view::npos ? in.size() : stop;
      if (!swapping) out->append(in.substr(i, end - i));
      i = end;
      if (i == in.size()) return;
    }
    Byte(in[i++], model, out);
  }
}

void ModelRewriter::Scanner::KeyChar(char c, bool wide) {
  if (key_long) return;
  if (wide || key.size() >= 16) {
    key_long = true;  // longer than any key looked for, or not ASCII
  } else {
    key.push_back(c);
  }
}

void ModelRewriter::Scanner::Byte(char c, const std::string& model, std::string* out) {
  if (swapping) {  // the replaced value's bytes are dropped up to its closing quote
    if (escape) {
      escape = false;
    } else if (c == '\\') {
      escape = true;
    } else if (c == '"') {
      swapping = false;
      done = true;
      out->push_back('"');
      AppendJsonEscaped(*out, model);
      out->push_back('"');
    }
    return;
  }
  out->push_back(c);
  if (in_string) {
    if (hex_left > 0) {  // \uXXXX in a key: an ASCII code point is the character it names
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      code = digit < 0 ? 0x10000 : code * 16 + static_cast<uint32_t>(digit);
      if (--hex_left == 0) KeyChar(code < 0x80 ? static_cast<char>(code) : '\0', code >= 0x80);
    } else if (escape) {
      escape = false;
      if (reading_key) {
        if (c == 'u') {
          hex_left = 4;
          code = 0;
        } else {
          KeyChar(c, false);  // \" \\ \/ and the control escapes: never part of "model"
        }
      }
    } else if (c == '\\') {
      escape = true;
    } else if (c == '"') {
      in_string = false;
      if (reading_key) {
        reading_key = false;
        awaiting_colon = true;
        if (depth == 1 && !key_long) last_top_key = key;
      }
    } else if (reading_key) {
      KeyChar(c, false);
    }
    return;
  }
  switch (c) {
    case '"':
      if (model_value_next) {
        model_value_next = false;
        swapping = true;
        out->pop_back();  // the opening quote goes out with the new value
        return;
      }
      in_string = true;
      reading_key = expect_key;
      expect_key = false;
      key.clear();
      key_long = false;
      return;
    case ':':
      model_value_next = awaiting_colon && !key_long && key == "model" && Target();
      awaiting_colon = false;
      return;
    case '{':
    case '[':
      model_value_next = false;
      if (depth == 1) under_response = c == '{' && last_top_key == "response";
      ++depth;
      if (depth <= 64) {
        const uint64_t bit = uint64_t{1} << (depth - 1);
        objects = c == '{' ? (objects | bit) : (objects & ~bit);
      }
      expect_key = c == '{';
      return;
    case '}':
    case ']':
      model_value_next = false;
      if (depth > 0) --depth;
      expect_key = false;
      return;
    case ',':
      expect_key = InObject();
      return;
    case ' ':
    case '\t':
    case '\r':
    case '\n':
      return;
    default:
      model_value_next = false;  // a value that is not a string (null, a number)
      return;
  }
}

}  // namespace infergate::exchange
