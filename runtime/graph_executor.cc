// The graph executor: binds inputs (copied into the module's buffers, or the caller's memory used
// in place), runs the plan's kernel calls in order over the static memory plan computed at export
// time, copies outputs out, and profiles per-kernel times. For a CUDA module the same entry points
// forward to its CudaExecutor (storages in device memory, kernels launched on the GPU).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>

#include "cuda_module.h"
#include "runtime_module.h"

using tessel_rt::RuntimeError;
using tessel_rt::TensorInfo;

namespace {

void check_index(int32_t index, size_t count, const char* what) {
  TESSEL_RT_CHECK(index >= 0 && static_cast<size_t>(index) < count, TESSEL_ERROR_INVALID_ARGUMENT)
      << what << " index " << index << " is out of range (the module has " << count << ")";
}

void check_zero_copy(const DLTensor* value, const std::string& what) {
  TESSEL_RT_CHECK(tessel_rt::is_compact(value), TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": zero-copy binding needs a compact (row-major, contiguous) tensor";
  auto address = reinterpret_cast<uintptr_t>(static_cast<const char*>(value->data) + value->byte_offset);
  TESSEL_RT_CHECK(address % tessel_rt::kAlignment == 0, TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": zero-copy binding needs data aligned to 64 bytes";
}

DLTensor view_of(const TensorInfo& info, void* data) {
  return DLTensor{data, {kDLCPU, 0}, static_cast<int32_t>(info.shape.size()), info.dtype,
                  const_cast<int64_t*>(info.shape.data()), nullptr, 0};
}

}  // namespace

void TesselModule::set_input(int32_t index, const DLTensor* value, bool zero_copy) {
  check_index(index, inputs.size(), "input");
  const TensorInfo& info = inputs[index];
  if (cuda) {
    cuda->set_input(info, index, value, zero_copy);
    return;
  }
  const std::string what = "input '" + info.name + "'";
  if (zero_copy && value == nullptr) {  // unbind: back to the module's own buffer
    storage_data[info.storage] = input_buffers[index]->data;
    return;
  }
  tessel_rt::check_tensor_matches(value, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  if (zero_copy) {
    check_zero_copy(value, what);
    storage_data[info.storage] = static_cast<char*>(value->data) + value->byte_offset;
    return;
  }
  void* own = input_buffers[index]->data;
  DLTensor destination = view_of(info, own);
  tessel_rt::copy_strided(value, &destination);
  storage_data[info.storage] = own;
}

void TesselModule::set_output_zero_copy(int32_t index, const DLTensor* value) {
  check_index(index, outputs.size(), "output");
  const TensorInfo& info = outputs[index];
  if (cuda) {
    cuda->set_output_zero_copy(info, index, value);
    return;
  }
  const std::string what = "output '" + info.name + "'";
  if (value == nullptr) {  // unbind: back to the module's own buffer
    storage_data[info.storage] = output_buffers[index]->data;
    return;
  }
  tessel_rt::check_tensor_matches(value, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  check_zero_copy(value, what);
  storage_data[info.storage] = static_cast<char*>(value->data) + value->byte_offset;
}

void TesselModule::run_node(size_t n) {
  const tessel_rt::Node& node = nodes[n];
  if (cuda) {
    cuda->launch_node(node);
    return;
  }
  for (size_t i = 0; i < node.args.size(); ++i) arg_scratch[i] = storage_data[node.args[i]];
  int32_t status = node.kernel(arg_scratch.data(), static_cast<int32_t>(node.args.size()));
  if (status != 0) {
    const char* message = kernel_last_error && *kernel_last_error ? *kernel_last_error : "no message";
    throw RuntimeError(TESSEL_ERROR_KERNEL_FAILED,
                       "kernel '" + node.kernel_name + "' (node '" + node.name + "') failed: " + message);
  }
}

void TesselModule::run() {
  if (cuda) cuda->begin_run();
  for (size_t n = 0; n < nodes.size(); ++n) run_node(n);
  if (cuda) cuda->finish_run(nodes.empty() ? std::string("none") : nodes.back().name);
}

void TesselModule::get_output(int32_t index, DLTensor* dst) const {
  check_index(index, outputs.size(), "output");
  const TensorInfo& info = outputs[index];
  if (cuda) {
    cuda->get_output(info, index, dst);
    return;
  }
  const std::string what = "output '" + info.name + "'";
  tessel_rt::check_tensor_matches(dst, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  DLTensor source = view_of(info, storage_data[info.storage]);
  if (static_cast<char*>(dst->data) + dst->byte_offset == source.data) return;  // bound zero-copy
  tessel_rt::copy_strided(&source, dst);
}

const std::string& TesselModule::run_profile(int32_t repeat) {
  TESSEL_RT_CHECK(repeat >= 1, TESSEL_ERROR_INVALID_ARGUMENT) << "run_profile: repeat must be >= 1, got " << repeat;
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<double>> micros(nodes.size());
  // A GPU node is timed from its launch until the device has finished it.
  if (cuda) cuda->begin_run();
  for (int32_t r = 0; r < repeat; ++r) {
    for (size_t n = 0; n < nodes.size(); ++n) {
      auto start = Clock::now();
      run_node(n);
      if (cuda) cuda->synchronize(nodes[n].name);
      auto stop = Clock::now();
      micros[n].push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    }
  }
  if (cuda) cuda->finish_run(nodes.empty() ? std::string("none") : nodes.back().name);
  std::vector<double> medians, means;
  double total = 0;
  for (std::vector<double>& times : micros) {
    std::sort(times.begin(), times.end());
    size_t m = times.size();
    medians.push_back(m % 2 ? times[m / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]));
    means.push_back(std::accumulate(times.begin(), times.end(), 0.0) / static_cast<double>(m));
    total += medians.back();
  }
  size_t name_width = 4, kernel_width = 6;
  for (const tessel_rt::Node& node : nodes) {
    name_width = std::max(name_width, node.name.size());
    kernel_width = std::max(kernel_width, node.kernel_name.size());
  }
  std::string table;
  char line[512];
  auto add_row = [&](const std::string& name, const std::string& kernel, const std::string& calls,
                     const std::string& median, const std::string& mean, const std::string& share) {
    std::snprintf(line, sizeof(line), "%-*s  %-*s  %6s  %12s  %12s  %7s\n", static_cast<int>(name_width), name.c_str(),
                  static_cast<int>(kernel_width), kernel.c_str(), calls.c_str(), median.c_str(), mean.c_str(),
                  share.c_str());
    table += line;
  };
  auto number = [](double value, const char* format) {
    char text[64];
    std::snprintf(text, sizeof(text), format, value);
    return std::string(text);
  };
  add_row("node", "kernel", "calls", "median_us", "mean_us", "percent");
  for (size_t n = 0; n < nodes.size(); ++n) {
    add_row(nodes[n].name, nodes[n].kernel_name, std::to_string(repeat), number(medians[n], "%.3f"),
            number(means[n], "%.3f"), number(total > 0 ? 100.0 * medians[n] / total : 0.0, "%.1f"));
  }
  add_row("total", "", std::to_string(repeat), number(total, "%.3f"), "", "100.0");
  profile_table = table;
  return profile_table;
}
