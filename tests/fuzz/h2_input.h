// The HTTP/2 mode of the server-path fuzz driver (h1_server_fuzz.cc): a small frame language
// compiled to the client's bytes. h2_check.h models what those bytes can make the gateway do and
// checks what it wrote back.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/clock.h"
#include "infergate/http/request_target.h"
#include "support/h2_frames.h"

namespace infergate::fuzz::h2fuzz {

namespace frames = infergate::testing::h2;

[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "h1_server_fuzz (h2): %s\n", what);
  std::abort();
}
inline void Require(bool ok, const char* what) {
  if (!ok) Fail(what);
}

// ---- the client's program: one operation a line (see tests/fuzz/README.md)

constexpr size_t kMaxProgramBytes = 1 << 20;
constexpr uint64_t kMaxRepeat = 5000;
constexpr uint64_t kMaxPause = 300;  // ticks of 10 ms of the gateway's time

struct Program {
  std::string bytes;                                // the preface, then the frames
  std::vector<std::pair<size_t, uint64_t>> pauses;  // (offset in bytes, ticks to wait there)
};

inline uint64_t Number(std::string_view s, uint64_t fallback) {
  if (s.empty() || s.size() > 10) return fallback;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return fallback;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// \xHH, \r, \n, \s (space) and \\; anything else stays as it is.
inline std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 's') {
      out += ' ';
    } else if (c == 'x' && i + 2 < s.size() && std::isxdigit(static_cast<uint8_t>(s[i + 1])) &&
               std::isxdigit(static_cast<uint8_t>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

inline std::string_view NextToken(std::string_view& rest) {
  const size_t sp = rest.find(' ');
  std::string_view tok = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  return tok;
}

// An HPACK block from items: name=value (literal, not indexed), +name=value (literal, indexed),
// #N (indexed field), #N*K (K times), #N=value and +#N=value (literal with an indexed name), ~N
// (dynamic table size update).
inline std::string HeaderBlock(std::string_view items) {
  std::string b;
  while (!items.empty()) {
    std::string_view item = NextToken(items);
    if (item.empty()) continue;
    const bool indexing = item.front() == '+' && item.size() > 1;
    if (indexing) item.remove_prefix(1);
    const size_t eq = item.find('=', 1);
    if (item.front() == '~') {
      frames::PutInt(b, 0x20, 5, Number(item.substr(1), 0));
    } else if (item.front() == '#' && eq == std::string_view::npos) {
      const size_t star = item.find('*');
      const uint64_t index =
          Number(item.substr(1, star == std::string_view::npos ? star : star - 1), 1);
      const uint64_t times = star == std::string_view::npos
                                 ? 1
                                 : std::min(Number(item.substr(star + 1), 1), kMaxRepeat);
      for (uint64_t i = 0; i < times; ++i) frames::PutIndexed(b, index);
    } else if (item.front() == '#') {
      frames::PutInt(b, indexing ? 0x40 : 0, indexing ? 6 : 4, Number(item.substr(1, eq - 1), 1));
      frames::PutString(b, Unescape(item.substr(eq + 1)));
    } else if (eq != std::string_view::npos) {
      if (indexing) {
        frames::PutIndexedLiteral(b, Unescape(item.substr(0, eq)), Unescape(item.substr(eq + 1)));
      } else {
        frames::PutLiteral(b, Unescape(item.substr(0, eq)), Unescape(item.substr(eq + 1)));
      }
    } else {
      frames::PutLiteral(b, Unescape(item), "");
    }
  }
  return b;
}

// Compiles the program: "[*N ]OP[flags] STREAM ARGS" a line; X (raw bytes) and Z (pause) take no
// stream. Frame lengths are computed, so framing stays valid unless the program says otherwise.
inline Program Compile(std::string_view text) {
  Program p;
  p.bytes = frames::kPreface;
  uint32_t last = 0;  // the newest stream opened with '+'
  uint64_t paused = 0;
  bool first = true;
  while (!text.empty() && p.bytes.size() < kMaxProgramBytes) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    uint64_t repeat = 1;
    if (line.front() == '*') repeat = std::min(Number(NextToken(line).substr(1), 1), kMaxRepeat);
    const std::string_view op = NextToken(line);
    if (op.empty()) continue;
    const char kind = op.front();
    uint8_t flags = 0;
    for (char f : op.substr(1)) {
      flags |= f == 'e' || f == 'a' ? 0x1 : f == 'h' ? 0x4 : f == 'p' ? 0x8 : f == 'i' ? 0x20 : 0;
    }
    if (first && !(kind == 'S' && flags == 0) && kind != 'X') p.bytes += frames::Settings();
    first = false;
    if (kind == 'Z') {  // at most kMaxPause ticks in all, far within the driver's 60 s
      const uint64_t ticks = std::min(Number(line, 1) * repeat, kMaxPause - paused);
      paused += ticks;
      p.pauses.emplace_back(p.bytes.size(), ticks);
      continue;
    }
    const std::string_view stream_tok = kind == 'X' ? std::string_view() : NextToken(line);
    for (uint64_t r = 0; r < repeat && p.bytes.size() < kMaxProgramBytes; ++r) {
      uint32_t stream = static_cast<uint32_t>(Number(stream_tok, 0));
      if (stream_tok == "+") stream = last = last + 2 - (last == 0);
      if (stream_tok == ".") stream = std::max<uint32_t>(last, 1);
      if (stream_tok == "-") stream = last > 2 ? last - 2 : 1;
      std::string payload;
      uint8_t type = 0;
      switch (kind) {
        case 'H':
        case 'C':
          type = kind == 'H' ? frames::kHeaders : frames::kContinuation;
          if (kind == 'H' && (flags & 0x20)) payload.append("\0\0\0\0\x0f", 5);
          payload += HeaderBlock(line);
          break;
        case 'D': {
          type = frames::kData;
          if (!line.empty() && line.front() == '@') {
            payload.assign(std::min<uint64_t>(Number(line.substr(1), 0), 1 << 20), 'x');
          } else {
            payload = Unescape(line);
          }
          break;
        }
        case 'R':
          type = frames::kRstStream;
          frames::Put32(payload, static_cast<uint32_t>(Number(line, frames::kCancel)));
          break;
        case 'P':
          type = frames::kPing;
          payload = Unescape(line);
          payload.resize(8, '.');
          break;
        case 'S':
          type = frames::kSettings;
          while (!line.empty()) {
            const std::string_view entry = NextToken(line);
            const size_t eq = entry.find('=');
            if (eq == std::string_view::npos) continue;
            const uint64_t id = Number(entry.substr(0, eq), 0);
            payload += static_cast<char>((id >> 8) & 0xff);
            payload += static_cast<char>(id & 0xff);
            frames::Put32(payload, static_cast<uint32_t>(Number(entry.substr(eq + 1), 0)));
          }
          break;
        case 'W':
          type = frames::kWindowUpdate;
          frames::Put32(payload, static_cast<uint32_t>(Number(line, 65535)));
          break;
        case 'Y':
          type = frames::kPriority;
          frames::Put32(payload, static_cast<uint32_t>(Number(line, 0)));
          payload += '\x0f';
          break;
        case 'G':
          type = frames::kGoaway;
          frames::Put32(payload, 0);
          frames::Put32(payload, static_cast<uint32_t>(Number(line, 0)));
          break;
        case 'F': {
          type = static_cast<uint8_t>(Number(NextToken(line), 0xfa));
          payload = Unescape(line);
          break;
        }
        default:  // X and unknown letters: the bytes as they are
          p.bytes += Unescape(line);
          continue;
      }
      if ((flags & 0x8) && (type == frames::kData || type == frames::kHeaders)) {
        payload.insert(0, 1, '\x03');
        payload.append(3, '\0');
      }
      p.bytes += frames::Frame(type, flags, stream, payload);
    }
  }
  if (first) p.bytes += frames::Settings();
  return p;
}

// Where a client stops for the program's pauses: it sends up to Limit(); a pause ends once the
// gateway's time has moved on by its ticks.
class Pacer {
 public:
  // How far the client may send now; sets *moved when a pause just ended.
  size_t Limit(const Program& p, size_t sent, Duration now, Duration tick, bool* moved) {
    if (next_ >= p.pauses.size()) return p.bytes.size();
    const auto [at, ticks] = p.pauses[next_];
    if (sent < at) return at;
    if (!resume_at_) resume_at_ = now + static_cast<int64_t>(ticks) * tick;
    if (now < *resume_at_) return sent;
    ++next_;
    resume_at_.reset();
    *moved = true;
    return sent;
  }

 private:
  size_t next_ = 0;
  std::optional<Duration> resume_at_;
};

}  // namespace infergate::fuzz::h2fuzz
