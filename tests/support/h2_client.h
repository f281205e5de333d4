// A blocking HTTP/2 client for integration tests: nghttp2's client session over a loopback TCP
// connection (h2c with prior knowledge), driven until a condition holds or a timeout passes.
// Records what a test asserts on: each stream's status, headers, body, DATA frames, how it
// closed (END_STREAM or RST_STREAM and its code), and the GOAWAY the server sent. Raw bytes can
// be sent on the same connection for attacks no client library makes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nghttp2_session;

namespace infergate::testing {

class H2Client {
 public:
  struct Stream {
    int status = 0;
    std::multimap<std::string, std::string> headers;
    std::string body;
    size_t data_frames = 0;   // DATA frames with a payload
    bool end_stream = false;  // the response ended normally
    bool closed = false;
    uint32_t close_code = 0;  // RST_STREAM code, 0 when ended normally
    std::string Header(const std::string& name) const;
  };

  // Connects to 127.0.0.1:port and sends the preface and SETTINGS (`settings`: id, value).
  explicit H2Client(uint16_t port, std::vector<std::pair<int32_t, uint32_t>> settings = {});
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Queues a request; returns its stream id (sent by the next Run).
  int32_t Submit(const std::string& method, const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 std::optional<std::string> body = std::nullopt);
  // Sends RST_STREAM now.
  void Reset(int32_t stream, uint32_t code = 8 /* CANCEL */);
  // Sends what the session has queued. False: the connection is closed.
  bool Flush();
  // Sends bytes as they are, outside the session (raw frames after the preface).
  bool SendRaw(const std::string& bytes);

  // Sends and receives until `done()` holds (true) or `timeout` passes or the connection closes
  // (false, unless done() then holds).
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool WaitClosed(int32_t stream, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return RunUntil([&] { return streams[stream].closed; }, timeout);
  }

  std::map<int32_t, Stream> streams;
  std::optional<uint32_t> goaway_code;
  int32_t goaway_last_stream = -1;
  bool peer_closed = false;

 private:
  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  struct Body;
  std::map<int32_t, std::unique_ptr<Body>> bodies_;
  friend struct H2ClientCallbacks;
};

}  // namespace infergate::testing
