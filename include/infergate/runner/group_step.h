// Batching across concurrent requests without a scheduler thread or a timer: each request's
// sequence joins the group while it lives, and its thread brings the sequence's next step here.
// A pass runs when every live sequence has brought its step; the thread whose step completes the
// set leads it, running all of them in one LogitsModel::AppendBatch, and the others wait. So N
// requests generating at once decode in passes of N sequences, each weight row read once for all,
// as llama.cpp's server does with its slots. Between its steps a sequence only samples and hands
// its text to the token channel (never blocking), so the others wait microseconds for it; a
// sequence that ends leaves the group and no longer holds anyone up. While a pass runs, the
// threads waiting for it are not idle: the pass's parallel sections (the forward pass's matmuls
// and attention, split in pieces) are handed out to every thread waiting here, the leader
// included, so N requests computing at once use N threads for each pass.
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

  // `inner`, a member of the group until it is destroyed, with its Append routed through the
  // group (the runner hands this to Generate). Its thread must keep stepping it until it ends:
  // the group waits for every member's step.
  std::unique_ptr<LogitsSequence> Wrap(std::unique_ptr<LogitsSequence> inner);
  void Leave();  // a wrapped sequence's destructor

 private:
  struct Pending {
    SequenceStep step;
    std::optional<std::string> error;
    bool done = false;
  };
  // A parallel section of the running pass: pieces are claimed under mu_ by the threads that
  // wait in Append and by the leader; the leader returns once every piece has run.
  struct Work {
    const std::function<void(int)>* fn = nullptr;
    int n = 0;
    int next = 0;        // the next piece to claim
    int unfinished = 0;  // pieces not yet run to the end
  };
  void RunPass(std::unique_lock<std::mutex>& lock);
  void Parallel(int n, const std::function<void(int)>& fn);  // the pass's ParallelFor
  void RunPiece(std::unique_lock<std::mutex>& lock);         // one piece of work_, lock held

  LogitsModel& model_;
  observability::Counter* const passes_counter_;
  observability::Counter* const sequences_counter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  bool running_ = false;
  Work* work_ = nullptr;  // the running pass's open parallel section
  size_t active_ = 0;     // wrapped sequences alive
  uint64_t passes_ = 0;
  size_t largest_ = 0;
};

}  // namespace infergate::runner
