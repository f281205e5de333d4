// Batching across concurrent requests without a scheduler thread: each request's thread brings
// its sequence's next step here; if no pass is running it becomes the leader and runs every
// step waiting (its own included) in one LogitsModel::AppendBatch, else it waits and joins the
// next pass. Steps that arrive while a pass runs form the next batch, so with N requests
// generating at once the passes hold up to N sequences and nobody waits for a timer.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "infergate/observability/metrics.h"
#include "infergate/runner/logits_source.h"

namespace infergate::runner {

// Thread safe. One per model (per runner).
class GroupStep {
 public:
  // `passes` and `sequences` (may be null) count the passes and the steps they ran.
  explicit GroupStep(LogitsModel& model, observability::Counter* passes = nullptr,
                     observability::Counter* sequences = nullptr)
      : model_(model), passes_counter_(passes), sequences_counter_(sequences) {}

  // LogitsSequence::Append through the group: blocks until the step has run.
  std::optional<std::string> Append(LogitsSequence& sequence, std::span<const TokenId> tokens,
                                    std::span<float> logits);

  size_t waiting() const;   // steps queued for the next pass (tests)
  uint64_t passes() const;  // passes run so far
  size_t largest_batch() const;

  // `inner` with its Append routed through this group (the runner hands this to Generate).
  std::unique_ptr<LogitsSequence> Wrap(std::unique_ptr<LogitsSequence> inner);

 private:
  struct Pending {
    SequenceStep step;
    std::optional<std::string> error;
    bool done = false;
  };
  void RunPass(std::unique_lock<std::mutex>& lock);

  LogitsModel& model_;
  observability::Counter* const passes_counter_;
  observability::Counter* const sequences_counter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  bool running_ = false;
  uint64_t passes_ = 0;
  size_t largest_ = 0;
};

}  // namespace infergate::runner
