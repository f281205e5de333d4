// The loop: sample, decode (UTF-8 assembly), hold back a possible stop string, emit; the logprobs
// of each token wait in a queue until the text they produced is released, so a piece carries
// exactly the tokens whose text begins in it (a stop string's tokens are never reported).
#include "infergate/runner/generate.h"

#include <deque>
#include <vector>

#include "infergate/runner/sampler.h"
#include "infergate/runner/stop_text.h"
#include "infergate/tokenize/utf8.h"

namespace infergate::runner {
namespace {

// Logprobs waiting for their text: each with the offset, in the stream of generated text,
// where its token's text starts.
struct Pending {
  size_t start = 0;
  degrade::TokenLogprob logprob;
};

class Emitter {
 public:
  Emitter(const std::function<bool(const degrade::RunPiece&)>& emit, std::vector<std::string> stop)
      : emit_(emit), stop_(std::move(stop)) {}

  // A token's bytes and (when asked) its logprobs; false when the client went away.
  bool Token(std::string_view bytes, std::optional<degrade::TokenLogprob> logprob) {
    if (logprob) pending_.push_back({produced_, std::move(*logprob)});
    produced_ += bytes.size();
    return Send(stop_.Push(utf8_.Push(bytes)));
  }
  bool Finish() {
    if (stop_.stopped()) return true;
    std::string tail = stop_.Push(utf8_.Flush());
    tail += stop_.Flush();
    return Send(tail);
  }
  bool stopped() const { return stop_.stopped(); }

 private:
  bool Send(const std::string& text) {
    if (text.empty()) return true;
    // Utf8Assembler may hold up to 3 bytes, so "released" trails "produced"; a token whose text
    // starts before the released end goes with this piece.
    const size_t end = stop_.released();
    batch_.clear();
    while (!pending_.empty() && pending_.front().start < end) {
      batch_.push_back(std::move(pending_.front().logprob));
      pending_.pop_front();
    }
    return emit_(degrade::RunPiece{text, batch_});
  }

  const std::function<bool(const degrade::RunPiece&)>& emit_;
  StopText stop_;
  tokenize::Utf8Assembler utf8_;
  std::deque<Pending> pending_;
  std::vector<degrade::TokenLogprob> batch_;
  size_t produced_ = 0;
};

degrade::TokenLogprob LogprobOf(const tokenize::Tokenizer& tok, std::span<const float> logits,
                                TokenId id, int top) {
  const float lse = LogSumExp(logits);
  degrade::TokenLogprob lp;
  lp.token = tok.TokenToPiece(id, /*with_special=*/true);
  lp.logprob = logits[id] - lse;
  for (const auto& [alt, value] : TopLogprobs(logits, top, lse))
    lp.top.emplace_back(tok.TokenToPiece(alt, true), value);
  return lp;
}

}  // namespace

degrade::RunResult Generate(LogitsSequence& sequence, int n_vocab,
                            const tokenize::Tokenizer& tokenizer, std::span<const TokenId> prompt,
                            const GenerationRequest& request, const GenerateLimits& limits,
                            const std::function<bool(const degrade::RunPiece&)>& emit) {
  degrade::RunResult result;
  result.prompt_tokens = prompt.size();
  result.logprobs = request.logprobs;
  result.completion_tokens = 0;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  // The prompt in chunks: the forward pass's working memory grows with the tokens of one call and
  // stays at its largest, and a chunk shares a pass with other requests' steps without holding
  // them up for a whole long prompt. Only the last chunk's logits are read.
  for (size_t at = 0; at < prompt.size(); at += kPromptChunk) {
    const bool last = prompt.size() - at <= kPromptChunk;
    const auto chunk = prompt.subspan(at, std::min(kPromptChunk, prompt.size() - at));
    if (auto err = sequence.Append(chunk, last ? std::span<float>(logits) : std::span<float>())) {
      result.error = *err;
      return result;
    }
  }
  Sampler sampler(request.sampling, limits.seed);
  Emitter out(emit, request.stop);
  for (int n = 0; n < limits.max_tokens; ++n) {
    const TokenId id = sampler.Sample(logits);
    ++*result.completion_tokens;
    std::optional<degrade::TokenLogprob> lp;
    if (request.logprobs) lp = LogprobOf(tokenizer, logits, id, request.top_logprobs);
    if (tokenizer.IsEndOfGeneration(id)) {
      result.finish_reason = degrade::FinishReason::kStop;
      result.completed = out.Finish();
      return result;
    }
    if (!out.Token(tokenizer.TokenToPiece(id), std::move(lp))) return result;
    if (out.stopped()) {
      result.finish_reason = degrade::FinishReason::kStop;
      result.completed = true;
      return result;
    }
    // The last token allowed is not run through the model: nothing would read its logits.
    if (n + 1 == limits.max_tokens || sequence.size() >= sequence.capacity()) break;
    const TokenId next[] = {id};
    if (auto err = sequence.Append(next, logits)) {
      result.error = *err;
      return result;
    }
  }
  result.finish_reason = degrade::FinishReason::kLength;
  result.completed = out.Finish();
  return result;
}

}  // namespace infergate::runner
