// Total order and deep equality on expressions (see expr_order.h). Two distinct variables with the
// same name are ordered by address, the only case where the order may differ between runs.
#include "arith/expr_order.h"

#include <cstring>
#include <functional>

#include "tessel/ir/buffer.h"

namespace tessel::arith {

namespace {

template <typename T>
int three_way(const T& a, const T& b) {
  if (a < b) return -1;
  if (b < a) return 1;
  return 0;
}

int compare_type(DataType a, DataType b) {
  if (int c = three_way(static_cast<int>(a.code()), static_cast<int>(b.code()))) return c;
  if (int c = three_way(a.bits(), b.bits())) return c;
  return three_way(a.lanes(), b.lanes());
}

int compare_var(const VarNode* a, const VarNode* b) {
  if (a == b) return 0;
  if (int c = a->name.compare(b->name)) return c < 0 ? -1 : 1;
  if (int c = compare_type(a->dtype, b->dtype)) return c;
  return std::less<const VarNode*>()(a, b) ? -1 : 1;
}

int compare_buffer(const BufferNode* a, const BufferNode* b) {
  if (a == b) return 0;
  if (int c = a->name.compare(b->name)) return c < 0 ? -1 : 1;
  return std::less<const BufferNode*>()(a, b) ? -1 : 1;
}

int compare_list(const std::vector<Expr>& a, const std::vector<Expr>& b) {
  if (int c = three_way(a.size(), b.size())) return c;
  for (size_t i = 0; i < a.size(); ++i) {
    if (int c = expr_compare(a[i], b[i])) return c;
  }
  return 0;
}

}  // namespace

int expr_compare(const Expr& a, const Expr& b) {
  if (a.same_as(b)) return 0;
  if (!a.defined() || !b.defined()) return a.defined() ? 1 : -1;
  if (int c = three_way(static_cast<int>(a.kind()), static_cast<int>(b.kind()))) return c;
  if (int c = compare_type(a.dtype(), b.dtype())) return c;
  switch (a.kind()) {
    case ExprKind::kIntImm:
      return three_way(a.as<IntImmNode>()->value, b.as<IntImmNode>()->value);
    case ExprKind::kFloatImm: {
      // By bit pattern, so -0.0 and 0.0 differ and a NaN equals itself.
      double x = a.as<FloatImmNode>()->value, y = b.as<FloatImmNode>()->value;
      uint64_t xb, yb;
      std::memcpy(&xb, &x, sizeof x);
      std::memcpy(&yb, &y, sizeof y);
      if (xb == yb) return 0;
      if (int c = three_way(x, y)) return c;
      return three_way(xb, yb);
    }
    case ExprKind::kVar:
      return compare_var(a.as<VarNode>(), b.as<VarNode>());
    case ExprKind::kBinary: {
      const BinaryNode *x = a.as<BinaryNode>(), *y = b.as<BinaryNode>();
      if (int c = three_way(static_cast<int>(x->op), static_cast<int>(y->op))) return c;
      if (int c = expr_compare(x->a, y->a)) return c;
      return expr_compare(x->b, y->b);
    }
    case ExprKind::kNot:
      return expr_compare(a.as<NotNode>()->a, b.as<NotNode>()->a);
    case ExprKind::kSelect: {
      const SelectNode *x = a.as<SelectNode>(), *y = b.as<SelectNode>();
      if (int c = expr_compare(x->condition, y->condition)) return c;
      if (int c = expr_compare(x->true_value, y->true_value)) return c;
      return expr_compare(x->false_value, y->false_value);
    }
    case ExprKind::kCast:
      return expr_compare(a.as<CastNode>()->value, b.as<CastNode>()->value);
    case ExprKind::kLoad: {
      const LoadNode *x = a.as<LoadNode>(), *y = b.as<LoadNode>();
      if (int c = compare_buffer(x->buffer.get(), y->buffer.get())) return c;
      return compare_list(x->indices, y->indices);
    }
    case ExprKind::kRamp: {
      const RampNode *x = a.as<RampNode>(), *y = b.as<RampNode>();
      if (int c = expr_compare(x->base, y->base)) return c;
      return expr_compare(x->stride, y->stride);
    }
    case ExprKind::kBroadcast:
      return expr_compare(a.as<BroadcastNode>()->value, b.as<BroadcastNode>()->value);
    case ExprKind::kLet: {
      const LetNode *x = a.as<LetNode>(), *y = b.as<LetNode>();
      if (int c = compare_var(x->var.get(), y->var.get())) return c;
      if (int c = expr_compare(x->value, y->value)) return c;
      return expr_compare(x->body, y->body);
    }
    case ExprKind::kCall: {
      const CallNode *x = a.as<CallNode>(), *y = b.as<CallNode>();
      if (int c = three_way(static_cast<int>(x->op), static_cast<int>(y->op))) return c;
      return compare_list(x->args, y->args);
    }
  }
  return 0;
}

bool expr_equal(const Expr& a, const Expr& b) { return expr_compare(a, b) == 0; }

}  // namespace tessel::arith
