// Elementwise kernels through the LLVM JIT against the interpreter: vector add in float32 and
// int32, as scalar loops, as hand-written vector IR (ramps, broadcasts, a tail loop) and as
// kVectorized loops that lower() turns into vector code.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

// C[i] = A[i] + B[i] * 3 for i < n, n a scalar parameter.
PrimFunc make_add(DataType t, const std::string& name) {
  Var n("n");
  Buffer a = make_buffer("A", t, {n}), b = make_buffer("B", t, {n}), c = make_buffer("C", t, {n});
  Var i("i");
  Expr three = make_const(t, 3);
  Stmt body = make_for(i, 0, n, ForKind::kSerial, make_store(c, a({i}) + b({i}) * three, {i}));
  return make_prim_func(name, {Param::of(a), Param::of(b), Param::of(c), Param::of(n)}, body);
}

// The same computation written as vector IR by hand: 16-lane blocks of contiguous loads, then a
// scalar tail for n % 16.
PrimFunc make_add_vector_ir(DataType t) {
  Var n("n");
  Buffer a = make_buffer("A", t, {n}), b = make_buffer("B", t, {n}), c = make_buffer("C", t, {n});
  Var io("io"), i("i");
  const int lanes = 16;
  Expr base = io * lanes;
  Expr index = make_ramp(base, 1, lanes);
  Expr three = make_const(t.with_lanes(lanes), 3);
  Stmt main = make_for(io, 0, n / lanes, ForKind::kSerial,
                       make_store(c, make_load(a, {index}) + make_load(b, {index}) * three, {index}));
  Expr tail_start = n / lanes * lanes;
  Stmt tail = make_for(i, tail_start, n - tail_start, ForKind::kSerial,
                       make_store(c, a({i}) + b({i}) * make_const(t, 3), {i}));
  return make_prim_func("add_vector_ir", {Param::of(a), Param::of(b), Param::of(c), Param::of(n)},
                        make_seq({main, tail}));
}

// The schedule form: i split by 16 with the inner loop vectorized; needs lower().
PrimFunc make_add_vectorized_loop(DataType t, int n) {
  Buffer a = make_buffer("A", t, {n}), b = make_buffer("B", t, {n}), c = make_buffer("C", t, {n});
  Var io("io"), ii("ii");
  Expr i = io * 16 + ii;
  Stmt body = make_for(io, 0, n / 16, ForKind::kSerial,
                       make_for(ii, 0, 16, ForKind::kVectorized, make_store(c, a({i}) + b({i}) * make_const(t, 3), {i})));
  return make_prim_func("add_vectorized_loop", {Param::of(a), Param::of(b), Param::of(c)}, body);
}

template <typename T>
void check_against_interpreter(const PrimFunc& f, int n, DataType t, bool pass_n) {
  AlignedArray<T> a(n), b(n), jit_c(n), ref_c(n);
  fill_random(a, 1, -1000, 1000);
  fill_random(b, 2, -1000, 1000);
  // Integer-valued floats keep a + b * 3 exact, so FMA contraction cannot change the result and
  // the comparison can be bitwise.
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<T>(std::round(static_cast<double>(a[i])));
    b[i] = static_cast<T>(std::round(static_cast<double>(b[i])));
  }
  JitModule module = JitModule::compile({f});
  int32_t n32 = n;
  std::vector<void*> args = {a.data(), b.data(), jit_c.data()};
  if (pass_n) args.push_back(&n32);
  module.get_function(f->name).call(args);
  std::vector<InterpArg> interp_args = {a.data(), b.data(), ref_c.data()};
  if (pass_n) interp_args.push_back(int64_t{n});
  interpret(f, interp_args);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(jit_c[i], ref_c[i]) << "element " << i << " of " << f->name << " (" << t.to_string() << ")";
  }
  // The result is not trivially zero.
  bool any_nonzero = false;
  for (int i = 0; i < n; ++i) any_nonzero |= jit_c[i] != 0;
  EXPECT_TRUE(any_nonzero);
}

TEST(CodegenElementwise, ScalarLoopFloat32) {
  check_against_interpreter<float>(make_add(DataType::Float(32), "add_f32"), 1000, DataType::Float(32), true);
}

TEST(CodegenElementwise, ScalarLoopInt32) {
  check_against_interpreter<int32_t>(make_add(DataType::Int(32), "add_i32"), 1001, DataType::Int(32), true);
}

TEST(CodegenElementwise, HandWrittenVectorIrFloat32WithTail) {
  for (int n : {16, 37, 1000}) {
    check_against_interpreter<float>(make_add_vector_ir(DataType::Float(32)), n, DataType::Float(32), true);
  }
}

TEST(CodegenElementwise, HandWrittenVectorIrInt32) {
  check_against_interpreter<int32_t>(make_add_vector_ir(DataType::Int(32)), 333, DataType::Int(32), true);
}

TEST(CodegenElementwise, VectorizedLoopIsLoweredToVectorCode) {
  PrimFunc f = make_add_vectorized_loop(DataType::Float(32), 512);
  EXPECT_TRUE(needs_lowering(f));
  check_against_interpreter<float>(f, 512, DataType::Float(32), false);
  JitModule module = JitModule::compile({f});
  EXPECT_FALSE(needs_lowering(module.lowered_functions()[0]));
  // 16-lane float vectors reach LLVM (whatever the backend later splits them into).
  EXPECT_NE(module.llvm_ir().find("<16 x float>"), std::string::npos) << module.llvm_ir();
}

TEST(CodegenElementwise, VectorizedLoopInt32) {
  check_against_interpreter<int32_t>(make_add_vectorized_loop(DataType::Int(32), 256), 256, DataType::Int(32), false);
}

// float16 and bfloat16: arithmetic rounds to the narrow type after every operation (LLVM promotes
// each operation to float32 and rounds back, so no FMA forms across the rounding), casts round to
// nearest even; the generated code must agree with the interpreter bit for bit.
TEST(CodegenElementwise, HalfAndBFloat16) {
  const int n = 256;
  for (DataType t : {DataType::Float(16), DataType::BFloat16()}) {
    const DataType f32 = DataType::Float(32);
    Buffer a = make_buffer("A", f32, {n}), b = make_buffer("B", f32, {n}), out = make_buffer("Out", f32, {n});
    Buffer narrow = make_buffer("Narrow", t, {n});
    Var i("i"), j("j");
    Expr index = make_ramp(j * 16, 1, 16);
    Stmt to_narrow = make_for(i, 0, n, ForKind::kSerial,
                              make_store(narrow, make_cast(t, a({i})) * make_cast(t, b({i})) + make_cast(t, b({i})), {i}));
    Stmt back = make_for(j, 0, n / 16, ForKind::kSerial,
                         make_store(out, make_cast(f32.with_lanes(16), make_load(narrow, {index}) - make_load(narrow, {index + 1 - 1})
                                                                         + make_load(narrow, {index})), {index}));
    PrimFunc f = make_prim_func("narrow_" + t.to_string(), {Param::of(a), Param::of(b), Param::of(out), Param::of(narrow)},
                                make_seq({to_narrow, back}));
    AlignedArray<float> x(n), y(n), jit_out(n), ref_out(n);
    AlignedArray<uint16_t> jit_narrow(n), ref_narrow(n);
    fill_random(x, 3, -40, 40);
    fill_random(y, 4, -8, 8);
    for (int k = 0; k < n; ++k) {
      x[k] = std::round(x[k] * 2) / 2;  // halves: exact in both types, products are not in bfloat16
      y[k] = std::round(y[k]);
    }
    x[0] = 1.00390625f;  // not representable in either type: exercises rounding on the cast
    JitModule::compile({f}).get_function(f->name).call({x.data(), y.data(), jit_out.data(), jit_narrow.data()});
    interpret(f, {x.data(), y.data(), ref_out.data(), ref_narrow.data()});
    EXPECT_TRUE(testing::bitwise_equal(jit_narrow, ref_narrow)) << t.to_string();
    EXPECT_TRUE(testing::bitwise_equal(jit_out, ref_out)) << t.to_string();
  }
}

// Narrowing to bfloat16 is emitted as integer arithmetic (no libcall on CPUs without
// AVX512-BF16): float32 and float64 sources, random bit patterns (subnormals, huge values,
// infinities, NaNs), exact ties and values just past them, and a bfloat16 intrinsic; bit-exact
// against the interpreter, and NaN in, NaN out.
TEST(CodegenElementwise, NarrowingToBFloat16RoundsToNearestEven) {
  const int n = 512;
  const DataType bf16 = DataType::BFloat16(), f32 = DataType::Float(32), f64 = DataType::Float(64);
  Buffer a = make_buffer("A", f32, {n}), d = make_buffer("D", f64, {n});
  Buffer from32 = make_buffer("From32", bf16, {n}), from64 = make_buffer("From64", bf16, {n});
  Buffer root = make_buffer("Root", bf16, {n});
  Var i("i"), j("j");
  Expr index = make_ramp(j * 16, 1, 16);
  Stmt scalar = make_for(i, 0, n, ForKind::kSerial,
                         make_seq({make_store(from64, make_cast(bf16, d({i})), {i}),
                                   make_store(root, make_call(Intrinsic::k_sqrt, {make_cast(bf16, a({i}))}), {i})}));
  Stmt vector = make_for(j, 0, n / 16, ForKind::kSerial,
                         make_store(from32, make_cast(bf16.with_lanes(16), make_load(a, {index})), {index}));
  PrimFunc f = make_prim_func("to_bfloat16", {Param::of(a), Param::of(d), Param::of(from32), Param::of(from64),
                                              Param::of(root)},
                              make_seq({scalar, vector}));
  AlignedArray<float> x(n);
  AlignedArray<double> y(n);
  std::mt19937 rng(11);
  const float specials[] = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.01171875f, 1.0039063f, 3.3895314e38f, 3.4e38f,
                            INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-45f};
  for (int k = 0; k < n; ++k) {
    uint32_t bits = rng();
    std::memcpy(&x[k], &bits, sizeof bits);
    if (k < static_cast<int>(std::size(specials))) x[k] = specials[k];
    // float64 values between two bfloat16 values, and just off their midpoint (a double rounding
    // through float32 would turn those into ties).
    y[k] = std::ldexp(1.0 + (rng() % 256) / 256.0 + ((k % 3) - 1) * std::ldexp(1.0, -30) + 1.0 / 512,
                      static_cast<int>(rng() % 200) - 100);
  }
  AlignedArray<uint16_t> jit32(n), ref32(n), jit64(n), ref64(n), jit_root(n), ref_root(n);
  JitModule::compile({f}).get_function(f->name).call({x.data(), y.data(), jit32.data(), jit64.data(), jit_root.data()});
  interpret(f, {x.data(), y.data(), ref32.data(), ref64.data(), ref_root.data()});
  auto is_nan = [](uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0; };
  for (int k = 0; k < n; ++k) {
    if (std::isnan(x[k])) {
      EXPECT_TRUE(is_nan(jit32[k])) << "lane " << k;
      continue;
    }
    EXPECT_EQ(jit32[k], ref32[k]) << "lane " << k << ": " << x[k];
    if (!is_nan(ref_root[k])) EXPECT_EQ(jit_root[k], ref_root[k]) << "lane " << k << ": sqrt " << x[k];
  }
  EXPECT_TRUE(testing::bitwise_equal(jit64, ref64));
  EXPECT_EQ(jit32[3], 0x3f80);  // 1.00390625 is a tie: to even
  EXPECT_EQ(jit32[4], 0x3f82);  // 1.01171875 is a tie: to even, upward
  EXPECT_EQ(jit32[7], 0x7f80);  // 3.4e38 overflows to infinity
}

}  // namespace
}  // namespace tessel::codegen
