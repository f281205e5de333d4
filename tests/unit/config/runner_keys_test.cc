// The keys of a kind: gguf runner: each key read, the defaults the model file decides, and each
// error positioned at its key with the key path (the model file opened and checked at load).
// The model files are written by scripts/gguf/gen_gguf.py; skipped when /usr/bin/python3 has no
// numpy (`make test` installs it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using testing::Describe;
using testing::Errors;

constexpr const char* kPython = "/usr/bin/python3";

class GgufRunnerKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string probe = std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1";
    if (std::system(probe.c_str()) != 0) return;
    char dir[] = "/tmp/runner_keys_XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    llama_ = Generate("llama", "--context 4096");
    qwen_ = Generate("qwen2", "--context 16384");
    // The first 1000 bytes of a good file: the header is there, the metadata cut short.
    truncated_ = dir_ + "/truncated.gguf";
    std::filesystem::copy_file(llama_, truncated_);
    std::filesystem::resize_file(truncated_, 1000);
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << kPython << " has no numpy: apt-get install python3-numpy";
  }

  static std::string Generate(const std::string& arch, const std::string& extra) {
    const std::string out = dir_ + "/" + arch + ".gguf";
    const std::string cmd = std::string(kPython) +
                            " -B " INFERGATE_SOURCE_DIR "/scripts/gguf/gen_gguf.py --arch " + arch +
                            " --type q8_0 --seed 1 --n-embd 64 --n-layer 1 --n-head 2 " +
                            "--n-head-kv 1 --n-ff 128 --out " + out + " " + extra;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out;
  }

  // A config whose runner "local" (line 4) has `keys` from line 5 on, each at column 5.
  static std::string Config(const std::string& keys) {
    return "listeners: [{name: l, listen: \":0\"}]\n"
           "compartments: [{name: cpu, thread_pool: {threads: 1}}]\n"
           "runners:\n"
           "  - name: local\n" +
           keys +
           "routes: [{name: r, to: p}]\npools: [{name: p, backends: [http://10.0.0.1:8000]}]\n";
  }

  // Exactly one error, at line:column with the key path and a message containing `message`.
  static void ExpectError(const std::string& keys, int line, int column, const std::string& path,
                          const std::string& message) {
    std::vector<ConfigError> errors = Errors(Config(keys));
    ASSERT_EQ(errors.size(), 1u) << Describe(errors);
    EXPECT_EQ(errors[0].line, line) << Describe(errors);
    EXPECT_EQ(errors[0].column, column) << Describe(errors);
    EXPECT_EQ(errors[0].path, path);
    EXPECT_NE(errors[0].message.find(message), std::string::npos) << Describe(errors);
  }

  static std::string Gguf(const std::string& file, const std::string& more = "") {
    return "    kind: gguf\n    compartment: cpu\n    model_file: " + file + "\n" + more;
  }

  static std::string dir_, llama_, qwen_, truncated_;
};
std::string GgufRunnerKeys::dir_, GgufRunnerKeys::llama_, GgufRunnerKeys::qwen_,
    GgufRunnerKeys::truncated_;

TEST_F(GgufRunnerKeys, DefaultsComeFromTheFile) {
  auto config = testing::LoadOk(Config(Gguf(llama_)));
  ASSERT_NE(config, nullptr);
  const RunnerConfig& r = config->runners[0];
  EXPECT_EQ(r.kind, RunnerConfig::Kind::kGguf);
  EXPECT_EQ(r.model_file, llama_);
  EXPECT_EQ(r.cuda_device, -1);
  EXPECT_EQ(r.context, 4096u);  // the file's context_length
  EXPECT_EQ(r.chat_template, "auto");
  EXPECT_EQ(r.resolved_template, "llama2");  // the generator's llama template has <<SYS>>
  EXPECT_EQ(r.kv_cache_bytes, 0u);           // the runner sizes it from the model
  EXPECT_EQ(r.max_tokens, 256u);
}

TEST_F(GgufRunnerKeys, ContextDefaultIsCapped) {
  auto config = testing::LoadOk(Config(Gguf(qwen_)));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->runners[0].context, RunnerConfig::kDefaultContextCap);  // 16384 in the file
  EXPECT_EQ(config->runners[0].resolved_template, "chatml");
}

TEST_F(GgufRunnerKeys, EveryKeyRead) {
  auto config = testing::LoadOk(Config(Gguf(qwen_,
                                            "    device: cpu\n"
                                            "    context: 300\n"
                                            "    chat_template: llama3\n"
                                            "    kv_cache_bytes: 64MiB\n"
                                            "    max_tokens: 299\n"
                                            "    model: tiny\n")));
  ASSERT_NE(config, nullptr);
  const RunnerConfig& r = config->runners[0];
  EXPECT_EQ(r.context, 300u);
  EXPECT_EQ(r.chat_template, "llama3");
  EXPECT_EQ(r.resolved_template, "llama3");  // the override wins over the file's chatml
  EXPECT_EQ(r.kv_cache_bytes, 64u << 20);
  EXPECT_EQ(r.max_tokens, 299u);
  EXPECT_EQ(r.model, "tiny");
}

TEST_F(GgufRunnerKeys, MaxTokensDefaultCappedByContext) {
  auto config = testing::LoadOk(Config(Gguf(llama_, "    context: 100\n")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->runners[0].max_tokens, 99u);
}

TEST_F(GgufRunnerKeys, ModelFileRequired) {
  ExpectError("    kind: gguf\n    compartment: cpu\n", 4, 5, "runners[0]",
              "missing required key \"model_file\"");
}

TEST_F(GgufRunnerKeys, ModelFileMissing) {
  ExpectError(Gguf(dir_ + "/absent.gguf"), 7, 17, "runners[0].model_file",
              "cannot read \"" + dir_ + "/absent.gguf\": No such file or directory");
}

TEST_F(GgufRunnerKeys, TruncatedModelFileNamedWithTheReadersMessage) {
  std::vector<ConfigError> errors = Errors(Config(Gguf(truncated_)));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  const ConfigError& e = errors[0];
  EXPECT_EQ(e.file, "test.yaml");
  EXPECT_EQ(e.line, 7);
  EXPECT_EQ(e.column, 17);
  EXPECT_EQ(e.path, "runners[0].model_file");
  EXPECT_NE(e.message.find("model file \"" + truncated_ +
                           "\" is not a usable GGUF file: " + truncated_ + ":"),
            std::string::npos)
      << e.message;
}

TEST_F(GgufRunnerKeys, NotAGgufFile) {
  const std::string text = dir_ + "/text.gguf";
  std::ofstream(text) << "not a model\n";
  ExpectError(Gguf(text), 7, 17, "runners[0].model_file", "is not a usable GGUF file");
}

TEST_F(GgufRunnerKeys, DeviceUnknown) {
  ExpectError(Gguf(llama_, "    device: gpu\n"), 8, 13, "runners[0].device",
              "unknown device \"gpu\" (allowed: cpu, cuda:N)");
  ExpectError(Gguf(llama_, "    device: cuda:x\n"), 8, 13, "runners[0].device",
              "unknown device \"cuda:x\"");
}

#ifndef INFERGATE_CUDA
TEST_F(GgufRunnerKeys, CudaRefusedWithoutCudaSupport) {
  ExpectError(Gguf(llama_, "    device: cuda:0\n"), 8, 13, "runners[0].device",
              "device \"cuda:0\": this build has no CUDA support");
}
#else
// A CUDA build asks the driver: a device that is not there (none is 255) is refused at load with
// the backend's reason, on any machine.
TEST_F(GgufRunnerKeys, CudaDeviceCheckedAtLoad) {
  ExpectError(Gguf(llama_, "    device: cuda:255\n"), 8, 13, "runners[0].device",
              "device \"cuda:255\": ");
}
#endif

TEST_F(GgufRunnerKeys, ChatTemplateUnknownNamesTheOptions) {
  ExpectError(Gguf(llama_, "    chat_template: vicuna\n"), 8, 20, "runners[0].chat_template",
              "unknown chat_template \"vicuna\" (allowed: auto, llama3, chatml, mistral, llama2)");
}

TEST_F(GgufRunnerKeys, ContextLongerThanTrained) {
  ExpectError(Gguf(llama_, "    context: 5000\n"), 8, 14, "runners[0].context",
              "context 5000 is longer than the 4096 tokens the model was trained with");
  ExpectError(Gguf(llama_, "    context: 1\n"), 8, 14, "runners[0].context", "out of range");
}

TEST_F(GgufRunnerKeys, MaxTokensLeavesNoRoom) {
  ExpectError(
      Gguf(llama_, "    context: 100\n    max_tokens: 100\n"), 9, 17, "runners[0].max_tokens",
      "max_tokens 100 leaves no room for a prompt in the context of 100 tokens (at most 99)");
}

TEST_F(GgufRunnerKeys, KvCacheBytesMustBeASize) {
  ExpectError(Gguf(llama_, "    kv_cache_bytes: 0\n"), 8, 21, "runners[0].kv_cache_bytes", "");
}

TEST_F(GgufRunnerKeys, SyntheticKeysRefusedOnGguf) {
  ExpectError(Gguf(llama_, "    tokens: 5\n"), 8, 13, "runners[0].tokens",
              "tokens applies to kind synthetic only");
}

TEST_F(GgufRunnerKeys, GgufKeysRefusedOnSynthetic) {
  ExpectError("    compartment: cpu\n    model_file: x.gguf\n", 6, 17, "runners[0].model_file",
              "model_file applies to kind gguf only");
}

}  // namespace
}  // namespace infergate::config
