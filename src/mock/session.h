// One connection of the mock server, driven by Asio callbacks on exactly one io_context thread:
// it reads requests (session.cc), answers them (session_handlers.cc) and streams completions.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "infergate/core/units.h"
#include "mock/embeddings.h"
#include "mock/http_parse.h"
#include "mock/pacing.h"
#include "mock/requests.h"
#include "mock/responses.h"
#include "mock/responses_api.h"
#include "mock/shared_state.h"

namespace infergate::mock {

inline constexpr size_t kMaxHead = 64 * 1024;
inline constexpr uint64_t kMaxBody = 256ull << 20;
inline constexpr size_t kInitialBuffer = 16 * 1024;
inline constexpr size_t kMaxBuffer = 4 << 20;
inline constexpr size_t kMinRead = 4096;
inline constexpr auto kLingerTime = std::chrono::seconds(2);
inline constexpr std::string_view kJson = "application/json";

class Session : public std::enable_shared_from_this<Session> {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;
  using SteadyTime = std::chrono::steady_clock::time_point;

  Session(Shared& shared, tcp::socket socket);
  ~Session();

  void Start() { Process(); }

 private:
  enum class State {
    kHead,
    kBody,
    kReadDelay,
    kWaiting,
    kHanging,
    kStreaming,
    kWriting,
    kLingering,
    kClosed,
  };

  // ---- Input.

  // Keeps one read outstanding. The buffer is only compacted or grown here, when no read is
  // pending, so a pending read's target never moves.
  void StartRead();
  void OnRead(const error_code& ec, size_t n);
  void Process();
  void BeginRequest();
  // x-mock-* headers steer completions only: control endpoints always get the defaults.
  void ReadControls();
  void StartBody();
  // Nothing is read during the delay (so a large body backs up in TCP), but the socket is
  // polled for a peer hang-up.
  void PollDuringReadDelay();
  bool PeerHungUp();

  // ---- Request handling.

  void OnBodyComplete();
  // Chat, legacy completions and the Responses API: one answer of controls_.tokens tokens,
  // streamed or not.
  void HandleCompletion();
  void HandleEmbeddings();
  void HandleModels();
  void HandleModel();
  void AppendModelObject(std::string_view name);
  void HandleGauges();
  void ErrorResponse(int status, const std::string& message, std::string_view type,
                     std::string_view code, std::string_view param = {});
  // A malformed request: answer and close the connection.
  void ProtocolError(int status);

  // ---- Responses.

  void FormatResponse(int status, std::string_view content_type);
  void Respond(int status, std::string_view content_type);
  void RespondAfter(int status, std::string_view content_type, Duration delay);
  // Waits before answering while watching the peer; then writes out_ or, for
  // x-mock-close-after-tokens on a non-streaming request, drops the connection.
  void Wait(Duration delay);
  // Keeps a read pending so a peer close is seen at once. False when the peer is already gone.
  bool WatchPeer();
  void WriteResponse();
  void OnResponseWritten(const error_code& ec);

  // ---- Streaming.

  void StartStream();
  void NextStreamStep();
  void StreamEventDue();
  void AppendStreamHead();
  void WriteStreamTail();

  // ---- Endings.

  void EndRequest(bool completed);
  void ClientGone();
  void AbortConnection();
  void CloseNow();
  // After "Connection: close": send FIN, then drain until the peer closes (or a short time
  // passes) so unread input does not turn the close into a reset.
  void CloseGracefully();
  Shared& shared_;
  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  State state_ = State::kHead;

  std::string in_;
  size_t pos_ = 0;
  size_t len_ = 0;
  bool read_pending_ = false;
  bool eof_ = false;

  RequestHead head_;
  BodyDecoder decoder_;
  std::string body_;
  Endpoint endpoint_ = Endpoint::kUnknown;
  Controls controls_;
  CompletionRequest request_;
  bool in_request_ = false;
  bool counted_ = false;
  bool keep_alive_ = true;
  bool abort_after_wait_ = false;
  SteadyTime read_delay_until_;

  std::string response_id_;
  CompletionShape shape_;
  std::string item_id_;
  ResponsesShape responses_shape_;
  EmbeddingsRequest embeddings_;
  std::string resp_body_;
  std::string out_;

  bool streaming_ = false;
  SteadyTime stream_start_;
  int64_t stream_index_ = 0;
  int64_t stream_events_ = 0;
};

}  // namespace infergate::mock
