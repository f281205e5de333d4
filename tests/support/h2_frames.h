// Raw HTTP/2 frames for tests that must send what no well-behaved client would (floods, broken
// header blocks, HPACK bombs): frame builders, a literal-only HPACK encoder, and a parser for
// what the server sends back. RFC 9113 section 4 and 6; RFC 7541 section 6.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::testing::h2 {

enum FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum Flags : uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4 };

inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

inline void Put32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
}

inline std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f += static_cast<char>((n >> 16) & 0xff);
  f += static_cast<char>((n >> 8) & 0xff);
  f += static_cast<char>(n & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  Put32(f, stream & 0x7fffffff);
  f.append(payload);
  return f;
}

inline std::string Settings(const std::vector<std::pair<uint16_t, uint32_t>>& entries = {}) {
  std::string p;
  for (auto [id, value] : entries) {
    p += static_cast<char>(id >> 8);
    p += static_cast<char>(id & 0xff);
    Put32(p, value);
  }
  return Frame(kSettings, 0, 0, p);
}
inline std::string SettingsAck() { return Frame(kSettings, kAck, 0, ""); }
inline std::string Ping() { return Frame(kPing, 0, 0, std::string(8, 'p')); }
inline std::string RstStream(uint32_t stream, uint32_t code) {
  std::string p;
  Put32(p, code);
  return Frame(kRstStream, 0, stream, p);
}
inline std::string WindowUpdate(uint32_t stream, uint32_t increment) {
  std::string p;
  Put32(p, increment);
  return Frame(kWindowUpdate, 0, stream, p);
}
inline std::string Priority(uint32_t stream) {
  std::string p;
  Put32(p, 0);  // depends on stream 0, not exclusive
  p += '\x0f';  // weight 16
  return Frame(kPriority, 0, stream, p);
}
inline std::string Data(uint32_t stream, std::string_view payload, bool end_stream) {
  return Frame(kData, end_stream ? kEndStream : 0, stream, payload);
}

// HPACK integer with an N-bit prefix (RFC 7541 5.1), `first` holding the pattern bits.
inline void PutInt(std::string& out, uint8_t first, int prefix_bits, uint64_t v) {
  const uint64_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out += static_cast<char>(first | v);
    return;
  }
  out += static_cast<char>(first | max);
  v -= max;
  while (v >= 128) {
    out += static_cast<char>((v % 128) + 128);
    v /= 128;
  }
  out += static_cast<char>(v);
}
inline void PutString(std::string& out, std::string_view s) {
  PutInt(out, 0, 7, s.size());  // no Huffman
  out.append(s);
}
// A literal field without indexing (RFC 7541 6.2.2), new name.
inline void PutLiteral(std::string& out, std::string_view name, std::string_view value) {
  out += '\0';
  PutString(out, name);
  PutString(out, value);
}
// A literal field with incremental indexing (RFC 7541 6.2.1): it enters the dynamic table.
inline void PutIndexedLiteral(std::string& out, std::string_view name, std::string_view value) {
  out += '\x40';
  PutString(out, name);
  PutString(out, value);
}
// An indexed field (RFC 7541 6.1): 62 is the newest dynamic table entry.
inline void PutIndexed(std::string& out, uint64_t index) { PutInt(out, 0x80, 7, index); }

using Fields = std::vector<std::pair<std::string, std::string>>;
inline std::string Block(const Fields& fields) {
  std::string b;
  for (const auto& [n, v] : fields) PutLiteral(b, n, v);
  return b;
}
inline Fields RequestFields(std::string_view method, std::string_view path,
                            const Fields& extra = {}) {
  Fields f = {{":method", std::string(method)},
              {":scheme", "http"},
              {":authority", "localhost"},
              {":path", std::string(path)}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}
inline std::string Headers(uint32_t stream, std::string_view block, bool end_stream,
                           bool end_headers = true) {
  return Frame(kHeaders, (end_stream ? kEndStream : 0) | (end_headers ? kEndHeaders : 0), stream,
               block);
}
inline std::string Continuation(uint32_t stream, std::string_view block, bool end_headers) {
  return Frame(kContinuation, end_headers ? kEndHeaders : 0, stream, block);
}

struct ParsedFrame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
  // GOAWAY and RST_STREAM: the error code.
  uint32_t ErrorCode() const {
    const size_t at = type == kGoaway ? 4 : 0;
    if (payload.size() < at + 4) return ~0u;
    uint32_t v = 0;
    for (size_t i = at; i < at + 4; ++i) v = (v << 8) | static_cast<uint8_t>(payload[i]);
    return v;
  }
  uint32_t GoawayLastStream() const {
    uint32_t v = 0;
    for (size_t i = 0; i < 4 && i < payload.size(); ++i)
      v = (v << 8) | static_cast<uint8_t>(payload[i]);
    return v & 0x7fffffff;
  }
};

// Parses whole frames from the front of `bytes`; a partial frame at the end stays in `bytes`.
inline std::vector<ParsedFrame> ParseFrames(std::string& bytes) {
  std::vector<ParsedFrame> frames;
  size_t at = 0;
  while (bytes.size() - at >= 9) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + at);
    const size_t len = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
    if (bytes.size() - at < 9 + len) break;
    ParsedFrame f;
    f.type = p[3];
    f.flags = p[4];
    f.stream = ((uint32_t{p[5]} << 24) | (uint32_t{p[6]} << 16) | (uint32_t{p[7]} << 8) | p[8]) &
               0x7fffffff;
    f.payload.assign(bytes, at + 9, len);
    frames.push_back(std::move(f));
    at += 9 + len;
  }
  bytes.erase(0, at);
  return frames;
}

inline constexpr uint32_t kNoError = 0;
inline constexpr uint32_t kProtocolError = 1;
inline constexpr uint32_t kInternalError = 2;
inline constexpr uint32_t kCancel = 8;
inline constexpr uint32_t kEnhanceYourCalm = 11;

}  // namespace infergate::testing::h2
