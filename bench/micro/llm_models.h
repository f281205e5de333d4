// The generated models the llm benchmarks run (written once by scripts/gguf/gen_gguf.py into
// $TMPDIR/infergate-llm-bench/, a few seconds each): a ~120M-parameter llama (768 wide, 12
// layers, 12 heads / 4 KV heads, FFN 2048) and a wider, shallower one whose matrices are the
// size of a 1B model's (2048 wide, 4 layers, 16 heads / 4 KV heads, FFN 5632), both with a
// 32,000-token vocabulary, untied output.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace infergate::bench {

enum class Shape { k768x12, k2048x4 };

// The file's path ("" when it cannot be written); `type`: q8_0, q4_k, q4_k_m, ...
inline std::string LlmModelPath(const std::string& type, Shape shape = Shape::k768x12) {
  const char* tmp = std::getenv("TMPDIR");
  const std::filesystem::path dir =
      std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / "infergate-llm-bench";
  std::filesystem::create_directories(dir);
  const bool wide = shape == Shape::k2048x4;
  const std::string path =
      (dir / ((wide ? "llama-2048x4-" : "llama-768x12-") + type + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    const std::string dims =
        wide ? "--n-embd 2048 --n-layer 4 --n-head 16 --n-head-kv 4 --n-ff 5632"
             : "--n-embd 768 --n-layer 12 --n-head 12 --n-head-kv 4 --n-ff 2048";
    const std::string cmd = "/usr/bin/python3 -B " INFERGATE_SOURCE_DIR
                            "/scripts/gguf/gen_gguf.py --arch llama --seed 1 " +
                            dims + " --vocab-pad 31680 --context 2048 --type " + type + " --out " +
                            path + ".tmp && mv " + path + ".tmp " + path;
    if (std::system(cmd.c_str()) != 0) return "";
  }
  return path;
}

}  // namespace infergate::bench
