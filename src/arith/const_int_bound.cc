// Bound analysis by structural recursion (see const_int_bound.h). Let-bound variables inside the
// analysed expression are tracked in a local scope, so the analysis needs no outside bindings.
#include "arith/const_int_bound.h"

#include "arith/bound_math.h"

namespace tessel::arith {

namespace {

constexpr ConstIntBound kEither{0, 1};

class BoundEvaluator {
 public:
  BoundEvaluator(const VarFacts& facts, BoundCache* cache) : facts_(facts), cache_(cache) {}

  // Results are cached only outside let bodies, where a node's bound depends on the facts alone.
  ConstIntBound eval(const Expr& e) {
    if (!cache_ || !lets_.empty() || e.as<IntImmNode>()) return eval_uncached(e);
    if (auto it = cache_->find(e.get()); it != cache_->end()) return it->second.second;
    ConstIntBound result = eval_uncached(e);
    cache_->emplace(e.get(), std::make_pair(e, result));
    return result;
  }

 private:
  ConstIntBound eval_uncached(const Expr& e) {
    DataType t = e.dtype();
    if (!t.is_integral()) return {};
    switch (e.kind()) {
      case ExprKind::kIntImm: {
        int64_t v = e.as<IntImmNode>()->value;
        // A uint64 from 2^63 - 1 up: kPosInf would read as "unbounded", which a lower end cannot be.
        if (t.is_uint() && (v < 0 || is_pos_inf(v))) return type_range(t);
        return {v, v};
      }
      case ExprKind::kVar: return eval_var(e.as<VarNode>());
      case ExprKind::kBinary: return eval_binary(e.as<BinaryNode>());
      case ExprKind::kNot: {
        ConstIntBound a = eval(e.as<NotNode>()->a);
        return {1 - a.max, 1 - a.min};
      }
      case ExprKind::kSelect: {
        const SelectNode* op = e.as<SelectNode>();
        ConstIntBound c = eval(op->condition);
        if (c == ConstIntBound{1, 1}) return eval(op->true_value);
        if (c == ConstIntBound{0, 0}) return eval(op->false_value);
        return bound_union(eval(op->true_value), eval(op->false_value));
      }
      case ExprKind::kCast: {
        const CastNode* op = e.as<CastNode>();
        if (!op->value.dtype().is_integral()) return type_range(t);
        return bound_cast(t, op->value.dtype(), eval(op->value));
      }
      case ExprKind::kRamp: {
        // Lane i is base + i * stride.
        const RampNode* op = e.as<RampNode>();
        ConstIntBound lane_index{0, op->lanes - 1};
        return bound_add(t, eval(op->base), bound_mul(t, eval(op->stride), lane_index));
      }
      case ExprKind::kBroadcast: return eval(e.as<BroadcastNode>()->value);
      case ExprKind::kLet: {
        const LetNode* op = e.as<LetNode>();
        ConstIntBound value = op->value.dtype().is_integral() ? eval(op->value) : type_range(op->value.dtype());
        auto previous = lets_.find(op->var.get());
        bool had_previous = previous != lets_.end();
        ConstIntBound saved = had_previous ? previous->second : ConstIntBound{};
        lets_[op->var.get()] = value;
        ConstIntBound result = eval(op->body);
        if (had_previous) {
          lets_[op->var.get()] = saved;
        } else {
          lets_.erase(op->var.get());
        }
        return result;
      }
      case ExprKind::kFloatImm:
      case ExprKind::kLoad:
      case ExprKind::kCall:
        break;
    }
    return type_range(t);
  }

  ConstIntBound eval_var(const VarNode* var) {
    ConstIntBound range = type_range(var->dtype);
    if (auto it = lets_.find(var); it != lets_.end()) return it->second;
    if (auto it = facts_.find(var); it != facts_.end()) return bound_intersect(it->second.bound, range);
    return range;
  }

  ConstIntBound eval_binary(const BinaryNode* op) {
    DataType t = op->a.dtype();
    if (is_comparison(op->op)) {
      if (!t.is_integral()) return kEither;
      return bound_compare(op->op, eval(op->a), eval(op->b));
    }
    ConstIntBound a = eval(op->a), b = eval(op->b);
    switch (op->op) {
      case BinaryOp::kAdd: return bound_add(t, a, b);
      case BinaryOp::kSub: return bound_sub(t, a, b);
      case BinaryOp::kMul: return bound_mul(t, a, b);
      case BinaryOp::kDiv: return bound_floor_div(t, a, b);
      case BinaryOp::kMod: return bound_floor_mod(t, a, b);
      case BinaryOp::kMin: return bound_min(a, b);
      case BinaryOp::kMax: return bound_max(a, b);
      // Logic on 0/1 values: && is the minimum, || the maximum.
      case BinaryOp::kAnd: return bound_min(a, b);
      case BinaryOp::kOr: return bound_max(a, b);
      default: return type_range(t);
    }
  }

  const VarFacts& facts_;
  BoundCache* cache_;
  std::unordered_map<const VarNode*, ConstIntBound> lets_;
};

}  // namespace

ConstIntBound compute_const_int_bound(const Expr& e, const VarFacts& facts, BoundCache* cache) {
  if (!e.defined()) return {};
  return BoundEvaluator(facts, cache).eval(e);
}

}  // namespace tessel::arith
