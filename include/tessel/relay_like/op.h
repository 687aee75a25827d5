// The op registry: for every graph op, its inputs and attributes, its type relation, its pattern
// kind (what operator fusion may do with it) and its lowering to the operator library (te/ops).
// The table itself lives in relay_like/ops/*.cc, one readable registration per op.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tessel/relay_like/graph.h"
#include "tessel/te/tensor.h"

namespace tessel::relay {

// What operator fusion may do with an op (ordered: a smaller kind is "more fusable").
enum class OpPattern : uint8_t {
  kElemWise,         // out[i] = f(in[i]) on equal shapes
  kBroadcast,        // elementwise after numpy broadcasting of the inputs
  kInjective,        // each output element reads a few input elements (reshape, transpose, pad)
  kCommReduce,       // a commutative reduction (sum, max, mean)
  kOutEWiseFusable,  // a complex op whose elementwise epilogue fuses into it (conv2d, dense, pool)
  kOpaque,           // fuses with nothing
};
const char* pattern_name(OpPattern pattern);

// Lowers one call: te tensors of the inputs (in order) and the attributes to the outputs.
using LowerFunction = std::function<std::vector<te::Tensor>(const std::vector<te::Tensor>& inputs, const Attrs& attrs)>;
// Extra checks of the inputs' types and the attributes before lowering; throws CompileError
// (the registry prefixes op and node). Lowering on placeholders then gives the output types and
// catches what the operator library checks itself.
using TypeCheck = std::function<void(const std::vector<TensorType>& inputs, const Attrs& attrs)>;

struct OpDef {
  std::string name;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: any number
  std::vector<std::string> attrs;  // the attribute names it accepts
  OpPattern pattern = OpPattern::kOpaque;
  LowerFunction lower;
  TypeCheck check;  // optional
};

// The op named `name`, or nullptr.
const OpDef* find_op(const std::string& name);
// The op named `name`; CompileError listing nothing but the unknown name otherwise.
const OpDef& get_op(const std::string& name);
// All registered op names, sorted.
std::vector<std::string> registered_ops();

// The type relation of a call: checks input count, attribute names and types, runs the op's
// check and lowering on placeholders, and returns one type per output. Errors are CompileError
// "<op> (node <node_label>): <problem>".
std::vector<TensorType> infer_call_types(const std::string& op, const std::vector<TensorType>& inputs,
                                         const Attrs& attrs, const std::string& node_label);

// Lowers one call node of a graph given te tensors for its inputs.
std::vector<te::Tensor> lower_call(const Node& node, const std::vector<te::Tensor>& inputs);

// A te placeholder of a tensor type.
te::Tensor placeholder_of(const TensorType& type, const std::string& name);

namespace detail {
// Used by the registration files: appends ops to the table.
void register_tensor_ops(std::vector<OpDef>& table);
void register_nn_ops(std::vector<OpDef>& table);
}  // namespace detail

}  // namespace tessel::relay
