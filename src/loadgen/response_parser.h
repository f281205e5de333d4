// Incremental HTTP/1.1 response parser for infergate-loadgen: status line and the few headers a
// load generator needs, bodies framed by Content-Length, chunked coding or the connection's end,
// and an SSE splitter that cuts a streamed body into events on blank lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::loadgen {

class ResponseParser {
 public:
  enum class Status { kNeedMore, kComplete, kError };

  // Receives the de-chunked body; the view is valid only during the call.
  class BodySink {
   public:
    virtual ~BodySink() = default;
    virtual void OnBody(std::string_view data) = 0;
  };

  void Reset();
  // Parses a prefix of `data`; `*consumed` says how many bytes were used. Bytes of an incomplete
  // head or chunk-size line are left unconsumed and must be presented again with more data.
  // Stops after the end of a response (kComplete); whatever follows belongs to the next one.
  Status Feed(std::string_view data, size_t* consumed, BodySink* sink);
  // The peer closed the connection: completes a close-delimited body, else an error.
  Status FeedEof();

  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  bool head_done() const { return state_ != State::kHead; }
  // Whether a chunked body ended with its terminating zero-size chunk.
  bool saw_last_chunk() const { return saw_last_chunk_; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kHead, kLength, kChunkSize, kChunkData, kChunkEnd, kTrailers, kToEof, kDone };
  Status Fail(std::string message);
  bool ParseHead(std::string_view head);

  State state_ = State::kHead;
  int status_ = 0;
  bool keep_alive_ = true;
  bool saw_last_chunk_ = false;
  uint64_t remaining_ = 0;
  std::string error_;
};

// Splits an SSE body into events at "\n\n"; pieces may end anywhere.
class SseSplitter {
 public:
  // Calls on_event(event_text_without_the_blank_line) for each complete event.
  template <typename F>
  void Feed(std::string_view data, F&& on_event) {
    size_t start = 0;
    if (!pending_.empty()) {
      // An event may straddle pieces: join, then scan from just before the join point.
      const size_t scan_from = pending_.size() - 1;
      pending_.append(data);
      size_t end = pending_.find("\n\n", scan_from);
      if (end == std::string::npos) return;
      on_event(std::string_view(pending_).substr(0, end));
      start = end + 2 - (pending_.size() - data.size());
      pending_.clear();
    }
    while (start < data.size()) {
      size_t end = data.find("\n\n", start);
      if (end == std::string_view::npos) {
        pending_.assign(data.substr(start));
        return;
      }
      on_event(data.substr(start, end - start));
      start = end + 2;
    }
  }
  void Reset() { pending_.clear(); }
  bool empty() const { return pending_.empty(); }

 private:
  std::string pending_;
};

}  // namespace infergate::loadgen
