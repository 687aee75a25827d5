// Vectorisable float32 exp/log/tanh/erf/sigmoid in LLVM IR (see math_approx.h).
// All use only add/mul/div, compares, selects, integer ops on the float bits and llvm.fabs /
// llvm.copysign, so they vectorise on every target (no rounding instruction needed). Polynomials
// are evaluated by Horner's rule; the builder's `contract` flag lets the backend fuse them into
// FMAs. Maximum relative errors measured against double-precision libm on dense grids
// (tests/codegen/test_math.cc, which fails above 1e-6), final rounding to float included:
//   exp      8e-8 on [-87, 88.5]   (Cephes expf polynomial, Cody-Waite range reduction)
//   log      8e-8 on [1e-44, 3e38] (Cephes logf; subnormal inputs rescaled)
//   tanh     1.4e-7 on [-12, 12]  (Cephes tanhf polynomial below |x| = 0.625, 1 - 2/(e^2|x| + 1) above)
//   erf      3.4e-7 on [-6, 6]    (rational minimax fit on [-4, 4] as used by XLA/Eigen; +-1 beyond)
//   sigmoid  1.3e-7 on [-80, 80]  (1 / (1 + exp(-x)))
// Special values follow IEEE: NaN propagates; exp(+inf) = inf, exp(-inf) = 0; log(0) = -inf,
// log(x < 0) = NaN, log(inf) = inf; tanh/erf(+-inf) = +-1; sigmoid(+-inf) = 1 / 0.
// Results in the subnormal range are less accurate (exp below -87.3 loses relative precision,
// sigmoid(x) for x < -88.7 returns 0).
#include "math_approx.h"

#include <initializer_list>
#include <limits>

#include <llvm/IR/Intrinsics.h>

namespace tessel::codegen {

namespace {

// Emits float32 arithmetic of one shape (scalar or vector) with short helper names.
class F32 {
 public:
  F32(llvm::IRBuilder<>& builder, llvm::Value* like) : b_(builder), type_(like->getType()) {
    llvm::LLVMContext& context = like->getContext();
    int_type_ = llvm::Type::getInt32Ty(context);
    if (auto* vector = llvm::dyn_cast<llvm::FixedVectorType>(type_)) {
      int_type_ = llvm::FixedVectorType::get(int_type_, vector->getNumElements());
    }
  }
  llvm::Value* c(double v) { return llvm::ConstantFP::get(type_, v); }
  llvm::Value* ci(int32_t v) { return llvm::ConstantInt::get(int_type_, static_cast<uint64_t>(static_cast<uint32_t>(v))); }
  llvm::Value* add(llvm::Value* a, llvm::Value* b) { return b_.CreateFAdd(a, b); }
  llvm::Value* sub(llvm::Value* a, llvm::Value* b) { return b_.CreateFSub(a, b); }
  llvm::Value* mul(llvm::Value* a, llvm::Value* b) { return b_.CreateFMul(a, b); }
  llvm::Value* div(llvm::Value* a, llvm::Value* b) { return b_.CreateFDiv(a, b); }
  llvm::Value* lt(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOLT(a, b); }
  llvm::Value* gt(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOGT(a, b); }
  llvm::Value* eq(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOEQ(a, b); }
  llvm::Value* is_nan(llvm::Value* a) { return b_.CreateFCmpUNO(a, a); }
  llvm::Value* select(llvm::Value* c, llvm::Value* a, llvm::Value* b) { return b_.CreateSelect(c, a, b); }
  llvm::Value* fabs(llvm::Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a); }
  llvm::Value* copysign(llvm::Value* magnitude, llvm::Value* sign) {
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, magnitude, sign);
  }
  llvm::Value* to_bits(llvm::Value* a) { return b_.CreateBitCast(a, int_type_); }
  llvm::Value* from_bits(llvm::Value* a) { return b_.CreateBitCast(a, type_); }
  // Horner evaluation; coefficients from the highest power down to the constant term.
  llvm::Value* poly(llvm::Value* x, std::initializer_list<double> coefficients) {
    llvm::Value* result = nullptr;
    for (double coefficient : coefficients) {
      result = result ? add(mul(result, x), c(coefficient)) : c(coefficient);
    }
    return result;
  }
  // 2^n for integer n in [-126, 127] (a normal float built from its exponent bits).
  llvm::Value* pow2(llvm::Value* n) { return from_bits(b_.CreateShl(b_.CreateAdd(n, ci(127)), ci(23))); }
  llvm::IRBuilder<>& b() { return b_; }

 private:
  llvm::IRBuilder<>& b_;
  llvm::Type* type_;
  llvm::Type* int_type_;
};

}  // namespace

// exp(x) = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in
// two constants so n * ln2_hi is exact), e^r by the Cephes degree-7 polynomial. n lies in
// [-150, 129] after clamping x to [-104, 89], so 2^n is applied as two normal powers of two:
// overflow to inf and underflow to (sub)normal results happen in the final multiplications.
llvm::Value* emit_exp_f32(llvm::IRBuilder<>& builder, llvm::Value* x) {
  F32 f(builder, x);
  // maxnum/minnum map NaN to a bound; the final select restores NaN.
  llvm::Value* clamped = builder.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, f.c(-104.0));
  clamped = builder.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, clamped, f.c(89.0));
  // Round x*log2(e) to the nearest integer by adding 1.5 * 2^23: the sum's low mantissa bits
  // then hold n, so n is also read off as an integer from the bits.
  const double kRoundMagic = 12582912.0;
  llvm::Value* shifted = f.add(f.mul(clamped, f.c(1.44269504088896341)), f.c(kRoundMagic));
  llvm::Value* n_float = f.sub(shifted, f.c(kRoundMagic));
  llvm::Value* n = builder.CreateSub(f.to_bits(shifted), f.to_bits(f.c(kRoundMagic)));
  llvm::Value* r = f.sub(clamped, f.mul(n_float, f.c(0.693359375)));
  r = f.sub(r, f.mul(n_float, f.c(-2.12194440e-4)));
  llvm::Value* r2 = f.mul(r, r);
  llvm::Value* p = f.poly(r, {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                              1.6666665459E-1, 5.0000001201E-1});
  llvm::Value* er = f.add(f.add(f.mul(p, r2), r), f.c(1.0));
  llvm::Value* n_half = builder.CreateAShr(n, f.ci(1));
  llvm::Value* n_rest = builder.CreateSub(n, n_half);
  llvm::Value* result = f.mul(f.mul(er, f.pow2(n_half)), f.pow2(n_rest));
  return f.select(f.is_nan(x), x, result);
}

// log(x) = e ln 2 + log(m) with x = m 2^e, m in [sqrt(1/2), sqrt(2)); log(1 + t) for
// t = m - 1 by the Cephes logf polynomial. Subnormal x are scaled by 2^23 first.
llvm::Value* emit_log_f32(llvm::IRBuilder<>& builder, llvm::Value* x) {
  F32 f(builder, x);
  llvm::Value* subnormal = f.lt(x, f.c(1.17549435e-38));
  llvm::Value* scaled = f.select(subnormal, f.mul(x, f.c(8388608.0)), x);
  llvm::Value* bits = f.to_bits(scaled);
  // Exponent such that the mantissa m lies in [0.5, 1).
  llvm::Value* exponent = builder.CreateSub(builder.CreateLShr(bits, f.ci(23)), f.ci(126));
  exponent = builder.CreateSub(exponent, builder.CreateSelect(subnormal, f.ci(23), f.ci(0)));
  llvm::Value* m = f.from_bits(builder.CreateOr(builder.CreateAnd(bits, f.ci(0x007FFFFF)), f.ci(0x3F000000)));
  llvm::Value* e = builder.CreateSIToFP(exponent, x->getType());
  // Move m into [sqrt(1/2), sqrt(2)) and take t = m - 1 (exact by Sterbenz' lemma).
  llvm::Value* low = f.lt(m, f.c(0.707106781186547524));
  e = f.sub(e, f.select(low, f.c(1.0), f.c(0.0)));
  llvm::Value* t = f.sub(f.select(low, f.add(m, m), m), f.c(1.0));
  llvm::Value* t2 = f.mul(t, t);
  llvm::Value* p = f.poly(t, {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1,
                              1.4249322787E-1, -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1,
                              3.3333331174E-1});
  llvm::Value* y = f.mul(f.mul(p, t), t2);
  y = f.add(y, f.mul(e, f.c(-2.12194440e-4)));
  y = f.sub(y, f.mul(t2, f.c(0.5)));
  llvm::Value* result = f.add(f.add(t, y), f.mul(e, f.c(0.693359375)));
  const double inf = std::numeric_limits<double>::infinity();
  result = f.select(f.eq(x, f.c(inf)), f.c(inf), result);
  result = f.select(f.eq(x, f.c(0.0)), f.c(-inf), result);
  llvm::Value* invalid = builder.CreateOr(f.lt(x, f.c(0.0)), f.is_nan(x));
  return f.select(invalid, f.c(std::numeric_limits<double>::quiet_NaN()), result);
}

// tanh: odd polynomial (Cephes tanhf) for |x| < 0.625, where 1 - 2/(e^2|x| + 1) would cancel;
// above, that formula with the sign of x. Large |x| gives exp = inf and exactly +-1.
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& builder, llvm::Value* x) {
  F32 f(builder, x);
  llvm::Value* ax = f.fabs(x);
  llvm::Value* x2 = f.mul(x, x);
  llvm::Value* p = f.poly(x2, {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                               -3.33332819422E-1});
  llvm::Value* small = f.add(f.mul(f.mul(p, x2), x), x);
  llvm::Value* e = emit_exp_f32(builder, f.add(ax, ax));
  llvm::Value* large = f.sub(f.c(1.0), f.div(f.c(2.0), f.add(e, f.c(1.0))));
  large = f.copysign(large, x);
  return f.select(f.lt(ax, f.c(0.625)), small, large);
}

// erf(x) = x P(x^2) / Q(x^2) on x clamped to [-4, 4] (erf(4) rounds to 1 in float32); the
// coefficients are the minimax fit used by XLA and Eigen. Max relative error 3.3e-7.
llvm::Value* emit_erf_f32(llvm::IRBuilder<>& builder, llvm::Value* x) {
  F32 f(builder, x);
  // Compare-and-select clamping keeps NaN (unlike minnum/maxnum).
  llvm::Value* clamped = f.select(f.gt(x, f.c(4.0)), f.c(4.0), x);
  clamped = f.select(f.lt(clamped, f.c(-4.0)), f.c(-4.0), clamped);
  llvm::Value* x2 = f.mul(clamped, clamped);
  llvm::Value* p = f.poly(x2, {-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                               -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                               -1.60960333262415e-02});
  llvm::Value* q = f.poly(x2, {-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                               -7.37332916720468e-03, -1.42647390514189e-02});
  return f.div(f.mul(clamped, p), q);
}

// sigmoid(x) = 1 / (1 + exp(-x)); exp(-x) = inf for x < -88.7 gives 0, exp(-x) -> 0 gives 1.
llvm::Value* emit_sigmoid_f32(llvm::IRBuilder<>& builder, llvm::Value* x) {
  F32 f(builder, x);
  llvm::Value* e = emit_exp_f32(builder, builder.CreateFNeg(x));
  return f.div(f.c(1.0), f.add(f.c(1.0), e));
}

}  // namespace tessel::codegen
