// Measurement data (see measure_inputs.h): argument sizes, the random inputs, the per-run
// argument list of a child, and the comparison with the default schedule's outputs.
#include "measure_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "tessel/ir/error.h"

namespace tessel::autotune::detail {

namespace {

size_t byte_size(const te::Tensor& t) {
  size_t n = static_cast<size_t>(std::max(1, t.dtype().bytes()));
  for (const Expr& e : t.shape()) {
    const int64_t* v = as_const_int(e);
    user_check(v) << "measuring needs constant shapes; " << t.name() << " has a symbolic dimension";
    n *= static_cast<size_t>(*v);
  }
  return n;
}

// Buffer sizes are whole 64-byte lines (at least one), so aligned_alloc accepts them.
size_t round_up(size_t n) { return (std::max<size_t>(n, 1) + 63) / 64 * 64; }

}  // namespace

MeasureBuffers::MeasureBuffers(const SearchTask& task) : tensors_(task.args()) {
  // A fixed seed: every Measurer of a task measures on the same inputs.
  std::mt19937 rng(20240613u);
  size_t total_out = 0;
  for (const te::Tensor& arg : task.args()) {
    bool out = false;
    for (const te::Tensor& o2 : task.outputs()) out |= o2.same_as(arg);
    is_output_.push_back(out);
    bytes_.push_back(byte_size(arg));
    reference_offset_.push_back(total_out);
    std::unique_ptr<uint8_t, decltype(&std::free)> storage(nullptr, &std::free);
    if (out) {
      total_out += round_up(bytes_.back());
    } else {
      storage.reset(static_cast<uint8_t*>(std::aligned_alloc(64, round_up(bytes_.back()))));
      std::memset(storage.get(), 0, round_up(bytes_.back()));
      uint8_t* data = storage.get();
      DataType dt = arg.dtype();
      if (dt.is_float() && dt.bits() == 32) {
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        auto* p = reinterpret_cast<float*>(data);
        for (size_t i = 0; i < bytes_.back() / 4; ++i) p[i] = dist(rng);
      } else if (dt.is_float() && dt.bits() == 64) {
        std::uniform_real_distribution<double> dist(-1.0, 1.0);
        auto* p = reinterpret_cast<double*>(data);
        for (size_t i = 0; i < bytes_.back() / 8; ++i) p[i] = dist(rng);
      } else if (dt.is_int() && dt.bits() == 32) {
        std::uniform_int_distribution<int32_t> dist(0, 3);  // small: safe as indices and divisors+1
        auto* p = reinterpret_cast<int32_t*>(data);
        for (size_t i = 0; i < bytes_.back() / 4; ++i) p[i] = dist(rng);
      } else {
        for (size_t i = 0; i < bytes_.back(); ++i) data[i] = static_cast<uint8_t>(rng() % 2);
      }
    }
    inputs_.push_back(std::move(storage));
  }
  reference_ = std::make_unique<SharedMemory>(total_out);
}

std::vector<void*> MeasureBuffers::child_args(bool write_reference) const {
  std::vector<void*> args;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!is_output_[i]) {
      args.push_back(inputs_[i].get());
    } else if (write_reference) {
      args.push_back(static_cast<char*>(reference_->data) + reference_offset_[i]);
    } else {
      // Never freed: the child exits after its runs.
      void* p = std::aligned_alloc(64, round_up(bytes_[i]));
      std::memset(p, 0, round_up(bytes_[i]));
      args.push_back(p);
    }
  }
  return args;
}

std::string MeasureBuffers::compare_with_reference(const std::vector<void*>& args, double tolerance) const {
  for (size_t i = 0; i < args.size(); ++i) {
    if (!is_output_[i]) continue;
    const void* expected = static_cast<const char*>(reference_->data) + reference_offset_[i];
    DataType dt = tensors_[i].dtype();
    if (dt.is_float() && dt.bits() == 32) {
      const auto* got = static_cast<const float*>(args[i]);
      const auto* want = static_cast<const float*>(expected);
      for (size_t e = 0; e < bytes_[i] / 4; ++e) {
        double diff = std::fabs(static_cast<double>(got[e]) - want[e]);
        if (!(diff <= tolerance * (1.0 + std::fabs(static_cast<double>(want[e]))))) {
          return "element " + std::to_string(e) + " of " + tensors_[i].name() + ": got " +
                 std::to_string(got[e]) + ", expected " + std::to_string(want[e]);
        }
      }
    } else if (std::memcmp(args[i], expected, bytes_[i]) != 0) {
      return "output " + tensors_[i].name() + " differs from the default schedule's";
    }
  }
  return {};
}

}  // namespace tessel::autotune::detail
