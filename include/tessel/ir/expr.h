// Loop-IR expressions. Nodes are immutable; handles (Expr, Var) are shared pointers to const nodes.
// Variables are identity objects: two Vars with the same name are different variables.
//
// Integer division and modulo are FLOOR division and FLOOR modulo (the quotient rounds toward
// negative infinity and the remainder has the divisor's sign), as in Python: -7 / 2 = -4,
// -7 % 2 = 1. Division by zero is undefined. For floats, Div is true division and Mod is
// x - floor(x / y) * y. Integer arithmetic wraps at the type's width (two's complement).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessel/ir/type.h"

namespace tessel {

// Every expression node kind, listed once. Visitors, mutators, the printer and structural
// equality are generated from this list.
#define TESSEL_EXPR_NODES(X) \
  X(IntImm)                  \
  X(FloatImm)                \
  X(Var)                     \
  X(Binary)                  \
  X(Not)                     \
  X(Select)                  \
  X(Cast)                    \
  X(Load)                    \
  X(Ramp)                    \
  X(Broadcast)               \
  X(Let)                     \
  X(Call)

enum class ExprKind : uint8_t {
#define TESSEL_X(name) k##name,
  TESSEL_EXPR_NODES(TESSEL_X)
#undef TESSEL_X
};

struct ExprNode {
  const ExprKind kind;
  const DataType dtype;
  virtual ~ExprNode() = default;

 protected:
  ExprNode(ExprKind k, DataType t) : kind(k), dtype(t) {}
};

// A reference to an immutable expression node (or null).
class Expr {
 public:
  Expr() = default;
  explicit Expr(std::shared_ptr<const ExprNode> node) : node_(std::move(node)) {}
  // Implicit conversions from C++ literals: int -> int32 immediate, double -> float32 immediate.
  Expr(int value);     // NOLINT(google-explicit-constructor)
  Expr(double value);  // NOLINT(google-explicit-constructor)

  bool defined() const { return node_ != nullptr; }
  const ExprNode* get() const { return node_.get(); }
  const ExprNode* operator->() const { return node_.get(); }
  DataType dtype() const { return node_->dtype; }
  ExprKind kind() const { return node_->kind; }
  // Pointer identity, not structural equality (see structural.h).
  bool same_as(const Expr& other) const { return node_ == other.node_; }

  template <typename T>
  const T* as() const {
    return node_ && node_->kind == T::kKind ? static_cast<const T*>(node_.get()) : nullptr;
  }
  const std::shared_ptr<const ExprNode>& node_ptr() const { return node_; }

 private:
  std::shared_ptr<const ExprNode> node_;
};

// ---- leaves -------------------------------------------------------------------------------

// Integer, unsigned or bool constant (scalar). The value is stored wrapped to the type's width.
struct IntImmNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kIntImm;
  const int64_t value;
  IntImmNode(DataType t, int64_t v) : ExprNode(kKind, t), value(v) {}
};

// Floating-point constant (scalar float16/bfloat16/float32/float64), stored as double.
struct FloatImmNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kFloatImm;
  const double value;
  FloatImmNode(DataType t, double v) : ExprNode(kKind, t), value(v) {}
};

struct VarNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kVar;
  const std::string name;  // a hint for printing; identity is the node's address
  VarNode(DataType t, std::string n) : ExprNode(kKind, t), name(std::move(n)) {}
};

// A variable handle. Converts implicitly to Expr.
class Var {
 public:
  Var() = default;
  explicit Var(std::string name, DataType dtype = DataType::Int(32));
  explicit Var(std::shared_ptr<const VarNode> node) : node_(std::move(node)) {}

  bool defined() const { return node_ != nullptr; }
  const VarNode* get() const { return node_.get(); }
  const VarNode* operator->() const { return node_.get(); }
  DataType dtype() const { return node_->dtype; }
  const std::string& name() const { return node_->name; }
  bool same_as(const Var& other) const { return node_ == other.node_; }
  operator Expr() const { return Expr(node_); }  // NOLINT(google-explicit-constructor)

 private:
  std::shared_ptr<const VarNode> node_;
};

// ---- arithmetic, comparison and logic ------------------------------------------------------

enum class BinaryOp : uint8_t {
  kAdd, kSub, kMul, kDiv, kMod, kMin, kMax,  // arithmetic: result has the operands' type
  kEQ, kNE, kLT, kLE, kGT, kGE,              // comparisons: result is bool with the operands' lanes
  kAnd, kOr,                                 // logic: bool operands, bool result
};
const char* binary_op_name(BinaryOp op);  // "+", "<=", "&&", "min", ...
bool is_comparison(BinaryOp op);
bool is_logical(BinaryOp op);
// The comparison that holds exactly when `op` does not (integers: a < b  <=>  !(a >= b)).
BinaryOp negate_comparison(BinaryOp op);
// The comparison with its operands swapped: a op b  <=>  b mirror(op) a.
BinaryOp mirror_comparison(BinaryOp op);

// Both operands have the same dtype (lanes included).
struct BinaryNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kBinary;
  const BinaryOp op;
  const Expr a, b;
  BinaryNode(DataType t, BinaryOp o, Expr x, Expr y) : ExprNode(kKind, t), op(o), a(std::move(x)), b(std::move(y)) {}
};

struct NotNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kNot;
  const Expr a;
  NotNode(DataType t, Expr x) : ExprNode(kKind, t), a(std::move(x)) {}
};

// cond ? true_value : false_value, lane-wise. Both branches may be evaluated (no side effects).
struct SelectNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kSelect;
  const Expr condition, true_value, false_value;
  SelectNode(DataType t, Expr c, Expr x, Expr y)
      : ExprNode(kKind, t), condition(std::move(c)), true_value(std::move(x)), false_value(std::move(y)) {}
};

// Conversion to dtype (same lanes). float->int truncates toward zero; int->int wraps.
struct CastNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kCast;
  const Expr value;
  CastNode(DataType t, Expr v) : ExprNode(kKind, t), value(std::move(v)) {}
};

// ---- memory --------------------------------------------------------------------------------

class Buffer;
struct BufferNode;

// Reads buffer[indices]. Before storage flattening there is one index per buffer dimension; after,
// the buffer is 1-D and there is one flat element index. A vector load has a Ramp (or any vector)
// index and a vector dtype with the index's lanes.
struct LoadNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kLoad;
  const std::shared_ptr<const BufferNode> buffer;
  const std::vector<Expr> indices;
  LoadNode(DataType t, std::shared_ptr<const BufferNode> buf, std::vector<Expr> idx)
      : ExprNode(kKind, t), buffer(std::move(buf)), indices(std::move(idx)) {}
};

// ---- vectors -------------------------------------------------------------------------------

// The vector (base, base + stride, ..., base + (lanes-1) * stride). base and stride are scalars.
struct RampNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kRamp;
  const Expr base, stride;
  const int lanes;
  RampNode(DataType t, Expr b, Expr s, int l) : ExprNode(kKind, t), base(std::move(b)), stride(std::move(s)), lanes(l) {}
};

// A scalar value repeated in every lane.
struct BroadcastNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kBroadcast;
  const Expr value;
  const int lanes;
  BroadcastNode(DataType t, Expr v, int l) : ExprNode(kKind, t), value(std::move(v)), lanes(l) {}
};

// ---- binding and calls ---------------------------------------------------------------------

// let var = value in body. `var` is bound only inside `body`.
struct LetNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kLet;
  const Var var;
  const Expr value, body;
  LetNode(DataType t, Var v, Expr val, Expr b) : ExprNode(kKind, t), var(std::move(v)), value(std::move(val)), body(std::move(b)) {}
};

// Pure math intrinsics, applied lane-wise. All take float arguments of the result type, except
// fabs which also accepts ints. fma(a, b, c) = a * b + c with one rounding.
#define TESSEL_INTRINSICS(X) \
  X(exp, 1) X(log, 1) X(sqrt, 1) X(rsqrt, 1) X(tanh, 1) X(erf, 1) X(sigmoid, 1) X(pow, 2) \
  X(fabs, 1) X(floor, 1) X(ceil, 1) X(round, 1) X(fma, 3)

enum class Intrinsic : uint8_t {
#define TESSEL_X(name, arity) k_##name,
  TESSEL_INTRINSICS(TESSEL_X)
#undef TESSEL_X
};
const char* intrinsic_name(Intrinsic op);
int intrinsic_arity(Intrinsic op);

struct CallNode : ExprNode {
  static constexpr ExprKind kKind = ExprKind::kCall;
  const Intrinsic op;
  const std::vector<Expr> args;
  CallNode(DataType t, Intrinsic o, std::vector<Expr> a) : ExprNode(kKind, t), op(o), args(std::move(a)) {}
};

// ---- validating constructors ---------------------------------------------------------------
// These check operand types and throw InternalError on a mismatch. Scalars combined with vectors
// are NOT broadcast implicitly here; the operator overloads below do that for convenience.

Expr make_int(DataType t, int64_t value);    // wraps value to t's width; t must be scalar integral
Expr make_float(DataType t, double value);   // t must be scalar float
Expr make_const(DataType t, double value);   // int or float constant; a vector t gives a Broadcast
Expr make_bool(bool value, int lanes = 1);
Expr make_binary(BinaryOp op, Expr a, Expr b);
Expr make_not(Expr a);
Expr make_select(Expr condition, Expr true_value, Expr false_value);
Expr make_cast(DataType t, Expr value);  // returns value itself when the type already matches
Expr make_load(const Buffer& buffer, std::vector<Expr> indices);  // lanes taken from the indices
Expr make_ramp(Expr base, Expr stride, int lanes);
Expr make_broadcast(Expr value, int lanes);
Expr make_let(Var var, Expr value, Expr body);
Expr make_call(Intrinsic op, std::vector<Expr> args);

// Convenience operators. A scalar operand meeting a vector one is broadcast; an int immediate
// meeting another integer type is retyped. Comparisons return bool expressions.
Expr operator+(Expr a, Expr b);
Expr operator-(Expr a, Expr b);
Expr operator*(Expr a, Expr b);
Expr operator/(Expr a, Expr b);  // floor division for integers
Expr operator%(Expr a, Expr b);  // floor modulo for integers
Expr operator==(Expr a, Expr b);
Expr operator!=(Expr a, Expr b);
Expr operator<(Expr a, Expr b);
Expr operator<=(Expr a, Expr b);
Expr operator>(Expr a, Expr b);
Expr operator>=(Expr a, Expr b);
Expr operator&&(Expr a, Expr b);
Expr operator||(Expr a, Expr b);
Expr operator!(Expr a);
Expr operator-(Expr a);
Expr min(Expr a, Expr b);
Expr max(Expr a, Expr b);
// Applies the implicit conversions of the operators above to a pair of operands.
void match_types(Expr& a, Expr& b);

// Constant inspection helpers.
const int64_t* as_const_int(const Expr& e);   // non-null when e is an IntImm
const double* as_const_float(const Expr& e);  // non-null when e is a FloatImm
bool is_const_int(const Expr& e, int64_t value);
bool is_zero(const Expr& e);  // int or float zero, or a Broadcast of one
bool is_one(const Expr& e);

// Wraps an integer to the width and signedness of t (t integral). Two's complement.
int64_t wrap_to_type(DataType t, int64_t value);
// Floor division and floor modulo on int64 (b != 0).
int64_t floor_div(int64_t a, int64_t b);
int64_t floor_mod(int64_t a, int64_t b);

}  // namespace tessel
