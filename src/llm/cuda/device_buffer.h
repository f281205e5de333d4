// Owned device memory: cudaMalloc'd bytes freed when the owner goes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

namespace infergate::llm::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(o.bytes_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = o.bytes_;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Allocates `bytes` on the current device, freeing what was held. On failure nothing is held.
  cudaError_t Allocate(size_t bytes) {
    Reset();
    const cudaError_t e = cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes);
    if (e != cudaSuccess) {
      ptr_ = nullptr;
      cudaGetLastError();  // an allocation failure is reported here, not by the next launch
      return e;
    }
    bytes_ = bytes;
    return cudaSuccess;
  }
  void Reset() {
    // Under unified addressing cudaFree finds the pointer's device whichever one is current.
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace infergate::llm::cuda
