// Execution-plan validation and the static memory plan of exported modules: intermediates are
// given offsets in one shared pool, reusing memory once a storage's last reader has run.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "tessel/codegen/export.h"
#include "tessel/ir/error.h"

namespace tessel::codegen {

namespace {

constexpr int64_t kAlignment = 64;

int64_t round_up(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

bool is_identifier(const std::string& name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Byte size of a buffer with constant extents (throws when an extent is symbolic).
int64_t buffer_bytes(const Buffer& buffer, const std::string& kernel) {
  int64_t elements = 1;
  for (const Expr& extent : buffer->shape) {
    const auto* literal = extent.as<IntImmNode>();
    user_check(literal != nullptr) << "kernel '" << kernel << "': buffer '" << buffer->name
                                   << "' has a symbolic shape; exported kernels need constant shapes";
    elements *= literal->value;
  }
  return elements * buffer->dtype.bytes();
}

const std::set<std::string>& known_dtypes() {
  static const std::set<std::string> names = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32",
                                               "int64", "uint8", "uint16", "uint32", "uint64", "bool"};
  return names;
}

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "bool" || dtype == "int8" || dtype == "uint8") return 1;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16" || dtype == "uint16") return 2;
  if (dtype == "float64" || dtype == "int64" || dtype == "uint64") return 8;
  return 4;
}

void check_tensor(const ExecutionPlan& plan, const PlanTensor& tensor, const char* what) {
  user_check(!tensor.name.empty()) << "plan: an " << what << " has no name";
  user_check(tensor.storage >= 0 && static_cast<size_t>(tensor.storage) < plan.storage_bytes.size())
      << "plan: " << what << " '" << tensor.name << "' uses storage " << tensor.storage << ", but the plan has "
      << plan.storage_bytes.size() << " storages";
  user_check(known_dtypes().count(tensor.dtype)) << "plan: " << what << " '" << tensor.name << "' has unsupported dtype '"
                                                 << tensor.dtype << "'";
  int64_t elements = 1;
  for (int64_t extent : tensor.shape) {
    user_check(extent >= 0) << "plan: " << what << " '" << tensor.name << "' has a negative extent";
    elements *= extent;
  }
  user_check(elements * dtype_bytes(tensor.dtype) == plan.storage_bytes[tensor.storage])
      << "plan: " << what << " '" << tensor.name << "' (" << elements << " x " << tensor.dtype << ") does not fill storage "
      << tensor.storage << " of " << plan.storage_bytes[tensor.storage] << " bytes";
}

}  // namespace

void validate_plan(const ExecutionPlan& plan) {
  const size_t num_storages = plan.storage_bytes.size();
  for (size_t id = 0; id < num_storages; ++id)
    user_check(plan.storage_bytes[id] >= 0) << "plan: storage " << id << " has a negative size";

  std::map<std::string, const PrimFuncNode*> kernels;
  for (const PrimFunc& kernel : plan.kernels) {
    user_check(kernel.defined()) << "plan: an undefined kernel";
    user_check(is_identifier(kernel->name) && kernel->name.rfind("__tessel", 0) != 0 &&
               kernel->name.rfind("tessel_", 0) != 0)
        << "plan: kernel name '" << kernel->name
        << "' must be a C identifier not starting with __tessel or tessel_ (it becomes a symbol)";
    user_check(kernels.emplace(kernel->name, kernel.get()).second) << "plan: two kernels are named '" << kernel->name << "'";
  }

  // 0 = not written yet; storages that start out defined are inputs and constants.
  enum class Role { kIntermediate, kInput, kConstant };
  std::vector<Role> role(num_storages, Role::kIntermediate);
  std::vector<int> writes(num_storages, 0);
  std::set<std::string> input_names, output_names;
  for (const PlanTensor& input : plan.inputs) {
    check_tensor(plan, input, "input");
    user_check(input_names.insert(input.name).second) << "plan: two inputs are named '" << input.name << "'";
    user_check(role[input.storage] == Role::kIntermediate) << "plan: input '" << input.name << "' shares storage "
                                                           << input.storage << " with another input";
    role[input.storage] = Role::kInput;
  }
  for (const PlanConstant& constant : plan.constants) {
    user_check(constant.storage >= 0 && static_cast<size_t>(constant.storage) < num_storages)
        << "plan: constant '" << constant.name << "' uses storage " << constant.storage << " out of range";
    user_check(role[constant.storage] == Role::kIntermediate)
        << "plan: constant '" << constant.name << "' is bound to storage " << constant.storage
        << ", which is already an input or another constant";
    user_check(static_cast<int64_t>(constant.bytes.size()) == plan.storage_bytes[constant.storage])
        << "plan: constant '" << constant.name << "' has " << constant.bytes.size() << " bytes, but storage "
        << constant.storage << " has " << plan.storage_bytes[constant.storage];
    role[constant.storage] = Role::kConstant;
  }

  std::set<std::string> node_names;
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    const PlanNode& node = plan.nodes[n];
    std::string name = node.name.empty() ? node.kernel : node.name;
    auto found = kernels.find(node.kernel);
    user_check(found != kernels.end()) << "plan: node " << n << " calls kernel '" << node.kernel << "', which is not in the plan";
    const PrimFuncNode* kernel = found->second;
    std::vector<int> args = node.inputs;
    args.insert(args.end(), node.outputs.begin(), node.outputs.end());
    user_check(args.size() == kernel->params.size())
        << "plan: node '" << name << "' passes " << args.size() << " storages, but kernel '" << node.kernel << "' takes "
        << kernel->params.size() << " parameters";
    user_check(std::set<int>(args.begin(), args.end()).size() == args.size())
        << "plan: node '" << name << "' passes the same storage twice (kernel buffers must not alias)";
    for (size_t i = 0; i < args.size(); ++i) {
      const Param& param = kernel->params[i];
      user_check(param.is_buffer()) << "kernel '" << node.kernel << "': parameter " << i
                                    << " is a scalar; exported kernels take buffers only";
      int id = args[i];
      user_check(id >= 0 && static_cast<size_t>(id) < num_storages)
          << "plan: node '" << name << "' uses storage " << id << " out of range";
      bool is_output = i >= node.inputs.size();
      if (is_output) {
        user_check(role[id] == Role::kIntermediate) << "plan: node '" << name << "' writes storage " << id << ", which is "
                                                    << (role[id] == Role::kInput ? "an input" : "a constant");
        user_check(writes[id] == 0) << "plan: storage " << id << " is written twice (again by node '" << name << "')";
      } else {
        user_check(role[id] != Role::kIntermediate || writes[id] > 0)
            << "plan: node '" << name << "' reads storage " << id << " before any node writes it";
      }
      int64_t bytes = buffer_bytes(param.buffer, node.kernel);
      user_check(bytes == plan.storage_bytes[id])
          << "plan: node '" << name << "' passes storage " << id << " (" << plan.storage_bytes[id]
          << " bytes) as buffer '" << param.buffer->name << "' of kernel '" << node.kernel << "' (" << bytes << " bytes)";
    }
    for (int id : node.outputs) ++writes[id];
  }

  std::set<int> output_storages;
  for (const PlanTensor& output : plan.outputs) {
    check_tensor(plan, output, "output");
    user_check(output_names.insert(output.name).second) << "plan: two outputs are named '" << output.name << "'";
    user_check(role[output.storage] == Role::kIntermediate && writes[output.storage] == 1)
        << "plan: output '" << output.name << "' (storage " << output.storage << ") is not computed by any node";
    user_check(output_storages.insert(output.storage).second)
        << "plan: output '" << output.name << "' shares storage " << output.storage << " with another output";
  }
  user_check(!plan.outputs.empty()) << "plan: the module has no outputs";
}

MemoryPlan plan_memory(const ExecutionPlan& plan) {
  validate_plan(plan);
  const size_t num_storages = plan.storage_bytes.size();
  std::vector<bool> pooled(num_storages, true);
  for (const PlanTensor& t : plan.inputs) pooled[t.storage] = false;
  for (const PlanTensor& t : plan.outputs) pooled[t.storage] = false;
  for (const PlanConstant& c : plan.constants) pooled[c.storage] = false;

  // Last node that touches each pooled storage.
  std::vector<int> last_use(num_storages, -1);
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    for (int id : plan.nodes[n].inputs) last_use[id] = static_cast<int>(n);
    for (int id : plan.nodes[n].outputs) last_use[id] = std::max(last_use[id], static_cast<int>(n));
  }

  MemoryPlan memory;
  memory.pool_offset.assign(num_storages, -1);
  struct Block {
    int64_t offset, size;
  };
  std::vector<Block> free_blocks;
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    // Allocate this node's outputs before releasing its inputs: a kernel's outputs never alias
    // its inputs.
    for (int id : plan.nodes[n].outputs) {
      if (!pooled[id]) continue;
      int64_t size = round_up(std::max<int64_t>(plan.storage_bytes[id], 1));
      memory.unshared_bytes += size;
      auto best = free_blocks.end();
      for (auto it = free_blocks.begin(); it != free_blocks.end(); ++it) {
        if (it->size >= size && (best == free_blocks.end() || it->size < best->size)) best = it;
      }
      if (best != free_blocks.end()) {
        memory.pool_offset[id] = best->offset;
        if (best->size > size) {
          best->offset += size;
          best->size -= size;
        } else {
          free_blocks.erase(best);
        }
        continue;
      }
      // No free block is large enough: grow the pool, absorbing a free block at its end.
      auto tail = std::find_if(free_blocks.begin(), free_blocks.end(),
                               [&](const Block& b) { return b.offset + b.size == memory.pool_bytes; });
      if (tail != free_blocks.end()) {
        memory.pool_offset[id] = tail->offset;
        memory.pool_bytes = tail->offset + size;
        free_blocks.erase(tail);
      } else {
        memory.pool_offset[id] = memory.pool_bytes;
        memory.pool_bytes += size;
      }
    }
    // Release storages whose last use is this node, merging neighbouring free blocks.
    std::set<int> released;
    for (int id : plan.nodes[n].inputs) released.insert(id);
    for (int id : plan.nodes[n].outputs) released.insert(id);
    for (int id : released) {
      if (!pooled[id] || last_use[id] != static_cast<int>(n)) continue;
      free_blocks.push_back({memory.pool_offset[id], round_up(std::max<int64_t>(plan.storage_bytes[id], 1))});
    }
    std::sort(free_blocks.begin(), free_blocks.end(), [](const Block& a, const Block& b) { return a.offset < b.offset; });
    std::vector<Block> merged;
    for (const Block& block : free_blocks) {
      if (!merged.empty() && merged.back().offset + merged.back().size == block.offset) merged.back().size += block.size;
      else merged.push_back(block);
    }
    free_blocks = std::move(merged);
  }
  return memory;
}

}  // namespace tessel::codegen
