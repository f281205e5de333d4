// The device queries: on a machine without a GPU (this one, and CI) they must say so, not fail.
#include <gtest/gtest.h>

#include <string>

#include "infergate/llm/cuda/device.h"

namespace infergate::llm::cuda {
namespace {

TEST(CudaDevice, CountGivesAReasonWhenThereIsNone) {
  std::string why = "stale";
  const int n = CudaDeviceCount(&why);
  EXPECT_GE(n, 0);
  if (n == 0) {
    EXPECT_FALSE(why.empty());
  } else {
    EXPECT_TRUE(why.empty());
  }
  EXPECT_EQ(CudaDeviceCount(), n);  // without a reason asked for, same answer
}

TEST(CudaDevice, CheckRefusesWhatIsNotThere) {
  std::string why;
  const int n = CudaDeviceCount(&why);
  auto missing = CheckDevice(n);  // one past the last
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("device cuda:" + std::to_string(n)), std::string::npos)
      << missing.error();
  if (n == 0) {
    auto first = CheckDevice(0);
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.error(), "device cuda:0: no CUDA device: " + why);
  }
  EXPECT_FALSE(CheckDevice(-1).ok());
}

TEST(CudaDevice, CheckDescribesADevice) {
  std::string why;
  if (CudaDeviceCount(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  auto info = CheckDevice(0);
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_FALSE(info->name.empty());
  EXPECT_GT(info->total_bytes, 0u);
  EXPECT_GT(info->free_bytes, 0u);
  EXPECT_GE(info->cc_major * 10 + info->cc_minor, kMinComputeCapability);
}

}  // namespace
}  // namespace infergate::llm::cuda
