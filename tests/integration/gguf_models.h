// Tiny llama GGUF models for the runner's integration tests, written once per test program by
// scripts/gguf/gen_gguf.py (seeded random weights, a real tokenizer, context 256): f32, q8_0, and
// an f32 copy truncated to half its size; and on demand a larger one (Long). ok() is false when
// /usr/bin/python3 has no numpy.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {

class GgufModels {
 public:
  static GgufModels& Get() {
    static GgufModels m;
    return m;
  }
  bool ok() const { return ok_; }
  std::string Path(const std::string& type) const {
    return dir_.path() + "/llama-" + type + ".gguf";
  }
  std::string truncated() const { return dir_.path() + "/truncated.gguf"; }
  // A larger f32 model (width 256, 4 layers, context 4096) whose tokens take long enough that a
  // generation of thousands of them outlasts a test's other requests; written on first use, ""
  // when that fails.
  const std::string& Long() {
    std::call_once(long_once_, [this] {
      const std::string path = dir_.path() + "/llama-long.gguf";
      const std::string cmd = "/usr/bin/python3 -B " + SourcePath("scripts/gguf/gen_gguf.py") +
                              " --arch llama --type f32 --seed 7 --n-embd 256 --n-layer 4"
                              " --n-head 4 --n-head-kv 2 --n-ff 768 --context 4096 --out " +
                              path;
      if (ok_ && std::system(cmd.c_str()) == 0) long_ = path;
    });
    return long_;
  }

 private:
  GgufModels() {
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) return;
    for (const char* type : {"f32", "q8_0"}) {
      const std::string cmd = "/usr/bin/python3 -B " + SourcePath("scripts/gguf/gen_gguf.py") +
                              " --arch llama --type " + type +
                              " --seed 5 --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2"
                              " --n-ff 128 --context 256 --out " +
                              Path(type);
      if (std::system(cmd.c_str()) != 0) return;
    }
    std::filesystem::copy_file(Path("f32"), truncated());
    std::filesystem::resize_file(truncated(), std::filesystem::file_size(truncated()) / 2);
    ok_ = true;
  }
  TempDir dir_;
  bool ok_ = false;
  std::once_flag long_once_;
  std::string long_;
};

// Why the runner's generation tests cannot run here, for GTEST_SKIP; "" when they can. They need
// the forward pass (the llm part: INFERGATE_HAVE_LLM) and the generated models.
inline std::string CannotGenerate() {
#ifndef INFERGATE_HAVE_LLM
  return "this build has no model forward pass (the llm part): the runner cannot generate";
#else
  return GgufModels::Get().ok() ? "" : "/usr/bin/python3 has no numpy";
#endif
}

// A gateway whose route `chat` (every request) goes to a dead pool at `dead` and falls back to
// the runner `local` (compartment `cpu`, one thread) on `model_file`.
inline std::string RunnerGatewayYaml(const std::string& model_file, const std::string& dead) {
  return "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
         "admin:\n  listen: 127.0.0.1:0\n"
         "compartments:\n"
         "  - {name: cpu, max_concurrent: 4, thread_pool: {threads: 1, queue: 4}}\n"
         "runners:\n"
         "  - {name: local, kind: gguf, compartment: cpu, model: tiny-llama, max_tokens: 16,\n"
         "     model_file: \"" +
         model_file +
         "\"}\n"
         "pools:\n"
         "  - name: gone\n    health_check: {enabled: false}\n    backends: [http://" +
         dead +
         "]\n"
         "routes:\n"
         "  - name: chat\n    to: gone\n    retries: 0\n    fallbacks: [{runner: local}]\n";
}

}  // namespace infergate::testing
