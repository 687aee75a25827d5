// Constant folding on immediates (see const_fold.h).
#include "arith/const_fold.h"

#include <cmath>

#include "arith/bound_math.h"

namespace tessel::arith {

namespace {

using Wide = __int128;

Wide wide_floor_div(Wide a, Wide b) {
  Wide q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t wrap_wide(DataType t, Wide v) {
  return wrap_to_type(t, static_cast<int64_t>(static_cast<uint64_t>(static_cast<unsigned __int128>(v))));
}

template <typename T>
std::optional<int64_t> compare(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kEQ: return a == b;
    case BinaryOp::kNE: return a != b;
    case BinaryOp::kLT: return a < b;
    case BinaryOp::kLE: return a <= b;
    case BinaryOp::kGT: return a > b;
    case BinaryOp::kGE: return a >= b;
    default: return std::nullopt;
  }
}

// uint64 immediates hold their bit pattern; they operate as unsigned numbers.
std::optional<int64_t> fold_uint64(BinaryOp op, uint64_t a, uint64_t b) {
  switch (op) {
    case BinaryOp::kAdd: return static_cast<int64_t>(a + b);
    case BinaryOp::kSub: return static_cast<int64_t>(a - b);
    case BinaryOp::kMul: return static_cast<int64_t>(a * b);
    case BinaryOp::kDiv: if (b == 0) return std::nullopt; return static_cast<int64_t>(a / b);
    case BinaryOp::kMod: if (b == 0) return std::nullopt; return static_cast<int64_t>(a % b);
    case BinaryOp::kMin: return static_cast<int64_t>(a < b ? a : b);
    case BinaryOp::kMax: return static_cast<int64_t>(a < b ? b : a);
    case BinaryOp::kAnd: return a != 0 && b != 0;
    case BinaryOp::kOr: return a != 0 || b != 0;
    default: return compare(op, a, b);
  }
}

double round_to(DataType t, double v) { return t.bits() == 32 ? static_cast<double>(static_cast<float>(v)) : v; }

bool foldable_float(DataType t) { return t.code() == TypeCode::kFloat && (t.bits() == 32 || t.bits() == 64); }

}  // namespace

std::optional<int64_t> fold_int_binary(BinaryOp op, DataType t, int64_t a, int64_t b) {
  if (t.is_uint() && t.bits() == 64) return fold_uint64(op, static_cast<uint64_t>(a), static_cast<uint64_t>(b));
  Wide x = a, y = b;
  switch (op) {
    case BinaryOp::kAdd: return wrap_wide(t, x + y);
    case BinaryOp::kSub: return wrap_wide(t, x - y);
    case BinaryOp::kMul: return wrap_wide(t, x * y);
    case BinaryOp::kDiv: if (y == 0) return std::nullopt; return wrap_wide(t, wide_floor_div(x, y));
    case BinaryOp::kMod: if (y == 0) return std::nullopt; return wrap_wide(t, x - wide_floor_div(x, y) * y);
    case BinaryOp::kMin: return a < b ? a : b;
    case BinaryOp::kMax: return a < b ? b : a;
    case BinaryOp::kAnd: return a != 0 && b != 0;
    case BinaryOp::kOr: return a != 0 || b != 0;
    default: return compare(op, a, b);
  }
}

std::optional<double> fold_float_binary(BinaryOp op, DataType t, double a, double b) {
  if (!foldable_float(t)) return std::nullopt;
  switch (op) {
    case BinaryOp::kAdd: return round_to(t, a + b);
    case BinaryOp::kSub: return round_to(t, a - b);
    case BinaryOp::kMul: return round_to(t, a * b);
    case BinaryOp::kDiv: return round_to(t, a / b);
    case BinaryOp::kMin:
    case BinaryOp::kMax:
      if (std::isnan(a) || std::isnan(b)) return std::nullopt;
      if (a == b && std::signbit(a) != std::signbit(b)) return std::nullopt;  // min(-0, +0) is unspecified
      return op == BinaryOp::kMin ? (a < b ? a : b) : (a < b ? b : a);
    default: {
      std::optional<int64_t> c = compare(op, a, b);
      if (!c) return std::nullopt;
      return static_cast<double>(*c);
    }
  }
}

Expr fold_cast(DataType to, const Expr& value) {
  DataType from = value.dtype();
  if (!to.is_scalar() || !from.is_scalar()) return Expr();
  if (const int64_t* v = as_const_int(value)) {
    if (to.is_integral()) {
      // Casting to bool may mean "!= 0" or "lowest bit"; only 0 and 1 agree on both.
      if (to.is_bool() && *v != 0 && *v != 1) return Expr();
      return make_int(to, *v);  // the bit pattern wraps to the new width and signedness
    }
    if (!foldable_float(to)) return Expr();
    bool from_uint64 = from.is_uint() && from.bits() == 64;
    double d = from_uint64 ? static_cast<double>(static_cast<uint64_t>(*v)) : static_cast<double>(*v);
    // Beyond 2^53 the int -> double -> float route could round twice.
    if (to.bits() == 32 && std::fabs(d) > 9007199254740992.0) return Expr();
    return make_float(to, round_to(to, d));
  }
  if (const double* v = as_const_float(value)) {
    if (!foldable_float(from)) return Expr();
    if (to.code() == TypeCode::kFloat) {
      if (!foldable_float(to)) return Expr();
      return make_float(to, round_to(to, *v));
    }
    if (!to.is_integral() || to.is_bool() || std::isnan(*v)) return Expr();
    double truncated = std::trunc(*v);
    ConstIntBound range = type_range(to);
    // Conversions out of the target's range are undefined; int64/uint64 limits are kept below 2^63.
    double lo = static_cast<double>(range.min), hi = static_cast<double>(range.max);
    if (to.bits() == 64) {
      lo = to.is_int() ? -9223372036854775808.0 : 0.0;
      hi = 9223372036854774784.0;  // the largest double below 2^63
    }
    if (truncated < lo || truncated > hi) return Expr();
    return make_int(to, static_cast<int64_t>(truncated));
  }
  return Expr();
}

Expr fold_binary(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  if (!t.is_scalar() || t != b.dtype()) return Expr();
  if (const int64_t* x = as_const_int(a)) {
    const int64_t* y = as_const_int(b);
    if (!y) return Expr();
    std::optional<int64_t> r = fold_int_binary(op, t, *x, *y);
    if (!r) return Expr();
    return is_comparison(op) || is_logical(op) ? make_bool(*r != 0) : make_int(t, *r);
  }
  if (const double* x = as_const_float(a)) {
    const double* y = as_const_float(b);
    if (!y) return Expr();
    std::optional<double> r = fold_float_binary(op, t, *x, *y);
    if (!r) return Expr();
    return is_comparison(op) ? make_bool(*r != 0) : make_float(t, *r);
  }
  return Expr();
}

}  // namespace tessel::arith
