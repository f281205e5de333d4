// The blocking HTTP/2 test client: nghttp2's client session pumped over a socket with poll().
#include "support/h2_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace infergate::testing {

struct H2Client::Body {
  std::string data;
  size_t at = 0;
};

std::string H2Client::Stream::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

struct H2ClientCallbacks {
  static H2Client& Self(void* ud) { return *static_cast<H2Client*>(ud); }
  static int Header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                    const uint8_t* v, size_t vl, uint8_t, void* ud) {
    H2Client::Stream& s = Self(ud).streams[f->hd.stream_id];
    std::string name(reinterpret_cast<const char*>(n), nl);
    std::string value(reinterpret_cast<const char*>(v), vl);
    if (name == ":status") s.status = std::stoi(value);
    s.headers.emplace(std::move(name), std::move(value));
    return 0;
  }
  static int Chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                   void* ud) {
    Self(ud).streams[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int FrameRecv(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    H2Client& c = Self(ud);
    if (f->hd.type == NGHTTP2_DATA && f->hd.length > 0) ++c.streams[f->hd.stream_id].data_frames;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      c.streams[f->hd.stream_id].end_stream = true;
    }
    if (f->hd.type == NGHTTP2_GOAWAY) {
      c.goaway_code = f->goaway.error_code;
      c.goaway_last_stream = f->goaway.last_stream_id;
    }
    return 0;
  }
  static int Close(nghttp2_session*, int32_t id, uint32_t code, void* ud) {
    H2Client::Stream& s = Self(ud).streams[id];
    s.closed = true;
    s.close_code = code;
    return 0;
  }
  static ssize_t Read(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                      nghttp2_data_source* src, void*) {
    auto* b = static_cast<H2Client::Body*>(src->ptr);
    const size_t n = std::min(len, b->data.size() - b->at);
    std::memcpy(buf, b->data.data() + b->at, n);
    b->at += n;
    if (b->at == b->data.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

H2Client::H2Client(uint16_t port, std::vector<std::pair<int32_t, uint32_t>> settings) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd_);
    fd_ = -1;
  } else {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2ClientCallbacks::Header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2ClientCallbacks::Chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2ClientCallbacks::FrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2ClientCallbacks::Close);
  nghttp2_session_client_new(&session_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
  std::vector<nghttp2_settings_entry> entries;
  for (auto [id, value] : settings) entries.push_back({id, value});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries.data(), entries.size());
}

H2Client::~H2Client() {
  nghttp2_session_del(session_);
  if (fd_ >= 0) ::close(fd_);
}

int32_t H2Client::Submit(const std::string& method, const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::optional<std::string> body) {
  std::vector<std::pair<std::string, std::string>> all = {
      {":method", method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", path}};
  all.insert(all.end(), headers.begin(), headers.end());
  std::vector<nghttp2_nv> nva;
  for (auto& [n, v] : all) {
    nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                   n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  }
  auto b = std::make_unique<Body>();
  nghttp2_data_provider prd;
  prd.source.ptr = b.get();
  prd.read_callback = &H2ClientCallbacks::Read;
  if (body) b->data = *body;
  const int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                            body ? &prd : nullptr, nullptr);
  if (id > 0) {
    bodies_[id] = std::move(b);
    streams[id];
  }
  return id;
}

void H2Client::Reset(int32_t stream, uint32_t code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, code);
  Flush();
}

bool H2Client::Flush() {
  const uint8_t* data;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
    if (!SendRaw(std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n)))) {
      peer_closed = true;
      return false;
    }
  }
  return true;
}

bool H2Client::SendRaw(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

bool H2Client::RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (fd_ < 0 || peer_closed) return done();
    if (!Flush()) return done();
    if (done()) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50))) <= 0) continue;
    char buf[16384];
    const ssize_t got = ::recv(fd_, buf, sizeof(buf), 0);
    if (got <= 0) {
      peer_closed = true;
      return done();
    }
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf),
                             static_cast<size_t>(got));
  }
  return true;
}

}  // namespace infergate::testing
