// The generation loop over a scripted fake model: end-of-generation tokens, max_tokens, stop
// strings across tokens, UTF-8 characters split across tokens, a client that leaves, and the
// logprobs each piece carries.
#include "infergate/runner/generate.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/runner/fake_model.h"

namespace infergate::runner {
namespace {

using namespace fake;

struct Outcome {
  degrade::RunResult result;
  std::vector<std::string> pieces;
  std::vector<std::vector<degrade::TokenLogprob>> logprobs;
  std::string text() const {
    std::string t;
    for (const auto& p : pieces) t += p;
    return t;
  }
};

const tokenize::Tokenizer& Tok() {
  static const tokenize::Tokenizer t = SmallTokenizer();
  return t;
}

GenerationRequest Greedy() {
  GenerationRequest r;
  r.sampling.temperature = 0;
  return r;
}

Outcome Go(FakeModel& model, const GenerationRequest& request, int max_tokens = 16,
           int stop_after_pieces = -1) {
  Outcome run;
  const std::vector<TokenId> prompt = {1, kHello};
  auto seq = model.NewSequence(static_cast<int>(prompt.size()) + max_tokens);
  run.result = Generate(*seq, model.n_vocab(), Tok(), prompt, request, {max_tokens, 1},
                        [&](const degrade::RunPiece& p) {
                          run.pieces.emplace_back(p.text);
                          run.logprobs.emplace_back(p.logprobs.begin(), p.logprobs.end());
                          return stop_after_pieces < 0 ||
                                 static_cast<int>(run.pieces.size()) < stop_after_pieces;
                        });
  return run;
}

TEST(Generate, EosEndsWithStopAndIsCountedNotEmitted) {
  FakeModel model({kHello, kWorld, kBang, 2});
  const Outcome run = Go(model, Greedy());
  EXPECT_TRUE(run.result.completed);
  EXPECT_EQ(run.pieces, (std::vector<std::string>{" Hello", " world", "!"}));
  EXPECT_EQ(run.result.finish_reason, degrade::FinishReason::kStop);
  EXPECT_EQ(run.result.prompt_tokens, 2u);
  EXPECT_EQ(run.result.completion_tokens, 4u);
  EXPECT_FALSE(run.result.logprobs);
  EXPECT_TRUE(run.logprobs[0].empty());
}

TEST(Generate, EndOfTurnTokenStopsToo) {
  FakeModel model({kWorld, kImEnd, kHello});
  const Outcome run = Go(model, Greedy());
  EXPECT_EQ(run.text(), " world");
  EXPECT_EQ(run.result.finish_reason, degrade::FinishReason::kStop);
}

TEST(Generate, MaxTokensEndsWithLengthWithoutRunningTheLastToken) {
  FakeModel model({kHello, kWorld, kBang, kBang});
  const Outcome run = Go(model, Greedy(), 2);
  EXPECT_TRUE(run.result.completed);
  EXPECT_EQ(run.text(), " Hello world");
  EXPECT_EQ(run.result.finish_reason, degrade::FinishReason::kLength);
  EXPECT_EQ(run.result.completion_tokens, 2u);
  EXPECT_EQ(model.log().appends, 2);  // the prompt, then the first generated token
}

TEST(Generate, StopStringAcrossTokensIsNotEmitted) {
  FakeModel model({kHello, kSt, kOp, kBang});
  GenerationRequest r = Greedy();
  r.stop = {" STOP"};
  const Outcome run = Go(model, r);
  EXPECT_EQ(run.text(), " Hello");
  EXPECT_EQ(run.result.finish_reason, degrade::FinishReason::kStop);
  EXPECT_EQ(run.result.completion_tokens, 3u);
}

TEST(Generate, HeldPrefixReleasedWhenItIsNoStop) {
  FakeModel model({kSt, kBang, 2});
  GenerationRequest r = Greedy();
  r.stop = {" STOP"};
  const Outcome run = Go(model, r);
  EXPECT_EQ(run.pieces, (std::vector<std::string>{" ST!"}));
}

TEST(Generate, CharacterSplitAcrossTokensComesOutWhole) {
  FakeModel model({kByte0 + 0xC3, kByte0 + 0xA9, kBang, 2});
  GenerationRequest r = Greedy();
  r.logprobs = true;
  const Outcome run = Go(model, r);
  EXPECT_EQ(run.pieces, (std::vector<std::string>{"\xC3\xA9", "!"}));
  ASSERT_EQ(run.logprobs[0].size(), 2u);  // both byte tokens go with the character
  EXPECT_EQ(run.logprobs[0][0].token, "\xC3");
  EXPECT_EQ(run.logprobs[0][1].token, "\xA9");
  ASSERT_EQ(run.logprobs[1].size(), 1u);
  EXPECT_EQ(run.logprobs[1][0].token, "!");
}

TEST(Generate, ClientGoneStopsWithinOneToken) {
  FakeModel model({kHello, kWorld, kBang, kBang, kBang});
  const Outcome run = Go(model, Greedy(), 16, 1);
  EXPECT_FALSE(run.result.completed);
  EXPECT_EQ(run.pieces.size(), 1u);
  EXPECT_EQ(model.log().appends, 1);  // the prompt only: no token after the refused piece
}

TEST(Generate, LogprobsAreTheModelsBeforeTemperature) {
  FakeModel model({kWorld, 2});
  GenerationRequest r = Greedy();
  r.logprobs = true;
  r.top_logprobs = 2;
  const Outcome run = Go(model, r);
  ASSERT_EQ(run.logprobs.size(), 1u);
  ASSERT_EQ(run.logprobs[0].size(), 1u);
  const degrade::TokenLogprob& lp = run.logprobs[0][0];
  const double lse = std::log(std::exp(10.0) + (kVocab - 1));
  EXPECT_EQ(lp.token, " world");
  EXPECT_NEAR(lp.logprob, 10.0 - lse, 1e-5);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].first, " world");
  EXPECT_NEAR(lp.top[0].second, 10.0 - lse, 1e-5);
  EXPECT_EQ(lp.top[1].first, "<unk>");  // the lowest id of the tied rest, special text shown
  EXPECT_NEAR(lp.top[1].second, -lse, 1e-5);
  EXPECT_TRUE(run.result.logprobs);
}

TEST(Generate, LongPromptGoesInChunks) {
  FakeModel model({kWorld, 2});
  const std::vector<TokenId> prompt(2 * kPromptChunk + 10, kBang);
  auto seq = model.NewSequence(static_cast<int>(prompt.size()) + 4);
  std::string text;
  const degrade::RunResult r =
      Generate(*seq, kVocab, Tok(), prompt, Greedy(), {4, 1}, [&](const degrade::RunPiece& p) {
        text += p.text;
        return true;
      });
  EXPECT_EQ(text, " world");  // the last chunk's logits drive the first token
  EXPECT_EQ(r.prompt_tokens, prompt.size());
  EXPECT_EQ(model.log().appends, 4);  // three chunks, then the generated token
  EXPECT_EQ(model.log().appended_tokens, static_cast<int>(prompt.size()) + 1);
}

TEST(Generate, SameSeedSameText) {
  std::vector<float> flat(kVocab, 0.0f);
  for (TokenId id : {kHello, kWorld, kBang, kSt, kOp}) flat[id] = 5.0f;
  auto text = [&](uint64_t seed) {
    FakeModel model({}, flat);
    GenerationRequest r;
    auto seq = model.NewSequence(40);
    std::string out;
    const TokenId prompt[] = {1};
    Generate(*seq, kVocab, Tok(), prompt, r, {30, seed}, [&](const degrade::RunPiece& p) {
      out += p.text;
      return true;
    });
    return out;
  };
  EXPECT_EQ(text(3), text(3));
  EXPECT_NE(text(3), text(4));
}

}  // namespace
}  // namespace infergate::runner
