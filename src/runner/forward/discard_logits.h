// For the forward-pass adapters: the passes always write an item's logits, so a step that wants
// none (a prompt chunk before the last) gets a buffer of this thread's to write them into.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace infergate::runner::detail {

// `logits` when the step wants them, else this thread's scratch buffer for batch item `index`
// (n_vocab floats, valid until the thread's next call for that index).
inline std::span<float> LogitsOrDiscard(std::span<float> logits, size_t index, int n_vocab) {
  if (!logits.empty()) return logits;
  thread_local std::vector<std::vector<float>> discard;
  if (discard.size() <= index) discard.resize(index + 1);
  discard[index].resize(static_cast<size_t>(n_vocab));
  return discard[index];
}

}  // namespace infergate::runner::detail
