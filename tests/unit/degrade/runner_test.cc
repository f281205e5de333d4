// The synthetic runner: token count and words, determinism, early stop, and that it really burns
// token_cost of CPU per token (measured with the thread CPU clock, so sleeping would fail).
#include "infergate/degrade/runner.h"

#include <gtest/gtest.h>
#include <time.h>

#include <cctype>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace infergate::degrade {
namespace {
using namespace std::chrono_literals;

std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

config::RunnerConfig Synthetic(uint32_t tokens, Duration token_cost) {
  config::RunnerConfig c;
  c.name = "synthetic";
  c.kind = config::RunnerConfig::Kind::kSynthetic;
  c.tokens = tokens;
  c.token_cost = token_cost;
  return c;
}

std::vector<std::string> Collect(Runner& runner, bool* completed = nullptr) {
  std::vector<std::string> pieces;
  const bool done = runner
                        .Generate(RunRequest{"m", "{}"},
                                  [&](std::string_view piece) {
                                    pieces.emplace_back(piece);
                                    return true;
                                  })
                        .completed;
  if (completed != nullptr) *completed = done;
  return pieces;
}

TEST(SyntheticRunner, EmitsTokensWordsWithLeadingSpaces) {
  const auto runner = MakeRunner(Synthetic(40, 0ms));
  ASSERT_NE(runner, nullptr);
  bool completed = false;
  const std::vector<std::string> pieces = Collect(*runner, &completed);
  EXPECT_TRUE(completed);
  ASSERT_EQ(pieces.size(), 40u);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    const std::string word = i == 0 ? p : p.substr(1);
    if (i > 0) {
      EXPECT_EQ(p.front(), ' ') << i;
    }
    EXPECT_FALSE(word.empty()) << i;
    for (char c : word) EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(c))) << p;
  }
  EXPECT_EQ(Collect(*runner), pieces);                          // deterministic per runner
  EXPECT_EQ(Collect(*MakeRunner(Synthetic(40, 0ms))), pieces);  // and across runners
  const std::vector<std::string> shorter = Collect(*MakeRunner(Synthetic(5, 0ms)));
  EXPECT_EQ(shorter, std::vector<std::string>(pieces.begin(), pieces.begin() + 5));
}

TEST(SyntheticRunner, ZeroTokensEmitsNothing) {
  bool completed = false;
  EXPECT_TRUE(Collect(*MakeRunner(Synthetic(0, 5ms)), &completed).empty());
  EXPECT_TRUE(completed);
}

TEST(SyntheticRunner, StopsWhenEmitReturnsFalse) {
  const auto runner = MakeRunner(Synthetic(1000, 2ms));
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  const bool completed =
      runner->Generate(RunRequest{}, [&](std::string_view) { return ++calls < 3; }).completed;
  EXPECT_FALSE(completed);
  EXPECT_EQ(calls, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // the other 997 tokens never ran
}

TEST(SyntheticRunner, ReportsThePromptWordsAsPromptTokens) {
  const auto runner = MakeRunner(Synthetic(3, 0ms));
  auto prompt_tokens = [&](std::string body) {
    return runner->Generate(RunRequest{"m", std::move(body)}, [](std::string_view) { return true; })
        .prompt_tokens;
  };
  EXPECT_EQ(
      prompt_tokens(R"({"model":"m","messages":[{"role":"user","content":"one two  three"}]})"),
      3u);
  EXPECT_EQ(prompt_tokens(R"({"model":"m","prompt":"a b"})"), 2u);
  EXPECT_EQ(prompt_tokens(R"({"model":"m","input":"four words in here"})"), 4u);
  EXPECT_EQ(prompt_tokens("{}"), 0u);
  // Stopped early: the prompt was counted all the same.
  const RunResult stopped = runner->Generate(RunRequest{"m", R"({"prompt":"x y"})"},
                                             [](std::string_view) { return false; });
  EXPECT_FALSE(stopped.completed);
  EXPECT_EQ(stopped.prompt_tokens, 2u);
}

TEST(SyntheticRunner, BurnsTheTokenCostInCpuTime) {
  constexpr uint32_t kTokens = 20;
  constexpr Duration kCost = 5ms;
  const auto runner = MakeRunner(Synthetic(kTokens, kCost));
  const auto cpu_before = ThreadCpuTime();
  const auto wall_before = std::chrono::steady_clock::now();
  const std::vector<std::string> pieces = Collect(*runner);
  const auto cpu = ThreadCpuTime() - cpu_before;
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  EXPECT_EQ(pieces.size(), kTokens);
  EXPECT_GE(cpu, kTokens * kCost);  // real work, not a sleep
  EXPECT_GE(wall, cpu - 1ms);
  EXPECT_LT(cpu, kTokens * kCost * 10);  // and not wildly more
}

TEST(SyntheticRunner, ConcurrentGenerationsEachBurnTheirOwnCpu) {
  const auto runner = MakeRunner(Synthetic(10, 3ms));
  std::vector<std::thread> threads;
  std::vector<std::chrono::nanoseconds> cpu(4);
  std::vector<size_t> counts(4);
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const auto before = ThreadCpuTime();
      counts[t] = Collect(*runner).size();
      cpu[t] = ThreadCpuTime() - before;
    });
  }
  for (std::thread& th : threads) th.join();
  for (size_t t = 0; t < 4; ++t) {
    EXPECT_EQ(counts[t], 10u);
    EXPECT_GE(cpu[t], 30ms);
  }
}

}  // namespace
}  // namespace infergate::degrade
