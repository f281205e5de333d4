// Packed matrices (llm/packed.h): MatMul through the packed copy and the AVX2 or AVX-512 kernels
// gives what the scalar row kernels give, for Q8_0 (odd and even block counts) and Q4_K, for
// batches that fill the kernels' eight vectors and batches that do not; what cannot be packed is
// not.
#include "llm/packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string_view>
#include <vector>

#include "llm/matmul.h"
#include "llm/qkernels.h"
#include "random_rows.h"

namespace infergate::llm {
namespace {

struct Rows {
  std::vector<uint8_t> bytes;
  Matrix m;
};

Rows RandomMatrix(std::mt19937& rng, gguf::GgmlType type, int n_in, int n_out) {
  Rows r;
  for (int o = 0; o < n_out; ++o) {
    const std::vector<uint8_t> row = RandomRow(rng, type, n_in);
    r.bytes.insert(r.bytes.end(), row.begin(), row.end());
  }
  r.m.type = type;
  r.m.n_in = n_in;
  r.m.n_out = n_out;
  r.m.row_bytes = r.bytes.size() / static_cast<size_t>(n_out);
  r.m.data = r.bytes.data();
  return r;
}

class PackedMatMul : public ::testing::TestWithParam<const char*> {};

TEST_P(PackedMatMul, MatchesTheScalarRowKernels) {
  const QKernels* k = std::string_view(GetParam()) == "avx2" ? Avx2Kernels() : Avx512Kernels();
  if (k == nullptr || k->packed.q8_0 == nullptr) GTEST_SKIP() << "this CPU lacks " << GetParam();
  std::mt19937 rng(7);
  struct Case {
    gguf::GgmlType type;
    int n_in;
  };
  for (const Case c : {Case{gguf::GgmlType::kQ8_0, 256}, Case{gguf::GgmlType::kQ8_0, 288},
                       Case{gguf::GgmlType::kQ4_K, 256}, Case{gguf::GgmlType::kQ4_K, 768},
                       Case{gguf::GgmlType::kQ6_K, 256}, Case{gguf::GgmlType::kQ6_K, 512}}) {
    Rows r = RandomMatrix(rng, c.type, c.n_in, 48);
    ASSERT_TRUE(Packable(r.m));
    const auto packed = Pack(r.m);
    ASSERT_NE(packed, nullptr);
    Matrix with_packed = r.m;
    with_packed.packed = packed.get();
    for (int n_batch : {1, 3, 8, 11}) {
      const std::vector<float> x = RandomVector(rng, n_batch * c.n_in, n_batch % 2 ? 0.02f : 4.0f);
      std::vector<float> got(static_cast<size_t>(n_batch * 48)), want(got.size());
      MatMulScratch s1, s2;
      MatMul(with_packed, x.data(), n_batch, got.data(), s1, nullptr, k);
      MatMul(r.m, x.data(), n_batch, want.data(), s2, nullptr, &ScalarKernels());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
            << gguf::TypeName(c.type) << " n_in " << c.n_in << " batch " << n_batch << " output "
            << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sets, PackedMatMul, ::testing::Values("avx2", "avx512"));

TEST(Packed, OnlyWholeGroupsOfQ8_0AndQ4_K) {
  std::mt19937 rng(8);
  EXPECT_FALSE(Packable(RandomMatrix(rng, gguf::GgmlType::kQ8_0, 64, 40).m));  // 2.5 groups
  EXPECT_FALSE(Packable(RandomMatrix(rng, gguf::GgmlType::kQ4_0, 256, 32).m));
  EXPECT_FALSE(Packable(Matrix{}));
  EXPECT_TRUE(Packable(RandomMatrix(rng, gguf::GgmlType::kQ4_K, 256, 32).m));
}

}  // namespace
}  // namespace infergate::llm
