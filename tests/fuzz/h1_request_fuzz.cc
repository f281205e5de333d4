// Fuzz driver for the HTTP/1.1 request decoder: feeds the input the way a connection does, in
// slices whose sizes derive from the input, and aborts on any broken invariant.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "infergate/http/h1_codec.h"
#include "slicer.h"

namespace {

using infergate::ErrorKind;
using infergate::http::RequestDecoder;
using infergate::http::RequestHead;
using infergate::http::RequestLimits;

void Require(bool ok) {
  if (!ok) std::abort();
}

using infergate::fuzz::Slicer;

// Reads every byte the head's views point at (a dangling view shows up under ASan) and checks
// what the decoder promises about a head it accepted.
void CheckHead(const RequestHead& h, const RequestLimits& limits) {
  size_t sum = h.method.size() + h.target.size() + h.path.size() + h.host.size();
  for (char c : h.method) sum += static_cast<unsigned char>(c);
  for (char c : h.target) sum += static_cast<unsigned char>(c);
  for (char c : h.path) sum += static_cast<unsigned char>(c);
  for (const auto& f : h.headers) {
    for (char c : f.name) sum += static_cast<unsigned char>(c);
    for (char c : f.value) sum += static_cast<unsigned char>(c);
  }
  Require(sum != SIZE_MAX);
  Require(!h.method.empty() && h.method != "CONNECT");
  Require(!h.target.empty());
  // A path, or "*" for OPTIONS (asterisk-form); the forwarded target starts with the path.
  Require(!h.path.empty() && (h.path.front() == '/' || (h.path == "*" && h.method == "OPTIONS")));
  Require(h.path_and_query.substr(0, h.path.size()) == h.path);
  Require(h.version == 10 || h.version == 11);
  Require(h.headers.size() <= limits.max_headers);
  Require(!(h.chunked && h.content_length));
  Require(!h.chunked || h.version == 11);
  Require(!h.content_length || *h.content_length <= limits.max_body_bytes);
  Require(h.version == 10 || !h.host.empty() || h.Has("host"));
}

}  // namespace

extern "C" int FuzzH1Request(const uint8_t* data, size_t size) {
  Slicer slicer(std::string_view(reinterpret_cast<const char*>(data), size));
  RequestLimits limits;
  if (slicer.Next() % 2 == 0) {  // small limits half the time, so they are reached
    limits.max_header_bytes = 512;
    limits.max_headers = 8;
    limits.max_body_bytes = 128;
  }
  RequestDecoder decoder(limits);
  std::string pending;  // received and not yet consumed, as a connection keeps it
  bool head_reported = false;
  for (;;) {
    size_t consumed = 0;
    auto result = decoder.Feed(pending, &consumed);
    Require(consumed <= pending.size());
    pending.erase(0, consumed);
    if (!result.ok()) {
      ErrorKind kind = result.error().kind;
      Require(kind == ErrorKind::kBadRequest || kind == ErrorKind::kHeaderTooLarge ||
              kind == ErrorKind::kBodyTooLarge || kind == ErrorKind::kMethodNotAllowed);
      break;  // the connection would answer and close
    }
    if (*result == RequestDecoder::Status::kHeadComplete) {
      Require(!head_reported);
      head_reported = true;
      CheckHead(decoder.head(), limits);
      continue;
    }
    if (*result == RequestDecoder::Status::kComplete) {
      CheckHead(decoder.head(), limits);
      const std::string& body = decoder.body();
      Require(body.size() <= limits.max_body_bytes);
      Require(body.capacity() - body.size() >= 64);
      if (decoder.head().content_length) Require(body.size() == *decoder.head().content_length);
      if (!decoder.head().content_length && !decoder.head().chunked) Require(body.empty());
      decoder.Reset();  // the next pipelined request, if any, is in `pending`
      head_reported = false;
      continue;
    }
    if (slicer.done()) break;
    pending.append(slicer.Take());
  }
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzH1Request(data, size);
}
#endif
