// response_model: requested. Rewrites the `model` of a backend's answer to the model the client
// sent, as the body passes, without I/O and without holding the body: a JSON answer's
// top-level "model" (and a Responses event's response.model; the first one, when a key is
// repeated), in a whole JSON body or in each `data:` line of an event stream. The bytes of the
// replaced value are dropped as they come; only an SSE line is held until it ends (up to kMaxLine
// bytes; a longer line passes unchanged).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::exchange {

class ModelRewriter {
 public:
  enum class Format { kOff, kJson, kSse };
  static constexpr size_t kMaxLine = 64 * 1024;

  // A new answer whose model becomes `model`.
  void Start(Format format, std::string model);
  bool active() const { return format_ != Format::kOff; }
  // Appends the rewritten bytes of `piece` to `*out`.
  void Feed(std::string_view piece, std::string* out);
  // The body is complete: a held partial line goes out as it came.
  void End(std::string* out);

 private:
  // A byte scanner over one JSON text: follows strings, keys (their escapes decoded) and nesting
  // (objects known to 64 levels; deeper ones are passed over) and swaps the first target
  // "model" string value; the rest of the text then passes without being looked at.
  struct Scanner {
    void Reset();
    void Feed(std::string_view in, const std::string& model, std::string* out);
    void Byte(char c, const std::string& model, std::string* out);
    bool Target() const { return depth == 1 || (depth == 2 && under_response); }
    bool InObject() const { return depth > 0 && depth <= 64 && ((objects >> (depth - 1)) & 1u); }

    uint32_t depth = 0;
    uint64_t objects = 0;  // bit d-1: the container at depth d is an object
    bool in_string = false, escape = false;
    bool reading_key = false, expect_key = false, awaiting_colon = false;
    bool model_value_next = false;  // after "model": at a target depth
    bool swapping = false;          // inside the value being replaced (its bytes dropped)
    bool under_response = false;    // depth 2 is the value of the top-level key "response"
    bool done = false;              // the model was swapped: nothing more to look for
    std::string key;                // the current key (escapes decoded), up to 16 bytes
    bool key_long = false;
    int hex_left = 0;   // hex digits of a \uXXXX escape still to come in a key
    uint32_t code = 0;  // its code point so far
    void KeyChar(char c, bool wide);
    std::string last_top_key;  // the last key read at depth 1
  };

  void FeedSse(std::string_view piece, std::string* out);
  void EndLine(std::string* out);

  Format format_ = Format::kOff;
  std::string model_;
  Scanner json_;
  std::string line_;        // SSE: the current line
  bool line_long_ = false;  // SSE: the current line passed kMaxLine and goes out unchanged
};

}  // namespace infergate::exchange
