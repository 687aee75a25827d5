// Default traversal of IRVisitor and IRMutator, and the helpers built on them.
#include "tessel/ir/functor.h"

#include <unordered_map>
#include <unordered_set>

#include "tessel/ir/error.h"

namespace tessel {

// ---- IRVisitor -------------------------------------------------------------------------------

void IRVisitor::visit(const Expr& e) {
  if (!e.defined()) return;
  switch (e.kind()) {
#define TESSEL_X(name)   \
  case ExprKind::k##name: \
    return visit_##name(static_cast<const name##Node*>(e.get()));
    TESSEL_EXPR_NODES(TESSEL_X)
#undef TESSEL_X
  }
}

void IRVisitor::visit(const Stmt& s) {
  if (!s.defined()) return;
  switch (s.kind()) {
#define TESSEL_X(name)   \
  case StmtKind::k##name: \
    return visit_##name(static_cast<const name##Node*>(s.get()));
    TESSEL_STMT_NODES(TESSEL_X)
#undef TESSEL_X
  }
}

void IRVisitor::visit_IntImm(const IntImmNode*) {}
void IRVisitor::visit_FloatImm(const FloatImmNode*) {}
void IRVisitor::visit_Var(const VarNode*) {}
void IRVisitor::visit_Binary(const BinaryNode* op) { visit(op->a); visit(op->b); }
void IRVisitor::visit_Not(const NotNode* op) { visit(op->a); }
void IRVisitor::visit_Select(const SelectNode* op) {
  visit(op->condition);
  visit(op->true_value);
  visit(op->false_value);
}
void IRVisitor::visit_Cast(const CastNode* op) { visit(op->value); }
void IRVisitor::visit_Load(const LoadNode* op) {
  for (const Expr& index : op->indices) visit(index);
}
void IRVisitor::visit_Ramp(const RampNode* op) { visit(op->base); visit(op->stride); }
void IRVisitor::visit_Broadcast(const BroadcastNode* op) { visit(op->value); }
void IRVisitor::visit_Let(const LetNode* op) {
  visit(op->value);
  visit(op->body);
}
void IRVisitor::visit_Call(const CallNode* op) {
  for (const Expr& arg : op->args) visit(arg);
}

void IRVisitor::visit_For(const ForNode* op) {
  visit(op->min);
  visit(op->extent);
  visit(op->body);
}
void IRVisitor::visit_Store(const StoreNode* op) {
  visit(op->value);
  for (const Expr& index : op->indices) visit(index);
}
void IRVisitor::visit_Allocate(const AllocateNode* op) {
  for (const Expr& extent : op->buffer->shape) visit(extent);
  visit(op->body);
}
void IRVisitor::visit_Seq(const SeqNode* op) {
  for (const Stmt& s : op->stmts) visit(s);
}
void IRVisitor::visit_IfThenElse(const IfThenElseNode* op) {
  visit(op->condition);
  visit(op->then_case);
  visit(op->else_case);
}
void IRVisitor::visit_LetStmt(const LetStmtNode* op) {
  visit(op->value);
  visit(op->body);
}
void IRVisitor::visit_Evaluate(const EvaluateNode* op) { visit(op->value); }
void IRVisitor::visit_Assert(const AssertNode* op) { visit(op->condition); }

// ---- IRMutator -------------------------------------------------------------------------------

Expr IRMutator::mutate(const Expr& e) {
  if (!e.defined()) return e;
  switch (e.kind()) {
#define TESSEL_X(name)   \
  case ExprKind::k##name: \
    return mutate_##name(static_cast<const name##Node*>(e.get()), e);
    TESSEL_EXPR_NODES(TESSEL_X)
#undef TESSEL_X
  }
  return e;
}

Stmt IRMutator::mutate(const Stmt& s) {
  if (!s.defined()) return s;
  switch (s.kind()) {
#define TESSEL_X(name)   \
  case StmtKind::k##name: \
    return mutate_##name(static_cast<const name##Node*>(s.get()), s);
    TESSEL_STMT_NODES(TESSEL_X)
#undef TESSEL_X
  }
  return s;
}

bool IRMutator::mutate_all(const std::vector<Expr>& in, std::vector<Expr>* out) {
  bool changed = false;
  out->clear();
  out->reserve(in.size());
  for (const Expr& e : in) {
    out->push_back(mutate(e));
    changed |= !out->back().same_as(e);
  }
  return changed;
}

Expr IRMutator::mutate_IntImm(const IntImmNode*, const Expr& self) { return self; }
Expr IRMutator::mutate_FloatImm(const FloatImmNode*, const Expr& self) { return self; }
Expr IRMutator::mutate_Var(const VarNode*, const Expr& self) { return self; }

Expr IRMutator::mutate_Binary(const BinaryNode* op, const Expr& self) {
  Expr a = mutate(op->a), b = mutate(op->b);
  if (a.same_as(op->a) && b.same_as(op->b)) return self;
  return make_binary(op->op, std::move(a), std::move(b));
}

Expr IRMutator::mutate_Not(const NotNode* op, const Expr& self) {
  Expr a = mutate(op->a);
  return a.same_as(op->a) ? self : make_not(std::move(a));
}

Expr IRMutator::mutate_Select(const SelectNode* op, const Expr& self) {
  Expr c = mutate(op->condition), t = mutate(op->true_value), f = mutate(op->false_value);
  if (c.same_as(op->condition) && t.same_as(op->true_value) && f.same_as(op->false_value)) return self;
  return make_select(std::move(c), std::move(t), std::move(f));
}

Expr IRMutator::mutate_Cast(const CastNode* op, const Expr& self) {
  Expr v = mutate(op->value);
  if (v.same_as(op->value)) return self;
  DataType t = op->dtype.with_lanes(v.dtype().lanes());
  return make_cast(t, std::move(v));
}

Expr IRMutator::mutate_Load(const LoadNode* op, const Expr& self) {
  std::vector<Expr> indices;
  if (!mutate_all(op->indices, &indices)) return self;
  return make_load(Buffer(op->buffer), std::move(indices));
}

Expr IRMutator::mutate_Ramp(const RampNode* op, const Expr& self) {
  Expr base = mutate(op->base), stride = mutate(op->stride);
  if (base.same_as(op->base) && stride.same_as(op->stride)) return self;
  return make_ramp(std::move(base), std::move(stride), op->lanes);
}

Expr IRMutator::mutate_Broadcast(const BroadcastNode* op, const Expr& self) {
  Expr v = mutate(op->value);
  return v.same_as(op->value) ? self : make_broadcast(std::move(v), op->lanes);
}

Expr IRMutator::mutate_Let(const LetNode* op, const Expr& self) {
  Expr value = mutate(op->value), body = mutate(op->body);
  if (value.same_as(op->value) && body.same_as(op->body)) return self;
  return make_let(op->var, std::move(value), std::move(body));
}

Expr IRMutator::mutate_Call(const CallNode* op, const Expr& self) {
  std::vector<Expr> args;
  if (!mutate_all(op->args, &args)) return self;
  return make_call(op->op, std::move(args));
}

Stmt IRMutator::mutate_For(const ForNode* op, const Stmt& self) {
  Expr min = mutate(op->min), extent = mutate(op->extent);
  Stmt body = mutate(op->body);
  if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return self;
  return make_for(op->loop_var, std::move(min), std::move(extent), op->for_kind, std::move(body), op->thread_tag);
}

Stmt IRMutator::mutate_Store(const StoreNode* op, const Stmt& self) {
  Expr value = mutate(op->value);
  std::vector<Expr> indices;
  bool changed = mutate_all(op->indices, &indices);
  if (!changed && value.same_as(op->value)) return self;
  return make_store(Buffer(op->buffer), std::move(value), std::move(indices));
}

Stmt IRMutator::mutate_Allocate(const AllocateNode* op, const Stmt& self) {
  Stmt body = mutate(op->body);
  return body.same_as(op->body) ? self : make_allocate(Buffer(op->buffer), std::move(body));
}

Stmt IRMutator::mutate_Seq(const SeqNode* op, const Stmt& self) {
  std::vector<Stmt> stmts;
  stmts.reserve(op->stmts.size());
  bool changed = false;
  for (const Stmt& s : op->stmts) {
    stmts.push_back(mutate(s));
    changed |= !stmts.back().same_as(s);
  }
  return changed ? make_seq(std::move(stmts)) : self;
}

Stmt IRMutator::mutate_IfThenElse(const IfThenElseNode* op, const Stmt& self) {
  Expr c = mutate(op->condition);
  Stmt t = mutate(op->then_case), e = mutate(op->else_case);
  if (c.same_as(op->condition) && t.same_as(op->then_case) && e.same_as(op->else_case)) return self;
  return make_if(std::move(c), std::move(t), std::move(e));
}

Stmt IRMutator::mutate_LetStmt(const LetStmtNode* op, const Stmt& self) {
  Expr value = mutate(op->value);
  Stmt body = mutate(op->body);
  if (value.same_as(op->value) && body.same_as(op->body)) return self;
  return make_let_stmt(op->var, std::move(value), std::move(body));
}

Stmt IRMutator::mutate_Evaluate(const EvaluateNode* op, const Stmt& self) {
  Expr v = mutate(op->value);
  return v.same_as(op->value) ? self : make_evaluate(std::move(v));
}

Stmt IRMutator::mutate_Assert(const AssertNode* op, const Stmt& self) {
  Expr c = mutate(op->condition);
  return c.same_as(op->condition) ? self : make_assert(std::move(c), op->message);
}

// ---- helpers ---------------------------------------------------------------------------------

namespace {

class PreOrderVisitor : public IRVisitor {
 public:
  explicit PreOrderVisitor(const std::function<void(const Expr*, const Stmt*)>& fn) : fn_(fn) {}
  void visit(const Expr& e) override {
    if (!e.defined()) return;
    fn_(&e, nullptr);
    IRVisitor::visit(e);
  }
  void visit(const Stmt& s) override {
    if (!s.defined()) return;
    fn_(nullptr, &s);
    IRVisitor::visit(s);
  }

 private:
  const std::function<void(const Expr*, const Stmt*)>& fn_;
};

class Substituter : public IRMutator {
 public:
  explicit Substituter(const std::vector<std::pair<Var, Expr>>& map) {
    for (const auto& [var, value] : map) {
      internal_check(var.dtype().lanes() == 1 || var.dtype() == value.dtype()) << "substitute " << var.name();
      map_[var.get()] = value;
    }
  }
  Expr mutate_Var(const VarNode* op, const Expr& self) override {
    auto it = map_.find(op);
    return it == map_.end() ? self : it->second;
  }

 private:
  std::unordered_map<const VarNode*, Expr> map_;
};

class VarUseFinder : public IRVisitor {
 public:
  explicit VarUseFinder(const VarNode* var) : var_(var) {}
  void visit_Var(const VarNode* op) override { found_ |= op == var_; }
  void visit_Load(const LoadNode* op) override {
    found_ |= op->buffer->data.get() == var_;
    IRVisitor::visit_Load(op);
  }
  void visit_Store(const StoreNode* op) override {
    found_ |= op->buffer->data.get() == var_;
    IRVisitor::visit_Store(op);
  }
  bool found() const { return found_; }

 private:
  const VarNode* var_;
  bool found_ = false;
};

// Collects free variables with scoped binding, in order of first use.
class FreeVariableFinder : public IRVisitor {
 public:
  std::vector<const VarNode*> free;

  void visit_Var(const VarNode* op) override { use(op); }
  void visit_Load(const LoadNode* op) override {
    use(op->buffer->data.get());
    IRVisitor::visit_Load(op);
  }
  void visit_Store(const StoreNode* op) override {
    use(op->buffer->data.get());
    IRVisitor::visit_Store(op);
  }
  void visit_Let(const LetNode* op) override {
    visit(op->value);
    scoped(op->var.get(), [&] { visit(op->body); });
  }
  void visit_For(const ForNode* op) override {
    visit(op->min);
    visit(op->extent);
    scoped(op->loop_var.get(), [&] { visit(op->body); });
  }
  void visit_LetStmt(const LetStmtNode* op) override {
    visit(op->value);
    scoped(op->var.get(), [&] { visit(op->body); });
  }
  void visit_Allocate(const AllocateNode* op) override {
    for (const Expr& extent : op->buffer->shape) visit(extent);
    scoped(op->buffer->data.get(), [&] { visit(op->body); });
  }

 private:
  template <typename Fn>
  void scoped(const VarNode* var, Fn&& fn) {
    bool inserted = bound_.insert(var).second;
    fn();
    if (inserted) bound_.erase(var);
  }
  void use(const VarNode* var) {
    if (!bound_.count(var) && seen_.insert(var).second) free.push_back(var);
  }
  std::unordered_set<const VarNode*> bound_;
  std::unordered_set<const VarNode*> seen_;
};

}  // namespace

std::vector<const VarNode*> free_variables(const Stmt& s) {
  FreeVariableFinder finder;
  finder.visit(s);
  return finder.free;
}

void pre_order_visit(const Stmt& s, const std::function<void(const Expr*, const Stmt*)>& fn) {
  PreOrderVisitor visitor(fn);
  visitor.visit(s);
}

Expr substitute(const Expr& e, const std::vector<std::pair<Var, Expr>>& map) {
  if (map.empty()) return e;
  return Substituter(map).mutate(e);
}

Stmt substitute(const Stmt& s, const std::vector<std::pair<Var, Expr>>& map) {
  if (map.empty()) return s;
  return Substituter(map).mutate(s);
}

bool uses_var(const Expr& e, const Var& var) {
  VarUseFinder finder(var.get());
  finder.visit(e);
  return finder.found();
}

bool uses_var(const Stmt& s, const Var& var) {
  VarUseFinder finder(var.get());
  finder.visit(s);
  return finder.found();
}

}  // namespace tessel
