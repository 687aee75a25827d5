// vectorize_loops: a kVectorized loop `for v in [min, min + n)` with constant n becomes one pass of
// n-lane vector code: v is Ramp(min, 1, n), expressions that depend on v become n-lane vectors,
// everything else stays scalar and is broadcast where it meets a vector.
//
// A vectorized loop promises that its iterations are independent, so running "all lanes of
// statement 1, then all lanes of statement 2" is allowed. What has no vector form is scalarised,
// i.e. wrapped in a serial loop over the lanes, at the smallest statement that can be:
//   * an If or Assert whose condition varies across lanes, an inner loop whose bounds vary;
//   * a store whose address is not provably distinct per lane (lane-invariant address: the
//     iterations would otherwise collapse into one, e.g. a reduction into a scalar);
//   * an Allocate (each iteration has its own storage);
//   * any expression mixing its own vectors with the loop's lanes.
// A statement under a LetStmt that became a vector let cannot be scalarised on its own (the let
// variable is a vector there); the failure moves up to the let, or to the whole loop.
// Inner loops with lane-invariant bounds stay loops with a vectorized body, so
// `for k: C[i, j] += A[i, k] * B[k, j]` under a vectorized j becomes a vector accumulation.
#include <unordered_map>

#include "index_math.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

using transforms::vector_binary;

// Thrown inside the vectorizer when a construct has no vector form; caught at the nearest
// statement that can be scalarised.
struct NotVectorizable {};

// Vectorizes the body of one loop. Every mutate() returns either the unchanged input (the value is
// the same in all lanes and keeps its own type) or a new expression with exactly `lanes_` lanes.
class Vectorizer : public IRMutator {
 public:
  Vectorizer(Var loop_var, Expr min, int lanes) : loop_var_(std::move(loop_var)), min_(std::move(min)), lanes_(lanes) {
    var_map_[loop_var_.get()] = make_ramp(min_, make_int(min_.dtype(), 1), lanes_);
  }

  // Vectorizes the whole body; an unvectorizable construct outside any scalarisable statement
  // propagates NotVectorizable to the caller.
  Stmt run(const Stmt& body) { return mutate(body); }

  Expr mutate(const Expr& e) override {
    Expr result = IRMutator::mutate(e);
    // A vector of the input's own lanes must not be widened again: the lanes would mix.
    if (!result.same_as(e) && e.defined() && e.dtype().is_vector()) throw NotVectorizable();
    return result;
  }

  Stmt mutate(const Stmt& s) override {
    if (!s.defined()) return s;
    int depth = vector_let_depth_;
    try {
      return IRMutator::mutate(s);
    } catch (const NotVectorizable&) {
      vector_let_depth_ = depth;
      if (depth > 0) throw;
      return scalarise(s);
    }
  }

  // ---- expressions --------------------------------------------------------------------------

  Expr mutate_Var(const VarNode* op, const Expr& self) override {
    auto it = var_map_.find(op);
    return it == var_map_.end() ? self : it->second;
  }

  Expr mutate_Binary(const BinaryNode* op, const Expr& self) override {
    Expr a = mutate(op->a), b = mutate(op->b);
    bool wa = widened(op->a, a), wb = widened(op->b, b);
    if (!wa && !wb) return self;
    check_combinable(op->a, wa);
    check_combinable(op->b, wb);
    return vector_binary(op->op, std::move(a), std::move(b));
  }

  Expr mutate_Not(const NotNode* op, const Expr& self) override {
    Expr a = mutate(op->a);
    return a.same_as(op->a) ? self : make_not(std::move(a));
  }

  Expr mutate_Select(const SelectNode* op, const Expr& self) override {
    Expr c = mutate(op->condition), t = mutate(op->true_value), f = mutate(op->false_value);
    bool wc = widened(op->condition, c), wt = widened(op->true_value, t), wf = widened(op->false_value, f);
    if (!wc && !wt && !wf) return self;
    check_combinable(op->condition, wc);
    // A lane-invariant condition stays scalar (select allows it); the values get the loop's lanes.
    return make_select(std::move(c), to_lanes(op->true_value, t, wt), to_lanes(op->false_value, f, wf));
  }

  Expr mutate_Cast(const CastNode* op, const Expr& self) override {
    Expr v = mutate(op->value);
    return v.same_as(op->value) ? self : make_cast(op->dtype.with_lanes(lanes_), std::move(v));
  }

  Expr mutate_Load(const LoadNode* op, const Expr& self) override {
    std::vector<Expr> indices = mutate_indices(op->indices);
    if (indices.empty()) return self;
    // Scalar indices may stay scalar next to vector ones; the load takes the vector lanes.
    return make_load(Buffer(op->buffer), std::move(indices));
  }

  // The input's own vectors may not depend on the loop variable (their lanes would mix).
  Expr mutate_Ramp(const RampNode* op, const Expr& self) override {
    if (!mutate(op->base).same_as(op->base) || !mutate(op->stride).same_as(op->stride)) throw NotVectorizable();
    return self;
  }

  Expr mutate_Broadcast(const BroadcastNode* op, const Expr& self) override {
    if (!mutate(op->value).same_as(op->value)) throw NotVectorizable();
    return self;
  }

  Expr mutate_Let(const LetNode* op, const Expr& self) override {
    Expr value = mutate(op->value);
    if (value.same_as(op->value)) {
      Expr body = mutate(op->body);
      return body.same_as(op->body) ? self : make_let(op->var, op->value, std::move(body));
    }
    Var vector_var(op->var.name(), value.dtype());
    var_map_[op->var.get()] = vector_var;
    Expr body = mutate(op->body);
    var_map_.erase(op->var.get());
    // The body never reads the variable: it is lane-invariant, but the result must be a vector
    // because the input (whose value varied) is no longer valid outside the loop.
    if (body.same_as(op->body)) return to_lanes(op->body, op->body, false);
    return make_let(vector_var, std::move(value), std::move(body));
  }

  Expr mutate_Call(const CallNode* op, const Expr& self) override {
    std::vector<Expr> args;
    if (!mutate_all(op->args, &args)) return self;
    for (size_t k = 0; k < args.size(); ++k) args[k] = to_lanes(op->args[k], args[k], widened(op->args[k], args[k]));
    return make_call(op->op, std::move(args));
  }

  // ---- statements ---------------------------------------------------------------------------

  Stmt mutate_Store(const StoreNode* op, const Stmt& self) override {
    std::vector<Expr> indices = mutate_indices(op->indices);
    if (indices.empty() || !distinct_per_lane(indices)) return scalarise(self);
    Expr value = mutate(op->value);
    value = to_lanes(op->value, value, widened(op->value, value));
    return make_store(Buffer(op->buffer), std::move(value), std::move(indices));
  }

  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    Expr min = mutate(op->min), extent = mutate(op->extent);
    if (!min.same_as(op->min) || !extent.same_as(op->extent)) return scalarise(self);
    Stmt body = mutate(op->body);
    if (body.same_as(op->body)) return self;
    return make_for(op->loop_var, op->min, op->extent, op->for_kind, std::move(body), op->thread_tag);
  }

  Stmt mutate_IfThenElse(const IfThenElseNode* op, const Stmt& self) override {
    Expr condition = mutate(op->condition);
    if (!condition.same_as(op->condition)) return scalarise(self);
    return IRMutator::mutate_IfThenElse(op, self);
  }

  Stmt mutate_Assert(const AssertNode* op, const Stmt& self) override {
    Expr condition = mutate(op->condition);
    return condition.same_as(op->condition) ? self : scalarise(self);
  }

  Stmt mutate_Allocate(const AllocateNode* op, const Stmt& self) override { return scalarise(self); }

  Stmt mutate_LetStmt(const LetStmtNode* op, const Stmt& self) override {
    Expr value = mutate(op->value);
    if (value.same_as(op->value)) return IRMutator::mutate_LetStmt(op, self);
    Var vector_var(op->var.name(), value.dtype());
    var_map_[op->var.get()] = vector_var;
    ++vector_let_depth_;
    Stmt body;
    try {
      body = mutate(op->body);
    } catch (const NotVectorizable&) {
      var_map_.erase(op->var.get());
      --vector_let_depth_;
      throw;
    }
    var_map_.erase(op->var.get());
    --vector_let_depth_;
    if (!uses_var(op->body, op->var)) return body;
    return make_let_stmt(vector_var, std::move(value), std::move(body));
  }

 private:
  // True when mutate turned `before` into a new vector of the loop's lanes.
  static bool widened(const Expr& before, const Expr& after) { return !after.same_as(before); }

  // An unchanged operand meeting a widened one must be a scalar (it gets broadcast); an own vector
  // of the input would mix its lanes with the loop's.
  static void check_combinable(const Expr& before, bool was_widened) {
    if (!was_widened && before.dtype().is_vector()) throw NotVectorizable();
  }

  Expr to_lanes(const Expr& before, const Expr& after, bool was_widened) const {
    if (was_widened) return after;
    if (before.dtype().is_vector()) throw NotVectorizable();
    return make_broadcast(after, lanes_);
  }

  // Mutated indices, or an empty vector when none changed. Unchanged indices must be scalars.
  std::vector<Expr> mutate_indices(const std::vector<Expr>& in) {
    std::vector<Expr> out;
    if (!mutate_all(in, &out)) return {};
    for (size_t k = 0; k < in.size(); ++k) check_combinable(in[k], widened(in[k], out[k]));
    return out;
  }

  // Lanes of a vector store write distinct elements when some index is a ramp with a non-zero
  // constant stride (distinct in that dimension, hence distinct addresses for in-bounds accesses).
  static bool distinct_per_lane(const std::vector<Expr>& indices) {
    for (const Expr& index : indices) {
      const RampNode* ramp = index.as<RampNode>();
      if (ramp && as_const_int(ramp->stride) && *as_const_int(ramp->stride) != 0) return true;
    }
    return false;
  }

  // Runs the original statement once per lane, in lane order, as a serial loop.
  Stmt scalarise(const Stmt& s) {
    if (vector_let_depth_ > 0) throw NotVectorizable();
    Var lane(loop_var_.name(), loop_var_.dtype());
    return make_for(lane, min_, make_int(min_.dtype(), lanes_), ForKind::kSerial,
                    substitute(s, {{loop_var_, lane}}));
  }

  Var loop_var_;
  Expr min_;
  int lanes_;
  // The loop variable's ramp, and the vector variables replacing lets of lane-varying values.
  std::unordered_map<const VarNode*, Expr> var_map_;
  int vector_let_depth_ = 0;
};

class LoopVectorizer : public IRMutator {
 public:
  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    // Innermost first: an inner vectorized loop is already vector code when the outer one is seen
    // (and the outer one then scalarises wherever the lanes would mix).
    Stmt body = mutate(op->body);
    if (op->for_kind != ForKind::kVectorized) {
      if (body.same_as(op->body)) return self;
      return make_for(op->loop_var, op->min, op->extent, op->for_kind, std::move(body), op->thread_tag);
    }
    const int64_t* extent = as_const_int(op->extent);
    if (!extent) return make_for(op->loop_var, op->min, op->extent, ForKind::kSerial, std::move(body));
    if (*extent <= 0) return make_no_op();
    if (*extent == 1) return substitute(body, {{op->loop_var, op->min}});
    internal_check(*extent <= 65535) << "vectorized loop " << op->loop_var.name() << " has " << *extent
                                     << " lanes, more than a vector type can hold";
    try {
      return Vectorizer(op->loop_var, op->min, static_cast<int>(*extent)).run(body);
    } catch (const NotVectorizable&) {
      return make_for(op->loop_var, op->min, op->extent, ForKind::kSerial, std::move(body));
    }
  }
};

}  // namespace

Stmt vectorize_loops(const Stmt& s) { return LoopVectorizer().mutate(s); }

}  // namespace tessel
