// Random integer expressions for differential tests of the simplifier and the bound analysis,
// and an exact evaluator that reports whether index arithmetic (int32/int64) overflowed: the
// simplifier assumes it does not, so bindings that overflow are not compared.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "tessel/ir/expr.h"

namespace tessel::arith_test {

struct RangedVar {
  Var var;
  int64_t lo, hi;  // inclusive
};

// Generates scalar expressions of int32, int64, int16, int8, uint8 and uint32, int32x4 vectors and
// bool conditions over a fixed set of variables with small ranges. Divisors are nonzero constants
// or variables with positive ranges, so every generated expression is defined for every binding.
class RandomExprGenerator {
 public:
  explicit RandomExprGenerator(uint64_t seed) : rng_(seed) {
    auto add = [&](const char* name, DataType t, int64_t lo, int64_t hi) {
      vars_.push_back({Var(name, t), lo, hi});
    };
    add("x", DataType::Int(32), -8, 12);
    add("y", DataType::Int(32), 0, 15);
    add("z", DataType::Int(32), -20, -1);
    add("i", DataType::Int(32), 0, 63);
    add("p", DataType::Int(64), -6, 40);
    add("q", DataType::Int(64), 0, 9);
    add("s", DataType::Int(16), -300, 300);
    add("b", DataType::Int(8), -128, 127);
    add("u", DataType::UInt(8), 0, 255);
    add("w", DataType::UInt(32), 0, 70000);
    add("d", DataType::Int(32), 1, 9);   // positive divisors
    add("e", DataType::Int(64), 2, 17);
  }

  const std::vector<RangedVar>& vars() const { return vars_; }
  std::mt19937_64& rng() { return rng_; }

  int64_t uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  static std::vector<DataType> scalar_types() {
    return {DataType::Int(32), DataType::Int(64), DataType::Int(16), DataType::Int(8), DataType::UInt(8),
            DataType::UInt(32)};
  }

  DataType random_scalar_type() {
    // Index types dominate, as in real loop nests.
    static const DataType kTypes[] = {DataType::Int(32), DataType::Int(32), DataType::Int(32), DataType::Int(64),
                                      DataType::Int(64), DataType::Int(16), DataType::Int(8),  DataType::UInt(8),
                                      DataType::UInt(32)};
    return kTypes[uniform(0, 8)];
  }

  Expr gen(DataType t, int depth) {
    if (t.is_vector()) return gen_vector(depth);
    if (t.is_bool()) return gen_bool(depth);
    if (depth <= 0 || chance(0.2)) return leaf(t);
    switch (uniform(0, 11)) {
      case 0:
      case 1: return gen(t, depth - 1) + gen(t, depth - 1);
      case 2: return gen(t, depth - 1) - gen(t, depth - 1);
      case 3: return chance(0.6) ? gen(t, depth - 1) * small_const(t) : gen(t, depth - 1) * gen(t, depth - 2);
      case 4: return make_binary(BinaryOp::kDiv, gen(t, depth - 1), divisor(t));
      case 5: return make_binary(BinaryOp::kMod, gen(t, depth - 1), divisor(t));
      case 6: return min(gen(t, depth - 1), gen(t, depth - 1));
      case 7: return max(gen(t, depth - 1), gen(t, depth - 1));
      case 8: return make_select(gen_bool(depth - 1), gen(t, depth - 1), gen(t, depth - 1));
      case 9: return make_cast(t, gen(random_scalar_type(), depth - 1));
      case 10: return gen_let(t, depth);
      default: {
        // Structured index expressions: (a * c + b) / c, (a * c + b) % c, a / c * c + a % c.
        int64_t c = uniform(2, 8);
        Expr a = gen(t, depth - 1), b = gen(t, depth - 2);
        if (chance(0.4)) {
          // Coefficients sharing factors with the divisor: (a * c1 + b * c3 + k) / c2 and % c2.
          Expr sum = a * make_int(t, uniform(1, 12)) + b * make_int(t, uniform(-6, 12)) + make_int(t, uniform(-20, 20));
          Expr c2 = make_int(t, uniform(2, 16));
          return make_binary(chance(0.5) ? BinaryOp::kDiv : BinaryOp::kMod, sum, c2);
        }
        switch (uniform(0, 2)) {
          case 0: return make_binary(BinaryOp::kDiv, a * make_int(t, c) + b, make_int(t, c));
          case 1: return make_binary(BinaryOp::kMod, a * make_int(t, c) + b, make_int(t, c));
          default: {
            // a / c * (k * c) + a % c * m: equals a * k when m == k.
            int64_t k = uniform(1, 3), m = chance(0.5) ? k : uniform(-2, 3);
            return make_binary(BinaryOp::kDiv, a, make_int(t, c)) * make_int(t, c * k) +
                   make_binary(BinaryOp::kMod, a, make_int(t, c)) * make_int(t, m);
          }
        }
      }
    }
  }

  Expr gen_bool(int depth) {
    if (depth <= 0) return chance(0.1) ? make_bool(chance(0.5)) : compare(DataType::Int(32), 0);
    switch (uniform(0, 6)) {
      case 0: return gen_bool(depth - 1) && gen_bool(depth - 1);
      case 1: return gen_bool(depth - 1) || gen_bool(depth - 1);
      case 2: return !gen_bool(depth - 1);
      default: return compare(random_scalar_type(), depth - 1);
    }
  }

  // int32x4 vectors built from ramps and broadcasts.
  Expr gen_vector(int depth) {
    constexpr int kLanes = 4;
    DataType t = DataType::Int(32);
    if (depth <= 0 || chance(0.25)) {
      if (chance(0.6)) return make_ramp(gen(t, 1), make_int(t, uniform(-3, 4)), kLanes);
      return make_broadcast(gen(t, 1), kLanes);
    }
    switch (uniform(0, 8)) {
      case 8: {
        // A ramp at a multiple of c plus an offset, divided by c: lane-wise quotients may be uniform.
        int64_t c = uniform(2, 16);
        Expr base = gen(t, 1) * make_int(t, c) + make_int(t, uniform(0, 6));
        Expr ramp = make_ramp(base, make_int(t, uniform(0, 4)), kLanes);
        return make_binary(chance(0.5) ? BinaryOp::kDiv : BinaryOp::kMod, ramp, make_broadcast(make_int(t, c), kLanes));
      }
      case 0: return gen_vector(depth - 1) + gen_vector(depth - 1);
      case 1: return gen_vector(depth - 1) - gen_vector(depth - 1);
      case 2: return gen_vector(depth - 1) * make_broadcast(small_const(t), kLanes);
      case 3: return make_binary(BinaryOp::kDiv, gen_vector(depth - 1), make_broadcast(nonzero_const(t), kLanes));
      case 4: return make_binary(BinaryOp::kMod, gen_vector(depth - 1), make_broadcast(nonzero_const(t), kLanes));
      case 5: return min(gen_vector(depth - 1), gen_vector(depth - 1));
      case 6: return max(gen_vector(depth - 1), gen_vector(depth - 1));
      default: {
        Expr condition = make_binary(chance(0.5) ? BinaryOp::kLT : BinaryOp::kEQ, gen_vector(depth - 1),
                                     gen_vector(depth - 1));
        return make_select(condition, gen_vector(depth - 1), gen_vector(depth - 1));
      }
    }
  }

  // A random binding of every variable within its range.
  std::unordered_map<const VarNode*, int64_t> random_binding() {
    std::unordered_map<const VarNode*, int64_t> values;
    for (const RangedVar& v : vars_) values[v.var.get()] = uniform(v.lo, v.hi);
    return values;
  }

 private:
  Expr compare(DataType t, int depth) {
    static const BinaryOp kOps[] = {BinaryOp::kEQ, BinaryOp::kNE, BinaryOp::kLT,
                                    BinaryOp::kLE, BinaryOp::kGT, BinaryOp::kGE};
    return make_binary(kOps[uniform(0, 5)], gen(t, depth), gen(t, depth));
  }

  Expr leaf(DataType t) {
    if (chance(0.35)) return make_int(t, uniform(-10, 16));
    std::vector<Expr> candidates;
    for (const RangedVar& v : vars_) {
      if (v.var.dtype() == t) candidates.push_back(v.var);
    }
    for (const Var& v : lets_) {
      if (v.dtype() == t) candidates.push_back(v);
    }
    if (candidates.empty()) {
      // Narrow types without a variable of their own take a cast of an int32 one.
      return make_cast(t, vars_[uniform(0, 3)].var);
    }
    return candidates[uniform(0, static_cast<int64_t>(candidates.size()) - 1)];
  }

  Expr small_const(DataType t) { return make_int(t, uniform(-4, 6)); }

  Expr nonzero_const(DataType t) {
    int64_t c = 0;
    while (c == 0) c = t.is_uint() ? uniform(1, 9) : uniform(-9, 9);
    return make_int(t, c);
  }

  Expr divisor(DataType t) {
    if (chance(0.3)) {
      for (const RangedVar& v : vars_) {
        if (v.lo > 0 && v.var.dtype() == t) return v.var;
      }
    }
    return nonzero_const(t);
  }

  Expr gen_let(DataType t, int depth) {
    Var v("v" + std::to_string(lets_.size()), t);
    Expr value = gen(t, depth - 1);
    lets_.push_back(v);
    Expr body = gen(t, depth - 1);
    lets_.pop_back();
    return make_let(v, value, body);
  }

  std::mt19937_64 rng_;
  std::vector<RangedVar> vars_;
  std::vector<Var> lets_;
};

// Evaluates with exact integers, wrapping each result to its type like the interpreter, and
// records whether an int32/int64 operation (scalar or lane of a vector) left its type's range.
class ExactEvaluator {
 public:
  using Wide = __int128;
  explicit ExactEvaluator(const std::unordered_map<const VarNode*, int64_t>& values) : values_(values) {}

  bool index_overflow() const { return index_overflow_; }
  bool int64_overflow() const { return int64_overflow_; }

  std::vector<Wide> eval(const Expr& e) {
    DataType t = e.dtype();
    int lanes = t.lanes();
    switch (e.kind()) {
      case ExprKind::kIntImm: return {e.as<IntImmNode>()->value};
      case ExprKind::kVar: {
        auto it = values_.find(e.as<VarNode>());
        return std::vector<Wide>(lanes, it->second);
      }
      case ExprKind::kBinary: {
        const BinaryNode* op = e.as<BinaryNode>();
        std::vector<Wide> a = eval(op->a), b = eval(op->b), r(lanes);
        DataType ot = op->a.dtype();
        for (int l = 0; l < lanes; ++l) r[l] = binary(op->op, ot, a[l], b[l]);
        return r;
      }
      case ExprKind::kNot: {
        std::vector<Wide> a = eval(e.as<NotNode>()->a);
        for (Wide& v : a) v = v == 0;
        return a;
      }
      case ExprKind::kSelect: {
        const SelectNode* op = e.as<SelectNode>();
        std::vector<Wide> c = eval(op->condition), x = eval(op->true_value), y = eval(op->false_value);
        for (int l = 0; l < lanes; ++l) x[l] = c[c.size() == 1 ? 0 : l] != 0 ? x[l] : y[l];
        return x;
      }
      case ExprKind::kCast: {
        std::vector<Wide> v = eval(e.as<CastNode>()->value);
        for (Wide& x : v) x = t.is_bool() ? Wide(x != 0) : wrap(t, x);
        return v;
      }
      case ExprKind::kRamp: {
        const RampNode* op = e.as<RampNode>();
        Wide base = eval(op->base)[0], stride = eval(op->stride)[0];
        std::vector<Wide> r(lanes);
        for (int l = 0; l < lanes; ++l) r[l] = checked(t, base + stride * l);
        return r;
      }
      case ExprKind::kBroadcast: return std::vector<Wide>(lanes, eval(e.as<BroadcastNode>()->value)[0]);
      case ExprKind::kLet: {
        const LetNode* op = e.as<LetNode>();
        Wide v = eval(op->value)[0];
        values_[op->var.get()] = static_cast<int64_t>(v);
        return eval(op->body);
      }
      default: break;
    }
    ADD_FAILURE() << "unexpected node in a generated expression";
    return std::vector<Wide>(lanes, 0);
  }

  static Wide wrap(DataType t, Wide v) { return wrap_to_type(t.element_of(), static_cast<int64_t>(v)); }

 private:
  static bool is_index(DataType t) { return t.is_int() && (t.bits() == 32 || t.bits() == 64); }

  Wide checked(DataType t, Wide v) {
    Wide w = wrap(t, v);
    if (is_index(t) && w != v) index_overflow_ = true;
    if (t.is_int() && t.bits() == 64 && w != v) int64_overflow_ = true;
    return w;
  }

  static Wide floor_div_wide(Wide a, Wide b) {
    Wide q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) --q;
    return q;
  }

  Wide binary(BinaryOp op, DataType t, Wide a, Wide b) {
    switch (op) {
      case BinaryOp::kAdd: return checked(t, a + b);
      case BinaryOp::kSub: return checked(t, a - b);
      case BinaryOp::kMul: return checked(t, a * b);
      case BinaryOp::kDiv: return checked(t, floor_div_wide(a, b));
      case BinaryOp::kMod: return checked(t, a - floor_div_wide(a, b) * b);
      case BinaryOp::kMin: return a < b ? a : b;
      case BinaryOp::kMax: return a < b ? b : a;
      case BinaryOp::kEQ: return a == b;
      case BinaryOp::kNE: return a != b;
      case BinaryOp::kLT: return a < b;
      case BinaryOp::kLE: return a <= b;
      case BinaryOp::kGT: return a > b;
      case BinaryOp::kGE: return a >= b;
      case BinaryOp::kAnd: return a != 0 && b != 0;
      case BinaryOp::kOr: return a != 0 || b != 0;
    }
    return 0;
  }

  std::unordered_map<const VarNode*, int64_t> values_;
  bool index_overflow_ = false;
  bool int64_overflow_ = false;
};

}  // namespace tessel::arith_test
