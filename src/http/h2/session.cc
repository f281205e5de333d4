// The HTTP/2 server codec: nghttp2's callbacks turned into complete requests under the
// listener's limits, responses turned into frames, and the per-connection flood counters.
#include "infergate/http/h2/session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>

#include "infergate/http/request_target.h"

namespace infergate::h2 {

std::string_view FloodName(Flood kind) {
  static constexpr std::array<std::string_view, kFloodKinds> kNames = {
      "resets", "pings", "settings", "priority", "window_updates", "empty_frames", "library"};
  return kNames[static_cast<size_t>(kind)];
}

namespace {

std::string_view View(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

// nghttp2's callbacks, with the session as user data.
struct Callbacks {
  static ServerSession& Self(void* user_data) { return *static_cast<ServerSession*>(user_data); }

  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    ServerSession& s = Self(ud);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    const int32_t id = frame->hd.stream_id;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      ++s.stats_.streams;
      std::unique_ptr<StreamRequest> req = s.TakeRequest();
      req->stream_id = id;
      req->deadline = s.clock_.Now() + s.config_.header_timeout;
      s.arriving_[id] = std::move(req);
    } else if (auto it = s.arriving_.find(id); it != s.arriving_.end()) {
      it->second->in_trailers = true;
    }
    return 0;
  }

  static int Header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    ServerSession& s = Self(ud);
    auto it = s.arriving_.find(frame->hd.stream_id);
    if (it == s.arriving_.end() || it->second->error) return 0;
    StreamRequest& req = *it->second;
    // The decoded size (RFC 7541 4.1), so an HPACK bomb of small indexed fields is bounded too.
    req.header_bytes += namelen + valuelen + 32;
    if (req.header_bytes > s.config_.max_header_bytes) {
      s.Refuse(req, ErrorKind::kHeaderTooLarge,
               "request header fields exceed the listener's max_request_header_bytes (" +
                   std::to_string(s.config_.max_header_bytes) + " bytes, decoded)");
      return 0;
    }
    const bool pseudo = namelen > 0 && name[0] == ':';
    if (!pseudo && ++req.header_count > s.config_.max_headers) {
      s.Refuse(req, ErrorKind::kHeaderTooLarge,
               "more request header fields than the listener's max_request_headers (" +
                   std::to_string(s.config_.max_headers) + ")");
      return 0;
    }
    if (req.in_trailers) return 0;  // trailers count against the limits and are dropped
    req.offsets.push_back(static_cast<uint32_t>(req.fields.size()));
    req.offsets.push_back(static_cast<uint32_t>(namelen));
    req.fields.append(View(name, namelen));
    req.offsets.push_back(static_cast<uint32_t>(req.fields.size()));
    req.offsets.push_back(static_cast<uint32_t>(valuelen));
    req.fields.append(View(value, valuelen));
    return 0;
  }

  static int FrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    ServerSession& s = Self(ud);
    const int32_t id = frame->hd.stream_id;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    const auto& c = s.config_;
    switch (frame->hd.type) {
      case NGHTTP2_DATA:
        if (frame->hd.length == 0 && !end_stream &&
            !s.Count(Flood::kEmptyFrames, c.max_empty_frames))
          return 0;
        if (end_stream) s.Ready(id);
        break;
      case NGHTTP2_HEADERS: {
        auto it = s.arriving_.find(id);
        if (it == s.arriving_.end()) break;
        StreamRequest& req = *it->second;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          req.headers_done = true;
          req.request.had_body = !end_stream;
          req.deadline = s.clock_.Now() + c.body_timeout;
          if (!s.FinishHead(req) || end_stream) s.Ready(id);
        } else if (end_stream) {
          s.Ready(id);  // trailers end the request
        }
        break;
      }
      case NGHTTP2_RST_STREAM:
        ++s.stats_.client_resets;
        if (auto h = s.handed_.find(id); h != s.handed_.end()) h->second.by_client = true;
        s.Count(Flood::kResets, c.max_resets);
        break;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) s.Count(Flood::kSettings, c.max_settings);
        break;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) s.Count(Flood::kPings, c.max_pings);
        break;
      case NGHTTP2_WINDOW_UPDATE:
        s.Count(Flood::kWindowUpdates, c.max_window_updates + s.data_frames_sent_);
        break;
      default:
        break;
    }
    return 0;
  }

  // PRIORITY frames are ignored (SETTINGS_NO_RFC7540_PRIORITIES) and so never reach FrameRecv:
  // they are counted as they begin.
  static int BeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* ud) {
    ServerSession& s = Self(ud);
    if (hd->type == NGHTTP2_PRIORITY) s.Count(Flood::kPriority, s.config_.max_priority);
    return 0;
  }

  static int DataChunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data,
                       size_t len, void* ud) {
    ServerSession& s = Self(ud);
    nghttp2_session_consume_stream(session, id, len);
    auto it = s.arriving_.find(id);
    if (it == s.arriving_.end() || it->second->error) {
      nghttp2_session_consume_connection(session, len);  // not kept
      return 0;
    }
    StreamRequest& req = *it->second;
    if (req.body.size() + len > s.config_.max_body_bytes) {
      s.arriving_bytes_ -= req.body.size();
      std::string().swap(req.body);
      nghttp2_session_consume_connection(session, len);
      s.Refuse(req, ErrorKind::kBodyTooLarge,
               "request body exceeds the listener's max_request_body_bytes (" +
                   std::to_string(s.config_.max_body_bytes) + " bytes)");
      return 0;
    }
    if (req.body.empty()) {
      const std::string_view cl = req.request.Get("content-length");
      uint64_t n = 0;
      for (char ch : cl) n = n * 10 + static_cast<uint64_t>(ch - '0');  // nghttp2 checked it
      req.body.reserve(static_cast<size_t>(std::min(n, s.config_.max_body_bytes)) + 64);
    }
    req.body.append(View(data, len));
    s.arriving_bytes_ += len;
    s.ConsumeConnection(len);
    return 0;
  }

  static int StreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* ud) {
    ServerSession& s = Self(ud);
    s.Forget(id);
    auto h = s.handed_.find(id);
    if (h == s.handed_.end()) return 0;
    const bool by_client = h->second.by_client;
    s.held_bytes_ -= h->second.body_bytes;
    s.handed_.erase(h);
    s.ConsumeConnection(0);
    // Completed and reset within one read: it never reaches the connection.
    for (auto r = s.ready_.begin(); r != s.ready_.end(); ++r) {
      if ((*r)->stream_id == id) {
        s.ready_.erase(r);
        return 0;
      }
    }
    s.events_.OnStreamClosed(id, error_code, by_client);
    return 0;
  }

  static int FrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* ud) {
    ServerSession& s = Self(ud);
    if (frame->hd.type == NGHTTP2_DATA) ++s.data_frames_sent_;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      if (frame->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR) ++s.stats_.protocol_resets;
      if (frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) ++s.stats_.refused;
    }
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    const int32_t id = frame->hd.stream_id;
    // A response sent before the request ended (a refusal): the rest of the request is not
    // wanted (RFC 9113 8.1).
    if (end_stream && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        s.handed_.contains(id) && nghttp2_session_get_stream_remote_close(session, id) == 0) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static ssize_t Read(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                      nghttp2_data_source* source, void*) {
    bool eof = false;
    const size_t n = static_cast<ResponseSource*>(source->ptr)->Pull(buf, length, &eof);
    if (eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }
};

ServerSession::ServerSession(const SessionConfig& config, const Clock& clock, SessionEvents& events)
    : config_(config), clock_(clock), events_(events) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::Header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::FrameRecv);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::BeginFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::DataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::StreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::FrameSend);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // A header block may take the frames it needs to reach the header limit, and no more.
  nghttp2_option_set_max_continuations(
      opt, std::max<size_t>(8, static_cast<size_t>(config_.max_header_bytes / 16384) + 2));
  // nghttp2's own reset limiter, looser than ours, as a second line.
  const double secs = std::max(1.0, std::chrono::duration<double>(config_.flood_interval).count());
  nghttp2_option_set_stream_reset_rate_limit(
      opt, 2ull * config_.max_resets + 2,
      static_cast<uint64_t>(std::max(1.0, 2.0 * config_.max_resets / secs)));
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, config_.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<uint32_t>(std::min<uint64_t>(config_.max_header_bytes, UINT32_MAX))},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(config_.initial_connection_window));
}

ServerSession::~ServerSession() { nghttp2_session_del(session_); }

bool ServerSession::Feed(std::string_view bytes) {
  if (failed_ || flooded_) return false;
  const ssize_t rv = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (rv < 0) {
    failed_ = true;
    if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
      if (!flooded_) Fail(Flood::kLibrary);
    }
  }
  if (failed_ || flooded_) {
    ready_.clear();
    return false;
  }
  // Streams still open after the whole read reach the connection.
  std::vector<std::unique_ptr<StreamRequest>> ready = std::move(ready_);
  ready_.clear();
  for (auto& r : ready) events_.OnRequest(std::move(r));
  return nghttp2_session_want_read(session_) != 0;
}

void ServerSession::Drain(std::string& out, size_t max) {
  while (out.size() < max) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) {
      if (n < 0) failed_ = true;
      break;
    }
    out.append(View(data, static_cast<size_t>(n)));
  }
}

bool ServerSession::WantWrite() const { return nghttp2_session_want_write(session_) != 0; }

bool ServerSession::Alive() const {
  return !failed_ && !flooded_ &&
         (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

bool ServerSession::Respond(int32_t stream_id, const http::ResponseHead& head,
                            ResponseSource* body) {
  char status[4] = {static_cast<char>('0' + head.status / 100 % 10),
                    static_cast<char>('0' + head.status / 10 % 10),
                    static_cast<char>('0' + head.status % 10), 0};
  std::string length;
  size_t names = 0;
  for (const HeaderField& f : head.headers) names += f.name.size();
  scratch_.clear();
  scratch_.reserve(names);
  std::vector<nghttp2_nv>& nva = nva_;
  nva.clear();
  // A value unique to each response (x-request-id) is never entered in the HPACK table: it
  // would only push out the fields that repeat.
  auto add = [&nva](std::string_view n, std::string_view v, uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                   flags});
  };
  add(":status", std::string_view(status, 3));
  for (const HeaderField& f : head.headers) {
    const size_t at = scratch_.size();
    for (char ch : f.name) scratch_ += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    const std::string_view name(scratch_.data() + at, f.name.size());
    // Connection-specific fields are malformed in HTTP/2 (RFC 9113 8.2.2).
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
        name == "transfer-encoding" || name == "upgrade" || name == "content-length") {
      continue;
    }
    add(name, f.value, name == "x-request-id" ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE);
  }
  if (head.content_length) {
    char digits[24];
    char* end = digits + sizeof(digits);
    char* p = end;
    uint64_t v = *head.content_length;
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    length.assign(p, end);
    add("content-length", length);
  }
  nghttp2_data_provider prd;
  prd.source.ptr = body;
  prd.read_callback = &Callbacks::Read;
  return nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(),
                                 body != nullptr ? &prd : nullptr) == 0;
}

void ServerSession::Resume(int32_t stream_id) { nghttp2_session_resume_data(session_, stream_id); }

void ServerSession::Reset(int32_t stream_id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
}

void ServerSession::Shutdown() {
  if (shutdown_) return;
  shutdown_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void ServerSession::Terminate(uint32_t error_code) {
  if (failed_) return;
  nghttp2_session_terminate_session(session_, error_code);
  failed_ = true;
}

TimePoint ServerSession::NextDeadline() const {
  TimePoint next = TimePoint::max();
  for (const auto& [id, req] : arriving_) next = std::min(next, req->deadline);
  return next;
}

bool ServerSession::Expire() {
  const TimePoint now = clock_.Now();
  std::vector<int32_t> late;
  for (const auto& [id, req] : arriving_) {
    if (req->deadline > now) continue;
    // HPACK state is shared: a header block left unfinished stalls the whole connection.
    if (!req->headers_done) {
      Terminate(NGHTTP2_NO_ERROR);
      return false;
    }
    late.push_back(id);
  }
  for (int32_t id : late) {
    auto it = arriving_.find(id);
    if (it->second->error) continue;
    Refuse(*it->second, ErrorKind::kRequestTimeout, "request body not received in time");
  }
  std::vector<std::unique_ptr<StreamRequest>> ready = std::move(ready_);
  ready_.clear();
  for (auto& r : ready) events_.OnRequest(std::move(r));
  return true;
}

std::unique_ptr<StreamRequest> ServerSession::TakeRequest() {
  if (spare_.empty()) return std::make_unique<StreamRequest>();
  std::unique_ptr<StreamRequest> req = std::move(spare_.back());
  spare_.pop_back();
  return req;
}

void ServerSession::Recycle(std::unique_ptr<StreamRequest> req) {
  if (!req || spare_.size() >= kSpareRequests) return;
  // Buffers keep their capacity for the next request, unless one request made them large.
  constexpr size_t kKeep = 64 * 1024;
  req->request = http::Request{};
  req->error.reset();
  req->fields.clear();
  req->headers.clear();
  req->offsets.clear();
  req->path_storage.clear();
  req->body.clear();
  if (req->body.capacity() > kKeep) std::string().swap(req->body);
  if (req->fields.capacity() > kKeep) std::string().swap(req->fields);
  req->header_bytes = 0;
  req->header_count = 0;
  req->headers_done = req->in_trailers = false;
  spare_.push_back(std::move(req));
}

size_t ServerSession::open_streams() const { return arriving_.size() + handed_.size(); }

bool ServerSession::Count(Flood kind, uint64_t limit) {
  if (flooded_) return false;
  FloodWindow& w = floods_[static_cast<size_t>(kind)];
  const TimePoint now = clock_.Now();
  if (w.start == TimePoint{} || now - w.start >= config_.flood_interval) {
    w.start = now;
    w.count = 0;
    if (kind == Flood::kWindowUpdates) data_frames_sent_ = 0;
  }
  if (++w.count <= limit) return true;
  Fail(kind);
  return false;
}

void ServerSession::Fail(Flood kind) {
  flooded_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  events_.OnFlood(kind);
}

void ServerSession::Refuse(StreamRequest& req, ErrorKind kind, std::string message) {
  if (req.error) return;
  req.error = Error{kind, std::move(message)};
  if (req.headers_done) Ready(req.stream_id);  // else at the end of the header block
}

// The pseudo-fields and fields of a complete header block, as the request the exchange sees.
// False: the request is refused (req.error).
bool ServerSession::FinishHead(StreamRequest& req) {
  // Cookie crumbs are joined into one field for the HTTP/1.1 backend (RFC 9113 8.2.3).
  size_t cookies = 0;
  for (size_t i = 0; i < req.offsets.size(); i += 4) {
    if (std::string_view(req.fields).substr(req.offsets[i], req.offsets[i + 1]) == "cookie")
      ++cookies;
  }
  if (cookies > 1) {
    std::string joined;
    for (size_t i = 0; i < req.offsets.size(); i += 4) {
      if (std::string_view(req.fields).substr(req.offsets[i], req.offsets[i + 1]) != "cookie")
        continue;
      if (!joined.empty()) joined += "; ";
      joined.append(req.fields, req.offsets[i + 2], req.offsets[i + 3]);
      req.offsets[i + 1] = 0;  // dropped below
    }
    req.offsets.push_back(static_cast<uint32_t>(req.fields.size()));
    req.offsets.push_back(6);
    req.fields += "cookie";
    req.offsets.push_back(static_cast<uint32_t>(req.fields.size()));
    req.offsets.push_back(static_cast<uint32_t>(joined.size()));
    req.fields += joined;
  }
  http::Request& r = req.request;
  std::string_view path, host;
  const std::string_view all(req.fields);
  req.headers.clear();
  req.headers.reserve(req.offsets.size() / 4);
  for (size_t i = 0; i < req.offsets.size(); i += 4) {
    if (req.offsets[i + 1] == 0) continue;
    const std::string_view name = all.substr(req.offsets[i], req.offsets[i + 1]);
    const std::string_view value = all.substr(req.offsets[i + 2], req.offsets[i + 3]);
    if (name == ":method") {
      r.method = value;
    } else if (name == ":scheme") {
      r.scheme = value;
    } else if (name == ":authority") {
      r.authority = value;
    } else if (name == ":path") {
      path = value;
    } else if (name[0] != ':') {
      if (name == "host" && host.empty()) host = value;
      req.headers.push_back({name, value});
    }
  }
  r.headers = req.headers;
  if (r.authority.empty()) r.authority = host;
  r.body = &req.body;
  if (req.body.capacity() < 64) req.body.reserve(64);
  if (req.error) return false;
  if (r.method == "CONNECT") {
    Refuse(req, ErrorKind::kMethodNotAllowed, "CONNECT is not supported");
    return false;
  }
  http::TargetParts parts;
  if (auto bad = http::ParseTarget(r.method, path, &parts)) {
    Refuse(req, ErrorKind::kBadRequest, std::move(*bad));
    return false;
  }
  if (parts.form == http::TargetForm::kAbsolute) {
    Refuse(req, ErrorKind::kBadRequest, ":path must be origin-form or \"*\" in HTTP/2");
    return false;
  }
  r.path = parts.path;
  r.path_and_query = parts.path_and_query;
  return true;
}

void ServerSession::Ready(int32_t stream_id) {
  auto it = arriving_.find(stream_id);
  if (it == arriving_.end()) return;
  std::unique_ptr<StreamRequest> req = std::move(it->second);
  arriving_.erase(it);
  if (!req->error) arriving_bytes_ -= req->body.size();
  if (req->body.capacity() < req->body.size() + 64) req->body.reserve(req->body.size() + 64);
  const uint64_t held = req->error ? 0 : req->body.size();
  handed_[stream_id] = Handed{false, held};
  held_bytes_ += held;
  ready_.push_back(std::move(req));
  ConsumeConnection(0);
}

// The connection's receive window is given back only while the request bodies it holds (still
// arriving, or complete on a stream still open) stay within max_connection_body_bytes: past it
// the client waits until streams end, so one connection cannot pile up bodies.
void ServerSession::ConsumeConnection(size_t n) {
  owed_window_ += n;
  const uint64_t budget = std::max(config_.max_connection_body_bytes, config_.max_body_bytes);
  if (owed_window_ == 0 || arriving_bytes_ + held_bytes_ > budget) return;
  nghttp2_session_consume_connection(session_, owed_window_);
  owed_window_ = 0;
}

void ServerSession::Forget(int32_t stream_id) {
  auto it = arriving_.find(stream_id);
  if (it == arriving_.end()) return;
  if (!it->second->error) arriving_bytes_ -= it->second->body.size();
  std::unique_ptr<StreamRequest> req = std::move(it->second);
  arriving_.erase(it);
  Recycle(std::move(req));
  ConsumeConnection(0);
}

}  // namespace infergate::h2
