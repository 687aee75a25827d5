// The graph IR: a typed dataflow graph of operator calls over tensors with static shapes. Nodes
// are graph inputs, constants (host arrays: weights and folded values) and op calls; values are
// (node, output index) pairs. Nodes are stored in topological order (a node's inputs precede it),
// so passes are single forward walks that build a new graph (see GraphRewriter).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessel/ir/type.h"

namespace tessel::relay {

// A dense host array, row-major, its data 64-byte aligned (the alignment kernels require).
// Copies share the data; use copy() for a separate one.
class NDArray {
 public:
  NDArray() = default;
  // Zero-filled.
  NDArray(std::vector<int64_t> shape, DataType dtype);
  // Copies byte_size() bytes from data.
  static NDArray from_bytes(std::vector<int64_t> shape, DataType dtype, const void* data);

  bool defined() const { return data_ != nullptr; }
  const std::vector<int64_t>& shape() const { return shape_; }
  DataType dtype() const { return dtype_; }
  int64_t num_elements() const;
  int64_t byte_size() const;  // bool elements take one byte
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T> T* as() { return static_cast<T*>(data()); }
  template <typename T> const T* as() const { return static_cast<const T*>(data()); }
  NDArray copy() const;
  // Same dtype, shape and bytes.
  bool content_equal(const NDArray& other) const;

 private:
  std::vector<int64_t> shape_;
  DataType dtype_;
  std::shared_ptr<uint8_t> data_;
};

// Bytes of one element of dtype in memory (bool: 1).
int64_t element_bytes(DataType dtype);

// Static shape and dtype of one tensor value.
struct TensorType {
  std::vector<int64_t> shape;
  DataType dtype;
  int64_t num_elements() const;
  int64_t byte_size() const { return num_elements() * element_bytes(dtype); }
  // "float32[1, 64, 112, 112]"
  std::string to_string() const;
  bool operator==(const TensorType&) const = default;
};

// An attribute value: int, double, bool, string, int list or double list.
using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<double>>;
std::string attr_to_string(const AttrValue& value);

// Attributes of an op call, in the order they were given. Getters throw CompileError naming the
// attribute when it has the wrong kind (an int is accepted where a double is expected, and an
// int list where a double list is).
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items);
  void set(const std::string& name, AttrValue value);
  bool has(const std::string& name) const;
  const AttrValue* find(const std::string& name) const;
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }

  int64_t get_int(const std::string& name, int64_t default_value) const;
  int64_t get_int(const std::string& name) const;  // required
  double get_double(const std::string& name, double default_value) const;
  bool get_bool(const std::string& name, bool default_value) const;
  std::string get_string(const std::string& name, const std::string& default_value) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> default_value) const;
  std::vector<int64_t> get_ints(const std::string& name) const;  // required
  std::vector<double> get_doubles(const std::string& name, std::vector<double> default_value) const;
  // "strides=[2, 2], groups=1" (empty when there are none)
  std::string to_string() const;
  bool operator==(const Attrs& other) const { return items_ == other.items_; }

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

// One output of a node.
struct Value {
  int node = -1;
  int index = 0;
  bool operator==(const Value&) const = default;
  auto operator<=>(const Value&) const = default;
};

enum class NodeKind : uint8_t { kInput, kConstant, kCall };

struct Node {
  NodeKind kind = NodeKind::kCall;
  // Input: its name. Constant: the parameter name ("" for an anonymous constant).
  std::string name;
  // Call: the op (a registered op name), its attributes and inputs.
  std::string op;
  Attrs attrs;
  std::vector<Value> inputs;
  // One type per output (inputs and constants have one output).
  std::vector<TensorType> types;
  NDArray value;  // constants only
};

// A graph: nodes in topological order and the ordered list of outputs.
class Graph {
 public:
  // Adds a graph input; its name must be unique among inputs and parameters.
  Value add_input(const std::string& name, TensorType type);
  // Adds a constant; a non-empty name makes it a named parameter (unique).
  Value add_constant(NDArray value, const std::string& name = "");
  // Adds an op call, inferring its output types now (CompileError naming the op, the node and
  // the problem on a bad call). Returns one value per output.
  std::vector<Value> add_call(const std::string& op, std::vector<Value> inputs, Attrs attrs = {});
  void add_output(Value value);

  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int id) const;
  const std::vector<Value>& outputs() const { return outputs_; }
  const TensorType& type_of(Value value) const;
  // Node ids of the graph inputs, in order.
  std::vector<int> input_nodes() const;
  // Named constants, by name.
  std::map<std::string, NDArray> params() const;
  // For each node, the number of uses of its outputs by calls and graph outputs.
  std::vector<int> use_counts() const;
  // Replaces the value of the named parameter (same type); CompileError when absent or mistyped.
  void set_param(const std::string& name, const NDArray& value);
  // Number of op calls.
  int num_calls() const;

  // Deterministic text:
  //   graph(%input: float32[1, 3, 8, 8]) {
  //     %2 = conv2d(%input, @conv1.weight, strides=[2, 2]) : float32[1, 4, 4, 4]
  //     return (%2)
  //   }
  std::string to_string() const;
  // "%input", "@conv1.weight", "%3", "%3.1" (outputs of multi-output nodes)
  std::string value_name(Value value) const;

 private:
  void check_value(Value value) const;
  std::vector<Node> nodes_;
  std::vector<Value> outputs_;
};

// Builds a new graph from an old one in one forward walk: passes call map() on old values and
// emit nodes into `graph`. copy_node re-emits an old node (inputs remapped) unchanged.
class GraphRewriter {
 public:
  explicit GraphRewriter(const Graph& old) : old_(old), mapping_(old.nodes().size()) {}
  Graph graph;
  const Graph& old() const { return old_; }
  Value map(Value old_value) const;
  std::vector<Value> map(const std::vector<Value>& old_values) const;
  void set(int old_node, std::vector<Value> new_values) { mapping_[old_node] = std::move(new_values); }
  bool is_set(int old_node) const { return !mapping_[old_node].empty(); }
  // Emits the old node into the new graph with its inputs mapped; records the mapping.
  void copy_node(int old_node);
  // Maps the old graph's outputs and returns the finished graph.
  Graph finish();

 private:
  const Graph& old_;
  std::vector<std::vector<Value>> mapping_;
};

}  // namespace tessel::relay
