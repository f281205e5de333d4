// The gguf runner over a fake model and a small tokenizer: chat and legacy requests end to end
// (prompt tokens, usage, finish_reason), the context limit, the KV cache budget, a model that is
// unavailable; and, with files written by scripts/gguf/gen_gguf.py, the metadata glue and the
// per-file model cache.
#include "infergate/runner/gguf_runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "infergate/gguf/gguf_file.h"
#include "infergate/gguf/vocab_reader.h"
#include "infergate/runner/prompt.h"
#include "unit/runner/fake_model.h"

namespace infergate::runner {
namespace {

using namespace fake;

config::RunnerConfig Config(uint32_t context = 64, uint64_t kv_bytes = 0) {
  config::RunnerConfig c;
  c.name = "local";
  c.kind = config::RunnerConfig::Kind::kGguf;
  c.context = context;
  c.max_tokens = 8;
  c.kv_cache_bytes = kv_bytes;
  return c;
}

GgufModel Model(std::shared_ptr<FakeModel> fake) {
  GgufModel m;
  m.logits = std::move(fake);
  m.tokenizer = std::make_shared<const tokenize::Tokenizer>(SmallTokenizer());
  m.chat_template = tokenize::ChatTemplate::kChatMl;
  return m;
}

struct Answer {
  degrade::RunResult result;
  std::string text;
};

Answer Ask(degrade::Runner& runner, std::string body,
           degrade::Endpoint endpoint = degrade::Endpoint::kChat) {
  Answer a;
  a.result = runner.Generate({"m", std::move(body), endpoint}, [&](const degrade::RunPiece& p) {
    a.text += p.text;
    return true;
  });
  return a;
}

constexpr const char* kChat = R"({"messages":[{"role":"user","content":"Hello"}],"temperature":0})";

TEST(GgufRunner, ChatAnswerWithUsageAndFinishReason) {
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{kHello, kWorld, kImEnd});
  auto runner = MakeGgufRunner(Config(), Model(fake));
  const Answer a = Ask(*runner, kChat);
  EXPECT_TRUE(a.result.completed) << a.result.error;
  EXPECT_EQ(a.text, " Hello world");
  EXPECT_EQ(a.result.finish_reason, degrade::FinishReason::kStop);
  EXPECT_EQ(a.result.completion_tokens, 3u);
  // The prompt the chatml template renders, as the runner's tokenizer encodes it.
  GenerationRequest req;
  req.messages = {{"user", "Hello"}};
  auto prompt = BuildPrompt(SmallTokenizer(), tokenize::ChatTemplate::kChatMl, req);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(a.result.prompt_tokens, prompt->size());
  EXPECT_EQ((*prompt)[0], 1);  // BOS, as the vocabulary asks
  EXPECT_EQ((*prompt)[1], kImStart);
  ASSERT_EQ(fake->log().sequences, 1);
}

TEST(GgufRunner, DefaultMaxTokensGivesLength) {
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{});  // "!" forever
  auto runner = MakeGgufRunner(Config(), Model(fake));
  const Answer a = Ask(*runner, kChat);
  EXPECT_EQ(a.text, "!!!!!!!!");
  EXPECT_EQ(a.result.finish_reason, degrade::FinishReason::kLength);
  EXPECT_EQ(a.result.completion_tokens, 8u);
}

// The legacy prompt "Hello" as the small vocabulary encodes it (BOS, then pieces and bytes).
uint32_t HelloTokens() { return static_cast<uint32_t>(SmallTokenizer().Encode("Hello").size()); }

TEST(GgufRunner, LegacyPromptAndContextCapsMaxTokens) {
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{});
  const uint32_t n = HelloTokens();
  auto runner = MakeGgufRunner(Config(n + 10), Model(fake));
  const Answer a = Ask(*runner, R"({"prompt":"Hello","max_tokens":100,"temperature":0})",
                       degrade::Endpoint::kCompletions);
  EXPECT_EQ(a.result.prompt_tokens, n);
  EXPECT_EQ(a.result.completion_tokens, 10u);  // what the context had room for
  EXPECT_EQ(a.result.finish_reason, degrade::FinishReason::kLength);
}

TEST(GgufRunner, PromptLongerThanContextIsRefused) {
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{});
  auto runner = MakeGgufRunner(Config(4), Model(fake));
  const Answer a = Ask(*runner, kChat);
  EXPECT_FALSE(a.result.completed);
  EXPECT_EQ(a.result.error.rfind("context_length_exceeded: This model's maximum context length "
                                 "is 4 tokens",
                                 0),
            0u)
      << a.result.error;
  ASSERT_TRUE(a.result.invalid);
  EXPECT_EQ(a.result.invalid->kind, ErrorKind::kContextLengthExceeded);
  EXPECT_EQ(a.result.invalid->param, "messages");
  EXPECT_GT(a.result.prompt_tokens, 3u);
  EXPECT_EQ(fake->log().sequences, 0);
  // The parameter that holds the prompt, per endpoint.
  const Answer legacy = Ask(*runner, R"({"prompt":"Hello world Hello world Hello world"})",
                            degrade::Endpoint::kCompletions);
  ASSERT_TRUE(legacy.result.invalid);
  EXPECT_EQ(legacy.result.invalid->param, "prompt");
  const Answer responses = Ask(*runner, R"({"input":"Hello world Hello world Hello world"})",
                               degrade::Endpoint::kResponses);
  ASSERT_TRUE(responses.result.invalid);
  EXPECT_EQ(responses.result.invalid->param, "input");
}

TEST(GgufRunner, BadRequestNamesTheParameter) {
  auto runner =
      MakeGgufRunner(Config(), Model(std::make_shared<FakeModel>(std::vector<TokenId>{})));
  const Answer a = Ask(*runner, R"({"messages":[{"role":"user","content":"x"}],"top_p":5})");
  EXPECT_FALSE(a.result.completed);
  EXPECT_EQ(a.result.error.rfind("top_p: ", 0), 0u) << a.result.error;
  ASSERT_TRUE(a.result.invalid);
  EXPECT_EQ(a.result.invalid->kind, ErrorKind::kInvalidParameter);
  EXPECT_EQ(a.result.invalid->param, "top_p");
}

TEST(GgufRunner, KvBudgetRefusesWhatDoesNotFitAndIsGivenBack) {
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{kImEnd});
  // The prompt and max_tokens 8, at 1000 bytes a token.
  auto runner = MakeGgufRunner(Config(64, (HelloTokens() + 8) * 1000), Model(fake));
  const std::string fits = R"({"prompt":"Hello","max_tokens":8,"temperature":0})";
  const std::string too_big = R"({"prompt":"Hello","max_tokens":9,"temperature":0})";
  EXPECT_TRUE(Ask(*runner, fits, degrade::Endpoint::kCompletions).result.completed);
  const Answer refused = Ask(*runner, too_big, degrade::Endpoint::kCompletions);
  EXPECT_FALSE(refused.result.completed);
  EXPECT_NE(refused.result.error.find("KV cache budget is full"), std::string::npos);
  EXPECT_FALSE(refused.result.invalid);  // the gateway's limit, not the request's fault
  EXPECT_TRUE(Ask(*runner, fits, degrade::Endpoint::kCompletions).result.completed);  // given back
}

TEST(GgufRunner, CountsInTheRunnerSeries) {
  observability::Registry reg(1);
  const RunnerMetrics m = RegisterRunnerMetrics(reg, "local");
  auto fake = std::make_shared<FakeModel>(std::vector<TokenId>{kHello, kWorld, kImEnd});
  // Room for one request of the prompt and 8 tokens at 1000 bytes a token.
  auto runner = MakeGgufRunner(Config(64, (HelloTokens() + 8) * 1000), Model(fake), m);
  const std::string fits = R"({"prompt":"Hello","max_tokens":8,"temperature":0})";
  EXPECT_TRUE(Ask(*runner, fits, degrade::Endpoint::kCompletions).result.completed);
  EXPECT_FALSE(Ask(*runner, R"({"prompt":"Hello","max_tokens":9,"temperature":0})",
                   degrade::Endpoint::kCompletions)
                   .result.completed);
  EXPECT_FALSE(Ask(*runner, R"({"prompt":5})", degrade::Endpoint::kCompletions).result.completed);
  EXPECT_EQ(m.generated_tokens->Value(), 3u);
  EXPECT_EQ(m.refused_kv_cache->Value(), 1u);
  EXPECT_EQ(m.refused_request->Value(), 1u);
  EXPECT_EQ(m.refused_unavailable->Value(), 0u);
  EXPECT_EQ(m.kv_cache_bytes->Value(), 0);  // given back
  EXPECT_EQ(m.passes->Value(), 3u);         // the prompt, then two generated tokens
  EXPECT_EQ(m.pass_sequences->Value(), 3u);
  EXPECT_NE(
      reg.Render().find("infergate_runner_refused_total{runner=\"local\",reason=\"kv_cache\"} 1"),
      std::string::npos)
      << reg.Render();
}

TEST(KvBudget, TakesWhatFits) {
  KvBudget b(100);
  EXPECT_TRUE(b.TryTake(60));
  EXPECT_FALSE(b.TryTake(41));
  EXPECT_TRUE(b.TryTake(40));
  EXPECT_FALSE(b.TryTake(1));
  b.Give(100);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_FALSE(b.TryTake(UINT64_MAX));
}

TEST(GgufRunner, UnavailableModelFailsEachRequestSayingWhy) {
  GgufModel m;
  m.unavailable = "no forward pass";
  auto runner = MakeGgufRunner(Config(), std::move(m));
  const Answer a = Ask(*runner, kChat);
  EXPECT_FALSE(a.result.completed);
  EXPECT_EQ(a.result.error, "no forward pass");
  EXPECT_FALSE(a.result.invalid);
}

// ---- files written by the generator ----

class GeneratedFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) return;
    char dir[] = "/tmp/gguf_runner_XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    for (const char* arch : {"llama", "qwen2"}) {
      const std::string cmd = std::string("/usr/bin/python3 -B ") + INFERGATE_SOURCE_DIR +
                              "/scripts/gguf/gen_gguf.py --arch " + arch +
                              " --type f32 --n-embd 32 --n-layer 1 --n-head 2 --n-head-kv 1 "
                              "--n-ff 64 --out " +
                              dir_ + "/" + arch + ".gguf";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "/usr/bin/python3 has no numpy";
  }
  static std::string dir_;
};
std::string GeneratedFile::dir_;

TEST_F(GeneratedFile, VocabFromMetadata) {
  auto llama = gguf::GgufFile::Open(dir_ + "/llama.gguf");
  ASSERT_TRUE(llama.ok()) << llama.error();
  auto v = gguf::ReadVocab(**llama);
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_EQ(v->add_bos, true);
  EXPECT_EQ(v->scores.size(), v->tokens.size());
  auto tok = tokenize::Tokenizer::Create(std::move(*v));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(tok->Decode(tok->Encode("hello world")), "hello world");

  auto qwen = gguf::GgufFile::Open(dir_ + "/qwen2.gguf");
  ASSERT_TRUE(qwen.ok());
  auto q = gguf::ReadVocab(**qwen);
  ASSERT_TRUE(q.ok()) << q.error();
  EXPECT_EQ(q->model, "gpt2");
  EXPECT_EQ(q->pre, "qwen2");
  EXPECT_FALSE(q->merges.empty());
  EXPECT_EQ(q->add_bos, false);
  EXPECT_EQ(q->tokens[q->eos_id], "<|im_end|>");
  EXPECT_NE(gguf::ChatTemplateSource(**qwen).find("<|im_start|>"), std::string_view::npos);
  EXPECT_EQ(*gguf::ContextLength(**qwen), 512);
}

TEST_F(GeneratedFile, ModelsAreSharedPerFile) {
  config::RunnerConfig c = Config();
  c.model_file = dir_ + "/qwen2.gguf";
  c.resolved_template = "chatml";
  const GgufModel a = LoadGgufModel(c);
  const GgufModel b = LoadGgufModel(c);
  ASSERT_NE(a.tokenizer, nullptr);
  EXPECT_EQ(a.tokenizer.get(), b.tokenizer.get());  // one load, kept while a runner holds it
  EXPECT_EQ(a.chat_template, tokenize::ChatTemplate::kChatMl);
#ifndef INFERGATE_HAVE_LLM
  EXPECT_EQ(a.logits, nullptr);
  EXPECT_NE(a.unavailable.find("no model forward pass"), std::string::npos);
#else
  ASSERT_NE(a.logits, nullptr) << a.unavailable;
  EXPECT_EQ(a.logits.get(), b.logits.get());
#endif
  c.model_file = dir_ + "/absent.gguf";
  EXPECT_NE(LoadGgufModel(c).unavailable, "");
}

}  // namespace
}  // namespace infergate::runner
