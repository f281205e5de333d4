// A small SentencePiece vocabulary with byte fallback and chatml markers, and a LogitsModel whose
// sequences produce scripted next tokens, for testing the runner without the forward pass.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "infergate/runner/logits_source.h"
#include "infergate/tokenize/tokenizer.h"
#include "unit/tokenize/small_vocabs.h"

namespace infergate::runner::fake {

using tokenize::TokenType;

// The tokenizer tests' small SentencePiece vocabulary (ids 0..268: <unk>, <s>, </s>, the byte
// tokens <0x00>..<0xFF> at 3 + byte, then pieces) with these added: 269 "▁Hello", 270 "▁world",
// 271 "!", 272 "▁ST", 273 "OP", then the chatml markers 274 <|im_start|>, 275 <|im_end|>.
inline constexpr TokenId kByte0 = 3;
inline constexpr TokenId kHello = 269, kWorld = 270, kBang = 271, kSt = 272, kOp = 273,
                         kImStart = 274, kImEnd = 275;
inline constexpr int kVocab = 276;

inline tokenize::Tokenizer SmallTokenizer() {
  tokenize::Vocab v = tokenize::test_vocabs::SmallSpm();
  for (const char* w : {"\xE2\x96\x81Hello", "\xE2\x96\x81world", "!", "\xE2\x96\x81ST", "OP"}) {
    v.tokens.emplace_back(w);
    v.scores.push_back(-1);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kNormal));
  }
  for (const char* c : {"<|im_start|>", "<|im_end|>"}) {
    v.tokens.emplace_back(c);
    v.scores.push_back(0);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  }
  auto t = tokenize::Tokenizer::Create(std::move(v));
  if (!t) std::abort();
  return std::move(*t);
}

// Shared by a FakeModel and its sequences: what they were asked.
struct FakeLog {
  std::atomic<int> appends{0};
  std::atomic<int> appended_tokens{0};
  std::atomic<int> sequences{0};
  std::vector<std::vector<TokenId>> tokens;  // per sequence, all appended (one thread at a time)
};

// The next token after each Append is script[i] (i: Appends after the first, i.e. the tokens
// generated so far), with logit 10 against 0 for every other; past the script, token `after`.
// `flat` instead gives every token the logits in `fixed` (for sampling and logprob tests).
class FakeSequence final : public LogitsSequence {
 public:
  FakeSequence(std::vector<TokenId> script, int capacity, std::shared_ptr<FakeLog> log,
               std::vector<float> fixed)
      : script_(std::move(script)),
        capacity_(capacity),
        log_(std::move(log)),
        fixed_(std::move(fixed)) {}
  int size() const override { return size_; }
  int capacity() const override { return capacity_; }
  std::optional<std::string> Append(std::span<const TokenId> tokens,
                                    std::span<float> logits) override {
    if (size_ + static_cast<int>(tokens.size()) > capacity_) return "no room";
    size_ += static_cast<int>(tokens.size());
    log_->appends++;
    log_->appended_tokens += static_cast<int>(tokens.size());
    if (logits.empty()) return std::nullopt;  // a prompt chunk before the last
    if (!fixed_.empty()) {
      std::copy(fixed_.begin(), fixed_.end(), logits.begin());
      return std::nullopt;
    }
    std::fill(logits.begin(), logits.end(), 0.0f);
    const size_t i = step_++;
    logits[i < script_.size() ? script_[i] : kBang] = 10.0f;
    return std::nullopt;
  }

 private:
  std::vector<TokenId> script_;
  int capacity_;
  int size_ = 0;
  size_t step_ = 0;
  std::shared_ptr<FakeLog> log_;
  std::vector<float> fixed_;
};

class FakeModel final : public LogitsModel {
 public:
  explicit FakeModel(std::vector<TokenId> script, std::vector<float> fixed = {})
      : script_(std::move(script)), fixed_(std::move(fixed)), log_(std::make_shared<FakeLog>()) {}
  int n_vocab() const override { return kVocab; }
  size_t kv_bytes_per_token() const override { return 1000; }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    log_->sequences++;
    return std::make_unique<FakeSequence>(script_, capacity, log_, fixed_);
  }
  FakeLog& log() { return *log_; }

 private:
  std::vector<TokenId> script_;
  std::vector<float> fixed_;
  std::shared_ptr<FakeLog> log_;
};

}  // namespace infergate::runner::fake
