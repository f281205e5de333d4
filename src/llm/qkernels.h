// Integer dot products for the quantized matmuls (llama.cpp's approach): the activation vector is
// quantized once per matmul to signed bytes with float scales, and each Q8_0 or Q4_K weight row
// is dotted with it in integers, the scales applied once per block. This trades a rounding of
// the activations (about what 8-bit weights cost) for kernels that multiply 32 byte pairs per
// instruction instead of converting every weight to float.
//
// Q8_0 rows pair with Q8Block activations (32 values, one scale, as the weights); Q4_K and Q6_K
// rows with Q8KBlock (256 values, one scale, and integer sums per 16), so that a whole
// super-block's sub-block scales are applied in integers and only one float multiply is left per
// 256 values.
//
// Each dot takes up to its set's max_vectors activation vectors: one weight row is decoded once
// for all of them (the batch dimension of a matmul).
//
// Three implementations, chosen at run time by CPU support: portable scalar code, AVX2+FMA+F16C,
// and AVX-512 with VNNI (qkernels_avx512.cc: 64 byte products per instruction). All quantize to
// the same values and sum the same integers; they differ only in the order of the float sums
// (tests hold them to each other). The AVX-512 set keeps a Q8_0 activation vector's bytes in its
// own order within the same memory (all values first, then the scales, so that two blocks are 64
// contiguous bytes): a set's Q8Block arrays are read only by that set's dots.
#pragma once

#include <cstddef>
#include <cstdint>

namespace infergate::llm {

// 32 activations: x[i] ~ d * q[i].
struct Q8Block {
  float d;
  int8_t q[32];
};

// 256 activations: x[i] ~ d * q[i]; sums[j] = sum of q over values 16j .. 16j+15 (what Q4_K's
// minimums and Q6_K's offset of 32 multiply).
struct Q8KBlock {
  float d;
  int16_t sums[16];
  int8_t q[256];
};

// The most vectors any set's dots take (the bound of callers' output arrays).
constexpr int kMaxVectors = 8;

// Matmul kernels over weights packed in groups of kPackRows = 16 rows (packed.h): the AVX-512
// and AVX2 sets have them, the scalar set not (null).
struct PackedKernels {
  // n values (a multiple of 32) into n + 8 * n / 32 bytes: the values, their blocks' scales,
  // and -128 times each block's sum (what the packed weights' +128 adds in vpdpbusd; the AVX2
  // kernels, which use the sign trick instead, leave them zero).
  void (*quantize_q8)(const float* x, int n, uint8_t* out);
  // y[v * y_stride + r] = row r of the group . vector v, for r < 16 and v < n_vec (1 to
  // max_vectors); vector v starts at x + v * x_stride (bytes for Q8_0, blocks for Q4_K).
  void (*q8_0)(const uint8_t* group, const uint8_t* x, size_t x_stride, int n_vec, int n_blocks,
               float* y, size_t y_stride);
  void (*q4_k)(const uint8_t* group, const Q8KBlock* x, size_t x_stride, int n_vec, int n_super,
               float* y, size_t y_stride);
  void (*q6_k)(const uint8_t* group, const Q8KBlock* x, size_t x_stride, int n_vec, int n_super,
               float* y, size_t y_stride);  // null: Q6_K stays on the row kernels
};

struct QKernels {
  const char* name;
  int max_vectors;  // 1 to kMaxVectors
  // n values (a multiple of 32, of 256 for quantize_k) into n / 32 or n / 256 blocks.
  void (*quantize)(const float* x, int n, Q8Block* out);
  void (*quantize_k)(const float* x, int n, Q8KBlock* out);
  // out[v] = row . vector v for v < n_vec (1 to max_vectors); vector v's blocks start at
  // x + v * stride. A Q8_0 row of n_blocks * 32 values; a K-quant row of n_super * 256.
  void (*dot_q8_0)(const uint8_t* row, const Q8Block* x, size_t stride, int n_vec, int n_blocks,
                   float* out);
  void (*dot_q4_k)(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec, int n_super,
                   float* out);
  void (*dot_q6_k)(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec, int n_super,
                   float* out);
  PackedKernels packed;
};

const QKernels& ScalarKernels();
// Null when the CPU lacks AVX2, FMA or F16C (or the compiler could not build them).
const QKernels* Avx2Kernels();
// Null when the CPU lacks AVX-512 F/BW/VL/DQ and VNNI, or AVX2's features.
const QKernels* Avx512Kernels();
// The fastest set the CPU has: AVX-512 VNNI, else AVX2, else scalar. INFERGATE_LLM_KERNELS =
// scalar | avx2 | avx512 asks for one (falling back down that list when the CPU lacks it).
const QKernels& BestKernels();

}  // namespace infergate::llm
