// Random loop nests through the LLVM JIT against the interpreter: 200 generated programs (fixed
// seeds; 120 with serial and parallel loops, 80 with a vectorized innermost loop) over three input
// buffers and one output buffer, with nested serial, parallel and
// vectorized loops, random integer expressions (wrapping + - *, floor / and % by constants and by
// variables, min, max, select, comparisons, narrowing casts, lets) and float expressions.
// Comparisons are bit-exact: in the float programs every multiplication has leaf operands that
// are small integers, so products are exact and FMA contraction cannot change any rounding.
// The oracle is the interpreter on the lowered program (what codegen compiles); programs without
// vectorized loops are also checked against the interpreter on the original program.
#include <gtest/gtest.h>

#include <random>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

constexpr int kSize = 64;  // elements of every buffer

// prefix + n, built by appending (GCC 12 warns falsely about "x" + std::string at -O3).
std::string numbered(const char* prefix, int n) {
  std::string name = prefix;
  name += std::to_string(n);
  return name;
}

class ProgramGenerator {
 public:
  // vectorize: whether the innermost loop is kVectorized (lowered by vectorize_loops).
  ProgramGenerator(uint32_t seed, DataType element, bool vectorize)
      : rng_(seed), element_(element), vectorize_(vectorize) {
    for (const char* name : {"A", "B", "C"}) inputs_.push_back(make_buffer(name, element, {kSize}));
    output_ = make_buffer("Out", element, {kSize});
  }

  PrimFunc generate(const std::string& name) {
    const int depth = uniform(1, 3);
    const bool parallel_outer = chance(0.3);
    const bool vectorize_inner = vectorize_;
    Stmt body = loop_nest(0, depth, parallel_outer, vectorize_inner, Expr(), 0);
    std::vector<Param> params;
    for (const Buffer& b : inputs_) params.push_back(Param::of(b));
    params.push_back(Param::of(output_));
    has_vectorized_ = vectorize_inner;
    return make_prim_func(name, params, body);
  }
  bool has_vectorized() const { return has_vectorized_; }

 private:
  // Loop `level` of `depth`; `owner`/`block` make the output index disjoint per iteration of a
  // parallel outer loop (index = owner * block + (e mod block)).
  Stmt loop_nest(int level, int depth, bool parallel_outer, bool vectorize_inner, Expr owner, int block) {
    if (level == depth) {
      std::vector<Stmt> stores;
      for (int k = uniform(1, 2); k > 0; --k) stores.push_back(store(owner, block));
      return make_seq(stores);
    }
    const bool innermost = level == depth - 1;
    ForKind kind = ForKind::kSerial;
    int extent = uniform(1, 6);
    if (level == 0 && parallel_outer) kind = ForKind::kParallel;
    if (innermost && vectorize_inner && kind == ForKind::kSerial) {
      kind = ForKind::kVectorized;
      extent = std::vector<int>{4, 8, 16}[uniform(0, 2)];
    }
    Var v(numbered("i", level));
    const int min = uniform(-2, 2);
    vars_.push_back(v);
    if (kind == ForKind::kParallel) {
      owner = v - min;
      block = kSize / extent;
    }
    Stmt body = loop_nest(level + 1, depth, parallel_outer, vectorize_inner, owner, block);
    vars_.pop_back();
    return make_for(v, min, extent, kind, body);
  }

  Stmt store(const Expr& owner, int block) {
    Expr index = owner.defined() ? owner * block + index_expr(2) % block : index_expr(2) % kSize;
    Expr value = value_expr(3);
    if (chance(0.5)) value = output_({index}) + value;  // accumulate: order of iterations matters
    return make_store(output_, value, {index});
  }

  // An int32 expression over loop variables and constants (for indices).
  Expr index_expr(int depth) {
    if (depth == 0 || chance(0.3)) {
      if (!vars_.empty() && chance(0.7)) return vars_[uniform(0, static_cast<int>(vars_.size()) - 1)];
      return make_int(DataType::Int(32), uniform(-20, 20));
    }
    Expr a = index_expr(depth - 1), b = index_expr(depth - 1);
    switch (uniform(0, 3)) {
      case 0: return a + b;
      case 1: return a - b;
      case 2: return a * make_int(DataType::Int(32), uniform(-5, 5));
      default: return a * b;
    }
  }

  Expr leaf() {
    const int choice = uniform(0, 2);
    if (choice == 0 && !vars_.empty()) {
      return make_cast(element_, vars_[uniform(0, static_cast<int>(vars_.size()) - 1)]);
    }
    if (choice == 1) return make_const(element_, uniform(-9, 9));
    const Buffer& input = inputs_[uniform(0, 2)];
    return input({index_expr(2) % kSize});
  }

  Expr value_expr(int depth) {
    if (depth == 0 || chance(0.2)) return leaf();
    const bool is_float = element_.is_float();
    const int ops = is_float ? 7 : 12;
    switch (uniform(0, ops - 1)) {
      case 0: return value_expr(depth - 1) + value_expr(depth - 1);
      case 1: return value_expr(depth - 1) - value_expr(depth - 1);
      case 2: return leaf() * leaf();  // leaf operands: exact for floats
      case 3: return min(value_expr(depth - 1), value_expr(depth - 1));
      case 4: return max(value_expr(depth - 1), value_expr(depth - 1));
      case 5: {
        Expr a = value_expr(depth - 1), b = value_expr(depth - 1);
        Expr condition = comparison(value_expr(depth - 1), value_expr(depth - 1));
        if (chance(0.3)) condition = condition && comparison(a, b);
        return make_select(condition, a, b);
      }
      case 6: {
        Var bound(numbered("t", let_count_++), element_);
        Expr value = value_expr(depth - 1);
        return make_let(bound, value, Expr(bound) - value_expr(depth - 1) + Expr(bound));
      }
      case 7: return value_expr(depth - 1) * value_expr(depth - 1);  // wrapping
      case 8: {
        Expr divisor = make_const(element_, std::vector<int>{-9, -4, -3, -2, 2, 3, 5, 8, 16}[uniform(0, 8)]);
        return chance(0.5) ? value_expr(depth - 1) / divisor : value_expr(depth - 1) % divisor;
      }
      case 9: {
        // A variable divisor in [1, 5].
        Expr divisor = value_expr(depth - 1) % make_const(element_, 5) + make_const(element_, 1);
        return chance(0.5) ? value_expr(depth - 1) / divisor : value_expr(depth - 1) % divisor;
      }
      case 10: {
        DataType narrow = chance(0.5) ? DataType::Int(8) : DataType::UInt(16);
        return make_cast(element_, make_cast(narrow, value_expr(depth - 1)));
      }
      default:
        return make_cast(element_, comparison(value_expr(depth - 1), value_expr(depth - 1)));
    }
  }

  Expr comparison(Expr a, Expr b) {
    switch (uniform(0, 5)) {
      case 0: return a < b;
      case 1: return a <= b;
      case 2: return a > b;
      case 3: return a >= b;
      case 4: return a == b;
      default: return a != b;
    }
  }

  int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::mt19937 rng_;
  DataType element_;
  std::vector<Buffer> inputs_;
  Buffer output_;
  std::vector<Var> vars_;
  bool vectorize_;
  int let_count_ = 0;
  bool has_vectorized_ = false;
};

template <typename T>
void run_random_programs(DataType element, bool vectorize, uint32_t first_seed, int count) {
  int vectorized = 0, parallel = 0;
  for (uint32_t seed = first_seed; seed < first_seed + count; ++seed) {
    ProgramGenerator generator(seed, element, vectorize);
    PrimFunc f = generator.generate(numbered("random_", static_cast<int>(seed)));
    JitModule module = JitModule::compile({f});
    vectorized += generator.has_vectorized();
    parallel += module.llvm_ir().find("tessel_parallel_launch") != std::string::npos;

    std::vector<AlignedArray<T>> inputs;
    // Small integers (also for floats, so that float products are exact).
    auto small_integers = [](AlignedArray<T>& array, uint32_t fill_seed) {
      fill_random(array, fill_seed, -9, 9);
      for (size_t i = 0; i < array.size(); ++i) array[i] = static_cast<T>(std::round(static_cast<double>(array[i])));
    };
    for (int b = 0; b < 3; ++b) {
      inputs.emplace_back(kSize);
      small_integers(inputs.back(), seed * 7 + b);
    }
    AlignedArray<T> initial(kSize);
    small_integers(initial, seed * 7 + 5);
    AlignedArray<T> jit_out(initial), lowered_out(initial), original_out(initial);
    module.get_function(f->name).call({inputs[0].data(), inputs[1].data(), inputs[2].data(), jit_out.data()});
    interpret(module.lowered_functions()[0],
              {inputs[0].data(), inputs[1].data(), inputs[2].data(), lowered_out.data()});
    ASSERT_TRUE(testing::bitwise_equal(jit_out, lowered_out))
        << "seed " << seed << " (" << element.to_string() << "): JIT differs from the interpreter\n"
        << module.lowered_functions()[0];
    if (!generator.has_vectorized()) {
      interpret(f, {inputs[0].data(), inputs[1].data(), inputs[2].data(), original_out.data()});
      ASSERT_TRUE(testing::bitwise_equal(jit_out, original_out))
          << "seed " << seed << ": JIT differs from the interpreter on the original program\n" << f;
    }
  }
  // The generator covers the loop kinds it is meant to.
  EXPECT_EQ(vectorized, vectorize ? count : 0);
  EXPECT_GT(parallel, count / 8);
}

TEST(CodegenRandomPrograms, Int32SerialAndParallel) { run_random_programs<int32_t>(DataType::Int(32), false, 0, 60); }
TEST(CodegenRandomPrograms, Float32SerialAndParallel) { run_random_programs<float>(DataType::Float(32), false, 1000, 60); }
TEST(CodegenRandomPrograms, Int32Vectorized) { run_random_programs<int32_t>(DataType::Int(32), true, 2000, 40); }
TEST(CodegenRandomPrograms, Float32Vectorized) { run_random_programs<float>(DataType::Float(32), true, 3000, 40); }

}  // namespace
}  // namespace tessel::codegen
