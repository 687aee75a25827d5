// remove_no_op: drops statements without effect, bottom-up: Evaluate of constants, loops with a
// no-op body or a constant extent <= 0, ifs whose branches are no-ops, lets whose variable is
// unused, asserts of true, and allocations nobody reads (their stores are dead: the memory dies
// with the allocation). Expressions have no side effects in this IR, so all of this is exact.
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

bool is_constant(const Expr& e) {
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return is_constant(b->value);
  return e.as<IntImmNode>() || e.as<FloatImmNode>();
}

// True when some Load reads memory through `data` (any buffer view sharing it).
bool is_read(const Stmt& s, const VarNode* data) {
  struct Finder : IRVisitor {
    const VarNode* data;
    bool found = false;
    void visit_Load(const LoadNode* op) override {
      found |= op->buffer->data.get() == data;
      IRVisitor::visit_Load(op);
    }
  } finder;
  finder.data = data;
  finder.visit(s);
  return finder.found;
}

// Replaces every store through `data` by a no-op.
class DeadStoreRemover : public IRMutator {
 public:
  explicit DeadStoreRemover(const VarNode* data) : data_(data) {}
  Stmt mutate_Store(const StoreNode* op, const Stmt& self) override {
    return op->buffer->data.get() == data_ ? make_no_op() : self;
  }

 private:
  const VarNode* data_;
};

class NoOpRemover : public IRMutator {
 public:
  Stmt mutate_Evaluate(const EvaluateNode* op, const Stmt& self) override {
    if (is_constant(op->value) && !is_no_op(self)) return make_no_op();
    return self;
  }

  Stmt mutate_Assert(const AssertNode* op, const Stmt& self) override {
    if (const int64_t* v = as_const_int(op->condition); v && *v != 0) return make_no_op();
    return self;
  }

  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    if (const int64_t* extent = as_const_int(op->extent); extent && *extent <= 0) return make_no_op();
    Stmt body = mutate(op->body);
    if (is_no_op(body)) return make_no_op();
    if (body.same_as(op->body)) return self;
    return make_for(op->loop_var, op->min, op->extent, op->for_kind, std::move(body), op->thread_tag);
  }

  Stmt mutate_IfThenElse(const IfThenElseNode* op, const Stmt& self) override {
    Stmt then_case = mutate(op->then_case);
    Stmt else_case = mutate(op->else_case);
    if (else_case.defined() && is_no_op(else_case)) else_case = Stmt();
    if (is_no_op(then_case)) {
      if (!else_case.defined()) return make_no_op();
      return make_if(make_not(op->condition), std::move(else_case));
    }
    if (then_case.same_as(op->then_case) && else_case.same_as(op->else_case)) return self;
    return make_if(op->condition, std::move(then_case), std::move(else_case));
  }

  Stmt mutate_LetStmt(const LetStmtNode* op, const Stmt& self) override {
    Stmt body = mutate(op->body);
    if (is_no_op(body) || !uses_var(body, op->var)) return body;
    if (body.same_as(op->body)) return self;
    return make_let_stmt(op->var, op->value, std::move(body));
  }

  Stmt mutate_Allocate(const AllocateNode* op, const Stmt& self) override {
    Stmt body = mutate(op->body);
    const VarNode* data = op->buffer->data.get();
    if (!is_read(body, data)) {
      // Written but never read: the stores are dead, and so is the allocation.
      Stmt without_stores = mutate(DeadStoreRemover(data).mutate(body));
      if (!uses_var(without_stores, op->buffer->data)) return without_stores;
      body = without_stores;
    }
    if (is_no_op(body)) return make_no_op();
    if (body.same_as(op->body)) return self;
    return make_allocate(Buffer(op->buffer), std::move(body));
  }

  Stmt mutate_Seq(const SeqNode* op, const Stmt& self) override {
    std::vector<Stmt> kept;
    bool changed = false;
    for (const Stmt& s : op->stmts) {
      Stmt m = mutate(s);
      changed |= !m.same_as(s);
      if (is_no_op(m)) {
        changed = true;
        continue;
      }
      changed |= m.as<SeqNode>() != nullptr;  // a nested Seq gets flattened
      kept.push_back(std::move(m));
    }
    return changed ? make_seq(std::move(kept)) : self;
  }
};

}  // namespace

Stmt remove_no_op(const Stmt& s) { return NoOpRemover().mutate(s); }

}  // namespace tessel
