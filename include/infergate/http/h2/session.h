// The HTTP/2 server codec on nghttp2's session API, without I/O: bytes from the client in,
// complete requests (or the error to answer instead) out; responses in, frames out as bytes for a
// writer the connection owns. It enforces the listener's request limits per stream (header list
// size and count after HPACK decoding, body size, header and body timeouts), bounds the request
// bytes a connection buffers through its flow-control window, and trips the flood defences
// (rapid reset, PING, SETTINGS, PRIORITY, WINDOW_UPDATE and empty-DATA floods; nghttp2's own
// CONTINUATION and ACK-queue limits) with GOAWAY(ENHANCE_YOUR_CALM). Time comes from a Clock so
// tests drive it by hand. Single-threaded.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/core/error.h"
#include "infergate/core/units.h"
#include "infergate/http/message.h"

#include <nghttp2/nghttp2.h>

namespace infergate::h2 {

// The client's connection preface (RFC 9113 3.4): a connection that starts with it speaks h2c.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct SessionConfig {
  uint32_t max_concurrent_streams = 100;         // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_stream_window = 65535;        // SETTINGS_INITIAL_WINDOW_SIZE (request bodies)
  uint32_t initial_connection_window = 1 << 20;  // the connection's receive window
  uint64_t max_header_bytes = 64 * 1024;         // decoded: names + values + 32 per field
  uint32_t max_headers = 100;                    // fields per request (pseudo-fields excluded)
  uint64_t max_body_bytes = 16 << 20;            // per request: 413 above
  // Request bodies one connection holds (arriving, or complete on open streams); past it the
  // connection's window stays shut until streams end. At least max_body_bytes.
  uint64_t max_connection_body_bytes = 64 << 20;
  Duration header_timeout = std::chrono::seconds(10);  // HEADERS to END_HEADERS: close
  Duration body_timeout = std::chrono::seconds(60);    // END_HEADERS to END_STREAM: 408
  // Flood defences: at most this many of each per connection and interval; one more sends
  // GOAWAY(ENHANCE_YOUR_CALM) and the connection closes.
  Duration flood_interval = std::chrono::seconds(10);
  uint32_t max_resets = 200;           // RST_STREAM from the client (rapid reset)
  uint32_t max_pings = 100;            // PING (not ACK)
  uint32_t max_settings = 100;         // SETTINGS (not ACK)
  uint32_t max_priority = 1000;        // PRIORITY
  uint32_t max_window_updates = 1000;  // WINDOW_UPDATE, plus one per DATA frame sent
  uint32_t max_empty_frames = 100;     // DATA without payload or END_STREAM
};

enum class Flood : uint8_t {
  kResets,
  kPings,
  kSettings,
  kPriority,
  kWindowUpdates,
  kEmptyFrames,
  kLibrary,  // nghttp2's own limits: CONTINUATION frames, queued PING/SETTINGS ACKs
};
inline constexpr size_t kFloodKinds = 7;
std::string_view FloodName(Flood kind);  // "resets", "pings", ...

// A request received on one stream. The connection owns it from OnRequest for as long as the
// request's exchange runs; `request` views its storage.
struct StreamRequest {
  int32_t stream_id = 0;
  http::Request request;
  // Set when the request is refused before any exchange (431, 413, 408, 400): answer it.
  std::optional<Error> error;

  std::string fields;  // pseudo-fields, names and values, back to back
  std::vector<HeaderField> headers;
  std::string path_storage;  // "/" + query for an empty :path of an absolute target
  std::string body;
  uint64_t header_bytes = 0;
  uint32_t header_count = 0;
  TimePoint deadline{};  // header, then body deadline, while the request is not complete
  bool headers_done = false;
  bool in_trailers = false;
  std::vector<uint32_t> offsets;  // per field: name start, name length, value start, length
};

// Body bytes of one response, pulled by the codec as flow control allows.
class ResponseSource {
 public:
  virtual ~ResponseSource() = default;
  // Copies up to `len` bytes to `buf` and returns how many; sets *eof with the last ones. 0
  // without eof: nothing yet (Resume once there is).
  virtual size_t Pull(uint8_t* buf, size_t len, bool* eof) = 0;
};

class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // A complete request, or one to refuse (req->error). Delivered after the bytes that completed
  // it were all processed, so a stream opened and reset in the same read never gets here.
  virtual void OnRequest(std::unique_ptr<StreamRequest> req) = 0;
  // A stream handed over by OnRequest closed: reset by the client (`by_client`), reset by us,
  // or ended normally (error_code 0).
  virtual void OnStreamClosed(int32_t stream_id, uint32_t error_code, bool by_client) = 0;
  // A flood defence tripped; GOAWAY(ENHANCE_YOUR_CALM) is queued and no new request follows.
  virtual void OnFlood(Flood kind) = 0;
};

// Counts per connection, for metrics.
struct SessionStats {
  uint64_t streams = 0;          // request streams opened by the client
  uint64_t client_resets = 0;    // RST_STREAM received
  uint64_t protocol_resets = 0;  // RST_STREAM(PROTOCOL_ERROR) sent: malformed streams
  uint64_t refused = 0;          // RST_STREAM(REFUSED_STREAM) sent: over the stream limit
};

class ServerSession {
 public:
  ServerSession(const SessionConfig& config, const Clock& clock, SessionEvents& events);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Processes bytes from the client (the preface first). False: the connection is finished as
  // far as reading goes (a protocol error, a flood, or GOAWAY both ways); send what is pending,
  // then close.
  bool Feed(std::string_view bytes);
  // Appends frames ready to send to `out` until it holds at least `max` bytes or none is left.
  void Drain(std::string& out, size_t max);
  bool WantWrite() const;
  // Whether the connection still has a use: false once GOAWAY was sent or received and no stream
  // is left.
  bool Alive() const;

  // The response head for a stream handed over by OnRequest; `body` (null: no body, END_STREAM
  // on the HEADERS frame) is pulled as the client's window allows. False: the stream is gone.
  bool Respond(int32_t stream_id, const http::ResponseHead& head, ResponseSource* body);
  // More body bytes (or the end) are ready for a stream whose source returned 0.
  void Resume(int32_t stream_id);
  // RST_STREAM with an HTTP/2 error code (NGHTTP2_INTERNAL_ERROR = 2, CANCEL = 8, ...).
  void Reset(int32_t stream_id, uint32_t error_code);
  // Graceful shutdown: GOAWAY with the last stream id processed; streams in flight finish, new
  // ones are refused.
  void Shutdown();
  // GOAWAY with `error_code` now; nothing more is read.
  void Terminate(uint32_t error_code);

  // The earliest header or body deadline of a request still arriving (TimePoint::max(): none).
  TimePoint NextDeadline() const;
  // Ends what is past its deadline: an unfinished header block closes the connection (false);
  // an unfinished body is refused with 408.
  bool Expire();

  // Gives back a request the connection is done with, so its buffers serve a later stream.
  void Recycle(std::unique_ptr<StreamRequest> req);

  // Streams open in nghttp2 (requests arriving and responses being sent).
  size_t open_streams() const;
  bool draining() const { return shutdown_; }
  const SessionStats& stats() const { return stats_; }

 private:
  friend struct Callbacks;
  struct FloodWindow {
    TimePoint start{};
    uint64_t count = 0;
  };
  static constexpr size_t kSpareRequests = 16;
  std::unique_ptr<StreamRequest> TakeRequest();
  bool Count(Flood kind, uint64_t limit);
  void Fail(Flood kind);
  void Refuse(StreamRequest& req, ErrorKind kind, std::string message);
  void Ready(int32_t stream_id);
  bool FinishHead(StreamRequest& req);
  void ConsumeConnection(size_t n);
  void Forget(int32_t stream_id);

  SessionConfig config_;
  const Clock& clock_;
  SessionEvents& events_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<StreamRequest>> arriving_;
  std::vector<std::unique_ptr<StreamRequest>> ready_;  // delivered at the end of Feed
  struct Handed {
    bool by_client = false;   // RST_STREAM received
    uint64_t body_bytes = 0;  // its request body, held until the stream closes
  };
  std::unordered_map<int32_t, Handed> handed_;  // streams given to the connection
  FloodWindow floods_[kFloodKinds];
  uint64_t data_frames_sent_ = 0;  // in the WINDOW_UPDATE window
  uint64_t arriving_bytes_ = 0;    // body bytes of requests not yet complete
  uint64_t held_bytes_ = 0;        // body bytes of complete requests on open streams
  uint64_t owed_window_ = 0;       // connection window not yet given back
  bool flooded_ = false;
  bool failed_ = false;
  bool shutdown_ = false;
  SessionStats stats_;
  std::string scratch_;  // lower-cased response header names
  std::vector<nghttp2_nv> nva_;
  std::vector<std::unique_ptr<StreamRequest>> spare_;  // recycled, buffers kept
};

}  // namespace infergate::h2
