// The group step: the live sequences' steps run in one AppendBatch once all have arrived;
// results reach the right sequence; a sequence that ends no longer holds the others; a failing
// batch is retried step by step so one sequence's error stays its own; the threads waiting for a
// pass run pieces of its parallel sections.
#include "infergate/runner/group_step.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "unit/runner/fake_model.h"

namespace infergate::runner {
namespace {

using namespace fake;

// Waits (bounded) until `done`: for conditions another thread makes true.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A FakeModel that records its batches' sizes and fails a batch holding a step of kBang.
class RecordingModel final : public LogitsModel {
 public:
  int n_vocab() const override { return kVocab; }
  size_t kv_bytes_per_token() const override { return 1; }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    return inner_.NewSequence(capacity);
  }
  std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps,
                                         const ParallelFor& parallel) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_.push_back(steps.size());
    }
    if (parallel_section) parallel(kPieces, parallel_section);
    for (const SequenceStep& s : steps) {
      if (s.tokens[0] == kBang) return "bad token";
    }
    return LogitsModel::AppendBatch(steps, parallel);
  }
  static constexpr int kPieces = 40;
  std::function<void(int)> parallel_section;  // what each pass runs through its ParallelFor
  std::vector<size_t> sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }

 private:
  FakeModel inner_{{kWorld, kHello}};
  std::mutex mu_;
  std::vector<size_t> sizes_;
};

struct Step {
  Step(LogitsSequence* s, std::span<const TokenId> t) : sequence(s), tokens(t) {}
  LogitsSequence* sequence;
  std::span<const TokenId> tokens;
  std::vector<float> logits = std::vector<float>(kVocab);
  std::optional<std::string> error;
  void Run() { error = sequence->Append(tokens, logits); }
};

const TokenId kPrompt[] = {1};

// A recording model, its group and three live sequences of it.
class ThreeSequences : public ::testing::Test {
 protected:
  void RunAll(std::vector<Step*> steps) {
    std::vector<std::thread> threads;
    for (Step* s : steps) threads.emplace_back([s] { s->Run(); });
    for (auto& t : threads) t.join();
  }
  RecordingModel model;
  GroupStep group{model};
  std::unique_ptr<LogitsSequence> a = group.Wrap(model.NewSequence(8));
  std::unique_ptr<LogitsSequence> b = group.Wrap(model.NewSequence(8));
  std::unique_ptr<LogitsSequence> c = group.Wrap(model.NewSequence(8));
};

TEST_F(ThreeSequences, AllLiveSequencesStepInOnePass) {
  Step sa{a.get(), kPrompt}, sb{b.get(), kPrompt}, sc{c.get(), kPrompt};
  RunAll({&sa, &sb, &sc});
  EXPECT_EQ(model.sizes(), std::vector<size_t>{3});
  EXPECT_EQ(group.passes(), 1u);
  EXPECT_EQ(group.largest_batch(), 3u);
  for (const Step* s : {&sa, &sb, &sc}) {
    EXPECT_FALSE(s->error);
    EXPECT_EQ(s->logits[kWorld], 10.0f);  // each its own logits: the script's first token
    EXPECT_EQ(s->sequence->size(), 1);
  }
}

TEST_F(ThreeSequences, ASequenceThatEndsReleasesTheOthers) {
  Step sa{a.get(), kPrompt}, sb{b.get(), kPrompt};
  std::thread ta([&] { sa.Run(); });
  std::thread tb([&] { sb.Run(); });
  ASSERT_TRUE(Eventually([&] { return group.waiting() == 2; }));  // c has not stepped
  EXPECT_TRUE(model.sizes().empty());
  c.reset();  // c's request ended: a and b are all there is
  ta.join();
  tb.join();
  EXPECT_EQ(model.sizes(), std::vector<size_t>{2});
  EXPECT_FALSE(sa.error);
  EXPECT_FALSE(sb.error);
}

TEST_F(ThreeSequences, OneBadStepFailsOnlyItself) {
  const TokenId wrong[] = {kBang};
  Step sa{a.get(), kPrompt}, sb{b.get(), kPrompt}, sbad{c.get(), wrong};
  RunAll({&sa, &sb, &sbad});
  EXPECT_FALSE(sa.error);
  EXPECT_FALSE(sb.error);
  EXPECT_EQ(sbad.error, "bad token");
  EXPECT_EQ(b->size(), 1);
  EXPECT_EQ(c->size(), 0);
  EXPECT_EQ(model.sizes(), (std::vector<size_t>{3, 1, 1, 1}));  // the batch, then one by one
}

TEST_F(ThreeSequences, ThreadsWaitingForThePassRunPiecesOfIt) {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::vector<int> runs(RecordingModel::kPieces);
  model.parallel_section = [&](int piece) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(std::this_thread::get_id());
      ++runs[static_cast<size_t>(piece)];
    }
    // The first pieces hold on until a second thread has run one: a section that only its
    // leader ran would time out here (and fail below), not hang.
    if (piece < 3) {
      Eventually([&] {
        std::lock_guard<std::mutex> lock(mu);
        return threads.size() >= 2;
      });
    }
  };
  Step sa{a.get(), kPrompt}, sb{b.get(), kPrompt}, sc{c.get(), kPrompt};
  RunAll({&sa, &sb, &sc});
  EXPECT_EQ(model.sizes(), std::vector<size_t>{3});
  EXPECT_GE(threads.size(), 2u);
  EXPECT_EQ(runs, std::vector<int>(RecordingModel::kPieces, 1));  // each piece once
  for (const Step* s : {&sa, &sb, &sc}) EXPECT_FALSE(s->error);
}

TEST(GroupStep, AloneItRunsAtOnce) {
  FakeModel model({kHello});
  GroupStep group(model);
  auto s = group.Wrap(model.NewSequence(4));
  std::vector<float> logits(kVocab);
  const TokenId prompt[] = {1, 2};
  EXPECT_FALSE(s->Append(prompt, logits));
  EXPECT_EQ(logits[kHello], 10.0f);
  EXPECT_EQ(s->size(), 2);
  EXPECT_EQ(s->capacity(), 4);
  EXPECT_EQ(group.passes(), 1u);
}

}  // namespace
}  // namespace infergate::runner
