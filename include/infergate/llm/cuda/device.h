// CUDA devices as the model runner sees them (issue 17, README "Local model runner"): how many
// there are, and whether one can run the runner's kernels. Built only with INFERGATE_CUDA.
//
// Thread safety: both functions may be called from any thread. Neither throws; a machine with
// no GPU or no driver is an answer (0 devices and why), not an error path that crashes.
#pragma once

#include <cstddef>
#include <string>

#include "infergate/core/expected.h"

namespace infergate::llm::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  size_t total_bytes = 0;
  size_t free_bytes = 0;  // when CheckDevice asked
  int cc_major = 0;       // compute capability
  int cc_minor = 0;
  int multiprocessors = 0;
  size_t shared_per_block_optin = 0;  // the most dynamic shared memory one block may ask for
};

// The oldest compute capability this build has kernels for (CMAKE_CUDA_ARCHITECTURES).
inline constexpr int kMinComputeCapability = 75;

// Number of CUDA devices; 0 when there is none or the driver cannot be used, with the reason in
// *why ("no CUDA driver is installed (libcuda.so.1 not found)", "no CUDA-capable device is
// present", ...) when why is not null.
int CudaDeviceCount(std::string* why = nullptr);

// Device `index` (as in `device: cuda:N`) if it exists and can run the kernels, with its name,
// memory and compute capability; otherwise an error that says which and why, for config load
// to refuse the runner with.
Expected<DeviceInfo, std::string> CheckDevice(int index);

}  // namespace infergate::llm::cuda
