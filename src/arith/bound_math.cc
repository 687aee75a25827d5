// Interval arithmetic on ConstIntBound. Computations run on 128-bit integers in which the
// infinite endpoints are represented by +-2^100, far beyond any finite int64 product or sum, so
// no intermediate step overflows; results are mapped back to int64 endpoints at the end.
#include "arith/bound_math.h"

#include <algorithm>

namespace tessel::arith {

namespace {

using Wide = __int128;
constexpr Wide kWideInf = Wide{1} << 100;

Wide widen(int64_t v) {
  if (is_neg_inf(v)) return -kWideInf;
  if (is_pos_inf(v)) return kWideInf;
  return v;
}

bool wide_is_inf(Wide v) { return v >= kWideInf || v <= -kWideInf; }

// Sum with infinities absorbing finite values. Opposite infinities do not meet in interval
// arithmetic on well-formed bounds (a lower endpoint is never +inf).
Wide wide_add(Wide a, Wide b) {
  if (wide_is_inf(a)) return a > 0 ? kWideInf : -kWideInf;
  if (wide_is_inf(b)) return b > 0 ? kWideInf : -kWideInf;
  return a + b;
}

// Product where 0 * inf = 0: an unbounded endpoint stands for a large finite value, not infinity.
Wide wide_mul(Wide a, Wide b) {
  if (a == 0 || b == 0) return 0;
  if (wide_is_inf(a) || wide_is_inf(b)) return (a > 0) == (b > 0) ? kWideInf : -kWideInf;
  return a * b;
}

Wide wide_floor_div(Wide a, Wide b) {
  Wide q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

Wide wide_abs(Wide v) { return v < 0 ? -v : v; }

// Maps an exact interval back to a bound of type t (see the file comment of bound_math.h).
ConstIntBound finish(DataType t, Wide lo, Wide hi) {
  ConstIntBound range = type_range(t);
  if (!t.is_integral()) return range;
  if (t.is_int() && t.bits() == 64) {
    auto clamp = [](Wide v) -> int64_t {
      if (v >= ConstIntBound::kPosInf) return ConstIntBound::kPosInf;
      if (v <= ConstIntBound::kNegInf) return ConstIntBound::kNegInf;
      return static_cast<int64_t>(v);
    };
    return {clamp(lo), clamp(hi)};
  }
  // uint64 values beyond 2^63 - 1 are not representable: an upper end that reaches kPosInf means
  // the value may have wrapped.
  if (lo < range.min || hi > range.max || (is_pos_inf(range.max) && hi >= ConstIntBound::kPosInf)) return range;
  return {static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
}

// floor(x / y) over x in [xlo, xhi] and y in [ylo, yhi] with ylo >= 1. For fixed y the quotient
// grows with x; for fixed x >= 0 it shrinks as y grows and for x < 0 it grows, so the extremes
// are at the corners.
void positive_divisor_div(Wide xlo, Wide xhi, Wide ylo, Wide yhi, Wide* lo, Wide* hi) {
  bool ylo_inf = wide_is_inf(ylo), yhi_inf = wide_is_inf(yhi);
  if (xlo <= -kWideInf) {
    *lo = -kWideInf;
  } else if (xlo >= 0) {
    *lo = yhi_inf ? 0 : wide_floor_div(xlo, yhi);
  } else {
    *lo = ylo_inf ? -1 : wide_floor_div(xlo, ylo);
  }
  if (xhi >= kWideInf) {
    *hi = kWideInf;
  } else if (xhi >= 0) {
    *hi = ylo_inf ? 0 : wide_floor_div(xhi, ylo);
  } else {
    *hi = yhi_inf ? -1 : wide_floor_div(xhi, yhi);
  }
}

}  // namespace

bool is_pos_inf(int64_t v) { return v == ConstIntBound::kPosInf; }
bool is_neg_inf(int64_t v) { return v == ConstIntBound::kNegInf; }

ConstIntBound type_range(DataType t) {
  if (!t.is_integral()) return {};
  int bits = t.bits();
  if (t.is_int()) {
    if (bits >= 64) return {};
    return {-(int64_t{1} << (bits - 1)), (int64_t{1} << (bits - 1)) - 1};
  }
  if (bits >= 64) return {0, ConstIntBound::kPosInf};
  return {0, (int64_t{1} << bits) - 1};
}

bool bound_within(const ConstIntBound& inner, const ConstIntBound& outer) {
  return inner.min >= outer.min && inner.max <= outer.max;
}

ConstIntBound bound_intersect(const ConstIntBound& a, const ConstIntBound& b) {
  return {std::max(a.min, b.min), std::min(a.max, b.max)};
}

ConstIntBound bound_union(const ConstIntBound& a, const ConstIntBound& b) {
  return {std::min(a.min, b.min), std::max(a.max, b.max)};
}

ConstIntBound bound_add(DataType t, const ConstIntBound& a, const ConstIntBound& b) {
  return finish(t, wide_add(widen(a.min), widen(b.min)), wide_add(widen(a.max), widen(b.max)));
}

ConstIntBound bound_sub(DataType t, const ConstIntBound& a, const ConstIntBound& b) {
  return finish(t, wide_add(widen(a.min), -widen(b.max)), wide_add(widen(a.max), -widen(b.min)));
}

ConstIntBound bound_mul(DataType t, const ConstIntBound& a, const ConstIntBound& b) {
  Wide corners[4] = {wide_mul(widen(a.min), widen(b.min)), wide_mul(widen(a.min), widen(b.max)),
                     wide_mul(widen(a.max), widen(b.min)), wide_mul(widen(a.max), widen(b.max))};
  return finish(t, *std::min_element(corners, corners + 4), *std::max_element(corners, corners + 4));
}

ConstIntBound bound_floor_div(DataType t, const ConstIntBound& a, const ConstIntBound& b) {
  Wide xlo = widen(a.min), xhi = widen(a.max), ylo = widen(b.min), yhi = widen(b.max);
  Wide lo, hi;
  if (ylo >= 1) {
    positive_divisor_div(xlo, xhi, ylo, yhi, &lo, &hi);
  } else if (yhi <= -1) {
    // floor(x / y) == floor(-x / -y).
    positive_divisor_div(-xhi, -xlo, -yhi, -ylo, &lo, &hi);
  } else {
    // |floor(x / y)| <= |x| for every nonzero integer y.
    Wide m = std::max(wide_abs(xlo), wide_abs(xhi));
    lo = -m;
    hi = m;
  }
  return finish(t, lo, hi);
}

ConstIntBound bound_floor_mod(DataType t, const ConstIntBound& a, const ConstIntBound& b) {
  Wide xlo = widen(a.min), xhi = widen(a.max), ylo = widen(b.min), yhi = widen(b.max);
  // A constant divisor and a dividend range within one period: x mod c = x - q * c exactly.
  if (ylo == yhi && ylo != 0 && !wide_is_inf(ylo) && !wide_is_inf(xlo) && !wide_is_inf(xhi)) {
    Wide q = wide_floor_div(xlo, ylo);
    if (q == wide_floor_div(xhi, ylo)) return finish(t, xlo - q * ylo, xhi - q * ylo);
  }
  Wide lo, hi;
  if (ylo >= 1) {
    // The result has the divisor's sign and is smaller in magnitude; x itself when 0 <= x < y.
    Wide limit = wide_is_inf(yhi) ? kWideInf : yhi - 1;
    lo = 0;
    hi = xlo >= 0 ? std::min(xhi, limit) : limit;
  } else if (yhi <= -1) {
    Wide limit = wide_is_inf(ylo) ? -kWideInf : ylo + 1;
    hi = 0;
    lo = xhi <= 0 ? std::max(xlo, limit) : limit;
  } else {
    lo = std::min<Wide>(0, wide_add(ylo, 1));
    hi = std::max<Wide>(0, wide_add(yhi, -1));
  }
  return finish(t, lo, hi);
}

ConstIntBound bound_min(const ConstIntBound& a, const ConstIntBound& b) {
  return {std::min(a.min, b.min), std::min(a.max, b.max)};
}

ConstIntBound bound_max(const ConstIntBound& a, const ConstIntBound& b) {
  return {std::max(a.min, b.min), std::max(a.max, b.max)};
}

ConstIntBound bound_cast(DataType to, DataType from, const ConstIntBound& a) {
  ConstIntBound range = type_range(to);
  if (!to.is_integral() || !from.is_integral()) return range;
  // An unbounded uint64 may exceed 2^63 - 1, which no int64 endpoint expresses.
  bool from_wide_unsigned = from.is_uint() && from.bits() == 64 && is_pos_inf(a.max);
  if (from_wide_unsigned && !(to.is_uint() && to.bits() == 64)) return range;
  return bound_within(a, range) ? a : range;
}

ConstIntBound bound_compare(BinaryOp op, const ConstIntBound& a, const ConstIntBound& b) {
  constexpr ConstIntBound kTrue{1, 1}, kFalse{0, 0}, kEither{0, 1};
  switch (op) {
    case BinaryOp::kLT:
      if (a.max < b.min) return kTrue;
      if (a.min >= b.max) return kFalse;
      break;
    case BinaryOp::kLE:
      if (a.max <= b.min) return kTrue;
      if (a.min > b.max) return kFalse;
      break;
    case BinaryOp::kGT:
      return bound_compare(BinaryOp::kLT, b, a);
    case BinaryOp::kGE:
      return bound_compare(BinaryOp::kLE, b, a);
    case BinaryOp::kEQ:
      if (a.is_const() && b.is_const() && a.min == b.min) return kTrue;
      if (a.max < b.min || b.max < a.min) return kFalse;
      break;
    case BinaryOp::kNE: {
      ConstIntBound eq = bound_compare(BinaryOp::kEQ, a, b);
      if (eq == kTrue) return kFalse;
      if (eq == kFalse) return kTrue;
      break;
    }
    default:
      break;
  }
  return kEither;
}

}  // namespace tessel::arith
