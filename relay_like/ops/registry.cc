// The op table (filled from the registration files in this folder) and the generic parts of every
// op's type relation: input count, attribute names, then the op's own check and its lowering on
// placeholders, whose output shapes are the call's types.
#include <algorithm>
#include <mutex>
#include <sstream>

#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::relay {

const char* pattern_name(OpPattern pattern) {
  switch (pattern) {
    case OpPattern::kElemWise: return "elemwise";
    case OpPattern::kBroadcast: return "broadcast";
    case OpPattern::kInjective: return "injective";
    case OpPattern::kCommReduce: return "reduction";
    case OpPattern::kOutEWiseFusable: return "out-elemwise-fusable";
    case OpPattern::kOpaque: return "opaque";
  }
  return "?";
}

static const std::vector<OpDef>& op_table() {
  static const std::vector<OpDef> table = [] {
    std::vector<OpDef> ops;
    detail::register_tensor_ops(ops);
    detail::register_nn_ops(ops);
    std::sort(ops.begin(), ops.end(), [](const OpDef& a, const OpDef& b) { return a.name < b.name; });
    for (size_t i = 1; i < ops.size(); ++i) {
      internal_check(ops[i].name != ops[i - 1].name) << "op '" << ops[i].name << "' is registered twice";
    }
    return ops;
  }();
  return table;
}

const OpDef* find_op(const std::string& name) {
  const auto& table = op_table();
  auto it = std::lower_bound(table.begin(), table.end(), name,
                             [](const OpDef& def, const std::string& key) { return def.name < key; });
  return it != table.end() && it->name == name ? &*it : nullptr;
}

const OpDef& get_op(const std::string& name) {
  const OpDef* def = find_op(name);
  user_check(def != nullptr) << "unknown op '" << name << "'";
  return *def;
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> names;
  for (const OpDef& def : op_table()) names.push_back(def.name);
  return names;
}

te::Tensor placeholder_of(const TensorType& type, const std::string& name) {
  std::vector<Expr> shape;
  for (int64_t d : type.shape) shape.push_back(Expr(static_cast<int>(d)));  // te shapes are int32 expressions
  return te::placeholder(std::move(shape), type.dtype, name);
}

static std::string join(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  return os.str();
}

std::vector<TensorType> infer_call_types(const std::string& op, const std::vector<TensorType>& inputs,
                                         const Attrs& attrs, const std::string& node_label) {
  const OpDef* def = find_op(op);
  user_check(def != nullptr) << "unknown op '" << op << "' (node " << node_label << ")";
  std::string where = op + " (node " + node_label + "): ";
  int n = static_cast<int>(inputs.size());
  if (def->max_inputs < 0) {
    user_check(n >= def->min_inputs) << where << "expects at least " << def->min_inputs << " inputs, got " << n;
  } else if (def->min_inputs == def->max_inputs) {
    user_check(n == def->min_inputs) << where << "expects " << def->min_inputs << " input"
                                     << (def->min_inputs == 1 ? "" : "s") << ", got " << n;
  } else {
    user_check(n >= def->min_inputs && n <= def->max_inputs)
        << where << "expects " << def->min_inputs << " to " << def->max_inputs << " inputs, got " << n;
  }
  for (const auto& [name, value] : attrs.items()) {
    user_check(std::find(def->attrs.begin(), def->attrs.end(), name) != def->attrs.end())
        << where << "unknown attribute '" << name << "'"
        << (def->attrs.empty() ? std::string(" (it takes none)") : " (accepted: " + join(def->attrs) + ")");
  }
  std::vector<TensorType> outputs;
  try {
    if (def->check) def->check(inputs, attrs);
    std::vector<te::Tensor> placeholders;
    for (size_t i = 0; i < inputs.size(); ++i) placeholders.push_back(placeholder_of(inputs[i], "in" + std::to_string(i)));
    for (const te::Tensor& out : def->lower(placeholders, attrs)) {
      TensorType type;
      type.dtype = out.dtype();
      for (const Expr& extent : out.shape()) type.shape.push_back(te::ops::const_extent(extent, op));
      outputs.push_back(std::move(type));
    }
  } catch (const CompileError& error) {
    std::ostringstream os;
    os << where << error.what() << " [inputs:";
    for (const TensorType& t : inputs) os << " " << t.to_string();
    os << "]";
    throw CompileError(os.str());
  }
  internal_check(!outputs.empty()) << op << " lowered to no outputs";
  return outputs;
}

std::vector<te::Tensor> lower_call(const Node& node, const std::vector<te::Tensor>& inputs) {
  internal_check(node.kind == NodeKind::kCall) << "lower_call on a non-call node";
  return get_op(node.op).lower(inputs, node.attrs);
}

}  // namespace tessel::relay
