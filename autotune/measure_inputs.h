// The data that measurement runs on: seeded random input buffers made once per Measurer (the
// children inherit them), fresh output buffers per run, the default schedule's outputs kept as
// the reference, and the check of a candidate's outputs against that reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "measure_child.h"
#include "tessel/autotune/search_task.h"

namespace tessel::autotune::detail {

class MeasureBuffers {
 public:
  // Sizes every argument of `task` (a symbolic dimension is a user error) and fills the inputs
  // with random values; the reference buffer (shared memory, written by the reference child) is
  // sized but not filled.
  explicit MeasureBuffers(const SearchTask& task);

  const std::vector<bool>& is_output() const { return is_output_; }  // per arg
  const std::vector<size_t>& bytes() const { return bytes_; }          // per arg

  // Child side: the arguments of one run; outputs get fresh zeroed buffers (or, for the
  // reference run, the shared reference buffer).
  std::vector<void*> child_args(bool write_reference) const;
  // Child side: compares the outputs in `args` with the reference: float32 elements within
  // `tolerance` (relative + absolute), other dtypes bit for bit. What differs, or empty.
  std::string compare_with_reference(const std::vector<void*>& args, double tolerance) const;

 private:
  std::vector<te::Tensor> tensors_;  // the task's args
  std::vector<bool> is_output_;
  std::vector<size_t> bytes_;
  // Per arg (null for outputs), 64-byte aligned as kernels require; children read copies.
  std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> inputs_;
  std::unique_ptr<SharedMemory> reference_;  // outputs of the default schedule, concatenated
  std::vector<size_t> reference_offset_;     // per arg
};

}  // namespace tessel::autotune::detail
