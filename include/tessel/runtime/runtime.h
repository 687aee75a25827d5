// Tessel runtime C++ API: a thin header-only wrapper over the C ABI (c_api.h) with RAII handles
// and exceptions. Same behaviour and errors as the C API: every failure throws tessel::runtime::Error
// carrying the C status code and the runtime's message. Links against libtessel_runtime only.
//
//   tessel::runtime::Module module("model.so");
//   module.set_input("x", x_dltensor);   // or set_input(0, ...)
//   module.run();
//   module.get_output(0, &y_dltensor);
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tessel/runtime/c_api.h"

namespace tessel::runtime {

class Error : public std::runtime_error {
 public:
  Error(TesselStatus status, const std::string& message) : std::runtime_error(message), status_(status) {}
  TesselStatus status() const { return status_; }

 private:
  TesselStatus status_;
};

// Throws Error when a C ABI call failed.
inline void check(int32_t status) {
  if (status != TESSEL_OK) throw Error(static_cast<TesselStatus>(status), tessel_get_last_error());
}

// Name, shape and element type of a module input or output.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  DLDataType dtype{};
};

// True when a CUDA GPU can be used; otherwise false with the reason in *why (no driver, cuInit's
// error). Nothing links against CUDA: the driver is opened with dlopen on first use.
inline bool cuda_available(std::string* why = nullptr) {
  int32_t status = tessel_cuda_available();
  if (why != nullptr) *why = status == TESSEL_OK ? "" : tessel_get_last_error();
  return status == TESSEL_OK;
}

// Copies src into dst (same shape and dtype; CPU with any strides or compact CUDA memory on
// either side).
inline void copy(const DLTensor& src, DLTensor& dst) { check(tessel_tensor_copy(&src, &dst)); }

// An owned tensor: compact, 64-byte aligned CPU memory or CUDA device memory (allocated), or
// imported from DLPack.
class Tensor {
 public:
  // device {kDLCUDA, 0} allocates GPU memory (Error TESSEL_ERROR_NO_DEVICE without a GPU).
  static Tensor empty(const std::vector<int64_t>& shape, DLDataType dtype, DLDevice device = DLDevice{kDLCPU, 0}) {
    TesselTensor* handle = nullptr;
    check(tessel_tensor_alloc(static_cast<int32_t>(shape.size()), shape.data(), dtype, device, &handle));
    return Tensor(handle);
  }
  // Takes ownership of `managed` without copying (on failure the caller keeps it).
  static Tensor from_dlpack(DLManagedTensor* managed) {
    TesselTensor* handle = nullptr;
    check(tessel_tensor_from_dlpack(managed, &handle));
    return Tensor(handle);
  }

  Tensor(Tensor&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Tensor& operator=(Tensor&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor() { tessel_tensor_free(handle_); }

  const DLTensor& dltensor() const {
    const DLTensor* view = nullptr;
    check(tessel_tensor_as_dltensor(handle_, &view));
    return *view;
  }
  // The caller owns the result and must call its deleter; it shares this tensor's data.
  DLManagedTensor* to_dlpack() const {
    DLManagedTensor* managed = nullptr;
    check(tessel_tensor_to_dlpack(handle_, &managed));
    return managed;
  }
  template <typename T>
  T* data() const {
    const DLTensor& view = dltensor();
    return reinterpret_cast<T*>(static_cast<char*>(view.data) + view.byte_offset);
  }

 private:
  explicit Tensor(TesselTensor* handle) : handle_(handle) {}
  TesselTensor* handle_ = nullptr;
};

// A loaded module library and its graph executor. Not for concurrent use from several threads.
class Module {
 public:
  explicit Module(const std::string& path) { check(tessel_module_load(path.c_str(), &handle_)); }
  Module(Module&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Module& operator=(Module&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module() { tessel_module_free(handle_); }

  int32_t num_inputs() const {
    int32_t n = 0;
    check(tessel_module_num_inputs(handle_, &n));
    return n;
  }
  int32_t num_outputs() const {
    int32_t n = 0;
    check(tessel_module_num_outputs(handle_, &n));
    return n;
  }
  TensorInfo input_info(int32_t index) const {
    TesselTensorInfo info{};
    check(tessel_module_input_info(handle_, index, &info));
    return convert(info);
  }
  TensorInfo output_info(int32_t index) const {
    TesselTensorInfo info{};
    check(tessel_module_output_info(handle_, index, &info));
    return convert(info);
  }
  int32_t input_index(const std::string& name) const {
    int32_t index = -1;
    check(tessel_module_input_index(handle_, name.c_str(), &index));
    return index;
  }
  int32_t output_index(const std::string& name) const {
    int32_t index = -1;
    check(tessel_module_output_index(handle_, name.c_str(), &index));
    return index;
  }
  std::string metadata_json() const {
    const char* text = nullptr;
    check(tessel_module_metadata_json(handle_, &text));
    return text;
  }
  std::string graph_json() const {
    const char* text = nullptr;
    check(tessel_module_graph_json(handle_, &text));
    return text;
  }

  // Copies `value` into the input.
  void set_input(const std::string& name, const DLTensor& value) {
    check(tessel_module_set_input(handle_, name.c_str(), &value));
  }
  void set_input(int32_t index, const DLTensor& value) { check(tessel_module_set_input_index(handle_, index, &value)); }
  // Uses the caller's memory in place (compact, 64-byte aligned) until the next set_input.
  void set_input_zero_copy(int32_t index, const DLTensor& value) {
    check(tessel_module_set_input_zero_copy(handle_, index, &value));
  }
  void set_output_zero_copy(int32_t index, const DLTensor* value) {
    check(tessel_module_set_output_zero_copy(handle_, index, value));
  }
  void run() { check(tessel_module_run(handle_)); }
  void get_output(int32_t index, DLTensor* destination) const {
    check(tessel_module_get_output(handle_, index, destination));
  }
  // A new tensor holding a copy of output `index`.
  Tensor get_output(int32_t index) const {
    TensorInfo info = output_info(index);
    Tensor tensor = Tensor::empty(info.shape, info.dtype);
    DLTensor view = tensor.dltensor();
    get_output(index, &view);
    return tensor;
  }
  // Per-kernel times over `repeat` runs, as a text table.
  std::string run_profile(int32_t repeat = 10) {
    const char* table = nullptr;
    check(tessel_module_run_profile(handle_, repeat, &table));
    return table;
  }
  TesselModule* handle() const { return handle_; }

 private:
  static TensorInfo convert(const TesselTensorInfo& info) {
    return TensorInfo{info.name, std::vector<int64_t>(info.shape, info.shape + info.ndim), info.dtype};
  }
  TesselModule* handle_ = nullptr;
};

}  // namespace tessel::runtime
