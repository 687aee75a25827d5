// simplify_stmt: the statement-level simplifier. Walks statements with one expression simplifier
// whose facts follow the scopes: a For binds its variable's range inside the body, an If tightens
// the bounds of variables its condition compares (x < e, x >= e, x == e, conjunctions, negations
// in the else branch), a LetStmt binds its value. Every expression is simplified with the facts in
// scope; constant conditions are folded, loops of extent <= 0 vanish, loops of extent 1 are
// replaced by their body with the loop variable set to the loop minimum.
#include <algorithm>
#include <utility>
#include <vector>

#include "arith/bound_math.h"
#include "arith/simplifier.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

using arith::VarFact;

// Facts set for one scope, restored in reverse order when the scope ends.
class FactScope {
 public:
  explicit FactScope(arith::Simplifier* simplifier) : simplifier_(simplifier) {}
  ~FactScope() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) simplifier_->restore_fact(it->first, std::move(it->second));
  }
  FactScope(const FactScope&) = delete;
  FactScope& operator=(const FactScope&) = delete;

  void set(VarFact fact) {
    Var var = fact.var;
    saved_.emplace_back(var, simplifier_->set_fact(std::move(fact)));
  }

 private:
  arith::Simplifier* simplifier_;
  std::vector<std::pair<Var, std::optional<VarFact>>> saved_;
};

// True when var appears in the shape or strides of a buffer accessed or allocated in s; such a
// variable cannot be substituted away by `substitute`, which leaves buffers alone.
bool used_in_buffer_metadata(const Stmt& s, const Var& var) {
  struct Finder : IRVisitor {
    const Var& var;
    bool found = false;
    explicit Finder(const Var& v) : var(v) {}
    void check(const BufferNode* buffer) {
      for (const Expr& e : buffer->shape) found |= uses_var(e, var);
      for (const Expr& e : buffer->strides) found |= uses_var(e, var);
    }
    void visit_Load(const LoadNode* op) override {
      check(op->buffer.get());
      IRVisitor::visit_Load(op);
    }
    void visit_Store(const StoreNode* op) override {
      check(op->buffer.get());
      IRVisitor::visit_Store(op);
    }
    void visit_Allocate(const AllocateNode* op) override {
      check(op->buffer.get());
      IRVisitor::visit_Allocate(op);
    }
  } finder(var);
  finder.visit(s);
  return finder.found;
}

Var as_var(const Expr& e) {
  return e.as<VarNode>() ? Var(std::static_pointer_cast<const VarNode>(e.node_ptr())) : Var();
}

class StmtSimplifier : public IRMutator {
 public:
  using IRMutator::mutate;
  Expr mutate(const Expr& e) override { return simplifier_.simplify(e); }

  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    Expr min = mutate(op->min), extent = mutate(op->extent);
    if (const int64_t* n = as_const_int(extent)) {
      if (*n <= 0) return make_no_op();
      // A thread-bound loop of extent 1 still names a launch dimension; it stays.
      if (*n == 1 && op->for_kind != ForKind::kThreadBound && !used_in_buffer_metadata(op->body, op->loop_var)) {
        FactScope scope(&simplifier_);
        scope.set(VarFact{op->loop_var, simplifier_.bound(min), min, /*substitute=*/true});
        return mutate(op->body);
      }
    }
    Stmt body;
    {
      FactScope scope(&simplifier_);
      VarFact fact;
      if (!simplifier_.range_fact(op->loop_var, min, extent, &fact)) {
        // Possibly empty: nothing is known, but an outer fact about the same variable must not leak in.
        fact = VarFact{op->loop_var, arith::type_range(op->loop_var.dtype()), Expr()};
      }
      scope.set(std::move(fact));
      body = mutate(op->body);
    }
    if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return self;
    return make_for(op->loop_var, min, extent, op->for_kind, body, op->thread_tag);
  }

  Stmt mutate_IfThenElse(const IfThenElseNode* op, const Stmt& self) override {
    Expr condition = mutate(op->condition);
    if (const int64_t* v = as_const_int(condition)) {
      if (*v != 0) return mutate(op->then_case);
      return op->else_case.defined() ? mutate(op->else_case) : make_no_op();
    }
    Stmt then_case, else_case;
    {
      FactScope scope(&simplifier_);
      learn(condition, true, &scope);
      then_case = mutate(op->then_case);
    }
    if (op->else_case.defined()) {
      FactScope scope(&simplifier_);
      learn(condition, false, &scope);
      else_case = mutate(op->else_case);
    }
    if (condition.same_as(op->condition) && then_case.same_as(op->then_case) && else_case.same_as(op->else_case)) {
      return self;
    }
    return make_if(condition, then_case, else_case);
  }

  Stmt mutate_LetStmt(const LetStmtNode* op, const Stmt& self) override {
    Expr value = mutate(op->value);
    // A trivial value replaces the variable (through the fact) and the let disappears, unless a
    // buffer's shape mentions the variable: buffers are not rewritten.
    bool in_metadata = used_in_buffer_metadata(op->body, op->var);
    Stmt body;
    {
      FactScope scope(&simplifier_);
      ConstIntBound bound = value.dtype().is_integral() ? simplifier_.bound(value) : ConstIntBound{};
      scope.set(VarFact{op->var, bound, in_metadata ? Expr() : value});
      body = mutate(op->body);
    }
    if (!in_metadata && !uses_var(body, op->var)) return body;
    if (value.same_as(op->value) && body.same_as(op->body)) return self;
    return make_let_stmt(op->var, value, body);
  }

  Stmt mutate_Assert(const AssertNode* op, const Stmt& self) override {
    Expr condition = mutate(op->condition);
    if (is_const_int(condition, 1)) return make_no_op();
    return condition.same_as(op->condition) ? self : make_assert(condition, op->message);
  }

 private:
  // Records what `condition == holds` tells about variables compared with other expressions.
  void learn(const Expr& condition, bool holds, FactScope* scope) {
    if (const NotNode* n = condition.as<NotNode>()) return learn(n->a, !holds, scope);
    const BinaryNode* op = condition.as<BinaryNode>();
    if (!op) return;
    if ((op->op == BinaryOp::kAnd && holds) || (op->op == BinaryOp::kOr && !holds)) {
      learn(op->a, holds, scope);
      learn(op->b, holds, scope);
      return;
    }
    if (!is_comparison(op->op) || !op->a.dtype().is_scalar() || !op->a.dtype().is_integral()) return;
    BinaryOp cmp = holds ? op->op : negate_comparison(op->op);
    if (Var a = as_var(op->a); a.defined() && !uses_var(op->b, a)) tighten(a, cmp, op->b, scope);
    if (Var b = as_var(op->b); b.defined() && !uses_var(op->a, b)) tighten(b, mirror_comparison(cmp), op->a, scope);
  }

  // var cmp other holds: narrows var's bound by other's bound.
  void tighten(const Var& var, BinaryOp cmp, const Expr& other, FactScope* scope) {
    ConstIntBound current = simplifier_.bound(var), limit = simplifier_.bound(other), next = current;
    switch (cmp) {
      case BinaryOp::kLT:
        if (!arith::is_pos_inf(limit.max) && !arith::is_neg_inf(limit.max)) next.max = std::min(current.max, limit.max - 1);
        break;
      case BinaryOp::kLE: next.max = std::min(current.max, limit.max); break;
      case BinaryOp::kGT:
        if (!arith::is_pos_inf(limit.min) && !arith::is_neg_inf(limit.min)) next.min = std::max(current.min, limit.min + 1);
        break;
      case BinaryOp::kGE: next.min = std::max(current.min, limit.min); break;
      case BinaryOp::kEQ: next = arith::bound_intersect(current, limit); break;
      default: return;
    }
    if (next == current || next.min > next.max) return;  // nothing new, or the branch is dead
    const VarFact* existing = simplifier_.find_fact(var.get());
    scope->set(VarFact{var, next, existing ? existing->value : Expr()});
  }

  arith::Simplifier simplifier_;
};

}  // namespace

Stmt simplify_stmt(const Stmt& s) { return StmtSimplifier().mutate(s); }

}  // namespace tessel
