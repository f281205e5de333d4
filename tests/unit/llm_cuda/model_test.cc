// A whole CudaModel against the CPU forward pass (llm::Forward) on models gen_gguf.py writes:
// the same batch of two sequences (a prompt each, then decode steps) through both, logits
// compared. Built only when the CPU part (infergate_llm) is in the tree: tests/CMakeLists.txt
// defines INFERGATE_TEST_LLM then.
#if INFERGATE_TEST_LLM

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "infergate/llm/cuda/cuda_model.h"
#include "infergate/llm/model.h"

namespace infergate::llm::cuda {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

struct Case {
  std::string arch;
  std::string type;
};

class CudaModelTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/llm_cuda_XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // The generated model, loaded by the CPU part; null (with a failure) when that fails.
  std::shared_ptr<const Model> Generate() {
    const Case& c = GetParam();
    const std::string path = dir_ + "/" + c.arch + "-" + c.type + ".gguf";
    const std::string cmd = std::string(kPython) +
                            " -B " INFERGATE_SOURCE_DIR
                            "/scripts/gguf/gen_gguf.py --seed 5 --arch " +
                            c.arch + " --type " + c.type + " --out " + path;
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << cmd;
      return nullptr;
    }
    auto model = Model::Load(path);
    if (!model) {
      ADD_FAILURE() << model.error();
      return nullptr;
    }
    return *model;
  }

  static std::string dir_;
};
std::string CudaModelTest::dir_;

// Without a device, Upload refuses with the reason (this runs on machines without a GPU).
TEST_P(CudaModelTest, UploadWithoutADeviceSaysWhy) {
  std::string why;
  if (CudaDeviceCount(&why) != 0) GTEST_SKIP() << "a CUDA device is present";
  auto model = Generate();
  ASSERT_NE(model, nullptr);
  auto cuda = CudaModel::Upload(*model, 0);
  ASSERT_FALSE(cuda.ok());
  EXPECT_EQ(cuda.error(), "device cuda:0: no CUDA device: " + why);
}

TEST_P(CudaModelTest, ForwardMatchesTheCpu) {
  INFERGATE_REQUIRE_CUDA_DEVICE();
  auto model = Generate();
  ASSERT_NE(model, nullptr);
  auto cuda = CudaModel::Upload(*model, 0);
  ASSERT_TRUE(cuda.ok()) << cuda.error();
  const int n_vocab = model->hyper().n_vocab;

  const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 14, 3, 77, 200}, {31, 8}};
  KvCache cpu_a(*model, 32), cpu_b(*model, 32);
  auto gpu_a = CudaKvCache::Create(**cuda, 32);
  auto gpu_b = CudaKvCache::Create(**cuda, 32);
  ASSERT_TRUE(gpu_a.ok() && gpu_b.ok());
  Scratch cpu_scratch;
  CudaScratch gpu_scratch;
  std::vector<std::vector<float>> cpu_logits(2, std::vector<float>(n_vocab));
  std::vector<std::vector<float>> gpu_logits(2, std::vector<float>(n_vocab));
  const bool exact_weights = GetParam().type == "f32";

  std::vector<std::vector<int32_t>> step = prompts;
  for (int round = 0; round < 4; ++round) {
    std::vector<BatchItem> cpu_batch = {{&cpu_a, step[0], cpu_logits[0]},
                                        {&cpu_b, step[1], cpu_logits[1]}};
    std::vector<CudaBatchItem> gpu_batch = {{gpu_a->get(), step[0], gpu_logits[0]},
                                            {gpu_b->get(), step[1], gpu_logits[1]}};
    auto cpu_run = Forward(*model, cpu_batch, cpu_scratch);
    auto gpu_run = Forward(**cuda, gpu_batch, gpu_scratch);
    ASSERT_TRUE(cpu_run.ok()) << cpu_run.error();
    ASSERT_TRUE(gpu_run.ok()) << gpu_run.error();
    EXPECT_EQ(*cpu_run, *gpu_run);
    for (int i = 0; i < 2; ++i) {
      // The CPU may quantize activations for quantized weights (scripts/gguf/README.md: about
      // 2% of the logits' spread); the device computes in float32 throughout.
      double mean = 0, spread = 0, err = 0, max_err = 0;
      for (int j = 0; j < n_vocab; ++j) mean += cpu_logits[i][j];
      mean /= n_vocab;
      for (int j = 0; j < n_vocab; ++j) {
        const double d = static_cast<double>(gpu_logits[i][j]) - cpu_logits[i][j];
        spread += (cpu_logits[i][j] - mean) * (cpu_logits[i][j] - mean);
        err += d * d;
        max_err = std::max(max_err, std::fabs(d));
      }
      const double rel = std::sqrt(err / spread);
      if (exact_weights) {
        EXPECT_LT(max_err, 1e-3) << "round " << round << " item " << i;
      } else {
        EXPECT_LT(rel, 0.05) << "round " << round << " item " << i;
      }
    }
    EXPECT_EQ((*gpu_a)->size(), cpu_a.size());
    EXPECT_EQ((*gpu_b)->size(), cpu_b.size());
    step = {{static_cast<int32_t>(40 + round)}, {static_cast<int32_t>(90 + round)}};
  }
}

TEST_P(CudaModelTest, BadBatchesAppendNothing) {
  INFERGATE_REQUIRE_CUDA_DEVICE();
  auto model = Generate();
  ASSERT_NE(model, nullptr);
  auto cuda = CudaModel::Upload(*model, 0);
  ASSERT_TRUE(cuda.ok()) << cuda.error();
  auto cache = CudaKvCache::Create(**cuda, 4);
  ASSERT_TRUE(cache.ok()) << cache.error();
  CudaScratch scratch;
  std::vector<float> logits(model->hyper().n_vocab);
  const std::vector<int32_t> good = {1, 2};
  const std::vector<int32_t> too_many = {1, 2, 3, 4, 5};
  const std::vector<int32_t> unknown = {model->hyper().n_vocab};
  std::vector<CudaBatchItem> batch = {{cache->get(), good, logits}, {nullptr, good, logits}};
  EXPECT_EQ(Forward(**cuda, batch, scratch).error(), "batch item 1: no KV cache");
  batch = {{cache->get(), too_many, logits}};
  EXPECT_FALSE(Forward(**cuda, batch, scratch).ok());
  batch = {{cache->get(), unknown, logits}};
  EXPECT_FALSE(Forward(**cuda, batch, scratch).ok());
  batch = {{cache->get(), good, logits}, {cache->get(), good, logits}};
  EXPECT_EQ(Forward(**cuda, batch, scratch).error(),
            "batch item 1: its KV cache is in the batch twice");
  EXPECT_EQ((*cache)->size(), 0);
  EXPECT_FALSE(CudaKvCache::Create(**cuda, (*cuda)->max_context() + 1).ok());
}

INSTANTIATE_TEST_SUITE_P(Generated, CudaModelTest,
                         ::testing::Values(Case{"llama", "f32"}, Case{"qwen2", "f32"},
                                           Case{"llama", "f16"}, Case{"qwen2", "bf16"},
                                           Case{"llama", "q8_0"}, Case{"qwen2", "q4_0"},
                                           Case{"llama", "q4_k_m"}, Case{"qwen2", "q6_k"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.arch + "_" + info.param.type;
                         });

}  // namespace
}  // namespace infergate::llm::cuda

#endif  // INFERGATE_TEST_LLM
