// Tensor expressions: the *compute* half of Tessel's two levels. A tensor is produced by an
// operation: a placeholder (an input) or a compute op that says what each element is, as a
// loop-IR expression of index variables, optionally reduced over reduce axes. Compute ops read
// other tensors through loop-IR Loads on the tensor's buffer (`A(i, k)`), so a compute DAG is
// plain loop IR plus the tensors' buffers; how its loops run is the schedule's business.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessel/ir/buffer.h"
#include "tessel/ir/expr.h"

namespace tessel::te {

// [min, min + extent)
struct Range {
  Expr min, extent;
};

// Data-parallel axes are free to be reordered and parallelised; reduce axes are summed over.
enum class IterVarKind : uint8_t { kDataParallel, kReduce };

struct IterVarNode {
  const Var var;
  const Range dom;
  const IterVarKind kind;
  IterVarNode(Var v, Range d, IterVarKind k) : var(std::move(v)), dom(std::move(d)), kind(k) {}
};

class IterVar {
 public:
  IterVar() = default;
  explicit IterVar(std::shared_ptr<const IterVarNode> node) : node_(std::move(node)) {}
  bool defined() const { return node_ != nullptr; }
  const IterVarNode* get() const { return node_.get(); }
  const IterVarNode* operator->() const { return node_.get(); }
  bool same_as(const IterVar& other) const { return node_ == other.node_; }
  operator Expr() const { return node_->var; }  // NOLINT(google-explicit-constructor)
  const Var& var() const { return node_->var; }

 private:
  std::shared_ptr<const IterVarNode> node_;
};

IterVar make_iter_var(Range dom, std::string name, IterVarKind kind);
// A reduce axis over [min, max) (TVM's reduce_axis((lo, hi))).
IterVar reduce_axis(Expr min, Expr max, std::string name = "k");

// A commutative, associative combiner: result(lhs, rhs) with an identity element.
// sum/max/min/prod are built in; users build others with comm_reducer.
struct CommReducerNode {
  const std::string name;
  const Var lhs, rhs;
  const Expr result;    // in terms of lhs and rhs
  const Expr identity;  // of the value type
  CommReducerNode(std::string n, Var l, Var r, Expr res, Expr id)
      : name(std::move(n)), lhs(std::move(l)), rhs(std::move(r)), result(std::move(res)), identity(std::move(id)) {}
};
using CommReducer = std::shared_ptr<const CommReducerNode>;

// Builds a reducer for values of type t: fcombine(lhs, rhs) and identity(t).
CommReducer comm_reducer(const std::string& name, DataType t, const std::function<Expr(Expr, Expr)>& fcombine,
                         Expr identity);

// The body of a reducing compute op: combiner over source for all points of axes where condition holds.
struct Reduction {
  CommReducer combiner;
  Expr source;
  std::vector<IterVar> axes;
  Expr condition;  // undefined: always
};

Reduction sum(Expr source, std::vector<IterVar> axes, Expr condition = Expr());
Reduction max(Expr source, std::vector<IterVar> axes, Expr condition = Expr());
Reduction min(Expr source, std::vector<IterVar> axes, Expr condition = Expr());
Reduction prod(Expr source, std::vector<IterVar> axes, Expr condition = Expr());

// ---- operations and tensors ----------------------------------------------------------------

class Tensor;

enum class OpKind : uint8_t { kPlaceholder, kCompute };

struct OperationNode {
  const OpKind kind;
  const std::string name;
  const std::vector<Expr> shape;  // of its output tensor
  const DataType dtype;
  // Placeholder: nothing. Compute: one data-parallel IterVar per output dimension.
  const std::vector<IterVar> axis;
  // Compute without reduction: the element value. With reduction: reduction.source etc.
  const Expr body;
  const bool has_reduction;
  const Reduction reduction;
  // What the op is, for default schedules and fusion: "elemwise", "broadcast", "injective",
  // "reduce", or an operator name such as "dense", "conv2d_nchw". Empty when unknown. The tag is
  // not part of the workload key.
  const std::string tag;
  // Finds the tensors the body reads (they must be alive) and keeps them alive.
  OperationNode(OpKind k, std::string n, std::vector<Expr> sh, DataType t, std::vector<IterVar> ax, Expr b,
                bool has_red, Reduction red, std::string tg = "");
  ~OperationNode();
  // The tensors this op reads, in order of first reference (empty for placeholders).
  const std::vector<Tensor>& inputs() const { return inputs_; }
  // All iteration axes: data-parallel then reduce.
  std::vector<IterVar> root_iter_vars() const;

 private:
  std::vector<Tensor> inputs_;
};
using Operation = std::shared_ptr<const OperationNode>;

struct TensorNode {
  const Operation op;
  const Buffer buffer;  // the storage Loads refer to; lowering maps it to real memory
  TensorNode(Operation o, Buffer b) : op(std::move(o)), buffer(std::move(b)) {}
  ~TensorNode();
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<const TensorNode> node) : node_(std::move(node)) {}
  bool defined() const { return node_ != nullptr; }
  const TensorNode* get() const { return node_.get(); }
  const TensorNode* operator->() const { return node_.get(); }
  bool same_as(const Tensor& other) const { return node_ == other.node_; }

  const Operation& op() const { return node_->op; }
  const Buffer& buffer() const { return node_->buffer; }
  const std::string& name() const { return node_->op->name; }
  const std::vector<Expr>& shape() const { return node_->op->shape; }
  DataType dtype() const { return node_->op->dtype; }
  int ndim() const { return static_cast<int>(node_->op->shape.size()); }
  // Reads one element; throws CompileError on a wrong number of indices.
  Expr operator()(std::vector<Expr> indices) const;

 private:
  std::shared_ptr<const TensorNode> node_;
};

// The tensor whose buffer is `buffer`, or an undefined Tensor (for buffers that are not tensors).
Tensor tensor_of_buffer(const BufferNode* buffer);

Tensor placeholder(std::vector<Expr> shape, DataType dtype, std::string name = "placeholder");
// fcompute receives one index variable per output dimension.
Tensor compute(std::vector<Expr> shape, const std::function<Expr(const std::vector<Var>&)>& fcompute,
               std::string name = "compute", std::string tag = "");
Tensor compute_reduce(std::vector<Expr> shape, const std::function<Reduction(const std::vector<Var>&)>& fcompute,
                      std::string name = "compute", std::string tag = "");
// Lower-level constructors used by schedule transformations (cache_read/write, rfactor).
Tensor make_compute_tensor(std::string name, std::vector<IterVar> axis, DataType dtype, Expr body,
                           std::string tag = "");
Tensor make_reduce_tensor(std::string name, std::vector<IterVar> axis, Reduction reduction, std::string tag = "");
// Same op, new buffer identity (used when a schedule re-homes a tensor).
Tensor make_tensor(Operation op);

// Tensors reachable from outputs, producers before consumers, in a deterministic order
// (depth-first over inputs in order of first reference).
std::vector<Tensor> post_dfs_tensors(const std::vector<Tensor>& outputs);

}  // namespace tessel::te
