// CudaDeviceCount and CheckDevice: the CUDA runtime's answers turned into counts and messages
// a config error can show.
#include "infergate/llm/cuda/device.h"

#include <cuda_runtime_api.h>

#include <string>

namespace infergate::llm::cuda {
namespace {

std::string RuntimeError(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// Why cudaGetDeviceCount failed, in words that say what to install or fix.
std::string CountFailure(cudaError_t e) {
  int driver = 0;
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0) {
    return "no CUDA driver is installed (libcuda.so.1 not found)";
  }
  switch (e) {
    case cudaErrorNoDevice:
      return "no CUDA-capable device is present";
    case cudaErrorInsufficientDriver:
      return "the CUDA driver (version " + std::to_string(driver) +
             ") is older than this build's runtime (" + std::to_string(runtime) + ")";
    default:
      return "the CUDA runtime cannot use the driver (" + RuntimeError(e) + ")";
  }
}

}  // namespace

int CudaDeviceCount(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    // The failed query leaves an error behind for the next cudaGetLastError; clear it so that
    // it is not blamed on a later, unrelated call.
    cudaGetLastError();
    if (why != nullptr)
      *why = e != cudaSuccess ? CountFailure(e) : "no CUDA-capable device is present";
    return 0;
  }
  if (why != nullptr) why->clear();
  return n;
}

Expected<DeviceInfo, std::string> CheckDevice(int index) {
  const std::string label = "device cuda:" + std::to_string(index);
  std::string why;
  const int count = CudaDeviceCount(&why);
  if (count == 0) return MakeUnexpected(label + ": no CUDA device: " + why);
  if (index < 0 || index >= count) {
    return MakeUnexpected(label + ": this machine has " + std::to_string(count) +
                          " CUDA device(s), cuda:0 to cuda:" + std::to_string(count - 1));
  }
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, index); e != cudaSuccess) {
    return MakeUnexpected(label + ": cannot read its properties (" + RuntimeError(e) + ")");
  }
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.total_bytes = prop.totalGlobalMem;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.shared_per_block_optin = prop.sharedMemPerBlockOptin;
  const std::string what = label + " (" + info.name + ", compute capability " +
                           std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
  if (prop.major * 10 + prop.minor < kMinComputeCapability) {
    return MakeUnexpected(what + ": this build has kernels for compute capability 7.5 and newer");
  }
  if (cudaError_t e = cudaSetDevice(index); e != cudaSuccess) {
    return MakeUnexpected(what + ": cannot be used (" + RuntimeError(e) + ")");
  }
  size_t free_bytes = 0;
  size_t total = 0;
  if (cudaError_t e = cudaMemGetInfo(&free_bytes, &total); e != cudaSuccess) {
    return MakeUnexpected(what + ": cannot create a context on it (" + RuntimeError(e) + ")");
  }
  info.free_bytes = free_bytes;
  return info;
}

}  // namespace infergate::llm::cuda
