// Constant-folding, ramp-preserving arithmetic builders used by storage_flatten, vectorize_loops
// and loop_partition (see index_math.h).
#include "index_math.h"

#include <optional>

#include "tessel/ir/error.h"

namespace tessel::transforms {

namespace {

// Folds an integer operation the way the IR evaluates it: two's complement wrap at t's width.
std::optional<int64_t> fold_int(BinaryOp op, DataType t, int64_t a, int64_t b) {
  uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
    case BinaryOp::kAdd: return wrap_to_type(t, static_cast<int64_t>(ua + ub));
    case BinaryOp::kSub: return wrap_to_type(t, static_cast<int64_t>(ua - ub));
    case BinaryOp::kMul: return wrap_to_type(t, static_cast<int64_t>(ua * ub));
    case BinaryOp::kMin: return a < b ? a : b;
    case BinaryOp::kMax: return a < b ? b : a;
    default: return std::nullopt;  // division needs care with unsigned types; leave it to simplify
  }
}

bool is_int_arith(DataType t) { return t.element_of().is_integral() && !t.element_of().is_bool(); }

// a op b on scalars of one type, folding integer identities.
Expr scalar_binary(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  if (is_int_arith(t)) {
    const int64_t* ca = as_const_int(a);
    const int64_t* cb = as_const_int(b);
    if (ca && cb && t.is_int()) {
      if (auto folded = fold_int(op, t, *ca, *cb)) return make_int(t, *folded);
    }
    switch (op) {
      case BinaryOp::kAdd:
        if (ca && *ca == 0) return b;
        if (cb && *cb == 0) return a;
        break;
      case BinaryOp::kSub:
        if (cb && *cb == 0) return a;
        break;
      case BinaryOp::kMul:
        if (ca && *ca == 1) return b;
        if (cb && *cb == 1) return a;
        if ((ca && *ca == 0) || (cb && *cb == 0)) return make_int(t, 0);
        break;
      default: break;
    }
  }
  return make_binary(op, a, b);
}

// An integer expression seen as the affine vector base + lane * stride (stride undefined: 0).
struct Affine {
  Expr base, stride;
};

std::optional<Affine> as_affine(const Expr& e) {
  if (e.dtype().is_scalar()) return Affine{e, Expr()};
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return Affine{b->value, Expr()};
  if (const RampNode* r = e.as<RampNode>()) return Affine{r->base, r->stride};
  return std::nullopt;
}

Expr make_affine(const Affine& x, int lanes) {
  if (x.stride.defined() && !is_const_int(x.stride, 0)) return make_ramp(x.base, x.stride, lanes);
  return make_broadcast(x.base, lanes);
}

Expr add_strides(BinaryOp op, const Expr& a, const Expr& b, DataType t) {
  if (!a.defined() && !b.defined()) return Expr();
  Expr x = a.defined() ? a : make_int(t, 0);
  Expr y = b.defined() ? b : make_int(t, 0);
  return scalar_binary(op, x, y);
}

}  // namespace

Expr vector_binary(BinaryOp op, Expr a, Expr b) {
  internal_check(a.defined() && b.defined()) << "undefined operand of " << binary_op_name(op);
  internal_check(a.dtype().element_of() == b.dtype().element_of())
      << "operand types differ: " << a.dtype().to_string() << " vs " << b.dtype().to_string();
  int la = a.dtype().lanes(), lb = b.dtype().lanes();
  internal_check(la == lb || la == 1 || lb == 1) << "lanes differ: " << la << " vs " << lb;
  if (la == 1 && lb == 1) return scalar_binary(op, a, b);
  int lanes = la > lb ? la : lb;
  DataType t = a.dtype().element_of();

  std::optional<Affine> fa = as_affine(a), fb = as_affine(b);
  if (fa && fb) {
    bool a_uniform = !fa->stride.defined(), b_uniform = !fb->stride.defined();
    if (a_uniform && b_uniform) {
      // Both operands are the same in every lane: compute once and broadcast (any op, any type).
      return make_broadcast(scalar_binary(op, fa->base, fb->base), lanes);
    }
    if (is_int_arith(t)) {
      if (op == BinaryOp::kAdd || op == BinaryOp::kSub) {
        return make_affine({scalar_binary(op, fa->base, fb->base), add_strides(op, fa->stride, fb->stride, t)},
                           lanes);
      }
      if (op == BinaryOp::kMul && (a_uniform || b_uniform)) {
        const Affine& ramp = a_uniform ? *fb : *fa;
        const Expr& factor = a_uniform ? fa->base : fb->base;
        return make_affine({scalar_binary(op, ramp.base, factor), scalar_binary(op, ramp.stride, factor)}, lanes);
      }
    }
  }
  if (la == 1) a = make_broadcast(a, lanes);
  if (lb == 1) b = make_broadcast(b, lanes);
  return make_binary(op, std::move(a), std::move(b));
}

Expr cast_index(DataType t, const Expr& e) {
  internal_check(t.is_scalar() && t.is_integral()) << "index type " << t.to_string();
  if (e.dtype().element_of() == t) return e;
  if (const int64_t* v = as_const_int(e)) return make_int(t, *v);
  if (const RampNode* r = e.as<RampNode>()) return make_ramp(cast_index(t, r->base), cast_index(t, r->stride), r->lanes);
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return make_broadcast(cast_index(t, b->value), b->lanes);
  return make_cast(t.with_lanes(e.dtype().lanes()), e);
}

}  // namespace tessel::transforms
