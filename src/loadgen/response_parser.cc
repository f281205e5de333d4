// Incremental HTTP/1.1 response parser for infergate-loadgen.
#include "loadgen/response_parser.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace infergate::loadgen {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxLineBytes = 4096;

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}

// Whether the comma-separated list `value` holds `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void ResponseParser::Reset() {
  state_ = State::kHead;
  status_ = 0;
  keep_alive_ = true;
  saw_last_chunk_ = false;
  remaining_ = 0;
  error_.clear();
}

ResponseParser::Status ResponseParser::Fail(std::string message) {
  error_ = std::move(message);
  keep_alive_ = false;
  return Status::kError;
}

bool ResponseParser::ParseHead(std::string_view head) {
  // Status line: HTTP/1.x SSS reason
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ') return false;
  const bool http10 = line[7] == '0';
  if (auto r = std::from_chars(line.data() + 9, line.data() + 12, status_); r.ec != std::errc()) {
    return false;
  }
  keep_alive_ = !http10;
  bool chunked = false;
  bool has_length = false;
  uint64_t length = 0;
  head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      if (has_length) return false;
      auto r = std::from_chars(value.data(), value.data() + value.size(), length);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size()) return false;
      has_length = true;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      chunked = HasToken(value, "chunked");
      if (!chunked) return false;  // other codings are not expected from the servers under test
    } else if (EqualsIgnoreCase(name, "connection")) {
      if (HasToken(value, "close")) keep_alive_ = false;
      if (HasToken(value, "keep-alive")) keep_alive_ = true;
    }
  }
  if (chunked && has_length) return false;
  if ((status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (chunked) {
    state_ = State::kChunkSize;
  } else if (has_length) {
    remaining_ = length;
    state_ = length == 0 ? State::kDone : State::kLength;
  } else {
    keep_alive_ = false;
    state_ = State::kToEof;
  }
  return true;
}

ResponseParser::Status ResponseParser::Feed(std::string_view data, size_t* consumed,
                                            BodySink* sink) {
  size_t pos = 0;
  *consumed = 0;
  while (true) {
    switch (state_) {
      case State::kHead: {
        const size_t end = data.find("\r\n\r\n", pos);
        if (end == std::string_view::npos) {
          if (data.size() - pos > kMaxHeadBytes) return Fail("response head too large");
          *consumed = pos;
          return Status::kNeedMore;
        }
        if (!ParseHead(data.substr(pos, end + 2 - pos))) return Fail("bad response head");
        pos = end + 4;
        // 1xx interim responses are skipped.
        if (status_ >= 100 && status_ < 200 && status_ != 101) {
          state_ = State::kHead;
          continue;
        }
        break;
      }
      case State::kLength: {
        const size_t n = std::min<uint64_t>(remaining_, data.size() - pos);
        if (n > 0 && sink) sink->OnBody(data.substr(pos, n));
        pos += n;
        remaining_ -= n;
        if (remaining_ > 0) {
          *consumed = pos;
          return Status::kNeedMore;
        }
        state_ = State::kDone;
        break;
      }
      case State::kChunkSize: {
        const size_t end = data.find("\r\n", pos);
        if (end == std::string_view::npos) {
          if (data.size() - pos > kMaxLineBytes) return Fail("chunk size line too long");
          *consumed = pos;
          return Status::kNeedMore;
        }
        std::string_view line = data.substr(pos, end - pos);
        const size_t semi = line.find(';');
        line = Trim(line.substr(0, semi));
        uint64_t size = 0;
        auto r = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || r.ec != std::errc() || r.ptr != line.data() + line.size()) {
          return Fail("bad chunk size");
        }
        pos = end + 2;
        if (size == 0) {
          saw_last_chunk_ = true;
          state_ = State::kTrailers;
        } else {
          remaining_ = size;
          state_ = State::kChunkData;
        }
        break;
      }
      case State::kChunkData: {
        const size_t n = std::min<uint64_t>(remaining_, data.size() - pos);
        if (n > 0 && sink) sink->OnBody(data.substr(pos, n));
        pos += n;
        remaining_ -= n;
        if (remaining_ > 0) {
          *consumed = pos;
          return Status::kNeedMore;
        }
        state_ = State::kChunkEnd;
        break;
      }
      case State::kChunkEnd: {
        if (data.size() - pos < 2) {
          *consumed = pos;
          return Status::kNeedMore;
        }
        if (data.substr(pos, 2) != "\r\n") return Fail("missing CRLF after chunk");
        pos += 2;
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        const size_t end = data.find("\r\n", pos);
        if (end == std::string_view::npos) {
          if (data.size() - pos > kMaxLineBytes) return Fail("trailer too long");
          *consumed = pos;
          return Status::kNeedMore;
        }
        const bool last = end == pos;
        pos = end + 2;
        if (last) state_ = State::kDone;
        break;
      }
      case State::kToEof: {
        if (pos < data.size() && sink) sink->OnBody(data.substr(pos));
        *consumed = data.size();
        return Status::kNeedMore;
      }
      case State::kDone:
        *consumed = pos;
        return Status::kComplete;
    }
  }
}

ResponseParser::Status ResponseParser::FeedEof() {
  if (state_ == State::kToEof || state_ == State::kDone) {
    state_ = State::kDone;
    keep_alive_ = false;
    return Status::kComplete;
  }
  return Fail(state_ == State::kHead ? "connection closed before the response head"
                                     : "connection closed mid-body");
}

}  // namespace infergate::loadgen
