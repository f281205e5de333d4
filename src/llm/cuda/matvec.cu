// Matrix x vector(s) and row gathers over weights kept in their GGUF encoding: each value is
// decoded where it is used (decode.cuh), so device memory holds the quantized bytes only.
//
// MatVec: one warp per output row, 8 rows per block, each lane decoding eight values at a time. The block's x vectors (up to kVecTile of
// them, the batch's tokens) are staged in shared memory kChunk columns at a time, so every
// weight value read from global memory is used for all of them: decoding, the expensive part
// for the quantized types, happens once per weight per tile, not once per token.
#include <algorithm>

#include "llm/cuda/decode.cuh"
#include "llm/cuda/kernels.h"

namespace infergate::llm::cuda {
namespace {

constexpr int kWarps = 8;      // rows per block, one per warp
constexpr int kVecTile = 8;    // vectors per block (grid.y covers more)
constexpr int kChunk = 512;    // columns staged at a time: 8 x 512 floats = 16 KiB (a multiple
                               // of 8, so Values8 never starts mid-group)

template <gguf::GgmlType T>
__global__ void __launch_bounds__(kWarps * 32)
    MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_in, int n_out,
                 const float* __restrict__ x, int n_vec, float* __restrict__ y, bool accumulate) {
  __shared__ float xs[kVecTile][kChunk];
  const int lane = threadIdx.x;
  const int tid = threadIdx.y * 32 + lane;
  const int row = blockIdx.x * kWarps + threadIdx.y;
  const int v0 = blockIdx.y * kVecTile;
  const int nv = min(kVecTile, n_vec - v0);
  const uint8_t* wrow = w + static_cast<size_t>(min(row, n_out - 1)) * row_bytes;

  float acc[kVecTile];
#pragma unroll
  for (int v = 0; v < kVecTile; ++v) acc[v] = 0.0f;

  for (int k0 = 0; k0 < n_in; k0 += kChunk) {
    const int len = min(kChunk, n_in - k0);
    __syncthreads();  // every warp is done with the previous chunk
    for (int i = tid; i < nv * kChunk; i += kWarps * 32) {
      const int v = i / kChunk;
      const int c = i - v * kChunk;
      xs[v][c] = c < len ? x[static_cast<size_t>(v0 + v) * n_in + k0 + c] : 0.0f;
    }
    __syncthreads();
    if (row < n_out) {
      // Eight consecutive values per lane (a warp covers 256, one K-quant super-block), so a
      // block's scales are decoded once per eight weights; a row whose length is not a
      // multiple of 8 (plain types only) ends one value per lane.
      const int len8 = len & ~7;
      for (int c = lane * 8; c < len8; c += 32 * 8) {
        float wv[8];
        Decoder<T>::Values8(wrow, k0 + c, wv);
#pragma unroll
        for (int v = 0; v < kVecTile; ++v) {
          if (v < nv) {
#pragma unroll
            for (int k = 0; k < 8; ++k) acc[v] = fmaf(wv[k], xs[v][c + k], acc[v]);
          }
        }
      }
      for (int c = len8 + lane; c < len; c += 32) {
        const float wv = Decoder<T>::Value(wrow, k0 + c);
#pragma unroll
        for (int v = 0; v < kVecTile; ++v) {
          if (v < nv) acc[v] = fmaf(wv, xs[v][c], acc[v]);
        }
      }
    }
  }
  if (row >= n_out) return;  // after the last __syncthreads
#pragma unroll
  for (int v = 0; v < kVecTile; ++v) {
    float s = acc[v];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0 && v < nv) {
      float* out = y + static_cast<size_t>(v0 + v) * n_out + row;
      *out = accumulate ? *out + s : s;
    }
  }
}

template <gguf::GgmlType T>
__global__ void GetRowsKernel(const uint8_t* __restrict__ table, size_t row_bytes, int n_in,
                              const int32_t* __restrict__ ids, float* __restrict__ out) {
  const uint8_t* row = table + static_cast<size_t>(ids[blockIdx.x]) * row_bytes;
  float* dst = out + static_cast<size_t>(blockIdx.x) * n_in;
  for (int j = threadIdx.x; j < n_in; j += blockDim.x) dst[j] = Decoder<T>::Value(row, j);
}

}  // namespace

bool KernelSupports(gguf::GgmlType type) {
  bool seen = false;  // a capture: nvcc warns about a template lambda that could decay
  return DispatchType(type, [&]<gguf::GgmlType>() { seen = true; }) && seen;
}

cudaError_t LaunchMatVec(const MatrixView& w, const float* x, int n_vec, float* y, bool accumulate,
                         cudaStream_t stream) {
  if (n_vec <= 0 || w.n_out <= 0 || w.n_in <= 0) return cudaSuccess;
  const dim3 block(32, kWarps);
  const dim3 grid((w.n_out + kWarps - 1) / kWarps, (n_vec + kVecTile - 1) / kVecTile);
  if (grid.y > 65535) return cudaErrorInvalidConfiguration;
  const bool known = DispatchType(w.type, [&]<gguf::GgmlType T>() {
    MatVecKernel<T><<<grid, block, 0, stream>>>(w.data, w.row_bytes, w.n_in, w.n_out, x, n_vec, y,
                                                accumulate);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t LaunchGetRows(const MatrixView& table, const int32_t* ids, int n, float* out,
                          cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool known = DispatchType(table.type, [&]<gguf::GgmlType T>() {
    GetRowsKernel<T><<<n, 256, 0, stream>>>(table.data, table.row_bytes, table.n_in, ids, out);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace infergate::llm::cuda
