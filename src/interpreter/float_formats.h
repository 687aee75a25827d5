// Rounding to and encoding of the narrow float formats the interpreter supports: IEEE float16
// (binary16) and bfloat16. Every conversion rounds to nearest, ties to even, handles subnormals,
// overflows to infinity and keeps NaN a NaN, like the hardware conversions it stands in for.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tessel::interp {

// Rounds x to the nearest value with `precision` significant bits (the implicit bit included)
// and exponents in [min_exponent, max_exponent]; values below 2^min_exponent are subnormal.
inline double round_to_format(double x, int precision, int min_exponent, int max_exponent) {
  if (x == 0 || !std::isfinite(x)) return x;
  int exponent;
  std::frexp(x, &exponent);  // |x| = m * 2^exponent with m in [0.5, 1)
  int e = exponent - 1;      // |x| in [2^e, 2^(e+1))
  if (e < min_exponent) e = min_exponent;
  double quantum = std::ldexp(1.0, e - (precision - 1));
  // x / quantum and the product back are exact (powers of two); nearbyint rounds ties to even.
  double rounded = std::nearbyint(x / quantum) * quantum;
  double max_finite = std::ldexp(2.0 - std::ldexp(1.0, 1 - precision), max_exponent);
  if (std::fabs(rounded) > max_finite) return std::copysign(INFINITY, x);
  return rounded;
}

inline double round_to_float16(double x) { return round_to_format(x, 11, -14, 15); }
inline double round_to_bfloat16(double x) { return round_to_format(x, 8, -126, 127); }
inline double round_to_float32(double x) { return static_cast<double>(static_cast<float>(x)); }

inline uint16_t float16_bits(double x) {
  double r = round_to_float16(x);
  uint16_t sign = std::signbit(r) ? 0x8000 : 0;
  if (std::isnan(r)) return sign | 0x7e00;
  if (std::isinf(r)) return sign | 0x7c00;
  double a = std::fabs(r);
  if (a == 0) return sign;
  int exponent;
  std::frexp(a, &exponent);
  int e = exponent - 1;
  if (e < -14) return sign | static_cast<uint16_t>(std::ldexp(a, 24));  // subnormal: a / 2^-24
  uint16_t mantissa = static_cast<uint16_t>(std::ldexp(a, 10 - e) - 1024);
  return sign | static_cast<uint16_t>((e + 15) << 10) | mantissa;
}

inline double float16_value(uint16_t bits) {
  double sign = bits & 0x8000 ? -1.0 : 1.0;
  int exponent = (bits >> 10) & 0x1f;
  int mantissa = bits & 0x3ff;
  if (exponent == 0x1f) return mantissa ? std::copysign(NAN, sign) : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// bfloat16 is the upper half of a float32.
inline uint16_t bfloat16_bits(double x) {
  float f = static_cast<float>(round_to_bfloat16(x));  // exact: bfloat16 values are float32 values
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x0040);  // keep it quiet and a NaN
  return static_cast<uint16_t>(bits >> 16);
}

inline double bfloat16_value(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

}  // namespace tessel::interp
