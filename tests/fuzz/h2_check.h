// The HTTP/2 mode of the server-path fuzz driver (h1_server_fuzz.cc), its checks: a model of what
// the client's bytes can make the gateway do (decoded with nghttp2's own HPACK decoder), and the
// check of what the gateway wrote back to each client.
#pragma once

#include "h2_input.h"

namespace infergate::fuzz::h2fuzz {

// ---- what the client's bytes can make the gateway do

// nghttp2's HPACK decoder, as the gateway's codec (and a client) runs it.
class Inflater {
 public:
  Inflater() { nghttp2_hd_inflate_new(&hd_); }
  ~Inflater() { nghttp2_hd_inflate_del(hd_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Decodes a whole header block, calling on_field(name, value); false if it does not decode.
  template <typename OnField>
  bool Block(std::string_view block, OnField&& on_field) {
    const auto* in = reinterpret_cast<const uint8_t*>(block.data());
    size_t len = block.size();
    while (true) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t rv = nghttp2_hd_inflate_hd2(hd_, &nv, &flags, in, len, 1);
      if (rv < 0) return false;
      in += rv;
      len -= static_cast<size_t>(rv);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        on_field(std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen),
                 std::string_view(reinterpret_cast<const char*>(nv.value), nv.valuelen));
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(hd_);
        return true;
      }
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && len == 0) return true;
    }
  }

 private:
  nghttp2_hd_inflater* hd_ = nullptr;
};

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string_view payload;
};

// The next whole frame at the front of `bytes`; false when none is left whole.
inline bool NextFrame(std::string_view& bytes, Frame* f) {
  if (bytes.size() < 9) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t len = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
  if (bytes.size() < 9 + len) return false;
  f->type = p[3];
  f->flags = p[4];
  f->stream =
      ((uint32_t{p[5]} << 24) | (uint32_t{p[6]} << 16) | (uint32_t{p[7]} << 8) | p[8]) & 0x7fffffff;
  f->payload = bytes.substr(9, len);
  bytes.remove_prefix(9 + len);
  return true;
}

// A DATA or HEADERS payload without padding and priority fields; false when the padding does
// not fit (a connection error).
inline bool StripPadding(Frame& f) {
  if (f.flags & 0x8) {
    if (f.payload.empty()) return false;
    const size_t pad = static_cast<uint8_t>(f.payload[0]);
    if (pad >= f.payload.size()) return false;
    f.payload = f.payload.substr(1, f.payload.size() - 1 - pad);
  }
  if (f.type == frames::kHeaders && (f.flags & 0x20)) {
    if (f.payload.size() < 5) return false;
    f.payload.remove_prefix(5);
  }
  return true;
}

// An over-approximation of what the gateway can take from the client's bytes: every request
// head the bytes hold (nghttp2 decodes all of them), every stream they end.
struct ClientModel {
  std::vector<std::string> methods;
  std::vector<std::string> targets;  // path_and_query of each :path that parses
  std::set<uint32_t> referenced;     // every stream id in a frame header
  std::set<uint32_t> opened;         // streams with a HEADERS frame
  std::set<uint32_t> head_requests;  // streams whose :method is HEAD
  std::set<uint32_t> completed;      // streams the client ended (END_STREAM)
  std::set<std::string> ping_payloads;
  uint64_t pings = 0;     // PING frames without ACK
  uint64_t settings = 0;  // SETTINGS frames without ACK
  uint64_t max_frame = 16384;
  uint64_t max_stream_window = 65535;
  bool table_size_set = false;  // SETTINGS_HEADER_TABLE_SIZE sent: the server's HPACK may differ
  uint64_t connection_credit = 65535;
  std::map<uint32_t, uint64_t> stream_credit;  // WINDOW_UPDATE increments per stream
};

inline ClientModel ModelClient(std::string_view bytes) {
  ClientModel m;
  bytes.remove_prefix(std::min(bytes.size(), frames::kPreface.size()));
  Inflater hpack;
  std::set<uint32_t> requests;  // streams whose first header block was decoded
  std::string block;
  uint32_t block_stream = 0;
  bool block_end_stream = false;
  bool in_block = false;
  Frame f;
  while (NextFrame(bytes, &f)) {
    if (f.stream != 0) m.referenced.insert(f.stream);
    if (in_block && (f.type != frames::kContinuation || f.stream != block_stream)) break;
    switch (f.type) {
      case frames::kHeaders:
        if (!StripPadding(f)) return m;
        m.opened.insert(f.stream);
        block.assign(f.payload);
        block_stream = f.stream;
        block_end_stream = f.flags & frames::kEndStream;
        in_block = true;
        break;
      case frames::kContinuation:
        if (!in_block) return m;
        block.append(f.payload);
        break;
      case frames::kData:
        if (f.flags & frames::kEndStream) m.completed.insert(f.stream);
        break;
      case frames::kSettings:
        if (f.flags & frames::kAck) break;
        ++m.settings;
        for (size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
          const auto* e = reinterpret_cast<const uint8_t*>(f.payload.data() + i);
          const uint16_t id = static_cast<uint16_t>((e[0] << 8) | e[1]);
          const uint64_t v =
              (uint64_t{e[2]} << 24) | (uint64_t{e[3]} << 16) | (uint64_t{e[4]} << 8) | e[5];
          if (id == 1) m.table_size_set = true;
          if (id == 4) m.max_stream_window = std::max(m.max_stream_window, v);
          if (id == 5) m.max_frame = std::max(m.max_frame, v);
        }
        break;
      case frames::kPing:
        if (f.flags & frames::kAck) break;
        ++m.pings;
        m.ping_payloads.emplace(f.payload);
        break;
      case frames::kWindowUpdate:
        if (f.payload.size() == 4) {
          const auto* e = reinterpret_cast<const uint8_t*>(f.payload.data());
          const uint64_t v =
              ((uint64_t{e[0]} << 24) | (uint64_t{e[1]} << 16) | (uint64_t{e[2]} << 8) | e[3]) &
              0x7fffffff;
          (f.stream == 0 ? m.connection_credit : m.stream_credit[f.stream]) += v;
        }
        break;
      default:
        break;
    }
    if (!in_block || !(f.flags & frames::kEndHeaders)) continue;
    in_block = false;
    if (block_end_stream) m.completed.insert(block_stream);
    std::string method, path;
    const bool ok = hpack.Block(block, [&](std::string_view n, std::string_view v) {
      if (n == ":method") method = v;
      if (n == ":path") path = v;
    });
    if (!ok) return m;  // a compression error ends the connection
    // The request is a stream's first header block; a later one (trailers, or a protocol error)
    // does not make it HEAD.
    const bool request = requests.insert(block_stream).second;
    if (method.empty()) continue;
    m.methods.push_back(method);
    if (method == "HEAD" && request) m.head_requests.insert(block_stream);
    http::TargetParts parts;
    if (!http::ParseTarget(method, path, &parts)) m.targets.emplace_back(parts.path_and_query);
  }
  return m;
}

// The frames in `bytes` one a line, for INFERGATE_FUZZ_VERBOSE (header blocks left encoded).
inline std::string Describe(std::string_view bytes) {
  static constexpr const char* kNames[] = {
      "DATA",         "HEADERS", "PRIORITY", "RST_STREAM",    "SETTINGS",
      "PUSH_PROMISE", "PING",    "GOAWAY",   "WINDOW_UPDATE", "CONTINUATION"};
  std::string out;
  Frame f;
  while (NextFrame(bytes, &f)) {
    char line[160];
    std::snprintf(line, sizeof(line), "%s flags=0x%02x stream=%u length=%zu",
                  f.type < 10 ? kNames[f.type] : "UNKNOWN", f.flags, f.stream, f.payload.size());
    out += line;
    if (f.type == frames::kRstStream || f.type == frames::kGoaway) {
      const uint32_t code = frames::ParsedFrame{f.type, 0, 0, std::string(f.payload)}.ErrorCode();
      std::snprintf(line, sizeof(line), " error=%u", code);
      out += line;
    }
    if (f.type == frames::kData) out.append(" ").append(f.payload.substr(0, 60));
    out += '\n';
  }
  if (!bytes.empty()) out += "(" + std::to_string(bytes.size()) + " bytes of a cut frame)\n";
  return out;
}

// ---- what the gateway wrote to one client

struct Expect {
  const ClientModel* model = nullptr;
  std::set<std::string> cut_markers;  // x-fuzz-answer values found only in cut answers
  bool partial_ok = false;            // the last frame may be cut (the connection was dropped)
  const config::Http2Config* limits = nullptr;
  Duration elapsed{};  // the gateway's time the input took
};

struct StreamOut {
  bool head = false;  // the final response head came
  bool ended = false;
  bool reset = false;
  bool cut_answer = false;
  bool no_body = false;  // HEAD, 204, 304
  int64_t content_length = -1;
  uint64_t data = 0;
};

// A Content-Length value; -2 when it is not a number.
inline int64_t ParseLength(std::string_view v) {
  if (v.empty() || v.size() > 15) return -2;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -2;
    n = n * 10 + (c - '0');
  }
  return n;
}

inline uint64_t Credit(const std::map<uint32_t, uint64_t>& credits, uint32_t stream) {
  auto it = credits.find(stream);
  return it == credits.end() ? 0 : it->second;
}

// Frames that parse, SETTINGS first, only on streams the client opened and within the windows it
// gave; per stream one final head with :status and x-request-id, a body that fits its
// Content-Length (none for HEAD), nothing after END_STREAM or RST_STREAM, no END_STREAM after
// the head of an answer the upstream cut.
inline void CheckOutput(std::string_view out, const Expect& e) {
  const ClientModel& m = *e.model;
  Inflater hpack;
  std::map<uint32_t, StreamOut> streams;
  std::string block;
  uint32_t block_stream = 0;
  uint8_t block_flags = 0;
  bool in_block = false;
  bool first = true;
  uint64_t ping_acks = 0, settings_acks = 0, data_total = 0;
  uint32_t goaway_last = 0x7fffffff;
  Frame f;
  while (NextFrame(out, &f)) {
    Require(f.payload.size() <= m.max_frame, "a frame larger than the client allows");
    Require(!first || (f.type == frames::kSettings && !(f.flags & frames::kAck)),
            "the gateway's first frame is not SETTINGS");
    first = false;
    Require(!in_block || (f.type == frames::kContinuation && f.stream == block_stream),
            "a header block interrupted");
    const bool zero =
        f.type == frames::kSettings || f.type == frames::kPing || f.type == frames::kGoaway;
    Require(zero == (f.stream == 0) || f.type == frames::kWindowUpdate,
            "a frame on the wrong stream (0 or not)");
    Require(f.stream == 0 || m.referenced.contains(f.stream),
            "a frame on a stream the client never named");
    StreamOut& s = streams[f.stream];
    switch (f.type) {
      case frames::kSettings:
        Require(f.payload.size() % 6 == 0, "SETTINGS of a bad length");
        if (f.flags & frames::kAck) {
          Require(f.payload.empty(), "SETTINGS ACK with a payload");
          ++settings_acks;
        }
        break;
      case frames::kPing:
        Require(f.payload.size() == 8 && (f.flags & frames::kAck), "a PING that is not an ACK");
        Require(m.ping_payloads.contains(std::string(f.payload)), "a PING ACK nobody sent");
        ++ping_acks;
        break;
      case frames::kGoaway: {
        Require(f.payload.size() >= 8, "GOAWAY too short");
        const uint32_t last =
            frames::ParsedFrame{0, 0, 0, std::string(f.payload)}.GoawayLastStream();
        Require(last <= goaway_last, "GOAWAY raised its last stream id");
        goaway_last = last;
        break;
      }
      case frames::kWindowUpdate:
        Require(f.payload.size() == 4, "WINDOW_UPDATE of a bad length");
        break;
      case frames::kRstStream:
        Require(f.payload.size() == 4, "RST_STREAM of a bad length");
        s.reset = true;
        break;
      case frames::kData:
        Require(StripPadding(f), "DATA with bad padding");
        Require(s.head && !s.ended && !s.reset, "DATA without a head, or after the stream ended");
        s.data += f.payload.size();
        data_total += f.payload.size();
        Require(data_total <= m.connection_credit, "DATA beyond the connection's window");
        Require(s.data <= m.max_stream_window + Credit(m.stream_credit, f.stream),
                "DATA beyond the stream's window");
        Require(!s.no_body || f.payload.empty(), "a body for HEAD, 204 or 304");
        Require(s.content_length < 0 || s.data <= static_cast<uint64_t>(s.content_length),
                "a body longer than its Content-Length");
        if (f.flags & frames::kEndStream) {
          s.ended = true;
          Require(s.content_length < 0 || s.no_body ||
                      s.data == static_cast<uint64_t>(s.content_length),
                  "a body shorter than its Content-Length ended with END_STREAM");
          Require(!s.cut_answer, "END_STREAM after an answer the upstream cut");
        }
        break;
      case frames::kHeaders:
        Require(StripPadding(f), "HEADERS with bad padding");
        Require(m.opened.contains(f.stream), "HEADERS on a stream the client never opened");
        Require(f.stream <= goaway_last, "a response on a stream above GOAWAY's last stream id");
        Require(!s.ended && !s.reset, "HEADERS after the stream ended");
        block.assign(f.payload);
        block_stream = f.stream;
        block_flags = f.flags;
        in_block = true;
        break;
      case frames::kContinuation:
        Require(in_block, "CONTINUATION without HEADERS");
        block.append(f.payload);
        block_flags |= f.flags & frames::kEndHeaders;
        break;
      default:
        Fail("a frame of a type the gateway never sends");
    }
    if (!in_block || !(block_flags & frames::kEndHeaders)) continue;
    in_block = false;
    StreamOut& h = streams[block_stream];
    std::string status;
    bool request_id = false, pseudo_late = false, regular = false;
    std::string marker;
    const bool ok = hpack.Block(block, [&](std::string_view n, std::string_view v) {
      if (n == ":status") status = v;
      pseudo_late |= !n.empty() && n[0] == ':' && regular;
      regular |= n.empty() || n[0] != ':';
      request_id |= n == "x-request-id";
      if (n == "content-length") h.content_length = ParseLength(v);
      if (n == "x-fuzz-answer") marker = v;
    });
    Require(ok || m.table_size_set, "the gateway's HPACK does not decode");
    if (!ok) return;  // the client changed the table size: no longer followed
    Require(!pseudo_late, "a pseudo-field after a regular field");
    const bool end = block_flags & frames::kEndStream;
    if (h.head) {
      Require(status.empty() && end, "a second response head (trailers without END_STREAM)");
    } else {
      const int code = static_cast<int>(Number(status, 0));
      Require(status.size() == 3 && code >= 200 && code <= 599,
              "a response without a final status");
      Require(request_id, "a response without x-request-id");
      Require(h.content_length != -2, "a Content-Length that is not a number");
      h.head = true;
      h.no_body = m.head_requests.contains(block_stream) || code == 204 || code == 304;
      h.cut_answer = !marker.empty() && e.cut_markers.contains(marker) &&
                     !m.head_requests.contains(block_stream);
    }
    if (end) {
      Require(!h.cut_answer, "END_STREAM on the head of an answer the upstream cut");
      Require(
          h.content_length <= 0 || h.no_body || h.data == static_cast<uint64_t>(h.content_length),
          "END_STREAM before the body its Content-Length announced");
      h.ended = true;
    }
  }
  Require((out.empty() && !in_block) || e.partial_ok, "the gateway's output ends inside a frame");
  Require(settings_acks <= m.settings, "more SETTINGS ACKs than SETTINGS");
  Require(ping_acks <= m.pings, "more PING ACKs than PINGs");
  if (e.elapsed < e.limits->flood_interval) {  // one flood interval: each count applies whole
    Require(ping_acks <= e.limits->max_pings_per_interval + 1,
            "the PING flood defence did not trip");
    Require(settings_acks <= e.limits->max_settings_per_interval + 1,
            "the SETTINGS flood defence did not trip");
  }
}

}  // namespace infergate::fuzz::h2fuzz
