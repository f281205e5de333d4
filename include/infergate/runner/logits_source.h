// The seam between the runner's generation loop and the model's forward pass: a model makes
// sequences, a sequence takes tokens and gives the logits of the next one. The real one is a thin
// adapter over llm::Forward (src/runner/llm/); unit tests use a fake.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "infergate/core/expected.h"
#include "infergate/tokenize/vocab.h"

namespace infergate::gguf {
class GgufFile;
}

namespace infergate::runner {

using tokenize::TokenId;

// One sequence's state (its KV cache). Not thread safe: one generation at a time uses it.
class LogitsSequence {
 public:
  virtual ~LogitsSequence() = default;
  virtual int size() const = 0;      // tokens appended so far
  virtual int capacity() const = 0;  // tokens it has room for
  // Appends `tokens` (at least one; size() + tokens.size() <= capacity()) and writes the logits
  // of the token after the last into `logits` (n_vocab floats; empty: the caller wants none, as
  // for a prompt's chunks before its last). An error leaves it unchanged.
  virtual std::optional<std::string> Append(std::span<const TokenId> tokens,
                                            std::span<float> logits) = 0;
};

// Runs work(i) for each i < n, on the calling thread and any others it can lend, and returns when
// all have run (llm::ParallelFor's shape). Empty: the caller runs them itself.
using ParallelFor = std::function<void(int n, const std::function<void(int)>& work)>;

// One sequence's step in a batch: LogitsSequence::Append's arguments.
struct SequenceStep {
  LogitsSequence* sequence = nullptr;
  std::span<const TokenId> tokens;
  std::span<float> logits;
};

// A loaded model. Thread safe: sequences are made and used on any threads.
class LogitsModel {
 public:
  virtual ~LogitsModel() = default;
  virtual int n_vocab() const = 0;
  // KV-cache bytes one token of a sequence takes (what the runner's budget counts).
  virtual size_t kv_bytes_per_token() const = 0;
  virtual std::unique_ptr<LogitsSequence> NewSequence(int capacity) = 0;
  // Runs the steps of several of this model's sequences (distinct ones) in one pass, so each
  // weight row is read once for all of them; `parallel` (may be empty) lends the pass other
  // threads. An error fails the whole batch and leaves every sequence unchanged. This default
  // runs one Append after another.
  virtual std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps,
                                                 const ParallelFor& parallel);
};

// The model in a GGUF file already opened for the tokenizer (so the weights are mapped once), on
// the CPU (cuda_device -1) or uploaded to CUDA device N. Defined by the llm adapter when the
// build has the forward pass (src/runner/forward/), else an error saying so.
Expected<std::shared_ptr<LogitsModel>, std::string> LoadLogitsModel(
    std::shared_ptr<const gguf::GgufFile> file, int cuda_device = -1);

}  // namespace infergate::runner
