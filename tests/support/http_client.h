// A blocking HTTP/1.1 test client on plain POSIX sockets: keep-alive, raw sends, chunked and
// close-delimited bodies, arrival times of every body piece, and detection of a cut stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Chunk {
  SteadyTime at;  // when the read that completed this piece returned
  std::string data;
};

// One server-sent event: its "data:" lines joined with '\n'.
struct SseEvent {
  SteadyTime at;  // arrival of the piece holding the event's terminating blank line
  std::string data;
};

struct HttpResponse {
  int status = 0;                     // 0: no response head was received
  std::vector<int> interim_statuses;  // 1xx heads ReadResponse skipped (e.g. 100 Continue)
  int http_minor = 1;                 // 0 for HTTP/1.0
  std::string reason;
  Headers headers;
  std::string body;  // de-chunked
  // The body ended per its framing: terminating zero chunk, full Content-Length, or a clean
  // EOF for a close-delimited body.
  bool complete = false;
  bool connection_closed = false;  // the peer closed (or reset) the connection
  bool reset = false;              // ... with ECONNRESET
  bool timed_out = false;
  bool chunked = false;
  int64_t content_length = -1;  // -1: no Content-Length
  // Body pieces in arrival order: one per HTTP chunk for chunked bodies, one per read
  // otherwise.
  std::vector<Chunk> chunks;
  SteadyTime sent_at;  // when the request was written (for raw sends: when reading began)
  SteadyTime head_at;  // when the response head was complete
  std::string error;   // why the response is missing or incomplete

  // Value of the first header named `name` (case-insensitive); "" if absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // SSE events parsed from the chunks ("data:" lines only; comments and other fields skipped).
  std::vector<SseEvent> Events() const;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // (Re)connects; an open connection is closed first.
  bool Connect(Millis timeout = Millis(5000));
  // Whether the connection can carry another request: open, not closed by the peer, and not
  // spent by a response that ended it (Connection: close, cut or timed-out body). A spent
  // connection stays open for IsClosedByPeer/SendRaw; the next Request reconnects.
  bool connected() const { return fd_ >= 0 && !peer_closed_ && !stale_; }
  // Writes all of `data` (false on error or when the peer does not take it in time).
  bool SendRaw(std::string_view data, Millis timeout = Millis(10000));
  // Sends a request (connecting first if needed) and reads its response. Adds Host, and
  // Content-Length when a body is given or the method is POST/PUT/PATCH, unless `headers`
  // already has them (or Transfer-Encoding).
  HttpResponse Request(std::string_view method, std::string_view target,
                       const Headers& headers = {}, std::string_view body = {},
                       Millis timeout = Millis(10000));
  HttpResponse Get(std::string_view target, const Headers& headers = {},
                   Millis timeout = Millis(10000));
  HttpResponse Post(std::string_view target, std::string_view body, const Headers& headers = {},
                    Millis timeout = Millis(10000));
  // Reads the next final response on the connection (after SendRaw), skipping interim 1xx
  // heads. `no_body` for answers to HEAD.
  HttpResponse ReadResponse(Millis timeout = Millis(10000), bool no_body = false);
  // Reads the next response head only, interim 1xx heads included; the body stays unread
  // (continue with ReadBody).
  HttpResponse ReadHead(Millis timeout = Millis(10000));
  // Reads the body of a response whose head ReadHead returned.
  void ReadBody(HttpResponse* response, Millis timeout = Millis(10000), bool no_body = false);
  // Waits until the server closes the connection (EOF or reset); data that arrives meanwhile is
  // kept for later reads. False on timeout.
  bool IsClosedByPeer(Millis timeout);
  void Close();
  // Closes with SO_LINGER 0 so the peer sees a reset.
  void Abort();

  uint16_t port() const { return port_; }

 private:
  enum class Fill { kData, kEof, kReset, kTimeout, kError };
  Fill FillBuffer(SteadyTime deadline);
  void Finish(HttpResponse* r, Fill why);

  uint16_t port_;
  std::string host_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed
  SteadyTime last_read_at_{};
  bool peer_closed_ = false;
  bool peer_reset_ = false;
  bool stale_ = false;
};

// JSON request bodies.
std::string ChatBody(std::string_view model, bool stream = false, bool include_usage = false,
                     std::string_view prompt = "Hello");
std::string CompletionBody(std::string_view model, bool stream = false,
                           std::string_view prompt = "Hello");

}  // namespace infergate::testing
