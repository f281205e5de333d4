// Request head parsing and body de-framing for the mock server.
#include "mock/http_parse.h"

#include <cstring>

namespace infergate::mock {
namespace {

constexpr size_t kMaxFields = 128;
constexpr size_t kMaxLine = 4096;

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != 0 &&
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Calls fn(token) for each comma-separated, OWS-trimmed, non-empty list element.
template <typename Fn>
void ForEachListToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = TrimOws(value.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool ApplyField(const HeaderField& f, RequestHead* head, bool* saw_te) {
  std::string_view n = f.name;
  if (n.size() == 14 && EqualsLower(n, "content-length")) {
    uint64_t len = 0;
    if (!ParseDecimal(f.value, &len)) return false;
    if (head->has_content_length && head->content_length != len) return false;
    head->has_content_length = true;
    head->content_length = len;
  } else if (n.size() == 17 && EqualsLower(n, "transfer-encoding")) {
    *saw_te = true;
    std::string_view last;
    ForEachListToken(f.value, [&](std::string_view t) { last = t; });
    head->chunked = EqualsLower(last, "chunked");
  } else if (n.size() == 10 && EqualsLower(n, "connection")) {
    ForEachListToken(f.value, [&](std::string_view t) {
      if (EqualsLower(t, "close")) {
        head->keep_alive = false;
      } else if (EqualsLower(t, "keep-alive") && head->version_minor == 0) {
        head->keep_alive = true;
      }
    });
  } else if (n.size() == 6 && EqualsLower(n, "expect")) {
    head->expect_continue = EqualsLower(f.value, "100-continue");
  }
  return true;
}

}  // namespace

bool EqualsLower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != lower[i]) return false;
  }
  return true;
}

std::string_view RequestHead::Path() const {
  size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

HeadStatus ParseRequestHead(std::string_view data, size_t max_size, RequestHead* head,
                            size_t* consumed) {
  size_t start = 0;
  while (start < data.size() && (data[start] == '\r' || data[start] == '\n')) {
    if (data[start] == '\r' && (start + 1 >= data.size() || data[start + 1] != '\n')) break;
    start += data[start] == '\r' ? 2 : 1;
  }
  size_t end = data.find("\r\n\r\n", start);
  if (end == std::string_view::npos) {
    return data.size() - start > max_size ? HeadStatus::kTooLarge : HeadStatus::kIncomplete;
  }
  end += 4;
  if (end - start > max_size) return HeadStatus::kTooLarge;
  *consumed = end;

  head->text.assign(data.data() + start, end - start);
  head->method = {};
  head->target = {};
  head->version_minor = 1;
  head->keep_alive = false;
  head->fields.clear();
  head->has_content_length = false;
  head->content_length = 0;
  head->chunked = false;
  head->expect_continue = false;
  std::string_view text(head->text);

  size_t line_end = text.find("\r\n");
  std::string_view line = text.substr(0, line_end);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HeadStatus::kBad;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HeadStatus::kBad;
  head->method = line.substr(0, sp1);
  head->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(head->method) || head->target.empty()) return HeadStatus::kBad;
  for (char c : head->target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return HeadStatus::kBad;
  }
  if (version == "HTTP/1.1") {
    head->version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head->version_minor = 0;
  } else {
    return HeadStatus::kBad;
  }
  head->keep_alive = head->version_minor == 1;

  bool saw_te = false;
  size_t pos = line_end + 2;
  while (pos < text.size()) {
    size_t eol = text.find("\r\n", pos);
    if (eol == pos) break;  // the blank line that ends the head
    std::string_view field_line = text.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = field_line.find(':');
    if (colon == std::string_view::npos) return HeadStatus::kBad;
    HeaderField f{field_line.substr(0, colon), TrimOws(field_line.substr(colon + 1))};
    if (!IsToken(f.name)) return HeadStatus::kBad;
    for (char c : f.value) {
      unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return HeadStatus::kBad;
    }
    if (head->fields.size() >= kMaxFields) return HeadStatus::kTooLarge;
    if (!ApplyField(f, head, &saw_te)) return HeadStatus::kBad;
    head->fields.push_back(f);
  }
  if (saw_te) {
    if (!head->chunked || head->has_content_length) return HeadStatus::kBad;
  }
  return HeadStatus::kDone;
}

void BodyDecoder::Reset(bool chunked, uint64_t content_length) {
  remaining_ = chunked ? 0 : content_length;
  if (chunked) {
    state_ = State::kChunkSize;
  } else {
    state_ = content_length > 0 ? State::kLength : State::kDone;
  }
}

BodyDecoder::Status BodyDecoder::Feed(const char* data, size_t size, std::string* out,
                                      size_t* consumed) {
  size_t i = 0;
  auto find_lf = [&](size_t from) -> const char* {
    return static_cast<const char*>(std::memchr(data + from, '\n', size - from));
  };
  while (true) {
    switch (state_) {
      case State::kDone:
        *consumed = i;
        return Status::kDone;
      case State::kLength:
      case State::kChunkData: {
        size_t take = size - i;
        if (take > remaining_) take = static_cast<size_t>(remaining_);
        out->append(data + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ > 0) {
          *consumed = i;
          return Status::kNeedMore;
        }
        state_ = state_ == State::kLength ? State::kDone : State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd:
        if (size - i < 2) {
          *consumed = i;
          return Status::kNeedMore;
        }
        if (data[i] != '\r' || data[i + 1] != '\n') return Status::kError;
        i += 2;
        state_ = State::kChunkSize;
        break;
      case State::kChunkSize: {
        const char* lf = find_lf(i);
        if (lf == nullptr) {
          *consumed = i;
          return size - i > kMaxLine ? Status::kError : Status::kNeedMore;
        }
        std::string_view line(data + i, static_cast<size_t>(lf - (data + i)));
        i = static_cast<size_t>(lf - data) + 1;
        if (line.empty() || line.back() != '\r') return Status::kError;
        line.remove_suffix(1);
        size_t semi = line.find(';');
        std::string_view digits = TrimOws(line.substr(0, semi));
        if (digits.empty() || digits.size() > 15) return Status::kError;
        uint64_t n = 0;
        for (char c : digits) {
          int v;
          if (c >= '0' && c <= '9') {
            v = c - '0';
          } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (c | 0x20) - 'a' + 10;
          } else {
            return Status::kError;
          }
          n = n * 16 + static_cast<uint64_t>(v);
        }
        remaining_ = n;
        state_ = n == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kTrailers: {
        const char* lf = find_lf(i);
        if (lf == nullptr) {
          *consumed = i;
          return size - i > kMaxLine ? Status::kError : Status::kNeedMore;
        }
        size_t len = static_cast<size_t>(lf - (data + i));
        bool blank = len == 1 && data[i] == '\r';
        if (len == 0 || data[i + len - 1] != '\r') return Status::kError;
        i += len + 1;
        if (blank) state_ = State::kDone;
        break;
      }
    }
  }
}

}  // namespace infergate::mock
