// Damaged files: every truncation of a valid file, and seeded random byte flips and overwrites.
// Parse must return an error or a file whose every view stays inside the bytes; the bytes are
// an exact-size heap copy, so under ASan any read past them fails the test.
#include <gtest/gtest.h>

#include <random>

#include "infergate/gguf/gguf_file.h"
#include "unit/gguf/gguf_builder.h"
#include "unit/gguf/gguf_walk.h"

namespace infergate::gguf {
namespace {

using test::BuilderTensor;
using test::ByteWriter;
using test::F32Bytes;
using test::GgufBuilder;

std::vector<uint8_t> ValidFile() {
  GgufBuilder b;
  b.String("general.architecture", "llama")
      .U32("llama.block_count", 2)
      .F32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .StringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "▁a", "b"})
      .ScalarArray<float>("tokenizer.ggml.scores", 6, {0, 0, 0, -1, -2})
      .ScalarArray<int32_t>("tokenizer.ggml.token_type", 5, {2, 3, 3, 1, 1})
      .Scalar<uint8_t>("flag", 7, 1);
  ByteWriter nested;
  nested.Put<uint32_t>(9);
  nested.Put<uint64_t>(1);
  nested.Put<uint32_t>(8);
  nested.Put<uint64_t>(2);
  nested.PutString("x");
  nested.PutString("yz");
  b.Raw("nested", 9, nested.bytes);
  b.Tensor({"token_embd.weight", {8, 5}, 0, F32Bytes(std::vector<float>(40, 0.5f))});
  b.Tensor({"f16", {4}, 1, std::vector<uint8_t>(8, 0x3c)});
  b.Tensor({"q8", {32, 2}, 8, std::vector<uint8_t>(68, 0x11)});
  b.Tensor({"q4k", {256}, 12, std::vector<uint8_t>(144, 0x22)});
  b.Tensor({"q6k", {256}, 14, std::vector<uint8_t>(210, 0x33)});
  return b.Build();
}

bool ParsesOk(std::vector<uint8_t> bytes) {
  auto f = GgufFile::Parse(Mapping::FromBytes(std::move(bytes)), "fuzz");
  if (!f.ok()) {
    EXPECT_FALSE(f.error().empty());
    return false;
  }
  test::WalkEverything(**f);
  return true;
}

TEST(GgufFuzz, EveryTruncationIsRefused) {
  const std::vector<uint8_t> bytes = ValidFile();
  ASSERT_TRUE(ParsesOk(bytes));
  for (size_t len = 0; len < bytes.size(); ++len) {
    // The last tensor's data ends at the file's end, so every proper prefix lacks something.
    ASSERT_FALSE(ParsesOk(std::vector<uint8_t>(bytes.begin(), bytes.begin() + len))) << len;
  }
}

TEST(GgufFuzz, RandomFlipsNeverCrash) {
  const std::vector<uint8_t> bytes = ValidFile();
  auto good = GgufFile::Parse(Mapping::FromBytes(bytes), "fuzz");
  ASSERT_TRUE(good.ok());
  const size_t header_end = (*good)->data_offset();
  std::mt19937_64 rng(20261206);
  int ok = 0, refused = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> mutated = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly in the header, metadata and tensor infos, where the structure is.
      const size_t span = (rng() % 8 == 0) ? mutated.size() : header_end;
      const size_t at = rng() % span;
      switch (rng() % 3) {
        case 0:
          mutated[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          mutated[at] = static_cast<uint8_t>(rng());
          break;
        default:
          // A large little-endian number over whatever field starts here.
          for (size_t i = at; i < std::min(at + 8, mutated.size()); ++i) {
            mutated[i] = (i == at + 7) ? 0x7f : 0xff;
          }
          break;
      }
    }
    (ParsesOk(std::move(mutated)) ? ok : refused)++;
  }
  // Both outcomes happen: the test exercises the refusals and the walk of accepted files.
  EXPECT_GT(ok, 100);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace infergate::gguf
