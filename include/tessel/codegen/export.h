// Exporting a deployable module: an execution plan (kernels, kernel calls over numbered storages,
// named inputs/outputs, constant weights) compiled into ONE shared library that the standalone
// runtime (libtessel_runtime.so, include/tessel/runtime/c_api.h) loads and runs.
//
// Library format (version TESSEL_MODULE_FORMAT_VERSION, see c_api.h), all as exported symbols:
//   <kernel name>                    int32_t f(void** args, int32_t num_args)  (see llvm.h)
//   __tessel_format_version          uint32
//   __tessel_module_metadata(_size)  JSON text + uint64 size: format, name, target (triple, cpu,
//                                    required CPU features), inputs and outputs (name, shape,
//                                    dtype, storage id), weights byte count
//   __tessel_graph_json(_size)       JSON text: kernels, storages (kind input/output/constant/pool
//                                    with offset and size), pool_bytes, nodes (name, kernel, input
//                                    and output storage ids, in the kernel's parameter order)
//   __tessel_weights(_size)          the constants, each 64-byte aligned, in read-only data; the
//                                    runtime uses them in place from the mapped library
// Intermediate storages share one pool laid out here, at export time, by liveness (plan_memory).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessel/codegen/llvm.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {

// A named input or output of the module, bound to a storage id.
struct PlanTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;  // "float32", "int8", "bool", ...
  int storage = -1;
};

// One kernel call. The kernel's parameters are inputs then outputs, all buffers; each storage's
// size must equal the byte size of the parameter it is passed as.
struct PlanNode {
  std::string name;    // shown in profiles; defaults to the kernel's name
  std::string kernel;  // a PrimFunc name in ExecutionPlan::kernels
  std::vector<int> inputs, outputs;
};

// Constant bytes (weights) bound to a storage id; no node may write it.
struct PlanConstant {
  std::string name;
  int storage = -1;
  std::vector<uint8_t> bytes;
};

struct ExecutionPlan {
  std::string name = "tessel_module";
  std::vector<PrimFunc> kernels;
  std::vector<int64_t> storage_bytes;  // size in bytes of each storage id
  std::vector<PlanNode> nodes;         // executed in this order
  std::vector<PlanTensor> inputs, outputs;
  std::vector<PlanConstant> constants;
};

// Static memory plan: where each intermediate storage lives in the shared pool.
struct MemoryPlan {
  std::vector<int64_t> pool_offset;  // by storage id; -1 for inputs, outputs and constants
  int64_t pool_bytes = 0;
  int64_t unshared_bytes = 0;        // what the intermediates would need without reuse
};

// Checks the plan (throws CompileError naming the offending node, storage or tensor): kernels
// exist with buffer-only parameters matching their storages' sizes, every storage read is an
// input, a constant or written earlier, nothing writes inputs or constants, each intermediate and
// output is written exactly once, names are unique.
void validate_plan(const ExecutionPlan& plan);

// Lays out intermediates in one pool, reusing the memory of storages whose last reader has run
// (64-byte aligned offsets; best fit among free blocks). Calls validate_plan first.
MemoryPlan plan_memory(const ExecutionPlan& plan);

// Compiles every kernel for `target` into one object file, embeds plan, metadata and weights in a
// data section and links the shared library at `path` against libtessel_runtime.so (rpath to the
// runtime this build uses). The target must run on this machine (cross linking is not supported).
void export_library(const ExecutionPlan& plan, const Target& target, const std::string& path);

// The two embedded JSON documents, exposed for tests and tools.
std::string module_metadata_json(const ExecutionPlan& plan, const Target& target, int64_t weights_bytes);
std::string module_graph_json(const ExecutionPlan& plan, const MemoryPlan& memory,
                              const std::vector<int64_t>& constant_offsets);

}  // namespace tessel::codegen
