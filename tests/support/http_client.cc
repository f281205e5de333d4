// Blocking HTTP/1.1 client for integration tests, on non-blocking POSIX sockets plus poll(2)
// for timeouts.
#include "support/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "infergate/core/error.h"

namespace infergate::testing {
namespace {

char LowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerChar(a[i]) != LowerChar(b[i])) return false;
  }
  return true;
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

int RemainingMs(SteadyTime deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
}

bool ParseHexSize(std::string_view line, uint64_t* out) {
  size_t semi = line.find(';');
  line = line.substr(0, semi);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.empty() || line.size() > 12) return false;
  uint64_t v = 0;
  for (char c : line) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (LowerChar(c) >= 'a' && LowerChar(c) <= 'f') {
      d = LowerChar(c) - 'a' + 10;
    } else {
      return false;
    }
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

void AppendJsonQuoted(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscaped(out, s);
  out += '"';
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return "";
}

bool HttpResponse::HasHeader(std::string_view name) const {
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.first, name)) return true;
  }
  return false;
}

std::vector<SseEvent> HttpResponse::Events() const {
  std::vector<SseEvent> events;
  std::string pending;
  for (const Chunk& chunk : chunks) {
    for (char c : chunk.data) {
      if (c != '\r') pending += c;
    }
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string block = pending.substr(0, end);
      pending.erase(0, end + 2);
      std::string data;
      bool has_data = false;
      size_t start = 0;
      while (start <= block.size()) {
        size_t nl = block.find('\n', start);
        std::string_view line(block.data() + start,
                              (nl == std::string::npos ? block.size() : nl) - start);
        if (line.starts_with("data:")) {
          line.remove_prefix(5);
          if (line.starts_with(" ")) line.remove_prefix(1);
          if (has_data) data += '\n';
          data += line;
          has_data = true;
        }
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      if (has_data) events.push_back(SseEvent{chunk.at, std::move(data)});
    }
  }
  return events;
}

HttpClient::HttpClient(uint16_t port, std::string host) : port_(port), host_(std::move(host)) {
  if (host_ == "localhost") host_ = "127.0.0.1";
}

HttpClient::~HttpClient() { Close(); }

bool HttpClient::Connect(Millis timeout) {
  Close();
  bool v6 = host_.find(':') != std::string::npos;
  sockaddr_storage addr{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port_);
    if (::inet_pton(AF_INET6, host_.c_str(), &a->sin6_addr) != 1) return false;
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port_);
    if (::inet_pton(AF_INET, host_.c_str(), &a->sin_addr) != 1) return false;
    len = sizeof(sockaddr_in);
  }
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      ::close(fd);
      return false;
    }
    pollfd p{};
    p.fd = fd;
    p.events = POLLOUT;
    int r;
    do {
      r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (r <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
      ::close(fd);
      return false;
    }
  }
  fd_ = fd;
  buffer_.clear();
  peer_closed_ = false;
  peer_reset_ = false;
  stale_ = false;
  return true;
}

bool HttpClient::SendRaw(std::string_view data, Millis timeout) {
  if (fd_ < 0) return false;
  SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{};
      p.fd = fd_;
      p.events = POLLOUT;
      int r = ::poll(&p, 1, RemainingMs(deadline));
      if (r == 0) return false;
      if (r < 0 && errno != EINTR) return false;
      continue;
    }
    return false;
  }
  return true;
}

HttpResponse HttpClient::Request(std::string_view method, std::string_view target,
                                 const Headers& headers, std::string_view body, Millis timeout) {
  if (fd_ >= 0 && (peer_closed_ || stale_)) Close();
  if (fd_ < 0 && !Connect(timeout)) {
    HttpResponse r;
    r.error = "connect to " + host_ + ":" + std::to_string(port_) + " failed";
    return r;
  }
  bool has_host = false;
  bool has_length = false;
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, "host")) has_host = true;
    if (EqualsIgnoreCase(n, "content-length") || EqualsIgnoreCase(n, "transfer-encoding")) {
      has_length = true;
    }
  }
  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!has_host)
    req.append("Host: ").append(host_).append(":").append(std::to_string(port_)).append("\r\n");
  for (const auto& [n, v] : headers) req.append(n).append(": ").append(v).append("\r\n");
  bool wants_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (!has_length && wants_length) {
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n");
  req.append(body);
  SteadyTime sent_at = std::chrono::steady_clock::now();
  bool sent = SendRaw(req, timeout);
  HttpResponse r = ReadResponse(sent ? timeout : Millis(1000), method == "HEAD");
  r.sent_at = sent_at;
  if (!sent && r.status == 0) r.error = "send failed; " + r.error;
  return r;
}

HttpResponse HttpClient::Get(std::string_view target, const Headers& headers, Millis timeout) {
  return Request("GET", target, headers, {}, timeout);
}

HttpResponse HttpClient::Post(std::string_view target, std::string_view body,
                              const Headers& headers, Millis timeout) {
  Headers all = headers;
  bool has_type = false;
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.first, "content-type")) has_type = true;
  }
  if (!has_type) all.emplace_back("Content-Type", "application/json");
  return Request("POST", target, all, body, timeout);
}

HttpClient::Fill HttpClient::FillBuffer(SteadyTime deadline) {
  if (fd_ < 0) return Fill::kError;
  if (peer_closed_) return peer_reset_ ? Fill::kReset : Fill::kEof;
  char buf[65536];
  while (true) {
    pollfd p{};
    p.fd = fd_;
    p.events = POLLIN;
    int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Fill::kError;
    }
    if (r == 0) return Fill::kTimeout;
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      last_read_at_ = std::chrono::steady_clock::now();
      buffer_.append(buf, static_cast<size_t>(n));
      return Fill::kData;
    }
    if (n == 0) {
      peer_closed_ = true;
      return Fill::kEof;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    peer_closed_ = true;
    if (errno == ECONNRESET) {
      peer_reset_ = true;
      return Fill::kReset;
    }
    return Fill::kError;
  }
}

void HttpClient::Finish(HttpResponse* r, Fill why) {
  switch (why) {
    case Fill::kData:
      return;
    case Fill::kEof:
      r->connection_closed = true;
      r->error = "connection closed by peer";
      return;
    case Fill::kReset:
      r->connection_closed = true;
      r->reset = true;
      r->error = "connection reset by peer";
      return;
    case Fill::kTimeout:
      r->timed_out = true;
      r->error = "timed out";
      return;
    case Fill::kError:
      r->connection_closed = true;
      r->error = fd_ < 0 ? "not connected" : std::string("socket error: ") + std::strerror(errno);
      return;
  }
}

HttpResponse HttpClient::ReadHead(Millis timeout) {
  HttpResponse r;
  r.sent_at = std::chrono::steady_clock::now();
  SteadyTime deadline = r.sent_at + timeout;
  while (true) {
    size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) {
      Fill f = FillBuffer(deadline);
      if (f != Fill::kData) {
        Finish(&r, f);
        r.error = "no response head: " + r.error;
        stale_ = true;
        return r;
      }
      continue;
    }
    std::string_view head(buffer_.data(), end + 2);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    int status = 0;
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ') {
      r.error = "malformed status line: " + std::string(status_line);
      stale_ = true;
      return r;
    }
    for (size_t i = 9; i < 12; ++i) {
      char c = status_line[i];
      if (c < '0' || c > '9') {
        r.error = "malformed status line: " + std::string(status_line);
        stale_ = true;
        return r;
      }
      status = status * 10 + (c - '0');
    }
    r.headers.clear();
    r.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : "";
    size_t pos = line_end + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    r.http_minor = status_line[7] == '0' ? 0 : 1;
    buffer_.erase(0, end + 4);
    r.status = status;
    r.head_at = std::chrono::steady_clock::now();
    r.chunked = ContainsTokenIgnoreCase(r.Header("transfer-encoding"), "chunked");
    std::string cl = r.Header("content-length");
    if (!r.chunked && !cl.empty()) {
      r.content_length = 0;
      for (char c : cl) {
        if (c < '0' || c > '9') {
          r.content_length = -1;
          break;
        }
        r.content_length = r.content_length * 10 + (c - '0');
      }
    }
    return r;
  }
}

void HttpClient::ReadBody(HttpResponse* r, Millis timeout, bool no_body) {
  if (r->status == 0) return;
  SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
  bool must_close =
      ContainsTokenIgnoreCase(r->Header("connection"), "close") ||
      (r->http_minor == 0 && !ContainsTokenIgnoreCase(r->Header("connection"), "keep-alive"));
  if (no_body || r->status == 204 || r->status == 304 || r->status < 200) {
    r->complete = true;
  } else if (r->chunked) {
    size_t pos = 0;
    while (true) {
      size_t eol = buffer_.find("\r\n", pos);
      if (eol == std::string::npos) {
        Fill f = FillBuffer(deadline);
        if (f != Fill::kData) {
          Finish(r, f);
          break;
        }
        continue;
      }
      uint64_t size = 0;
      if (!ParseHexSize(std::string_view(buffer_).substr(pos, eol - pos), &size)) {
        r->error = "malformed chunk size line";
        must_close = true;
        break;
      }
      if (size == 0) {
        size_t t = eol + 2;
        bool failed = false;
        while (true) {
          size_t line_end = buffer_.find("\r\n", t);
          if (line_end == std::string::npos) {
            Fill f = FillBuffer(deadline);
            if (f != Fill::kData) {
              Finish(r, f);
              failed = true;
              break;
            }
            continue;
          }
          if (line_end == t) break;
          t = line_end + 2;
        }
        if (!failed) {
          pos = t + 2;
          r->complete = true;
        }
        break;
      }
      size_t data_start = eol + 2;
      Fill f = Fill::kData;
      while (buffer_.size() < data_start + size + 2 && (f = FillBuffer(deadline)) == Fill::kData) {
      }
      if (f != Fill::kData) {
        Finish(r, f);
        break;
      }
      if (buffer_.compare(data_start + size, 2, "\r\n") != 0) {
        r->error = "chunk not followed by CRLF";
        must_close = true;
        break;
      }
      std::string data = buffer_.substr(data_start, size);
      r->body += data;
      r->chunks.push_back(Chunk{last_read_at_, std::move(data)});
      pos = data_start + size + 2;
    }
    buffer_.erase(0, std::min(pos, buffer_.size()));
  } else if (r->content_length >= 0) {
    uint64_t need = static_cast<uint64_t>(r->content_length);
    while (need > 0) {
      if (buffer_.empty()) {
        Fill f = FillBuffer(deadline);
        if (f != Fill::kData) {
          Finish(r, f);
          break;
        }
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(need, buffer_.size()));
      r->body.append(buffer_, 0, take);
      r->chunks.push_back(Chunk{last_read_at_, buffer_.substr(0, take)});
      buffer_.erase(0, take);
      need -= take;
    }
    r->complete = need == 0;
  } else {
    must_close = true;
    while (true) {
      if (!buffer_.empty()) {
        r->body += buffer_;
        r->chunks.push_back(Chunk{last_read_at_, std::move(buffer_)});
        buffer_.clear();
      }
      Fill f = FillBuffer(deadline);
      if (f == Fill::kData) continue;
      Finish(r, f);
      if (f == Fill::kEof) {
        r->complete = true;
        r->error.clear();
      }
      break;
    }
  }
  if (!r->complete || must_close || r->connection_closed) {
    if (!r->connection_closed && peer_closed_ && buffer_.empty()) r->connection_closed = true;
    stale_ = true;
  }
}

HttpResponse HttpClient::ReadResponse(Millis timeout, bool no_body) {
  SteadyTime start = std::chrono::steady_clock::now();
  std::vector<int> interim;
  HttpResponse r;
  while (true) {
    auto left =
        std::chrono::duration_cast<Millis>(start + timeout - std::chrono::steady_clock::now());
    r = ReadHead(std::max(left, Millis(0)));
    if (r.status < 100 || r.status >= 200 || r.status == 101) break;
    interim.push_back(r.status);
  }
  r.interim_statuses = std::move(interim);
  r.sent_at = start;
  if (r.status == 0) return r;
  auto left =
      std::chrono::duration_cast<Millis>(start + timeout - std::chrono::steady_clock::now());
  ReadBody(&r, std::max(left, Millis(0)), no_body);
  return r;
}

bool HttpClient::IsClosedByPeer(Millis timeout) {
  if (fd_ < 0) return peer_closed_;
  SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    Fill f = FillBuffer(deadline);
    if (f == Fill::kData) continue;
    return f != Fill::kTimeout;
  }
}

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void HttpClient::Abort() {
  if (fd_ < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  Close();
}

std::string ChatBody(std::string_view model, bool stream, bool include_usage,
                     std::string_view prompt) {
  std::string out = R"({"model":)";
  AppendJsonQuoted(out, model);
  out += R"(,"messages":[{"role":"user","content":)";
  AppendJsonQuoted(out, prompt);
  out += "}]";
  if (stream) {
    out += R"(,"stream":true)";
    if (include_usage) out += R"(,"stream_options":{"include_usage":true})";
  }
  out += '}';
  return out;
}

std::string CompletionBody(std::string_view model, bool stream, std::string_view prompt) {
  std::string out = R"({"model":)";
  AppendJsonQuoted(out, model);
  out += R"(,"prompt":)";
  AppendJsonQuoted(out, prompt);
  if (stream) out += R"(,"stream":true)";
  out += '}';
  return out;
}

}  // namespace infergate::testing
