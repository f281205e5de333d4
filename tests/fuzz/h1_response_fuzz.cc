// Fuzz driver for the HTTP/1.1 response decoder: feeds the input as backend bytes in slices
// whose sizes derive from the input, then the close, and aborts on any broken invariant.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "infergate/http/h1_codec.h"
#include "slicer.h"

namespace {

using infergate::ErrorKind;
using infergate::http::H1ResponseHead;
using infergate::http::ResponseDecoder;
using infergate::http::ResponseSink;

void Require(bool ok) {
  if (!ok) std::abort();
}

using infergate::fuzz::Slicer;

// Checks the order of sink calls and that the body matches the framing the head announced.
class CheckingSink : public ResponseSink {
 public:
  void OnHead(const H1ResponseHead& head) override {
    Require(heads_ == 0 && body_bytes_ == 0);
    ++heads_;
    Require(head.status >= 100 && head.status <= 999);
    Require(head.version == 10 || head.version == 11);
    Require(!(head.chunked && head.content_length));
    size_t sum = head.reason.size();
    for (const auto& f : head.headers) sum += f.name.size() + f.value.size();
    Require(sum != SIZE_MAX);
    has_body_ = head.has_body;
    content_length_ = head.content_length;
    chunked_ = head.chunked;
  }
  void OnBody(std::string_view data) override {
    Require(heads_ == 1);
    Require(has_body_);
    Require(!data.empty());
    body_bytes_ += data.size();
    if (content_length_ && !chunked_) Require(body_bytes_ <= *content_length_);
  }
  void CheckComplete() const {
    Require(heads_ == 1);
    if (!has_body_) Require(body_bytes_ == 0);
    if (has_body_ && content_length_) Require(body_bytes_ == *content_length_);
  }
  void Reset() { *this = CheckingSink(); }

 private:
  int heads_ = 0;
  uint64_t body_bytes_ = 0;
  bool has_body_ = false;
  bool chunked_ = false;
  std::optional<uint64_t> content_length_;
};

}  // namespace

extern "C" int FuzzH1Response(const uint8_t* data, size_t size) {
  Slicer slicer(std::string_view(reinterpret_cast<const char*>(data), size));
  ResponseDecoder decoder;
  CheckingSink sink;
  auto start = [&] {
    uint64_t r = slicer.Next();
    decoder.Start(/*head_request=*/r % 4 == 0, (r >> 8) % 2 ? 64 * 1024 : 512);
    sink.Reset();
  };
  start();
  std::string pending;  // received and not yet consumed
  for (;;) {
    size_t consumed = 0;
    auto result = decoder.Feed(pending, &consumed, sink);
    Require(consumed <= pending.size());
    pending.erase(0, consumed);
    if (!result.ok()) {
      Require(result.error().kind == ErrorKind::kBadUpstreamResponse);
      return 0;  // the proxy would drop the connection
    }
    if (*result == ResponseDecoder::Status::kComplete) {
      Require(decoder.head_done());
      sink.CheckComplete();
      if (!decoder.reusable()) return 0;
      start();  // the next response on a kept-alive connection (or the final one after a 1xx)
      continue;
    }
    if (slicer.done()) break;
    pending.append(slicer.Take());
  }
  // The backend closes the connection.
  bool head_done = decoder.head_done();
  auto result = decoder.FeedEof(sink);
  if (result.ok()) {
    Require(*result == ResponseDecoder::Status::kComplete);
    sink.CheckComplete();
  } else {
    Require(result.error().kind ==
            (head_done ? ErrorKind::kUpstreamBodyBroken : ErrorKind::kUpstreamReset));
  }
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzH1Response(data, size);
}
#endif
