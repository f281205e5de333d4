// Integer dot products for the quantized matmuls (llama.cpp's approach): the activation vector is
// quantized once per matmul to blocks of 32 signed bytes with a float scale, and each Q8_0 or
// Q4_K weight row is dotted with it in integers, the scales applied once per block. This
// trades a rounding of the activations (about what 8-bit weights cost) for a kernel that
// multiplies 32 byte pairs per instruction instead of converting every weight to float.
//
// Two implementations: portable scalar code and AVX2+FMA+F16C (chosen at run time by CPU
// support). Both quantize identically and sum the same integers; they differ only in the order
// of the float sums (tests hold them to each other).
#pragma once

#include <cstdint>

namespace infergate::llm {

// 32 activations: x[i] ~ d * q[i]; s = d * sum(q) (what Q4_K's block minimum multiplies).
struct Q8Block {
  float d;
  float s;
  int8_t q[32];
};

struct QKernels {
  const char* name;
  // n values (a multiple of 32) into n / 32 blocks.
  void (*quantize)(const float* x, int n, Q8Block* out);
  // A Q8_0 row of n_blocks * 32 values with the quantized activations.
  float (*dot_q8_0)(const uint8_t* row, const Q8Block* x, int n_blocks);
  // A Q4_K row of n_super * 256 values.
  float (*dot_q4_k)(const uint8_t* row, const Q8Block* x, int n_super);
};

const QKernels& ScalarKernels();
// Null when the CPU lacks AVX2, FMA or F16C (or the compiler could not build them).
const QKernels* Avx2Kernels();
// The AVX2 kernels where the CPU has them, else the scalar ones.
const QKernels& BestKernels();

}  // namespace infergate::llm
