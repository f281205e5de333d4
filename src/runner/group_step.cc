// GroupStep: leader/follower over one mutex and condition variable. A pass starts when every
// active sequence has brought its step (the last to arrive leads it) or, while one is running,
// when it ends and the rest arrive. A batch that fails as a whole (one sequence's bad step) is
// retried one step at a time, so one request's error never fails the others.
#include "infergate/runner/group_step.h"

#include <algorithm>

namespace infergate::runner {

std::optional<std::string> LogitsModel::AppendBatch(std::span<const SequenceStep> steps,
                                                    const ParallelFor& /*parallel*/) {
  for (const SequenceStep& s : steps) {
    if (auto err = s.sequence->Append(s.tokens, s.logits)) return err;
  }
  return std::nullopt;
}

namespace {

// Routes a sequence's Append through its group; everything else goes to the sequence itself.
class GroupedSequence final : public LogitsSequence {
 public:
  GroupedSequence(GroupStep& group, std::unique_ptr<LogitsSequence> inner)
      : group_(group), inner_(std::move(inner)) {}
  ~GroupedSequence() override { group_.Leave(); }
  int size() const override { return inner_->size(); }
  int capacity() const override { return inner_->capacity(); }
  std::optional<std::string> Append(std::span<const TokenId> tokens,
                                    std::span<float> logits) override {
    return group_.Append(*inner_, tokens, logits);
  }

 private:
  GroupStep& group_;
  std::unique_ptr<LogitsSequence> inner_;
};

}  // namespace

std::unique_ptr<LogitsSequence> GroupStep::Wrap(std::unique_ptr<LogitsSequence> inner) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++active_;
  }
  return std::make_unique<GroupedSequence>(*this, std::move(inner));
}

void GroupStep::Leave() {
  std::lock_guard<std::mutex> lock(mu_);
  --active_;
  cv_.notify_all();  // the waiting steps may now be all there is
}

std::optional<std::string> GroupStep::Append(LogitsSequence& sequence,
                                             std::span<const TokenId> tokens,
                                             std::span<float> logits) {
  Pending mine{{&sequence, tokens, logits}, std::nullopt, false};
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (work_ != nullptr && work_->next < work_->n) {
      RunPiece(lock);  // the running pass has work any waiting thread can do
    } else if (!running_ && queue_.size() >= active_) {
      RunPass(lock);
    } else {
      cv_.wait(lock);
    }
  }
  return mine.error;
}

void GroupStep::RunPiece(std::unique_lock<std::mutex>& lock) {
  Work& w = *work_;
  const int piece = w.next++;
  lock.unlock();
  (*w.fn)(piece);
  lock.lock();
  // The leader waits for this before it lets `w` go; nothing here touches `w` after it.
  if (--w.unfinished == 0) cv_.notify_all();
}

void GroupStep::Parallel(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  if (n == 1) return fn(0);
  Work w{&fn, n, 0, n};
  std::unique_lock<std::mutex> lock(mu_);
  work_ = &w;
  cv_.notify_all();
  while (w.next < w.n) RunPiece(lock);
  while (w.unfinished > 0) cv_.wait(lock);
  work_ = nullptr;
}

// Called with the lock held; runs everything queued with the lock released.
void GroupStep::RunPass(std::unique_lock<std::mutex>& lock) {
  running_ = true;
  std::vector<Pending*> batch;
  batch.swap(queue_);
  ++passes_;
  largest_ = std::max(largest_, batch.size());
  lock.unlock();
  if (passes_counter_ != nullptr) passes_counter_->Inc();
  if (sequences_counter_ != nullptr) sequences_counter_->Inc(batch.size());
  std::vector<SequenceStep> steps;
  steps.reserve(batch.size());
  for (Pending* p : batch) steps.push_back(p->step);
  const ParallelFor parallel = [this](int n, const std::function<void(int)>& fn) {
    Parallel(n, fn);
  };
  std::optional<std::string> err = model_.AppendBatch(steps, parallel);
  if (err && batch.size() > 1) {
    for (Pending* p : batch) p->error = model_.AppendBatch(std::span(&p->step, 1), parallel);
  } else {
    for (Pending* p : batch) p->error = err;
  }
  lock.lock();
  for (Pending* p : batch) p->done = true;
  running_ = false;
  cv_.notify_all();
}

size_t GroupStep::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

uint64_t GroupStep::passes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return passes_;
}

size_t GroupStep::largest_batch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return largest_;
}

}  // namespace infergate::runner
