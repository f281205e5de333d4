// Minimal, strict HTTP/1.1 request parsing for the mock server: the request head (request line
// and header fields) and an incremental body decoder for Content-Length and chunked framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::mock {

// True when `a` equals `lower` ignoring ASCII case; `lower` must be lower-case.
bool EqualsLower(std::string_view a, std::string_view lower);

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// A parsed request head. Views point into `text`, a private copy of the head bytes, so they stay
// valid while the connection's input buffer moves.
struct RequestHead {
  std::string text;
  std::string_view method;
  std::string_view target;
  int version_minor = 1;
  std::vector<HeaderField> fields;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;

  std::string_view Path() const;
  bool HasBody() const { return chunked || content_length > 0; }
};

enum class HeadStatus { kIncomplete, kDone, kBad, kTooLarge };

// Parses one request head from the front of `data`. On kDone, `*consumed` is the number of bytes
// of `data` the head took (including leading empty lines and the final blank line).
HeadStatus ParseRequestHead(std::string_view data, size_t max_size, RequestHead* head,
                            size_t* consumed);

// Decodes a request body incrementally, appending payload bytes to an output string.
class BodyDecoder {
 public:
  enum class Status { kNeedMore, kDone, kError };

  void Reset(bool chunked, uint64_t content_length);
  // Consumes a prefix of [data, data + size); `*consumed` says how much. Bytes that belong to a
  // line not yet complete are left unconsumed.
  Status Feed(const char* data, size_t size, std::string* out, size_t* consumed);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kLength, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone };
  State state_ = State::kDone;
  uint64_t remaining_ = 0;
};

}  // namespace infergate::mock
