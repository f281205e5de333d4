// Shared by the CUDA tests: the skip on a machine without a device, and host<->device copies.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "infergate/llm/cuda/device.h"
#include "llm/cuda/device_buffer.h"

namespace infergate::llm::cuda::testing {

// Every test that needs a GPU starts with this; here (no GPU lent) they all skip and say why.
#define INFERGATE_REQUIRE_CUDA_DEVICE()                        \
  do {                                                         \
    std::string why_;                                          \
    if (::infergate::llm::cuda::CudaDeviceCount(&why_) == 0) { \
      GTEST_SKIP() << "no CUDA device: " << why_;              \
    }                                                          \
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);                  \
  } while (0)

template <typename T>
DeviceBuffer ToDevice(const std::vector<T>& host) {
  DeviceBuffer b;
  EXPECT_EQ(b.Allocate(host.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(b.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return b;
}

inline DeviceBuffer Zeros(size_t bytes) {
  DeviceBuffer b;
  EXPECT_EQ(b.Allocate(bytes), cudaSuccess);
  EXPECT_EQ(cudaMemset(b.get(), 0, bytes), cudaSuccess);
  return b;
}

template <typename T>
std::vector<T> ToHost(const DeviceBuffer& b, size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), b.get(), n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace infergate::llm::cuda::testing
