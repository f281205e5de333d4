// Token accounting from a backend's answer, without I/O: bytes of the response body in, the
// answer's token usage, model and first content token out; for a stream whose usage the
// gateway asked for on the client's behalf, the bytes the client gets (that usage event left
// out). Incremental: the body is read as it arrives, in pieces split anywhere, and never held
// whole.
//   JSON answers (chat.completion, text_completion, embeddings, Responses): a byte scanner
//     follows the top-level object and keeps only the values of its "model" and "usage" keys
//     (each up to kMaxValue bytes), parsed when they end. Nothing else is kept.
//   SSE streams: each event's data is kept until the event ends (up to kMaxEvent bytes; a
//     longer event or line is given up on: passed through, neither parsed nor removed, and its
//     buffers freed), then parsed:
//     content (choices[0].delta.content / reasoning_content, choices[0].text, a Responses
//     response.output_text.delta) counts one output event and the first one marks the first
//     token; a `usage` object (chat, completions, Responses' response.usage) gives the counts;
//     `model` (or response.model) the answer's model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace infergate::exchange {

struct TokenUsage {
  std::optional<uint64_t> input_tokens;   // nullopt: the answer did not say
  std::optional<uint64_t> output_tokens;  // from usage, else counted content events (estimated)
  bool estimated = false;                 // output_tokens counted, not reported
  std::string model;                      // the answer's `model` ("" when none)
};

class UsageCodec {
 public:
  enum class Format { kNone, kJson, kSse };
  static constexpr size_t kMaxEvent = 64 * 1024;  // one SSE event held at most
  static constexpr size_t kMaxValue = 64 * 1024;  // a JSON answer's usage (or model) value

  // A new answer. `strip_usage` (SSE only): leave the usage-only event (empty `choices`, a
  // `usage` object) out of what the client gets; Feed then holds each event until it ends.
  void Start(Format format, bool strip_usage);
  // Whether Feed writes the client's bytes (SSE with strip_usage); otherwise every input byte
  // goes to the client unchanged and Feed only reads.
  bool filtering() const { return format_ == Format::kSse && strip_; }
  // Reads the next piece of the body. When filtering(), appends what the client gets to `*out`.
  void Feed(std::string_view piece, std::string* out);
  // The body is complete: an event still held (no blank line after it) goes out as it came.
  void End(std::string* out);
  // True once, after the first content event was read.
  bool TakeFirstToken();
  // What the answer said so far (a cut stream: the tokens sent up to the cut).
  TokenUsage Result() const;
  // Usage events left out of the client's stream (0 or 1 in practice).
  uint64_t stripped_events() const { return stripped_; }
  // Memory held between pieces (capacities): at most about kMaxEvent (plus one piece) in each
  // of the line, the event's data and, when filtering, the event's bytes; kMaxValue for JSON.
  size_t buffered() const {
    return line_.capacity() + data_.capacity() + raw_.capacity() + value_.capacity();
  }

 private:
  void FeedSse(std::string_view piece, std::string* out);
  void FeedJson(std::string_view piece);
  void SseByte(char c, std::string* out);
  void EndLine(std::string* out);
  void EndEvent(std::string* out);
  void GiveUpEvent(std::string* out);
  void ParseEvent();  // sets drop_event_ for a usage-only event
  void JsonValueEnded();
  void ReadValue(int which);  // the kept value through simdjson (1: model, 2: usage)

  // Start() resets each member below one by one: a new member needs a line there.
  Format format_ = Format::kNone;
  bool strip_ = false;
  // SSE: the current line (its field name and value as far as kept), the current event.
  std::string line_;        // the current line, up to kMaxEvent bytes
  bool line_long_ = false;  // the line passed kMaxEvent (not kept)
  bool pending_cr_ = false;
  std::string data_;  // the event's data lines, joined with '\n'
  bool has_data_ = false;
  bool event_given_up_ = false;  // over kMaxEvent: passed through, not parsed
  std::string raw_;              // filtering: the event's bytes, held until it ends
  bool drop_event_ = false;
  // JSON: the scanner's state.
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  bool expect_key_ = false;
  bool key_string_ = false;   // the string being read is a top-level key
  std::string key_;           // the last top-level key (up to 16 bytes)
  bool key_long_ = false;     // ... it was longer
  bool after_colon_ = false;  // reading a top-level value
  int capture_ = 0;           // 0: none, 1: model, 2: usage
  std::string value_;
  bool value_long_ = false;
  // Results.
  std::optional<uint64_t> input_, output_;
  uint64_t content_events_ = 0;
  bool first_token_ = false;
  bool first_token_taken_ = false;
  std::string model_;
  uint64_t stripped_ = 0;
};

}  // namespace infergate::exchange
