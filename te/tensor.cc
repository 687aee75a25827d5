// Tensor-expression construction: iteration variables, reducers, placeholders and compute ops.
#include "tessel/te/tensor.h"

#include <limits>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"

namespace tessel::te {

namespace {

// Maps each tensor's buffer back to its tensor, so that compute ops can find the tensors their
// bodies read. Entries are removed when the tensor dies.
struct BufferRegistry {
  std::mutex mutex;
  std::unordered_map<const BufferNode*, std::weak_ptr<const TensorNode>> map;
};
BufferRegistry& registry() {
  static BufferRegistry* r = new BufferRegistry();  // never destroyed: tensors may outlive statics
  return *r;
}

Tensor register_tensor(Operation op) {
  std::vector<Expr> shape = op->shape;
  Buffer buffer = make_buffer(op->name, op->dtype, shape);
  auto node = std::make_shared<const TensorNode>(std::move(op), buffer);
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().map[buffer.get()] = node;
  return Tensor(node);
}

std::vector<IterVar> make_axes(const std::vector<Expr>& shape) {
  static const char* names[] = {"i", "j", "k", "l", "m", "n"};
  std::vector<IterVar> axes;
  for (size_t d = 0; d < shape.size(); ++d) {
    std::string name = d < 6 ? names[d] : "ax" + std::to_string(d);
    axes.push_back(make_iter_var({make_const(shape[d].dtype(), 0), shape[d]}, name, IterVarKind::kDataParallel));
  }
  return axes;
}

std::vector<Var> vars_of(const std::vector<IterVar>& axes) {
  std::vector<Var> vars;
  for (const IterVar& iv : axes) vars.push_back(iv.var());
  return vars;
}

void check_shape(const std::vector<Expr>& shape, const std::string& name) {
  for (const Expr& extent : shape) {
    user_check(extent.defined() && extent.dtype().is_int() && extent.dtype().is_scalar())
        << "tensor " << name << ": shape extents must be scalar integers";
    if (const int64_t* v = as_const_int(extent)) user_check(*v > 0) << "tensor " << name << ": extent " << *v << " is not positive";
  }
}

}  // namespace

TensorNode::~TensorNode() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  auto it = registry().map.find(buffer.get());
  if (it != registry().map.end() && it->second.expired()) registry().map.erase(it);
}

Tensor tensor_of_buffer(const BufferNode* buffer) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  auto it = registry().map.find(buffer);
  if (it == registry().map.end()) return Tensor();
  return Tensor(it->second.lock());
}

IterVar make_iter_var(Range dom, std::string name, IterVarKind kind) {
  DataType t = dom.extent.dtype();
  return IterVar(std::make_shared<const IterVarNode>(Var(std::move(name), t), std::move(dom), kind));
}

IterVar reduce_axis(Expr min, Expr max, std::string name) {
  match_types(min, max);
  Expr extent = max - min;
  if (const int64_t* lo = as_const_int(min); lo && as_const_int(max)) extent = make_int(min.dtype(), *as_const_int(max) - *lo);
  return make_iter_var({min, extent}, std::move(name), IterVarKind::kReduce);
}

CommReducer comm_reducer(const std::string& name, DataType t, const std::function<Expr(Expr, Expr)>& fcombine,
                         Expr identity) {
  Var lhs("lhs", t), rhs("rhs", t);
  Expr result = fcombine(lhs, rhs);
  user_check(result.dtype() == t) << "reducer " << name << " must return " << t.to_string();
  identity = make_cast(t, identity);
  return std::make_shared<const CommReducerNode>(name, lhs, rhs, result, identity);
}

namespace {
// The identity of a built-in reducer: a constant, or the lowest/highest value of the type.
enum class Identity { kZero, kOne, kLowest, kHighest };

Reduction make_reduction(const char* name, Expr source, std::vector<IterVar> axes, Expr condition,
                         const std::function<Expr(Expr, Expr)>& fcombine, Identity which) {
  user_check(source.defined()) << name << ": undefined source";
  for (const IterVar& iv : axes) user_check(iv->kind == IterVarKind::kReduce) << name << ": axis " << iv->var->name
                                                                               << " is not a reduce axis";
  DataType t = source.dtype();
  Expr identity;
  if (which == Identity::kLowest || which == Identity::kHighest) {
    // Extremes of the type: -inf/+inf for floats, the integer limits otherwise.
    bool negative = which == Identity::kLowest;
    if (t.is_float()) {
      double inf = std::numeric_limits<double>::infinity();
      identity = make_float(t, negative ? -inf : inf);
    } else if (t.is_int()) {
      int64_t top = t.bits() == 64 ? INT64_MAX : (int64_t{1} << (t.bits() - 1)) - 1;
      identity = make_int(t, negative ? -top - 1 : top);
    } else {
      identity = make_int(t, negative ? 0 : -1);  // wraps to the all-ones maximum
    }
  } else {
    identity = make_const(t, which == Identity::kOne ? 1.0 : 0.0);
  }
  Reduction r;
  r.combiner = comm_reducer(name, t, fcombine, identity);
  r.source = std::move(source);
  r.axes = std::move(axes);
  r.condition = std::move(condition);
  return r;
}
}  // namespace

Reduction sum(Expr source, std::vector<IterVar> axes, Expr condition) {
  return make_reduction("sum", std::move(source), std::move(axes), std::move(condition),
                        [](Expr a, Expr b) { return a + b; }, Identity::kZero);
}
Reduction prod(Expr source, std::vector<IterVar> axes, Expr condition) {
  return make_reduction("prod", std::move(source), std::move(axes), std::move(condition),
                        [](Expr a, Expr b) { return a * b; }, Identity::kOne);
}
Reduction max(Expr source, std::vector<IterVar> axes, Expr condition) {
  return make_reduction("max", std::move(source), std::move(axes), std::move(condition),
                        [](Expr a, Expr b) { return tessel::max(a, b); }, Identity::kLowest);
}
Reduction min(Expr source, std::vector<IterVar> axes, Expr condition) {
  return make_reduction("min", std::move(source), std::move(axes), std::move(condition),
                        [](Expr a, Expr b) { return tessel::min(a, b); }, Identity::kHighest);
}

// ---- operations --------------------------------------------------------------------------------

OperationNode::OperationNode(OpKind k, std::string n, std::vector<Expr> sh, DataType t, std::vector<IterVar> ax,
                             Expr b, bool has_red, Reduction red, std::string tg)
    : kind(k), name(std::move(n)), shape(std::move(sh)), dtype(t), axis(std::move(ax)), body(std::move(b)),
      has_reduction(has_red), reduction(std::move(red)), tag(std::move(tg)) {
  std::unordered_set<const BufferNode*> seen;
  auto collect = [&](const Expr& e) {
    if (!e.defined()) return;
    pre_order_visit(make_evaluate(e), [&](const Expr* x, const Stmt*) {
      if (!x) return;
      if (const LoadNode* load = x->as<LoadNode>()) {
        if (!seen.insert(load->buffer.get()).second) return;
        Tensor t = tensor_of_buffer(load->buffer.get());
        user_check(t.defined()) << "compute " << name << " reads buffer " << load->buffer->name
                                << ", which is not a tensor";
        inputs_.push_back(t);
      }
    });
  };
  if (has_reduction) {
    collect(reduction.source);
    collect(reduction.condition);
  } else {
    collect(body);
  }
}

OperationNode::~OperationNode() = default;

std::vector<IterVar> OperationNode::root_iter_vars() const {
  std::vector<IterVar> result = axis;
  if (has_reduction) result.insert(result.end(), reduction.axes.begin(), reduction.axes.end());
  return result;
}

Expr Tensor::operator()(std::vector<Expr> indices) const {
  user_check(static_cast<int>(indices.size()) == ndim())
      << "tensor " << name() << " has " << ndim() << " dimensions but is indexed with " << indices.size();
  for (const Expr& index : indices) {
    user_check(index.defined() && index.dtype().is_integral() && index.dtype().is_scalar())
        << "tensor " << name() << ": indices must be scalar integers";
  }
  return make_load(node_->buffer, std::move(indices));
}

Tensor placeholder(std::vector<Expr> shape, DataType dtype, std::string name) {
  check_shape(shape, name);
  user_check(dtype.is_scalar()) << "placeholder " << name << ": element type must be scalar";
  auto op = std::make_shared<const OperationNode>(OpKind::kPlaceholder, std::move(name), std::move(shape), dtype,
                                                  std::vector<IterVar>{}, Expr(), false, Reduction{});
  return register_tensor(op);
}

Tensor make_compute_tensor(std::string name, std::vector<IterVar> axis, DataType dtype, Expr body, std::string tag) {
  std::vector<Expr> shape;
  for (const IterVar& iv : axis) shape.push_back(iv->dom.extent);
  user_check(body.defined() && body.dtype().is_scalar()) << "compute " << name << ": the body must be a scalar expression";
  auto op = std::make_shared<const OperationNode>(OpKind::kCompute, std::move(name), std::move(shape), dtype,
                                                  std::move(axis), std::move(body), false, Reduction{}, std::move(tag));
  return register_tensor(op);
}

Tensor make_reduce_tensor(std::string name, std::vector<IterVar> axis, Reduction reduction, std::string tag) {
  std::vector<Expr> shape;
  for (const IterVar& iv : axis) shape.push_back(iv->dom.extent);
  user_check(!reduction.axes.empty()) << "compute " << name << ": a reduction needs at least one reduce axis";
  DataType dtype = reduction.source.dtype();
  auto op = std::make_shared<const OperationNode>(OpKind::kCompute, std::move(name), std::move(shape), dtype,
                                                  std::move(axis), Expr(), true, std::move(reduction), std::move(tag));
  return register_tensor(op);
}

Tensor make_tensor(Operation op) { return register_tensor(std::move(op)); }

Tensor compute(std::vector<Expr> shape, const std::function<Expr(const std::vector<Var>&)>& fcompute, std::string name,
               std::string tag) {
  check_shape(shape, name);
  std::vector<IterVar> axis = make_axes(shape);
  Expr body = fcompute(vars_of(axis));
  user_check(body.defined()) << "compute " << name << ": fcompute returned nothing";
  return make_compute_tensor(std::move(name), std::move(axis), body.dtype(), body, std::move(tag));
}

Tensor compute_reduce(std::vector<Expr> shape, const std::function<Reduction(const std::vector<Var>&)>& fcompute,
                      std::string name, std::string tag) {
  check_shape(shape, name);
  std::vector<IterVar> axis = make_axes(shape);
  Reduction r = fcompute(vars_of(axis));
  return make_reduce_tensor(std::move(name), std::move(axis), std::move(r), std::move(tag));
}

std::vector<Tensor> post_dfs_tensors(const std::vector<Tensor>& outputs) {
  std::vector<Tensor> order;
  std::unordered_set<const TensorNode*> visited;
  std::function<void(const Tensor&)> visit = [&](const Tensor& t) {
    if (!visited.insert(t.get()).second) return;
    for (const Tensor& input : t.op()->inputs()) visit(input);
    order.push_back(t);
  };
  for (const Tensor& t : outputs) visit(t);
  return order;
}

}  // namespace tessel::te
