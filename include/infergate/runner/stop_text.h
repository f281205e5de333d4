// The `stop` strings of a request: generated text is held back while it could still be the start
// of a stop string (one spanning several tokens), and a matched stop string ends generation
// without being emitted. Not thread safe: one per generated sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infergate::runner {

class StopText {
 public:
  explicit StopText(std::vector<std::string> stops);

  // Appends generated text (complete UTF-8 characters); returns what may be emitted now. Once a
  // stop string is found, stopped() is true and the text from it on is dropped.
  std::string Push(std::string_view text);
  // The text still held back, at the end of generation (nothing after a stop).
  std::string Flush();
  bool stopped() const { return stopped_; }
  // Bytes released so far (by Push and Flush), for lining logprobs up with the text.
  size_t released() const { return released_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  size_t released_ = 0;
  bool stopped_ = false;
};

}  // namespace infergate::runner
