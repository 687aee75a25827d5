// Shared by the graph-level tests: seeded random arrays, and running a compiled execution plan
// through the JIT (one buffer per storage), independently of the exporter and the runtime.
#pragma once

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tessel/codegen/llvm.h"
#include "tessel/relay_like/compile.h"

namespace tessel::relay::testing {

// float32 values drawn uniformly from [-scale, scale) with a fixed seed.
inline NDArray random_array(std::vector<int64_t> shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  NDArray a(std::move(shape), DataType::Float(32));
  for (int64_t i = 0; i < a.num_elements(); ++i) a.as<float>()[i] = dist(rng);
  return a;
}

// Runs an execution plan with the JIT: one aligned buffer per storage.
inline std::vector<NDArray> run_plan(const codegen::ExecutionPlan& plan, const std::map<std::string, NDArray>& inputs) {
  codegen::JitModule module = codegen::JitModule::compile(plan.kernels);
  std::vector<NDArray> storages;
  for (int64_t bytes : plan.storage_bytes) storages.emplace_back(std::vector<int64_t>{bytes}, DataType::UInt(8));
  for (const auto& in : plan.inputs) {
    const NDArray& value = inputs.at(in.name);
    std::memcpy(storages[static_cast<size_t>(in.storage)].data(), value.data(), static_cast<size_t>(value.byte_size()));
  }
  for (const auto& c : plan.constants) std::memcpy(storages[static_cast<size_t>(c.storage)].data(), c.bytes.data(), c.bytes.size());
  for (const auto& node : plan.nodes) {
    std::vector<void*> args;
    for (int s : node.inputs) args.push_back(storages[static_cast<size_t>(s)].data());
    for (int s : node.outputs) args.push_back(storages[static_cast<size_t>(s)].data());
    module.get_function(node.kernel).call(args);
  }
  std::vector<NDArray> outputs;
  for (const auto& out : plan.outputs) {
    outputs.push_back(NDArray::from_bytes(out.shape, DataType::parse(out.dtype), storages[static_cast<size_t>(out.storage)].data()));
  }
  return outputs;
}

}  // namespace tessel::relay::testing
