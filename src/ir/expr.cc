// Validating constructors and convenience operators for loop-IR expressions.
#include "tessel/ir/expr.h"

#include <cmath>

#include "tessel/ir/buffer.h"
#include "tessel/ir/error.h"
#include "tessel/ir/printer.h"

namespace tessel {

namespace {

template <typename Node, typename... Args>
Expr make_node(Args&&... args) {
  return Expr(std::make_shared<const Node>(std::forward<Args>(args)...));
}

}  // namespace

// ---- integer helpers -------------------------------------------------------------------------

int64_t wrap_to_type(DataType t, int64_t value) {
  internal_check(t.is_integral()) << "wrap_to_type on " << t.to_string();
  int bits = t.bits();
  if (bits >= 64) return value;
  uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t u = static_cast<uint64_t>(value) & mask;
  if (t.is_int() && (u >> (bits - 1)) & 1) u |= ~mask;  // sign-extend
  return static_cast<int64_t>(u);
}

int64_t floor_div(int64_t a, int64_t b) {
  internal_check(b != 0) << "floor_div by zero";
  if (b == -1) return static_cast<int64_t>(0 - static_cast<uint64_t>(a));  // avoid INT64_MIN / -1 trap
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  internal_check(b != 0) << "floor_mod by zero";
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// ---- names -----------------------------------------------------------------------------------

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "+";
    case BinaryOp::kSub: return "-";
    case BinaryOp::kMul: return "*";
    case BinaryOp::kDiv: return "/";
    case BinaryOp::kMod: return "%";
    case BinaryOp::kMin: return "min";
    case BinaryOp::kMax: return "max";
    case BinaryOp::kEQ: return "==";
    case BinaryOp::kNE: return "!=";
    case BinaryOp::kLT: return "<";
    case BinaryOp::kLE: return "<=";
    case BinaryOp::kGT: return ">";
    case BinaryOp::kGE: return ">=";
    case BinaryOp::kAnd: return "&&";
    case BinaryOp::kOr: return "||";
  }
  return "?";
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::kEQ && op <= BinaryOp::kGE; }
bool is_logical(BinaryOp op) { return op == BinaryOp::kAnd || op == BinaryOp::kOr; }

BinaryOp negate_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::kEQ: return BinaryOp::kNE;
    case BinaryOp::kNE: return BinaryOp::kEQ;
    case BinaryOp::kLT: return BinaryOp::kGE;
    case BinaryOp::kLE: return BinaryOp::kGT;
    case BinaryOp::kGT: return BinaryOp::kLE;
    case BinaryOp::kGE: return BinaryOp::kLT;
    default: return op;
  }
}

BinaryOp mirror_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::kLT: return BinaryOp::kGT;
    case BinaryOp::kLE: return BinaryOp::kGE;
    case BinaryOp::kGT: return BinaryOp::kLT;
    case BinaryOp::kGE: return BinaryOp::kLE;
    default: return op;
  }
}

const char* intrinsic_name(Intrinsic op) {
  switch (op) {
#define TESSEL_X(name, arity) \
  case Intrinsic::k_##name: return #name;
    TESSEL_INTRINSICS(TESSEL_X)
#undef TESSEL_X
  }
  return "?";
}

int intrinsic_arity(Intrinsic op) {
  switch (op) {
#define TESSEL_X(name, arity) \
  case Intrinsic::k_##name: return arity;
    TESSEL_INTRINSICS(TESSEL_X)
#undef TESSEL_X
  }
  return 0;
}

// ---- leaves ----------------------------------------------------------------------------------

Expr::Expr(int value) : Expr(make_int(DataType::Int(32), value)) {}
Expr::Expr(double value) : Expr(make_float(DataType::Float(32), value)) {}

Var::Var(std::string name, DataType dtype) : node_(std::make_shared<const VarNode>(dtype, std::move(name))) {}

Expr make_int(DataType t, int64_t value) {
  internal_check(t.is_integral() && t.is_scalar()) << "integer immediate of type " << t.to_string();
  return make_node<IntImmNode>(t, wrap_to_type(t, value));
}

Expr make_float(DataType t, double value) {
  internal_check(t.is_float() && t.is_scalar()) << "float immediate of type " << t.to_string();
  // float32 immediates hold exactly the float32 value, so equal constants compare equal.
  if (t == DataType::Float(32)) value = static_cast<double>(static_cast<float>(value));
  return make_node<FloatImmNode>(t, value);
}

Expr make_const(DataType t, double value) {
  Expr scalar = t.element_of().is_float() ? make_float(t.element_of(), value)
                                          : make_int(t.element_of(), static_cast<int64_t>(value));
  return t.is_vector() ? make_broadcast(scalar, t.lanes()) : scalar;
}

Expr make_bool(bool value, int lanes) { return make_const(DataType::Bool(lanes), value ? 1 : 0); }

// ---- operators -------------------------------------------------------------------------------

Expr make_binary(BinaryOp op, Expr a, Expr b) {
  internal_check(a.defined() && b.defined()) << "undefined operand of " << binary_op_name(op);
  internal_check(a.dtype() == b.dtype()) << "operand types differ in " << binary_op_name(op) << ": "
                                         << a.dtype().to_string() << " vs " << b.dtype().to_string();
  DataType t = a.dtype();
  internal_check(!t.is_handle()) << "arithmetic on a handle";
  if (is_logical(op)) internal_check(t.element_of().is_bool()) << binary_op_name(op) << " on " << t.to_string();
  DataType result = is_comparison(op) ? DataType::Bool(t.lanes()) : t;
  return make_node<BinaryNode>(result, op, std::move(a), std::move(b));
}

Expr make_not(Expr a) {
  internal_check(a.defined() && a.dtype().element_of().is_bool()) << "! on a non-bool";
  DataType t = a.dtype();
  return make_node<NotNode>(t, std::move(a));
}

Expr make_select(Expr condition, Expr true_value, Expr false_value) {
  internal_check(condition.dtype().element_of().is_bool()) << "select condition is not bool";
  internal_check(true_value.dtype() == false_value.dtype()) << "select branch types differ: "
      << true_value.dtype().to_string() << " vs " << false_value.dtype().to_string();
  internal_check(condition.dtype().lanes() == 1 || condition.dtype().lanes() == true_value.dtype().lanes())
      << "select condition lanes do not match its values";
  DataType t = true_value.dtype();
  return make_node<SelectNode>(t, std::move(condition), std::move(true_value), std::move(false_value));
}

Expr make_cast(DataType t, Expr value) {
  internal_check(value.defined()) << "cast of undefined expression";
  if (value.dtype() == t) return value;
  internal_check(t.lanes() == value.dtype().lanes()) << "cast changes lanes: " << value.dtype().to_string()
                                                    << " to " << t.to_string();
  return make_node<CastNode>(t, std::move(value));
}

Expr make_load(const Buffer& buffer, std::vector<Expr> indices) {
  internal_check(buffer.defined()) << "load from undefined buffer";
  internal_check(!indices.empty()) << "load from " << buffer->name << " without indices";
  int lanes = 1;
  for (const Expr& index : indices) {
    internal_check(index.dtype().is_int() || index.dtype().is_uint()) << "non-integer index into " << buffer->name;
    if (index.dtype().lanes() > 1) {
      internal_check(lanes == 1 || lanes == index.dtype().lanes()) << "index lanes disagree in load of " << buffer->name;
      lanes = index.dtype().lanes();
    }
  }
  return make_node<LoadNode>(buffer->dtype.with_lanes(lanes), buffer.node_ptr(), std::move(indices));
}

Expr make_ramp(Expr base, Expr stride, int lanes) {
  internal_check(base.dtype().is_scalar() && base.dtype().is_integral()) << "ramp base must be a scalar integer";
  internal_check(base.dtype() == stride.dtype()) << "ramp base and stride types differ";
  internal_check(lanes > 1) << "ramp with " << lanes << " lanes";
  DataType t = base.dtype().with_lanes(lanes);
  return make_node<RampNode>(t, std::move(base), std::move(stride), lanes);
}

Expr make_broadcast(Expr value, int lanes) {
  internal_check(value.dtype().is_scalar()) << "broadcast of a vector";
  internal_check(lanes > 1) << "broadcast to " << lanes << " lanes";
  DataType t = value.dtype().with_lanes(lanes);
  return make_node<BroadcastNode>(t, std::move(value), lanes);
}

Expr make_let(Var var, Expr value, Expr body) {
  internal_check(var.dtype() == value.dtype()) << "let " << var.name() << " binds a value of another type";
  DataType t = body.dtype();
  return make_node<LetNode>(t, std::move(var), std::move(value), std::move(body));
}

Expr make_call(Intrinsic op, std::vector<Expr> args) {
  internal_check(static_cast<int>(args.size()) == intrinsic_arity(op))
      << intrinsic_name(op) << " takes " << intrinsic_arity(op) << " arguments";
  DataType t = args[0].dtype();
  for (const Expr& arg : args) internal_check(arg.dtype() == t) << intrinsic_name(op) << " argument types differ";
  internal_check(t.is_float() || op == Intrinsic::k_fabs) << intrinsic_name(op) << " of " << t.to_string();
  return make_node<CallNode>(t, op, std::move(args));
}

// ---- convenience operators -------------------------------------------------------------------

void match_types(Expr& a, Expr& b) {
  internal_check(a.defined() && b.defined()) << "undefined operand";
  DataType ta = a.dtype(), tb = b.dtype();
  if (ta == tb) return;
  // An immediate takes the element type of the other side.
  auto retype = [](Expr& imm, DataType to) {
    if (const int64_t* v = as_const_int(imm)) {
      imm = to.is_float() ? make_float(to, static_cast<double>(*v)) : make_int(to, *v);
      return true;
    }
    if (const double* v = as_const_float(imm); v && to.is_float()) {
      imm = make_float(to, *v);
      return true;
    }
    return false;
  };
  if (ta.element_of() != tb.element_of()) {
    // Retype the immediate side; when both are immediates, retype a plain int32/float32 literal
    // rather than the explicitly typed constant.
    bool a_imm = as_const_int(a) || as_const_float(a);
    bool b_imm = as_const_int(b) || as_const_float(b);
    bool a_literal = a_imm && (ta == DataType::Int(32) || ta == DataType::Float(32));
    bool retype_a_first = a_imm && (!b_imm || a_literal);
    bool done = retype_a_first ? (retype(a, tb.element_of()) || retype(b, ta.element_of()))
                               : (retype(b, ta.element_of()) || retype(a, tb.element_of()));
    if (!done) {
      internal_error() << "operand types differ: " << ta.to_string() << " vs " << tb.to_string();
    }
  }
  if (a.dtype().lanes() == 1 && b.dtype().lanes() > 1) a = make_broadcast(a, b.dtype().lanes());
  if (b.dtype().lanes() == 1 && a.dtype().lanes() > 1) b = make_broadcast(b, a.dtype().lanes());
  internal_check(a.dtype() == b.dtype()) << "operand types differ: " << a.dtype().to_string() << " vs "
                                         << b.dtype().to_string();
}

namespace {
Expr binary(BinaryOp op, Expr a, Expr b) {
  match_types(a, b);
  return make_binary(op, std::move(a), std::move(b));
}
}  // namespace

Expr operator+(Expr a, Expr b) { return binary(BinaryOp::kAdd, std::move(a), std::move(b)); }
Expr operator-(Expr a, Expr b) { return binary(BinaryOp::kSub, std::move(a), std::move(b)); }
Expr operator*(Expr a, Expr b) { return binary(BinaryOp::kMul, std::move(a), std::move(b)); }
Expr operator/(Expr a, Expr b) { return binary(BinaryOp::kDiv, std::move(a), std::move(b)); }
Expr operator%(Expr a, Expr b) { return binary(BinaryOp::kMod, std::move(a), std::move(b)); }
Expr operator==(Expr a, Expr b) { return binary(BinaryOp::kEQ, std::move(a), std::move(b)); }
Expr operator!=(Expr a, Expr b) { return binary(BinaryOp::kNE, std::move(a), std::move(b)); }
Expr operator<(Expr a, Expr b) { return binary(BinaryOp::kLT, std::move(a), std::move(b)); }
Expr operator<=(Expr a, Expr b) { return binary(BinaryOp::kLE, std::move(a), std::move(b)); }
Expr operator>(Expr a, Expr b) { return binary(BinaryOp::kGT, std::move(a), std::move(b)); }
Expr operator>=(Expr a, Expr b) { return binary(BinaryOp::kGE, std::move(a), std::move(b)); }
Expr operator&&(Expr a, Expr b) { return binary(BinaryOp::kAnd, std::move(a), std::move(b)); }
Expr operator||(Expr a, Expr b) { return binary(BinaryOp::kOr, std::move(a), std::move(b)); }
Expr operator!(Expr a) { return make_not(std::move(a)); }
Expr operator-(Expr a) {
  DataType t = a.dtype();
  return make_binary(BinaryOp::kSub, make_const(t, 0), std::move(a));
}
Expr min(Expr a, Expr b) { return binary(BinaryOp::kMin, std::move(a), std::move(b)); }
Expr max(Expr a, Expr b) { return binary(BinaryOp::kMax, std::move(a), std::move(b)); }

// ---- constant inspection ---------------------------------------------------------------------

const int64_t* as_const_int(const Expr& e) {
  const IntImmNode* imm = e.as<IntImmNode>();
  return imm ? &imm->value : nullptr;
}

const double* as_const_float(const Expr& e) {
  const FloatImmNode* imm = e.as<FloatImmNode>();
  return imm ? &imm->value : nullptr;
}

bool is_const_int(const Expr& e, int64_t value) {
  const int64_t* v = as_const_int(e);
  return v && *v == value;
}

namespace {
bool is_const_value(const Expr& e, double value) {
  if (!e.defined()) return false;
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return is_const_value(b->value, value);
  if (const int64_t* v = as_const_int(e)) return static_cast<double>(*v) == value;
  if (const double* v = as_const_float(e)) return *v == value;
  return false;
}
}  // namespace

bool is_zero(const Expr& e) { return is_const_value(e, 0.0); }
bool is_one(const Expr& e) { return is_const_value(e, 1.0); }

}  // namespace tessel
