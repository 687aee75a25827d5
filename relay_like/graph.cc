// The graph IR's data structures: host arrays, attributes, the graph with eager type inference,
// its text printer and the rewriter passes build new graphs with.
#include "tessel/relay_like/graph.h"

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"

namespace tessel::relay {

// ---- NDArray -------------------------------------------------------------------------------

int64_t element_bytes(DataType dtype) { return dtype.is_bool() ? 1 : dtype.bytes() * dtype.lanes(); }

static int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NDArray::NDArray(std::vector<int64_t> shape, DataType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_) user_check(d >= 0) << "array extents must be non-negative";
  // Round up to a multiple of 64 (aligned_alloc's rule) and allocate at least one block.
  size_t bytes = static_cast<size_t>(std::max<int64_t>(byte_size(), 1));
  bytes = (bytes + 63) / 64 * 64;
  void* memory = std::aligned_alloc(64, bytes);
  internal_check(memory != nullptr) << "out of memory allocating " << bytes << " bytes";
  std::memset(memory, 0, bytes);
  data_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(memory), [](uint8_t* p) { std::free(p); });
}

NDArray NDArray::from_bytes(std::vector<int64_t> shape, DataType dtype, const void* data) {
  NDArray array(std::move(shape), dtype);
  if (array.byte_size() > 0) std::memcpy(array.data(), data, static_cast<size_t>(array.byte_size()));
  return array;
}

int64_t NDArray::num_elements() const { return product(shape_); }
int64_t NDArray::byte_size() const { return num_elements() * element_bytes(dtype_); }

NDArray NDArray::copy() const { return from_bytes(shape_, dtype_, data()); }

bool NDArray::content_equal(const NDArray& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         std::memcmp(data(), other.data(), static_cast<size_t>(byte_size())) == 0;
}

// ---- types and attributes ------------------------------------------------------------------

int64_t TensorType::num_elements() const { return product(shape); }

std::string TensorType::to_string() const {
  std::ostringstream os;
  os << dtype.to_string() << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

template <typename T>
static std::string list_to_string(const std::vector<T>& values) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i];
  os << "]";
  return os.str();
}

std::string attr_to_string(const AttrValue& value) {
  std::ostringstream os;
  if (const auto* i = std::get_if<int64_t>(&value)) os << *i;
  else if (const auto* d = std::get_if<double>(&value)) os << *d;
  else if (const auto* b = std::get_if<bool>(&value)) os << (*b ? "true" : "false");
  else if (const auto* s = std::get_if<std::string>(&value)) os << '"' << *s << '"';
  else if (const auto* il = std::get_if<std::vector<int64_t>>(&value)) os << list_to_string(*il);
  else os << list_to_string(std::get<std::vector<double>>(value));
  return os.str();
}

Attrs::Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items) {
  for (const auto& [name, value] : items) set(name, value);
}

void Attrs::set(const std::string& name, AttrValue value) {
  for (auto& item : items_) {
    if (item.first == name) {
      item.second = std::move(value);
      return;
    }
  }
  items_.emplace_back(name, std::move(value));
}

const AttrValue* Attrs::find(const std::string& name) const {
  for (const auto& item : items_) {
    if (item.first == name) return &item.second;
  }
  return nullptr;
}

bool Attrs::has(const std::string& name) const { return find(name) != nullptr; }

int64_t Attrs::get_int(const std::string& name, int64_t default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  if (const auto* b = std::get_if<bool>(value)) return *b ? 1 : 0;
  const auto* i = std::get_if<int64_t>(value);
  user_check(i != nullptr) << "attribute '" << name << "' must be an int, got " << attr_to_string(*value);
  return *i;
}

int64_t Attrs::get_int(const std::string& name) const {
  user_check(has(name)) << "attribute '" << name << "' is required";
  return get_int(name, 0);
}

double Attrs::get_double(const std::string& name, double default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  if (const auto* i = std::get_if<int64_t>(value)) return static_cast<double>(*i);
  const auto* d = std::get_if<double>(value);
  user_check(d != nullptr) << "attribute '" << name << "' must be a number, got " << attr_to_string(*value);
  return *d;
}

bool Attrs::get_bool(const std::string& name, bool default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  if (const auto* i = std::get_if<int64_t>(value)) return *i != 0;
  const auto* b = std::get_if<bool>(value);
  user_check(b != nullptr) << "attribute '" << name << "' must be a bool, got " << attr_to_string(*value);
  return *b;
}

std::string Attrs::get_string(const std::string& name, const std::string& default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  const auto* s = std::get_if<std::string>(value);
  user_check(s != nullptr) << "attribute '" << name << "' must be a string, got " << attr_to_string(*value);
  return *s;
}

std::vector<int64_t> Attrs::get_ints(const std::string& name, std::vector<int64_t> default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  if (const auto* i = std::get_if<int64_t>(value)) return {*i};
  // An empty list may arrive typed as doubles.
  if (const auto* d = std::get_if<std::vector<double>>(value); d != nullptr && d->empty()) return {};
  const auto* il = std::get_if<std::vector<int64_t>>(value);
  user_check(il != nullptr) << "attribute '" << name << "' must be an int list, got " << attr_to_string(*value);
  return *il;
}

std::vector<int64_t> Attrs::get_ints(const std::string& name) const {
  user_check(has(name)) << "attribute '" << name << "' is required";
  return get_ints(name, {});
}

std::vector<double> Attrs::get_doubles(const std::string& name, std::vector<double> default_value) const {
  const AttrValue* value = find(name);
  if (value == nullptr) return default_value;
  if (const auto* il = std::get_if<std::vector<int64_t>>(value)) return std::vector<double>(il->begin(), il->end());
  const auto* dl = std::get_if<std::vector<double>>(value);
  user_check(dl != nullptr) << "attribute '" << name << "' must be a number list, got " << attr_to_string(*value);
  return *dl;
}

std::string Attrs::to_string() const {
  std::ostringstream os;
  for (size_t i = 0; i < items_.size(); ++i) {
    os << (i ? ", " : "") << items_[i].first << "=" << attr_to_string(items_[i].second);
  }
  return os.str();
}

// ---- graph ---------------------------------------------------------------------------------

const Node& Graph::node(int id) const {
  internal_check(id >= 0 && id < static_cast<int>(nodes_.size())) << "node id " << id << " out of range";
  return nodes_[static_cast<size_t>(id)];
}

void Graph::check_value(Value value) const {
  user_check(value.node >= 0 && value.node < static_cast<int>(nodes_.size()))
      << "value %" << value.node << " does not belong to this graph";
  user_check(value.index >= 0 && value.index < static_cast<int>(nodes_[static_cast<size_t>(value.node)].types.size()))
      << "node %" << value.node << " has no output " << value.index;
}

const TensorType& Graph::type_of(Value value) const {
  check_value(value);
  return nodes_[static_cast<size_t>(value.node)].types[static_cast<size_t>(value.index)];
}

static bool name_taken(const std::vector<Node>& nodes, const std::string& name) {
  for (const Node& node : nodes) {
    if (node.kind != NodeKind::kCall && node.name == name) return true;
  }
  return false;
}

Value Graph::add_input(const std::string& name, TensorType type) {
  user_check(!name.empty()) << "graph inputs need a name";
  user_check(!name_taken(nodes_, name)) << "the name '" << name << "' is used twice (inputs and params must be unique)";
  for (int64_t d : type.shape) user_check(d > 0) << "input '" << name << "' has a non-positive extent: " << type.to_string();
  Node node;
  node.kind = NodeKind::kInput;
  node.name = name;
  node.types = {std::move(type)};
  nodes_.push_back(std::move(node));
  return {static_cast<int>(nodes_.size()) - 1, 0};
}

Value Graph::add_constant(NDArray value, const std::string& name) {
  user_check(value.defined()) << "constant without data";
  user_check(name.empty() || !name_taken(nodes_, name)) << "the name '" << name << "' is used twice (inputs and params must be unique)";
  Node node;
  node.kind = NodeKind::kConstant;
  node.name = name;
  node.types = {TensorType{value.shape(), value.dtype()}};
  node.value = std::move(value);
  nodes_.push_back(std::move(node));
  return {static_cast<int>(nodes_.size()) - 1, 0};
}

std::vector<Value> Graph::add_call(const std::string& op, std::vector<Value> inputs, Attrs attrs) {
  std::string label = "%" + std::to_string(nodes_.size());
  std::vector<TensorType> input_types;
  for (size_t i = 0; i < inputs.size(); ++i) {
    user_check(inputs[i].node >= 0 && inputs[i].node < static_cast<int>(nodes_.size()))
        << op << " (node " << label << "): input " << i << " does not belong to this graph";
    input_types.push_back(type_of(inputs[i]));
  }
  Node node;
  node.kind = NodeKind::kCall;
  node.op = op;
  node.types = infer_call_types(op, input_types, attrs, label);
  node.attrs = std::move(attrs);
  node.inputs = std::move(inputs);
  int id = static_cast<int>(nodes_.size());
  std::vector<Value> values;
  for (size_t i = 0; i < node.types.size(); ++i) values.push_back({id, static_cast<int>(i)});
  nodes_.push_back(std::move(node));
  return values;
}

void Graph::add_output(Value value) {
  check_value(value);
  outputs_.push_back(value);
}

std::vector<int> Graph::input_nodes() const {
  std::vector<int> ids;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].kind == NodeKind::kInput) ids.push_back(static_cast<int>(i));
  }
  return ids;
}

std::map<std::string, NDArray> Graph::params() const {
  std::map<std::string, NDArray> params;
  for (const Node& node : nodes_) {
    if (node.kind == NodeKind::kConstant && !node.name.empty()) params[node.name] = node.value;
  }
  return params;
}

void Graph::set_param(const std::string& name, const NDArray& value) {
  for (Node& node : nodes_) {
    if (node.kind == NodeKind::kConstant && node.name == name) {
      TensorType type{value.shape(), value.dtype()};
      user_check(type == node.types[0]) << "param '" << name << "' must be " << node.types[0].to_string() << ", got "
                                        << type.to_string();
      node.value = value;
      return;
    }
  }
  user_check(false) << "the graph has no param named '" << name << "'";
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> counts(nodes_.size(), 0);
  for (const Node& node : nodes_) {
    for (const Value& input : node.inputs) counts[static_cast<size_t>(input.node)]++;
  }
  for (const Value& output : outputs_) counts[static_cast<size_t>(output.node)]++;
  return counts;
}

int Graph::num_calls() const {
  int n = 0;
  for (const Node& node : nodes_) n += node.kind == NodeKind::kCall ? 1 : 0;
  return n;
}

std::string Graph::value_name(Value value) const {
  const Node& n = node(value.node);
  if (n.kind == NodeKind::kInput) return "%" + n.name;
  if (n.kind == NodeKind::kConstant && !n.name.empty()) return "@" + n.name;
  std::string name = "%" + std::to_string(value.node);
  if (n.types.size() > 1) name += "." + std::to_string(value.index);
  return name;
}

std::string Graph::to_string() const {
  std::ostringstream os;
  os << "graph(";
  bool first = true;
  for (const Node& node : nodes_) {
    if (node.kind != NodeKind::kInput) continue;
    os << (first ? "" : ", ") << "%" << node.name << ": " << node.types[0].to_string();
    first = false;
  }
  os << ") {\n";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    if (node.kind == NodeKind::kInput) continue;
    if (node.kind == NodeKind::kConstant) {
      // Named parameters are referenced as @name and declared once here.
      os << "  " << value_name({static_cast<int>(i), 0}) << " = constant : " << node.types[0].to_string() << "\n";
      continue;
    }
    os << "  %" << i << " = " << node.op << "(";
    for (size_t k = 0; k < node.inputs.size(); ++k) os << (k ? ", " : "") << value_name(node.inputs[k]);
    std::string attrs = node.attrs.to_string();
    if (!attrs.empty()) os << (node.inputs.empty() ? "" : ", ") << attrs;
    os << ") : ";
    if (node.types.size() == 1) {
      os << node.types[0].to_string();
    } else {
      os << "(";
      for (size_t k = 0; k < node.types.size(); ++k) os << (k ? ", " : "") << node.types[k].to_string();
      os << ")";
    }
    os << "\n";
  }
  os << "  return (";
  for (size_t i = 0; i < outputs_.size(); ++i) os << (i ? ", " : "") << value_name(outputs_[i]);
  os << ")\n}\n";
  return os.str();
}

// ---- rewriter ------------------------------------------------------------------------------

Value GraphRewriter::map(Value old_value) const {
  const auto& values = mapping_[static_cast<size_t>(old_value.node)];
  internal_check(old_value.index < static_cast<int>(values.size()))
      << "node %" << old_value.node << " was not rewritten before its use";
  return values[static_cast<size_t>(old_value.index)];
}

std::vector<Value> GraphRewriter::map(const std::vector<Value>& old_values) const {
  std::vector<Value> values;
  for (const Value& v : old_values) values.push_back(map(v));
  return values;
}

void GraphRewriter::copy_node(int old_node) {
  const Node& node = old_.node(old_node);
  switch (node.kind) {
    case NodeKind::kInput: set(old_node, {graph.add_input(node.name, node.types[0])}); break;
    case NodeKind::kConstant: set(old_node, {graph.add_constant(node.value, node.name)}); break;
    case NodeKind::kCall: set(old_node, graph.add_call(node.op, map(node.inputs), node.attrs)); break;
  }
}

Graph GraphRewriter::finish() {
  for (const Value& output : old_.outputs()) graph.add_output(map(output));
  return std::move(graph);
}

}  // namespace tessel::relay
