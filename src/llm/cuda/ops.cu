// The element-wise and per-row kernels of the forward pass: RMSNorm, RoPE, the KV-cache store,
// causal attention, biases, SwiGLU and row gathers (kernels.h says what each computes).
#include <cmath>

#include "llm/cuda/kernels.h"

namespace infergate::llm::cuda {
namespace {

constexpr int kNormThreads = 256;
constexpr int kAttnThreads = 128;
constexpr int kElemThreads = 256;

__device__ __forceinline__ float WarpSum(float s) {
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  return s;
}
__device__ __forceinline__ float WarpMax(float s) {
  for (int off = 16; off > 0; off >>= 1) s = fmaxf(s, __shfl_xor_sync(0xffffffffu, s, off));
  return s;
}

// Sum (or max) over the block; every thread gets the result. `red` holds 32 floats.
template <bool kMax>
__device__ float BlockReduce(float v, float* red) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = (blockDim.x + 31) >> 5;
  v = kMax ? WarpMax(v) : WarpSum(v);
  __syncthreads();  // `red` may still be read from a previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < n_warps ? red[lane] : (kMax ? -INFINITY : 0.0f);
  return kMax ? WarpMax(v) : WarpSum(v);
}

__global__ void RmsNormKernel(const float* x, const float* __restrict__ w, int width, float eps,
                              float* out) {
  __shared__ float red[32];
  const float* xr = x + static_cast<size_t>(blockIdx.x) * width;
  float* yr = out + static_cast<size_t>(blockIdx.x) * width;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < width; j += blockDim.x) ss += xr[j] * xr[j];
  ss = BlockReduce<false>(ss, red);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(width) + eps);
  for (int j = threadIdx.x; j < width; j += blockDim.x) yr[j] = xr[j] * scale * w[j];
}

__global__ void RopeTableKernel(const double* __restrict__ inv_freq,
                                const TokenSlot* __restrict__ slots, int n_tokens, int half,
                                float* __restrict__ cs) {
  const size_t total = static_cast<size_t>(n_tokens) * half;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int t = static_cast<int>(idx / half);
    const int i = static_cast<int>(idx % half);
    double s;
    double c;
    sincos(static_cast<double>(slots[t].pos) * inv_freq[i], &s, &c);
    cs[2 * idx] = static_cast<float>(c);
    cs[2 * idx + 1] = static_cast<float>(s);
  }
}

__global__ void RopeKernel(float* x, int n_tokens, int n_heads, int head_dim, int n_rot,
                           const float* __restrict__ cs, bool neox) {
  const int half = n_rot / 2;
  const size_t total = static_cast<size_t>(n_tokens) * n_heads * half;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const size_t th = idx / half;  // token * n_heads + head
    const int t = static_cast<int>(th / n_heads);
    float* head = x + th * head_dim;
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    const float c = cs[(static_cast<size_t>(t) * half + i) * 2];
    const float s = cs[(static_cast<size_t>(t) * half + i) * 2 + 1];
    const float xa = head[a];
    const float xb = head[b];
    head[a] = xa * c - xb * s;
    head[b] = xa * s + xb * c;
  }
}

__device__ __forceinline__ float* LayerKeys(const TokenSlot& slot, int layer, int kv_dim) {
  return slot.cache + static_cast<size_t>(layer) * 2 * slot.capacity * kv_dim;
}

__global__ void KvStoreKernel(const float* __restrict__ k, const float* __restrict__ v,
                              const TokenSlot* __restrict__ slots, int kv_dim, int layer) {
  const TokenSlot slot = slots[blockIdx.x];
  float* kc = LayerKeys(slot, layer, kv_dim);
  float* vc = kc + static_cast<size_t>(slot.capacity) * kv_dim;
  const size_t src = static_cast<size_t>(blockIdx.x) * kv_dim;
  const size_t dst = static_cast<size_t>(slot.pos) * kv_dim;
  for (int e = threadIdx.x; e < kv_dim; e += blockDim.x) {
    kc[dst + e] = k[src + e];
    vc[dst + e] = v[src + e];
  }
}

// One block per (token, query head). Dynamic shared memory: head_dim floats of the scaled
// query, then one score per position 0..pos (they become the softmax weights in place).
__global__ void __launch_bounds__(kAttnThreads)
    AttentionKernel(const float* __restrict__ q, const TokenSlot* __restrict__ slots,
                    AttentionShape shape, float* __restrict__ out) {
  extern __shared__ float smem[];
  __shared__ float red[32];
  const int t = blockIdx.x;
  const int h = blockIdx.y;
  const int hd = shape.head_dim;
  const int kv_dim = shape.n_head_kv * hd;
  const int kvh = h / (shape.n_head / shape.n_head_kv);
  const TokenSlot slot = slots[t];
  const int n_pos = slot.pos + 1;
  const float* keys = LayerKeys(slot, shape.layer, kv_dim) + static_cast<size_t>(kvh) * hd;
  const float* values = keys + static_cast<size_t>(slot.capacity) * kv_dim;
  float* qs = smem;
  float* scores = smem + hd;

  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const float* qh = q + (static_cast<size_t>(t) * shape.n_head + h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qh[d] * scale;
  __syncthreads();

  // Scores: a warp per position, its lanes across head_dim (coalesced reads of the key row).
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  for (int p = warp; p < n_pos; p += n_warps) {
    const float* kr = keys + static_cast<size_t>(p) * kv_dim;
    float s = 0.0f;
    for (int d = lane; d < hd; d += 32) s += qs[d] * kr[d];
    s = WarpSum(s);
    if (lane == 0) scores[p] = s;
  }
  __syncthreads();

  float m = -INFINITY;
  for (int p = threadIdx.x; p < n_pos; p += blockDim.x) m = fmaxf(m, scores[p]);
  m = BlockReduce<true>(m, red);
  float sum = 0.0f;
  for (int p = threadIdx.x; p < n_pos; p += blockDim.x) {
    const float e = expf(scores[p] - m);
    scores[p] = e;
    sum += e;
  }
  sum = BlockReduce<false>(sum, red);  // its __syncthreads also publishes the weights
  const float inv = 1.0f / sum;

  // Output: a thread per dimension, walking the positions (coalesced reads of the value rows).
  float* oh = out + (static_cast<size_t>(t) * shape.n_head + h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int p = 0; p < n_pos; ++p) acc += scores[p] * values[static_cast<size_t>(p) * kv_dim + d];
    oh[d] = acc * inv;
  }
}

__global__ void AddBiasKernel(float* y, const float* __restrict__ bias, size_t total, int width) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] += bias[i % width];
  }
}

__global__ void SwiGluKernel(float* gate, const float* __restrict__ up, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    gate[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void GatherRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ rows,
                                 int width, float* __restrict__ out) {
  const float* src = x + static_cast<size_t>(rows[blockIdx.x]) * width;
  float* dst = out + static_cast<size_t>(blockIdx.x) * width;
  for (int j = threadIdx.x; j < width; j += blockDim.x) dst[j] = src[j];
}

// Blocks for a grid-stride loop over n elements: enough to fill any current GPU, no more.
unsigned ElemBlocks(size_t n) {
  const size_t blocks = (n + kElemThreads - 1) / kElemThreads;
  return static_cast<unsigned>(blocks < 4096 ? (blocks == 0 ? 1 : blocks) : 4096);
}

size_t AttentionSharedBytes(int max_positions, int head_dim) {
  return (static_cast<size_t>(max_positions) + static_cast<size_t>(head_dim)) * sizeof(float);
}

// Dynamic shared memory a block may use without opting in.
constexpr size_t kDefaultSharedBytes = 48 * 1024;

}  // namespace

cudaError_t LaunchRmsNorm(const float* x, const float* weight, int n_rows, int width, float eps,
                          float* out, cudaStream_t stream) {
  if (n_rows <= 0) return cudaSuccess;
  RmsNormKernel<<<n_rows, kNormThreads, 0, stream>>>(x, weight, width, eps, out);
  return cudaGetLastError();
}

cudaError_t LaunchRopeTable(const double* inv_freq, const TokenSlot* slots, int n_tokens, int half,
                            float* cs, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(n_tokens) * half;
  if (n == 0) return cudaSuccess;
  RopeTableKernel<<<ElemBlocks(n), kElemThreads, 0, stream>>>(inv_freq, slots, n_tokens, half, cs);
  return cudaGetLastError();
}

cudaError_t LaunchRope(float* x, int n_tokens, int n_heads, int head_dim, int n_rot,
                       const float* cs, bool neox, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(n_tokens) * n_heads * (n_rot / 2);
  if (n == 0) return cudaSuccess;
  RopeKernel<<<ElemBlocks(n), kElemThreads, 0, stream>>>(x, n_tokens, n_heads, head_dim, n_rot,
                                                         cs, neox);
  return cudaGetLastError();
}

cudaError_t LaunchKvStore(const float* k, const float* v, const TokenSlot* slots, int n_tokens,
                          const AttentionShape& shape, cudaStream_t stream) {
  if (n_tokens <= 0) return cudaSuccess;
  KvStoreKernel<<<n_tokens, kElemThreads, 0, stream>>>(k, v, slots, shape.n_head_kv * shape.head_dim,
                                                       shape.layer);
  return cudaGetLastError();
}

int MaxAttentionPositions(size_t shared_optin, int head_dim) {
  // The static part of the kernel's shared memory (`red`) comes out of the same budget.
  const size_t usable = shared_optin > 32 * sizeof(float) ? shared_optin - 32 * sizeof(float) : 0;
  const size_t floats = usable / sizeof(float);
  return floats > static_cast<size_t>(head_dim) ? static_cast<int>(floats - head_dim) : 0;
}

cudaError_t LaunchAttention(const float* q, const TokenSlot* slots, int n_tokens,
                            const AttentionShape& shape, int max_positions, float* out,
                            cudaStream_t stream) {
  if (n_tokens <= 0) return cudaSuccess;
  const size_t bytes = AttentionSharedBytes(max_positions, shape.head_dim);
  if (bytes > kDefaultSharedBytes) {
    // Long contexts need the opt-in to more than 48 KiB (compute capability 7.0 and newer).
    const cudaError_t e = cudaFuncSetAttribute(
        AttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  const dim3 grid(n_tokens, shape.n_head);
  AttentionKernel<<<grid, kAttnThreads, bytes, stream>>>(q, slots, shape, out);
  return cudaGetLastError();
}

cudaError_t LaunchAddBias(float* y, const float* bias, int n_rows, int width, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(n_rows) * width;
  if (n == 0) return cudaSuccess;
  AddBiasKernel<<<ElemBlocks(n), kElemThreads, 0, stream>>>(y, bias, n, width);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGlu(float* gate, const float* up, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SwiGluKernel<<<ElemBlocks(n), kElemThreads, 0, stream>>>(gate, up, n);
  return cudaGetLastError();
}

cudaError_t LaunchGatherRows(const float* x, const int32_t* rows, int n, int width, float* out,
                             cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  GatherRowsKernel<<<n, kElemThreads, 0, stream>>>(x, rows, width, out);
  return cudaGetLastError();
}

}  // namespace infergate::llm::cuda
