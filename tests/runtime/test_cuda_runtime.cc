// The runtime's CUDA support without linking CUDA: libtessel_runtime.so needs no CUDA library (the
// driver is opened with dlopen on first use), the availability check and CUDA tensors report a
// missing driver as TESSEL_ERROR_NO_DEVICE with the reason (never a crash), and tensor copies work
// between CPU tensors of any strides. With a GPU, host <-> device round trips keep every byte.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tessel/runtime/c_api.h"
#include "tessel/runtime/runtime.h"

namespace {

std::string runtime_library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&tessel_cuda_available), &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

TEST(CudaRuntime, LibraryHasNoCudaDependency) {
  const std::string path = runtime_library_path();
  ASSERT_NE(path.find("libtessel_runtime.so"), std::string::npos) << path;
  FILE* pipe = popen(("readelf -d '" + path + "' 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  int status = pclose(pipe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) GTEST_SKIP() << "readelf not installed";
  ASSERT_EQ(status, 0) << output;
  ASSERT_NE(output.find("(NEEDED)"), std::string::npos) << output;
  for (const char* name : {"libcuda", "libcudart", "libnvrtc", "libnvidia"}) {
    EXPECT_EQ(output.find(name), std::string::npos) << path << " depends on " << name << ":\n" << output;
  }
}

TEST(CudaRuntime, AvailabilityAndDeviceTensorsWithoutGpuAreClearErrors) {
  std::string why;
  if (tessel::runtime::cuda_available(&why)) GTEST_SKIP() << "a CUDA GPU is present";
  EXPECT_TRUE(why.find("libcuda.so.1") != std::string::npos || why.find("cuInit") != std::string::npos) << why;
  EXPECT_EQ(tessel_cuda_available(), TESSEL_ERROR_NO_DEVICE);
  EXPECT_STREQ(tessel_status_name(TESSEL_ERROR_NO_DEVICE), "TESSEL_ERROR_NO_DEVICE");
  EXPECT_EQ(tessel_get_last_error(), why);

  int64_t shape[2] = {3, 5};
  TesselTensor* tensor = nullptr;
  EXPECT_EQ(tessel_tensor_alloc(2, shape, DLDataType{kDLFloat, 32, 1}, DLDevice{kDLCUDA, 0}, &tensor),
            TESSEL_ERROR_NO_DEVICE);
  EXPECT_EQ(tensor, nullptr);
  EXPECT_EQ(tessel_get_last_error(), why);
  try {
    tessel::runtime::Tensor::empty({3, 5}, DLDataType{kDLFloat, 32, 1}, DLDevice{kDLCUDA, 0});
    ADD_FAILURE() << "allocating GPU memory without a GPU succeeded";
  } catch (const tessel::runtime::Error& error) {
    EXPECT_EQ(error.status(), TESSEL_ERROR_NO_DEVICE);
  }
  // Copying to a (pretend) device tensor needs the driver too.
  std::vector<float> host(15, 1.0f);
  DLTensor src{host.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
  DLTensor dst{reinterpret_cast<void*>(0x1000), {kDLCUDA, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
  EXPECT_EQ(tessel_tensor_copy(&src, &dst), TESSEL_ERROR_NO_DEVICE);
}

TEST(CudaRuntime, TensorCopyChecksAndCopiesCpuTensors) {
  // A transposed (strided) view of a 7x3 matrix copied into a compact 3x7 tensor.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> source(21), destination(21, 0.0f);
  for (float& v : source) v = dist(rng);
  int64_t shape[2] = {3, 7}, strides[2] = {1, 3};
  DLTensor src{source.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, strides, 0};
  DLTensor dst{destination.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
  ASSERT_EQ(tessel_tensor_copy(&src, &dst), TESSEL_OK) << tessel_get_last_error();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 7; ++j) EXPECT_EQ(destination[i * 7 + j], source[j * 3 + i]);
  int64_t other[2] = {7, 3};
  DLTensor wrong_shape{destination.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, other, nullptr, 0};
  EXPECT_EQ(tessel_tensor_copy(&src, &wrong_shape), TESSEL_ERROR_SHAPE_MISMATCH);
  DLTensor wrong_type = dst;
  wrong_type.dtype = DLDataType{kDLInt, 32, 1};
  EXPECT_EQ(tessel_tensor_copy(&src, &wrong_type), TESSEL_ERROR_DTYPE_MISMATCH);
  DLTensor opencl = dst;
  opencl.device = DLDevice{kDLOpenCL, 0};
  EXPECT_EQ(tessel_tensor_copy(&src, &opencl), TESSEL_ERROR_INVALID_ARGUMENT);
}

TEST(CudaRuntime, HostDeviceRoundTripOnGpu) {
  std::string why;
  if (!tessel::runtime::cuda_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> source(5 * 13), back(5 * 13, 0.0f);
  for (float& v : source) v = dist(rng);
  int64_t shape[2] = {5, 13}, strides[2] = {1, 5};  // a strided host view
  DLTensor src{source.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, strides, 0};
  auto device = tessel::runtime::Tensor::empty({5, 13}, DLDataType{kDLFloat, 32, 1}, DLDevice{kDLCUDA, 0});
  auto device2 = tessel::runtime::Tensor::empty({5, 13}, DLDataType{kDLFloat, 32, 1}, DLDevice{kDLCUDA, 0});
  DLTensor d1 = device.dltensor(), d2 = device2.dltensor();
  tessel::runtime::copy(src, d1);
  tessel::runtime::copy(d1, d2);
  DLTensor dst{back.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
  tessel::runtime::copy(d2, dst);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 13; ++j) EXPECT_EQ(back[i * 13 + j], source[j * 5 + i]);
}

}  // namespace
