// The group step: concurrent requests' steps run together in one AppendBatch when they arrive
// while a pass runs; results reach the right sequence; a failing batch is retried step by step
// so one sequence's error stays its own.
#include "infergate/runner/group_step.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

// A FakeModel whose first AppendBatch holds until `release` is set, and that records batch sizes.
class GatedModel final : public LogitsModel {
 public:
  int n_vocab() const override { return kVocab; }
  size_t kv_bytes_per_token() const override { return 1; }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    return inner_.NewSequence(capacity);
  }
  std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps) override {
    if (calls_++ == 0) {
      entered = true;
      Eventually([&] { return release.load(); });
    }
    sizes.push_back(steps.size());
    for (const SequenceStep& s : steps) {
      if (s.tokens[0] == kBang) return "bad token";  // fails the batch it is in
    }
    return LogitsModel::AppendBatch(steps);
  }
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::vector<size_t> sizes;  // written by the pass's leader only, one pass at a time

 private:
  FakeModel inner_{{kWorld, kHello}};
  std::atomic<int> calls_{0};
};

struct Step {
  Step(LogitsSequence* s, std::span<const TokenId> t) : sequence(s), tokens(t) {}
  LogitsSequence* sequence;
  std::span<const TokenId> tokens;
  std::vector<float> logits = std::vector<float>(kVocab);
  std::optional<std::string> error;
};

// Runs `first` alone (the model holds its pass open), then `second` and `third` arriving while
// it runs; returns when all three are done.
void RunThree(GatedModel& model, GroupStep& group, Step& first, Step& second, Step& third) {
  auto run = [](Step& s) { s.error = s.sequence->Append(s.tokens, s.logits); };
  std::thread t1([&] { run(first); });
  ASSERT_TRUE(Eventually([&] { return model.entered.load(); }));
  std::thread t2([&] { run(second); });
  std::thread t3([&] { run(third); });
  ASSERT_TRUE(Eventually([&] { return group.waiting() == 2; }));
  model.release = true;
  t1.join();
  t2.join();
  t3.join();
}

const TokenId kPrompt[] = {1};

// A gated model, its group and three sequences of it.
class ThreeSequences : public ::testing::Test {
 protected:
  GatedModel model;
  GroupStep group{model};
  std::unique_ptr<LogitsSequence> a = group.Wrap(model.NewSequence(8));
  std::unique_ptr<LogitsSequence> b = group.Wrap(model.NewSequence(8));
  std::unique_ptr<LogitsSequence> c = group.Wrap(model.NewSequence(8));
};

TEST_F(ThreeSequences, StepsArrivingDuringAPassRunTogetherNext) {
  Step sa{a.get(), kPrompt}, sb{b.get(), kPrompt}, sc{c.get(), kPrompt};
  RunThree(model, group, sa, sb, sc);
  EXPECT_EQ(model.sizes, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(group.passes(), 2u);
  EXPECT_EQ(group.largest_batch(), 2u);
  for (const Step* s : {&sa, &sb, &sc}) {
    EXPECT_FALSE(s->error);
    EXPECT_EQ(s->logits[kWorld], 10.0f);  // each its own logits: the script's first token
    EXPECT_EQ(s->sequence->size(), 1);
  }
}

TEST_F(ThreeSequences, OneBadStepFailsOnlyItself) {
  const TokenId wrong[] = {kBang};
  Step sa{a.get(), kPrompt}, sg{b.get(), kPrompt}, sbad{c.get(), wrong};
  RunThree(model, group, sa, sg, sbad);
  EXPECT_FALSE(sa.error);
  EXPECT_FALSE(sg.error);
  EXPECT_EQ(sbad.error, "bad token");
  EXPECT_EQ(b->size(), 1);
  EXPECT_EQ(c->size(), 0);
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
