// loop_partition: splits `for v in [min, end)` whose body is guarded by conditions affine in v
// (If conditions and Select conditions, conjunct by conjunct) into
//   prologue [min, lo)  -- guards kept
//   middle   [lo, hi)   -- the guards that provably hold there replaced by true, then folded
//   epilogue [hi, end)  -- guards kept
// Loops are visited outermost first, so a non-dividing split
//   for io in [0, 3): for ii in [0, 4): if (io * 4 + ii < 10) body
// becomes a guard-free io in [0, 2) followed by the io = 2 tail, whose ii loop is partitioned again.
// Thread-bound loops are not split; a parallel loop only when few of its iterations are guarded.
//
// A conjunct `a < b` (or <=, >, >=) on signed integers is written e < 0 with e = c * v + r, where c
// is a constant (e's first difference in v) and r depends on v-free terms only: outer variables
// (kept symbolic) and loop variables of loops inside the body (maximised over their ranges, which
// is exact because e is affine in each of them too). Then c > 0 gives the prefix
// v < floor((-max r - 1) / c) + 1 and c < 0 the suffix v >= floor(max r / -c) + 1. Conjuncts that
// mention variables bound inside the body by lets, or inner loops whose bounds vary, are left alone.
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

struct LoopRange {
  Var var;
  Expr min, extent;
};

// Splits a condition into its && conjuncts (scalar conditions only).
void split_conjuncts(const Expr& condition, std::vector<Expr>* out) {
  if (const BinaryNode* op = condition.as<BinaryNode>(); op && op->op == BinaryOp::kAnd) {
    split_conjuncts(op->a, out);
    split_conjuncts(op->b, out);
    return;
  }
  out->push_back(condition);
}

// True when e mentions a variable of the set.
bool uses_any(const Expr& e, const std::unordered_set<const VarNode*>& vars) {
  if (vars.empty()) return false;
  struct Finder : IRVisitor {
    const std::unordered_set<const VarNode*>* vars;
    bool found = false;
    void visit_Var(const VarNode* op) override { found |= vars->count(op) > 0; }
  } finder;
  finder.vars = &vars;
  finder.visit(e);
  return finder.found;
}

// One conjunct, at one place where it guards something in the loop body.
struct Occurrence {
  Expr atom;
  std::vector<LoopRange> inner;  // loops inside the partitioned loop that enclose the place
  bool analysable = true;
};

// Finds the conjuncts of If/Select conditions in a loop body that mention the loop variable.
class ConditionCollector : public IRVisitor {
 public:
  explicit ConditionCollector(const Var& loop_var) : loop_var_(loop_var) {}
  std::vector<Occurrence> occurrences;

  void visit_For(const ForNode* op) override {
    visit(op->min);
    visit(op->extent);
    // An inner loop's range is usable when it is fixed for the whole partitioned loop.
    bool fixed = !uses_var(op->min, loop_var_) && !uses_var(op->extent, loop_var_) && !uses_any(op->min, bound_) &&
                 !uses_any(op->extent, bound_);
    bound_.insert(op->loop_var.get());
    if (fixed) {
      inner_.push_back({op->loop_var, op->min, op->extent});
    } else {
      unusable_.insert(op->loop_var.get());
    }
    visit(op->body);
    if (fixed) inner_.pop_back();
  }
  void visit_LetStmt(const LetStmtNode* op) override {
    bound_.insert(op->var.get());
    unusable_.insert(op->var.get());
    IRVisitor::visit_LetStmt(op);
  }
  void visit_Let(const LetNode* op) override {
    bound_.insert(op->var.get());
    unusable_.insert(op->var.get());
    IRVisitor::visit_Let(op);
  }
  void visit_IfThenElse(const IfThenElseNode* op) override {
    add_condition(op->condition);
    IRVisitor::visit_IfThenElse(op);
  }
  void visit_Select(const SelectNode* op) override {
    if (op->condition.dtype().is_scalar()) add_condition(op->condition);
    IRVisitor::visit_Select(op);
  }

 private:
  void add_condition(const Expr& condition) {
    std::vector<Expr> atoms;
    split_conjuncts(condition, &atoms);
    for (const Expr& atom : atoms) {
      if (!uses_var(atom, loop_var_)) continue;
      occurrences.push_back({atom, inner_, !uses_any(atom, unusable_)});
    }
  }

  const Var& loop_var_;
  std::vector<LoopRange> inner_;
  std::unordered_set<const VarNode*> bound_;     // every variable bound inside the body so far
  std::unordered_set<const VarNode*> unusable_;  // lets and loops with varying bounds
};

// The constant c with e(x + 1) - e(x) = c for all x, if the simplifier proves one exists.
std::optional<int64_t> linear_coefficient(const Expr& e, const Var& x) {
  Expr next = substitute(e, {{x, make_binary(BinaryOp::kAdd, x, make_int(x.dtype(), 1))}});
  Expr difference = simplify(make_binary(BinaryOp::kSub, next, e));
  if (const int64_t* c = as_const_int(difference)) return *c;
  return std::nullopt;
}

Expr to_type(DataType t, const Expr& e) {
  if (const int64_t* v = as_const_int(e)) return make_int(t, *v);
  return make_cast(t, e);
}

// Where the partitioned variable makes an atom true for every value of the inner loop variables:
// v < bound (prefix) or v >= bound (suffix).
struct Region {
  bool prefix;
  Expr bound;
};

std::optional<Region> solve(const Occurrence& occurrence, const Var& v) {
  const BinaryNode* cmp = occurrence.atom.as<BinaryNode>();
  if (!cmp || !is_comparison(cmp->op) || !cmp->a.dtype().is_int() || !cmp->a.dtype().is_scalar()) return std::nullopt;
  DataType t = cmp->a.dtype();
  Expr one = make_int(t, 1);
  Expr e;  // the atom holds exactly when e < 0
  switch (cmp->op) {
    case BinaryOp::kLT: e = cmp->a - cmp->b; break;
    case BinaryOp::kLE: e = cmp->a - cmp->b - one; break;
    case BinaryOp::kGT: e = cmp->b - cmp->a; break;
    case BinaryOp::kGE: e = cmp->b - cmp->a - one; break;
    default: return std::nullopt;
  }
  e = simplify(e);
  std::optional<int64_t> c = linear_coefficient(e, v);
  if (!c || *c == 0) return std::nullopt;
  Expr rest = simplify(substitute(e, {{v, make_int(v.dtype(), 0)}}));
  // Maximise rest over the inner loops: each variable at the end of its range that maximises it.
  for (const LoopRange& range : occurrence.inner) {
    if (!uses_var(rest, range.var)) continue;
    std::optional<int64_t> d = linear_coefficient(rest, range.var);
    if (!d) return std::nullopt;
    if (*d == 0) continue;
    Expr at = *d > 0 ? range.min + range.extent - make_int(range.var.dtype(), 1) : range.min;
    rest = simplify(substitute(rest, {{range.var, at}}));
  }
  for (const LoopRange& range : occurrence.inner) {
    if (uses_var(rest, range.var)) return std::nullopt;
  }
  if (uses_var(rest, v)) return std::nullopt;
  Expr coefficient = make_int(t, *c > 0 ? *c : -*c);
  // Integer division is floor division in this IR.
  if (*c > 0) return Region{true, to_type(v.dtype(), (make_int(t, 0) - rest - one) / coefficient + one)};
  return Region{false, to_type(v.dtype(), rest / coefficient + one)};
}

// Replaces the given conjuncts (by identity) of If and Select conditions with true and folds.
class ConditionEliminator : public IRMutator {
 public:
  explicit ConditionEliminator(const std::unordered_set<const ExprNode*>& atoms) : atoms_(atoms) {}

  Stmt mutate_IfThenElse(const IfThenElseNode* op, const Stmt& self) override {
    Expr condition = mutate(rewrite(op->condition));
    Stmt then_case = mutate(op->then_case), else_case = mutate(op->else_case);
    if (is_one(condition)) return then_case;
    if (condition.same_as(op->condition) && then_case.same_as(op->then_case) && else_case.same_as(op->else_case)) {
      return self;
    }
    return make_if(std::move(condition), std::move(then_case), std::move(else_case));
  }

  Expr mutate_Select(const SelectNode* op, const Expr& self) override {
    Expr condition = mutate(op->condition.dtype().is_scalar() ? rewrite(op->condition) : op->condition);
    Expr true_value = mutate(op->true_value), false_value = mutate(op->false_value);
    if (is_one(condition)) return true_value;
    if (condition.same_as(op->condition) && true_value.same_as(op->true_value) &&
        false_value.same_as(op->false_value)) {
      return self;
    }
    return make_select(std::move(condition), std::move(true_value), std::move(false_value));
  }

 private:
  Expr rewrite(const Expr& condition) {
    if (atoms_.count(condition.get())) return make_bool(true);
    const BinaryNode* op = condition.as<BinaryNode>();
    if (!op || op->op != BinaryOp::kAnd) return condition;
    Expr a = rewrite(op->a), b = rewrite(op->b);
    if (is_one(a)) return b;
    if (is_one(b)) return a;
    if (a.same_as(op->a) && b.same_as(op->b)) return condition;
    return make_binary(BinaryOp::kAnd, std::move(a), std::move(b));
  }

  const std::unordered_set<const ExprNode*>& atoms_;
};

class LoopPartitioner : public IRMutator {
 public:
  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    if (op->for_kind != ForKind::kThreadBound) {
      if (std::optional<Stmt> split = partition(op)) return *split;
    }
    outer_.push_back({op->loop_var, op->min, op->extent});
    Stmt body = mutate(op->body);
    outer_.pop_back();
    if (body.same_as(op->body)) return self;
    return make_for(op->loop_var, op->min, op->extent, op->for_kind, std::move(body), op->thread_tag);
  }

 private:
  // Simplifies with the ranges of the enclosing loops known.
  Expr simplify_here(const Expr& e) {
    Analyzer analyzer;
    for (const LoopRange& range : outer_) analyzer.bind_range(range.var, range.min, range.extent);
    return analyzer.simplify(e);
  }

  // True when a loop of this extent provably runs no iteration, given the enclosing loops.
  bool provably_empty(const Expr& extent) {
    if (const int64_t* n = as_const_int(extent)) return *n <= 0;
    Analyzer analyzer;
    for (const LoopRange& range : outer_) analyzer.bind_range(range.var, range.min, range.extent);
    return analyzer.can_prove(extent <= make_int(extent.dtype(), 0));
  }

  std::optional<Stmt> partition(const ForNode* op) {
    const Var& v = op->loop_var;
    ConditionCollector collector(v);
    collector.visit(op->body);
    if (collector.occurrences.empty()) return std::nullopt;

    // An atom is eliminated only when every place it guards was solved.
    std::unordered_map<const ExprNode*, std::vector<Region>> regions;
    std::vector<const ExprNode*> order;  // first occurrence order, for deterministic output
    std::unordered_set<const ExprNode*> failed;
    for (const Occurrence& occurrence : collector.occurrences) {
      const ExprNode* key = occurrence.atom.get();
      if (failed.count(key)) continue;
      if (!regions.count(key)) order.push_back(key);
      std::optional<Region> region;
      if (occurrence.analysable) region = solve(occurrence, v);
      if (!region) {
        failed.insert(key);
        regions.erase(key);
        continue;
      }
      regions[key].push_back(*region);
    }
    if (regions.empty()) return std::nullopt;
    std::vector<const ExprNode*> solved;
    for (const ExprNode* atom : order) {
      if (regions.count(atom)) solved.push_back(atom);
    }

    // Eliminate all solved atoms at once when their regions overlap; otherwise the first atom
    // that holds somewhere alone (the middle loop is partitioned again for the others).
    std::optional<MiddleRange> middle = middle_range(op, solved, regions);
    std::vector<const ExprNode*> chosen = solved;
    for (size_t k = 0; !middle && k < solved.size() && solved.size() > 1; ++k) {
      chosen = {solved[k]};
      middle = middle_range(op, chosen, regions);
    }
    if (!middle) return std::nullopt;
    if (op->for_kind == ForKind::kParallel && !worth_splitting_parallel(op, *middle)) return std::nullopt;

    std::unordered_set<const ExprNode*> eliminated(chosen.begin(), chosen.end());
    Stmt middle_body = ConditionEliminator(eliminated).mutate(op->body);
    Expr end = simplify_here(op->min + op->extent);
    std::vector<Stmt> pieces;
    add_piece(op, op->min, simplify_here(middle->begin - op->min), op->body, Piece::kPrologue, &pieces);
    add_piece(op, middle->begin, middle->extent, middle_body, Piece::kMiddle, &pieces);
    add_piece(op, middle->end, simplify_here(end - middle->end), op->body, Piece::kEpilogue, &pieces);
    return make_seq(std::move(pieces));
  }

  struct MiddleRange {
    Expr begin, end, extent;
  };

  // Where all the given atoms hold: lo = max of the suffix bounds, hi = min of the prefix bounds,
  // clamped into the loop. None when that range is provably empty.
  std::optional<MiddleRange> middle_range(const ForNode* op, const std::vector<const ExprNode*>& atoms,
                                          const std::unordered_map<const ExprNode*, std::vector<Region>>& regions) {
    Expr lo, hi;
    for (const ExprNode* atom : atoms) {
      for (const Region& region : regions.at(atom)) {
        Expr& side = region.prefix ? hi : lo;
        side = !side.defined() ? region.bound : (region.prefix ? min(side, region.bound) : max(side, region.bound));
      }
    }
    Expr begin = op->min;
    Expr end = simplify_here(op->min + op->extent);
    MiddleRange range;
    range.begin = lo.defined() ? simplify_here(min(max(lo, begin), end)) : begin;
    range.end = hi.defined() ? simplify_here(max(min(hi, end), range.begin)) : end;
    range.extent = simplify_here(range.end - range.begin);
    if (provably_empty(range.extent)) return std::nullopt;
    return range;
  }

  // A parallel loop is split only when its guarded iterations are few: the prologue and the
  // epilogue (run as parallel loops too, but a single iteration becomes plain code) must be
  // constant and together at most a quarter of the loop. Otherwise a small parallel loop could
  // be peeled into serial pieces; its guards are then removed from the loops inside it instead,
  // where its variable is symbolic.
  bool worth_splitting_parallel(const ForNode* op, const MiddleRange& middle) {
    Expr prologue_extent = simplify_here(middle.begin - op->min);
    Expr epilogue_extent = simplify_here(op->min + op->extent - middle.end);
    const int64_t* total = as_const_int(op->extent);
    const int64_t* prologue = as_const_int(prologue_extent);
    const int64_t* epilogue = as_const_int(epilogue_extent);
    if (!total || !prologue || !epilogue) return false;
    return (*prologue + *epilogue) * 4 <= *total;
  }

  enum class Piece { kPrologue, kMiddle, kEpilogue };

  // Emits `for var in [min, min + extent): body` of op's kind, partitioning what it contains;
  // nothing for a constant empty range, the substituted body for a single iteration. The middle
  // loop is itself partitioned again (on the atoms not eliminated yet, which terminates because
  // each round eliminates one); prologue and epilogue still hold every atom, so only their bodies.
  void add_piece(const ForNode* op, const Expr& min, const Expr& extent, const Stmt& body, Piece piece,
                 std::vector<Stmt>* pieces) {
    if (provably_empty(extent)) return;
    const int64_t* n = as_const_int(extent);
    if (n && *n == 1) {
      pieces->push_back(mutate(substitute(body, {{op->loop_var, min}})));
      return;
    }
    if (piece == Piece::kMiddle) {
      pieces->push_back(mutate(make_for(op->loop_var, min, extent, op->for_kind, body, op->thread_tag)));
      return;
    }
    // Prologue and epilogue get their own variables so each loop binds a distinct one.
    Var var(op->loop_var.name(), op->loop_var.dtype());
    Stmt piece_body = substitute(body, {{op->loop_var, var}});
    outer_.push_back({var, min, extent});
    piece_body = mutate(piece_body);
    outer_.pop_back();
    pieces->push_back(make_for(var, min, extent, op->for_kind, std::move(piece_body), op->thread_tag));
  }

  std::vector<LoopRange> outer_;  // enclosing loops, outermost first
};

}  // namespace

Stmt loop_partition(const Stmt& s) { return LoopPartitioner().mutate(s); }

}  // namespace tessel
