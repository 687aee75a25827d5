// Validating constructors for loop-IR statements and functions.
#include "tessel/ir/stmt.h"

#include "tessel/ir/error.h"

namespace tessel {

namespace {
template <typename Node, typename... Args>
Stmt make_node(Args&&... args) {
  return Stmt(std::make_shared<const Node>(std::forward<Args>(args)...));
}

void check_index_lanes(const BufferNode* buffer, const std::vector<Expr>& indices, int value_lanes) {
  internal_check(!indices.empty()) << "access to " << buffer->name << " without indices";
  bool has_vector_index = false;
  for (const Expr& index : indices) has_vector_index |= index.dtype().lanes() > 1;
  internal_check(value_lanes == 1 || has_vector_index) << "vector store to " << buffer->name
                                                       << " needs a vector index";
  for (const Expr& index : indices) {
    internal_check(index.dtype().is_integral()) << "non-integer index into " << buffer->name;
    int lanes = index.dtype().lanes();
    internal_check(lanes == 1 || lanes == value_lanes) << "index lanes (" << lanes << ") do not match value lanes ("
                                                       << value_lanes << ") in store to " << buffer->name;
  }
}
}  // namespace

const char* for_kind_name(ForKind kind) {
  switch (kind) {
    case ForKind::kSerial: return "serial";
    case ForKind::kParallel: return "parallel";
    case ForKind::kVectorized: return "vectorized";
    case ForKind::kUnrolled: return "unrolled";
    case ForKind::kThreadBound: return "thread_bound";
  }
  return "?";
}

Stmt make_for(Var loop_var, Expr min, Expr extent, ForKind kind, Stmt body, std::string thread_tag) {
  internal_check(loop_var.defined() && body.defined()) << "for loop without variable or body";
  internal_check(loop_var.dtype().is_int() && loop_var.dtype().is_scalar()) << "loop variable " << loop_var.name()
                                                                            << " must be a scalar int";
  internal_check(min.dtype() == loop_var.dtype() && extent.dtype() == loop_var.dtype())
      << "loop " << loop_var.name() << ": min/extent types must match the loop variable";
  internal_check((kind == ForKind::kThreadBound) == !thread_tag.empty())
      << "loop " << loop_var.name() << ": thread tag required exactly for thread-bound loops";
  return make_node<ForNode>(std::move(loop_var), std::move(min), std::move(extent), kind, std::move(thread_tag),
                            std::move(body));
}

Stmt make_store(const Buffer& buffer, Expr value, std::vector<Expr> indices) {
  internal_check(buffer.defined() && value.defined()) << "store without buffer or value";
  internal_check(value.dtype().element_of() == buffer->dtype) << "store of " << value.dtype().to_string()
                                                              << " into " << buffer->name << " of " << buffer->dtype.to_string();
  check_index_lanes(buffer.get(), indices, value.dtype().lanes());
  return make_node<StoreNode>(buffer.node_ptr(), std::move(value), std::move(indices));
}

Stmt make_allocate(const Buffer& buffer, Stmt body) {
  internal_check(buffer.defined() && body.defined()) << "allocate without buffer or body";
  return make_node<AllocateNode>(buffer.node_ptr(), std::move(body));
}

Stmt make_seq(std::vector<Stmt> stmts) {
  std::vector<Stmt> flat;
  for (Stmt& s : stmts) {
    internal_check(s.defined()) << "undefined statement in sequence";
    if (const SeqNode* seq = s.as<SeqNode>()) {
      flat.insert(flat.end(), seq->stmts.begin(), seq->stmts.end());
    } else {
      flat.push_back(std::move(s));
    }
  }
  if (flat.empty()) return make_no_op();
  if (flat.size() == 1) return flat[0];
  return make_node<SeqNode>(std::move(flat));
}

Stmt make_if(Expr condition, Stmt then_case, Stmt else_case) {
  internal_check(condition.dtype() == DataType::Bool()) << "if condition must be a scalar bool";
  internal_check(then_case.defined()) << "if without then branch";
  return make_node<IfThenElseNode>(std::move(condition), std::move(then_case), std::move(else_case));
}

Stmt make_let_stmt(Var var, Expr value, Stmt body) {
  internal_check(var.dtype() == value.dtype()) << "let " << var.name() << " binds a value of another type";
  return make_node<LetStmtNode>(std::move(var), std::move(value), std::move(body));
}

Stmt make_evaluate(Expr value) {
  internal_check(value.defined()) << "evaluate of undefined expression";
  return make_node<EvaluateNode>(std::move(value));
}

Stmt make_no_op() { return make_evaluate(make_int(DataType::Int(32), 0)); }

bool is_no_op(const Stmt& s) {
  const EvaluateNode* e = s.as<EvaluateNode>();
  return e && (e->value.as<IntImmNode>() || e->value.as<FloatImmNode>());
}

Stmt make_assert(Expr condition, std::string message) {
  internal_check(condition.dtype() == DataType::Bool()) << "assert condition must be a scalar bool";
  return make_node<AssertNode>(std::move(condition), std::move(message));
}

PrimFunc PrimFunc::with_body(Stmt body) const {
  return PrimFunc(std::make_shared<const PrimFuncNode>(node_->name, node_->params, std::move(body)));
}

PrimFunc make_prim_func(std::string name, std::vector<Param> params, Stmt body) {
  internal_check(body.defined()) << "function " << name << " has no body";
  for (const Param& p : params) {
    internal_check(p.buffer.defined() != p.scalar.defined()) << "function " << name
                                                             << ": a parameter is either a buffer or a scalar";
  }
  return PrimFunc(std::make_shared<const PrimFuncNode>(std::move(name), std::move(params), std::move(body)));
}

}  // namespace tessel
