// Expression evaluation of the reference interpreter: every expression node, lane by lane.
// Integer results wrap to their type; float results are rounded to their type after every
// operation (float32 through a float cast, float16/bfloat16 through float_formats.h), so
// arithmetic matches IEEE hardware without contraction.
#include <cmath>
#include <cstring>
#include <sstream>

#include "interpreter/float_formats.h"
#include "interpreter/machine.h"
#include "tessel/ir/buffer.h"
#include "tessel/ir/error.h"

namespace tessel::interp {

double round_to_type(DataType t, double value) {
  if (t.is_bfloat16()) return round_to_bfloat16(value);
  switch (t.bits()) {
    case 16: return round_to_float16(value);
    case 32: return round_to_float32(value);
    default: return value;
  }
}

int64_t wrap_integer(DataType t, int64_t value) {
  const bool is_signed = t.is_int();
  switch (t.bits()) {
    case 64: return value;
    case 32:
      if (is_signed) return static_cast<int32_t>(static_cast<uint32_t>(value));
      return static_cast<uint32_t>(value);
    case 16:
      if (is_signed) return static_cast<int16_t>(static_cast<uint16_t>(value));
      return static_cast<uint16_t>(value);
    case 8:
      if (is_signed) return static_cast<int8_t>(static_cast<uint8_t>(value));
      return static_cast<uint8_t>(value);
    case 1: return value & 1;
    default: return wrap_to_type(t.element_of(), value);
  }
}

namespace {

// Integer arithmetic on operands of type t (already wrapped). Unsigned types compare and divide
// as unsigned; signed ones use floor division. Sums and products are computed modulo 2^64 and
// then wrapped, which is exact two's complement arithmetic for every width.
int64_t integer_binary(BinaryOp op, DataType t, int64_t a, int64_t b) {
  const bool is_unsigned = t.code() == TypeCode::kUInt;
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
    case BinaryOp::kAdd: return wrap_integer(t, static_cast<int64_t>(ua + ub));
    case BinaryOp::kSub: return wrap_integer(t, static_cast<int64_t>(ua - ub));
    case BinaryOp::kMul: return wrap_integer(t, static_cast<int64_t>(ua * ub));
    case BinaryOp::kDiv:
      user_check(b != 0) << "integer division by zero (" << a << " / 0, " << t.to_string() << ")";
      if (is_unsigned) return wrap_integer(t, static_cast<int64_t>(ua / ub));
      if (b == -1) return wrap_integer(t, static_cast<int64_t>(0 - ua));  // INT_MIN / -1 wraps
      return wrap_integer(t, floor_div(a, b));
    case BinaryOp::kMod:
      user_check(b != 0) << "integer modulo by zero (" << a << " % 0, " << t.to_string() << ")";
      if (is_unsigned) return wrap_integer(t, static_cast<int64_t>(ua % ub));
      if (b == -1) return 0;
      return floor_mod(a, b);
    case BinaryOp::kMin: return is_unsigned ? (ua < ub ? a : b) : (a < b ? a : b);
    case BinaryOp::kMax: return is_unsigned ? (ua > ub ? a : b) : (a > b ? a : b);
    case BinaryOp::kEQ: return a == b;
    case BinaryOp::kNE: return a != b;
    case BinaryOp::kLT: return is_unsigned ? ua < ub : a < b;
    case BinaryOp::kLE: return is_unsigned ? ua <= ub : a <= b;
    case BinaryOp::kGT: return is_unsigned ? ua > ub : a > b;
    case BinaryOp::kGE: return is_unsigned ? ua >= ub : a >= b;
    case BinaryOp::kAnd: return a != 0 && b != 0;
    case BinaryOp::kOr: return a != 0 || b != 0;
  }
  internal_error() << "unknown binary operator";
}

// Float arithmetic on operands of type t; arithmetic results are rounded to t.
// Mod is x - floor(x / y) * y, each step rounded as separate instructions would.
Slot float_binary(BinaryOp op, DataType t, double a, double b) {
  Slot r;
  switch (op) {
    case BinaryOp::kAdd: r.f = round_to_type(t, a + b); return r;
    case BinaryOp::kSub: r.f = round_to_type(t, a - b); return r;
    case BinaryOp::kMul: r.f = round_to_type(t, a * b); return r;
    case BinaryOp::kDiv: r.f = round_to_type(t, a / b); return r;
    case BinaryOp::kMod: {
      double quotient = std::floor(round_to_type(t, a / b));
      r.f = round_to_type(t, a - round_to_type(t, quotient * b));
      return r;
    }
    case BinaryOp::kMin: r.f = a < b ? a : b; return r;
    case BinaryOp::kMax: r.f = a > b ? a : b; return r;
    case BinaryOp::kEQ: r.i = a == b; return r;
    case BinaryOp::kNE: r.i = a != b; return r;
    case BinaryOp::kLT: r.i = a < b; return r;
    case BinaryOp::kLE: r.i = a <= b; return r;
    case BinaryOp::kGT: r.i = a > b; return r;
    case BinaryOp::kGE: r.i = a >= b; return r;
    case BinaryOp::kAnd:
    case BinaryOp::kOr: break;
  }
  internal_error() << "logical operator on float operands";
}

// Float -> integer conversion truncates toward zero. Values outside int64 (and NaN), undefined in
// C++ and poison in LLVM, saturate here so the interpreter itself stays well defined.
int64_t float_to_int(double value) {
  if (std::isnan(value)) return 0;
  double t = std::trunc(value);
  if (t >= 9223372036854775808.0) return INT64_MAX;
  if (t < -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(t);
}

double int_to_double(DataType t, int64_t value) {
  if (t.code() == TypeCode::kUInt) return static_cast<double>(static_cast<uint64_t>(value));
  return static_cast<double>(value);
}

// Converts to float type `to` with a single rounding (int64 -> float32 goes straight to float).
double int_to_float(DataType from, DataType to, int64_t value) {
  if (to.bits() == 32 && !to.is_bfloat16()) {
    if (from.code() == TypeCode::kUInt) return static_cast<float>(static_cast<uint64_t>(value));
    return static_cast<float>(value);
  }
  return round_to_type(to, int_to_double(from, value));
}

double intrinsic(Intrinsic op, DataType t, const double* x) {
  switch (op) {
    case Intrinsic::k_exp: return std::exp(x[0]);
    case Intrinsic::k_log: return std::log(x[0]);
    case Intrinsic::k_sqrt: return std::sqrt(x[0]);
    case Intrinsic::k_rsqrt: return 1.0 / std::sqrt(x[0]);
    case Intrinsic::k_tanh: return std::tanh(x[0]);
    case Intrinsic::k_erf: return std::erf(x[0]);
    case Intrinsic::k_sigmoid: return 1.0 / (1.0 + std::exp(-x[0]));
    case Intrinsic::k_pow: return std::pow(x[0], x[1]);
    case Intrinsic::k_fabs: return std::fabs(x[0]);
    case Intrinsic::k_floor: return std::floor(x[0]);
    case Intrinsic::k_ceil: return std::ceil(x[0]);
    case Intrinsic::k_round: return std::nearbyint(x[0]);  // halfway cases to even
    case Intrinsic::k_fma:
      // One rounding: fmaf for float32, fma for float64; float16/bfloat16 products are exact in
      // double, so fma in double followed by the final rounding is correct there too.
      if (t.bits() == 32 && !t.is_bfloat16())
        return std::fmaf(static_cast<float>(x[0]), static_cast<float>(x[1]), static_cast<float>(x[2]));
      return std::fma(x[0], x[1], x[2]);
  }
  internal_error() << "unknown intrinsic";
}

}  // namespace

const VarBinding& Machine::lookup(const VarNode* var) {
  VarCacheEntry& cached = var_cache_[cache_slot(var)];
  if (cached.var == var) return *cached.binding;
  auto it = vars_.find(var);
  user_check(it != vars_.end()) << "unbound variable '" << var->name << "' (" << var->dtype.to_string()
                                << ") in interpreted code";
  cached = {var, &it->second};
  return it->second;
}

int64_t Machine::eval_int(const Expr& e) {
  internal_check(e.dtype().is_scalar() && (e.dtype().is_integral() || e.dtype().is_handle()))
      << "expected a scalar integer expression, got " << e.dtype().to_string();
  Slot s;
  eval(e.get(), &s);
  return s.i;
}

void Machine::eval(const ExprNode* e, Slot* out) {
  const int lanes = e->dtype.lanes();
  switch (e->kind) {
    case ExprKind::kIntImm: out[0].i = static_cast<const IntImmNode*>(e)->value; return;
    case ExprKind::kFloatImm: out[0].f = round_to_type(e->dtype, static_cast<const FloatImmNode*>(e)->value); return;
    case ExprKind::kVar: {
      const VarBinding& b = lookup(static_cast<const VarNode*>(e));
      internal_check(b.lanes == lanes) << "variable '" << static_cast<const VarNode*>(e)->name << "' holds "
                                       << b.lanes << " lanes, its type " << e->dtype.to_string();
      if (lanes == 1) out[0] = b.scalar;
      else std::memcpy(out, b.vector.data(), sizeof(Slot) * lanes);
      return;
    }
    case ExprKind::kBinary: eval_binary(static_cast<const BinaryNode*>(e), out); return;
    case ExprKind::kNot: {
      eval(static_cast<const NotNode*>(e)->a.get(), out);
      for (int l = 0; l < lanes; ++l) out[l].i = out[l].i == 0;
      return;
    }
    case ExprKind::kSelect: {
      const auto* op = static_cast<const SelectNode*>(e);
      const int condition_lanes = op->condition.dtype().lanes();
      Lanes condition(condition_lanes), otherwise(lanes);
      eval(op->condition.get(), condition.data());
      eval(op->true_value.get(), out);
      eval(op->false_value.get(), otherwise.data());
      for (int l = 0; l < lanes; ++l)
        if (!condition[condition_lanes == 1 ? 0 : l].i) out[l] = otherwise[l];
      return;
    }
    case ExprKind::kCast: eval_cast(static_cast<const CastNode*>(e), out); return;
    case ExprKind::kLoad: eval_load(static_cast<const LoadNode*>(e), out); return;
    case ExprKind::kRamp: {
      const auto* op = static_cast<const RampNode*>(e);
      Slot base, stride;
      eval(op->base.get(), &base);
      eval(op->stride.get(), &stride);
      const DataType t = e->dtype.element_of();
      for (int l = 0; l < lanes; ++l) {
        if (t.is_float()) {
          out[l].f = round_to_type(t, base.f + round_to_type(t, l * stride.f));
        } else {
          out[l].i = wrap_integer(t, static_cast<int64_t>(static_cast<uint64_t>(base.i) +
                                                          static_cast<uint64_t>(l) * static_cast<uint64_t>(stride.i)));
        }
      }
      return;
    }
    case ExprKind::kBroadcast: {
      Slot value;
      eval(static_cast<const BroadcastNode*>(e)->value.get(), &value);
      for (int l = 0; l < lanes; ++l) out[l] = value;
      return;
    }
    case ExprKind::kLet: {
      const auto* op = static_cast<const LetNode*>(e);
      const int value_lanes = op->value.dtype().lanes();
      Lanes value(value_lanes);
      eval(op->value.get(), value.data());
      ScopedBinding binding(this, op->var.get());
      binding->lanes = value_lanes;
      if (value_lanes == 1) binding->scalar = value[0];
      else binding->vector.assign(value.data(), value.data() + value_lanes);
      eval(op->body.get(), out);
      return;
    }
    case ExprKind::kCall: eval_call(static_cast<const CallNode*>(e), out); return;
  }
  internal_error() << "unknown expression kind";
}

void Machine::eval_binary(const BinaryNode* op, Slot* out) {
  const DataType t = op->a.dtype().element_of();
  const int lanes = op->dtype.lanes();
  if (lanes == 1) {
    Slot a, b;
    eval(op->a.get(), &a);
    eval(op->b.get(), &b);
    if (t.is_float()) out[0] = float_binary(op->op, t, a.f, b.f);
    else out[0].i = integer_binary(op->op, t, a.i, b.i);
    return;
  }
  Lanes b(lanes);
  eval(op->a.get(), out);
  eval(op->b.get(), b.data());
  for (int l = 0; l < lanes; ++l) {
    if (t.is_float()) out[l] = float_binary(op->op, t, out[l].f, b[l].f);
    else out[l].i = integer_binary(op->op, t, out[l].i, b[l].i);
  }
}

void Machine::eval_cast(const CastNode* op, Slot* out) {
  const DataType from = op->value.dtype().element_of(), to = op->dtype.element_of();
  const int lanes = op->dtype.lanes();
  eval(op->value.get(), out);
  for (int l = 0; l < lanes; ++l) {
    Slot& s = out[l];
    if (to.is_float()) {
      s.f = from.is_float() ? round_to_type(to, s.f) : int_to_float(from, to, s.i);
    } else if (to.is_bool()) {
      s.i = from.is_float() ? s.f != 0 : s.i != 0;
    } else {
      s.i = wrap_integer(to, from.is_float() ? float_to_int(s.f) : s.i);
    }
  }
}

void Machine::eval_call(const CallNode* op, Slot* out) {
  const DataType t = op->dtype.element_of();
  const int lanes = op->dtype.lanes();
  const int arity = static_cast<int>(op->args.size());
  internal_check(arity >= 1 && arity <= 3) << "intrinsic with " << arity << " arguments";
  if (op->op == Intrinsic::k_fabs && t.is_integral()) {  // integer absolute value, wrapping at INT_MIN
    eval(op->args[0].get(), out);
    for (int l = 0; l < lanes; ++l)
      if (t.is_int() && out[l].i < 0) out[l].i = wrap_integer(t, static_cast<int64_t>(0 - static_cast<uint64_t>(out[l].i)));
    return;
  }
  internal_check(t.is_float()) << "intrinsic " << intrinsic_name(op->op) << " on " << t.to_string();
  Lanes args[3] = {Lanes(lanes), Lanes(arity > 1 ? lanes : 0), Lanes(arity > 2 ? lanes : 0)};
  for (int k = 0; k < arity; ++k) eval(op->args[k].get(), args[k].data());
  for (int l = 0; l < lanes; ++l) {
    double x[3];
    for (int k = 0; k < arity; ++k) x[k] = args[k][l].f;
    out[l].f = round_to_type(t, intrinsic(op->op, t, x));
  }
}

// ---- memory --------------------------------------------------------------------------------

namespace {

ElementKind element_kind(DataType t) {
  switch (t.code()) {
    case TypeCode::kInt:
      switch (t.bits()) {
        case 8: return ElementKind::kI8;
        case 16: return ElementKind::kI16;
        case 32: return ElementKind::kI32;
        case 64: return ElementKind::kI64;
      }
      break;
    case TypeCode::kUInt:
      switch (t.bits()) {
        case 1: return ElementKind::kBool;
        case 8: return ElementKind::kU8;
        case 16: return ElementKind::kU16;
        case 32: return ElementKind::kU32;
        case 64: return ElementKind::kU64;
      }
      break;
    case TypeCode::kFloat:
      switch (t.bits()) {
        case 16: return ElementKind::kF16;
        case 32: return ElementKind::kF32;
        case 64: return ElementKind::kF64;
      }
      break;
    case TypeCode::kBFloat: return ElementKind::kBF16;
    case TypeCode::kHandle: return ElementKind::kHandle;
  }
  user_error() << "the interpreter cannot store elements of type " << t.to_string();
}

template <typename T>
T read_raw(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void write_raw(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

Slot read_element(ElementKind kind, const unsigned char* p) {
  Slot s{0};
  switch (kind) {
    case ElementKind::kI8: s.i = read_raw<int8_t>(p); break;
    case ElementKind::kI16: s.i = read_raw<int16_t>(p); break;
    case ElementKind::kI32: s.i = read_raw<int32_t>(p); break;
    case ElementKind::kI64:
    case ElementKind::kU64:
    case ElementKind::kHandle: s.i = read_raw<int64_t>(p); break;
    case ElementKind::kU8: s.i = read_raw<uint8_t>(p); break;
    case ElementKind::kU16: s.i = read_raw<uint16_t>(p); break;
    case ElementKind::kU32: s.i = read_raw<uint32_t>(p); break;
    case ElementKind::kBool: s.i = read_raw<uint8_t>(p) != 0; break;
    case ElementKind::kF16: s.f = float16_value(read_raw<uint16_t>(p)); break;
    case ElementKind::kBF16: s.f = bfloat16_value(read_raw<uint16_t>(p)); break;
    case ElementKind::kF32: s.f = read_raw<float>(p); break;
    case ElementKind::kF64: s.f = read_raw<double>(p); break;
  }
  return s;
}

void write_element(ElementKind kind, unsigned char* p, Slot s) {
  switch (kind) {
    case ElementKind::kI8:
    case ElementKind::kU8: write_raw(p, static_cast<uint8_t>(s.i)); break;
    case ElementKind::kI16:
    case ElementKind::kU16: write_raw(p, static_cast<uint16_t>(s.i)); break;
    case ElementKind::kI32:
    case ElementKind::kU32: write_raw(p, static_cast<uint32_t>(s.i)); break;
    case ElementKind::kI64:
    case ElementKind::kU64:
    case ElementKind::kHandle: write_raw(p, s.i); break;
    case ElementKind::kBool: write_raw(p, static_cast<uint8_t>(s.i != 0)); break;
    case ElementKind::kF16: write_raw(p, float16_bits(s.f)); break;
    case ElementKind::kBF16: write_raw(p, bfloat16_bits(s.f)); break;
    case ElementKind::kF32: write_raw(p, static_cast<float>(s.f)); break;
    case ElementKind::kF64: write_raw(p, s.f); break;
  }
}

}  // namespace

const BufferLayout& Machine::layout(const BufferNode* buffer) {
  LayoutCacheEntry& cached = layout_cache_[cache_slot(buffer)];
  if (cached.buffer == buffer) return *cached.layout;
  auto it = layouts_.find(buffer);
  if (it != layouts_.end()) {
    cached = {buffer, &it->second};
    return it->second;
  }
  BufferLayout layout;
  layout.element = element_kind(buffer->dtype);
  layout.element_bytes = buffer->dtype.bytes();
  // Buffer::effective_strides builds expressions; do it once per buffer.
  std::shared_ptr<const BufferNode> alias(std::shared_ptr<const BufferNode>(), buffer);  // non-owning
  layout.strides = Buffer(alias).effective_strides();
  bool strides_constant = true, shape_constant = true;
  for (const Expr& s : layout.strides) {
    if (const int64_t* v = as_const_int(s)) layout.const_strides.push_back(*v);
    else strides_constant = false;
  }
  for (const Expr& extent : buffer->shape) {
    if (const int64_t* v = as_const_int(extent)) layout.const_shape.push_back(*v);
    else shape_constant = false;
  }
  if (!strides_constant) layout.const_strides.clear();
  if (!shape_constant) {
    layout.const_shape.clear();
  } else {
    layout.const_num_elements = 1;
    for (int64_t extent : layout.const_shape) layout.const_num_elements *= extent;
  }
  return layouts_.emplace(buffer, std::move(layout)).first->second;
}

unsigned char* Machine::address(const BufferNode* buffer, const std::vector<Expr>& indices, int lanes,
                                Slot* offsets, const BufferLayout** layout_out) {
  user_check(!pure_) << "cannot evaluate a read of buffer '" << buffer->name
                     << "' without memory; use interpret() on a function";
  const BufferLayout& info = layout(buffer);
  *layout_out = &info;
  const size_t ndim = buffer->shape.size();
  for (int l = 0; l < lanes; ++l) offsets[l].i = 0;
  const bool per_dimension = indices.size() == ndim;
  internal_check(per_dimension || indices.size() == 1)
      << "access to buffer '" << buffer->name << "' with " << indices.size() << " indices; it has " << ndim
      << " dimensions";
  Lanes index(lanes);
  for (size_t d = 0; d < indices.size(); ++d) {
    const int index_lanes = indices[d].dtype().lanes();
    internal_check(index_lanes == 1 || index_lanes == lanes)
        << "index with " << index_lanes << " lanes in a " << lanes << "-lane access to '" << buffer->name << "'";
    eval(indices[d].get(), index.data());
    int64_t stride = 1, extent = -1;
    if (per_dimension) {
      stride = info.const_strides.empty() ? eval_int(info.strides[d]) : info.const_strides[d];
      if (!info.const_shape.empty()) extent = info.const_shape[d];
    } else {
      extent = info.const_num_elements;  // one flat element index
    }
    for (int l = 0; l < lanes; ++l) {
      const int64_t i = index[index_lanes == 1 ? 0 : l].i;
      if (extent >= 0 && (i < 0 || i >= extent)) {
        std::ostringstream message;
        message << "out-of-bounds access to buffer '" << buffer->name << "': index " << i;
        if (per_dimension && ndim > 1) message << " of dimension " << d;
        if (lanes > 1) message << " (lane " << l << ")";
        message << " is outside [0, " << extent << ")";
        throw CompileError(message.str());
      }
      offsets[l].i += i * stride;
    }
  }
  const VarBinding& data = lookup(buffer->data.get());
  user_check(data.scalar.i != 0) << "buffer '" << buffer->name << "' has a null data pointer";
  if (data.allocation_bytes >= 0) {
    for (int l = 0; l < lanes; ++l) {
      const int64_t offset = offsets[l].i;
      user_check(offset >= 0 && (offset + 1) * info.element_bytes <= data.allocation_bytes)
          << "out-of-bounds access to buffer '" << buffer->name << "': element offset " << offset
          << " is outside its allocation of " << data.allocation_bytes / info.element_bytes << " elements";
    }
  }
  return reinterpret_cast<unsigned char*>(static_cast<uintptr_t>(data.scalar.i));
}

void Machine::eval_load(const LoadNode* op, Slot* out) {
  const int lanes = op->dtype.lanes();
  Lanes offsets(lanes);
  const BufferLayout* info;
  unsigned char* base = address(op->buffer.get(), op->indices, lanes, offsets.data(), &info);
  for (int l = 0; l < lanes; ++l) out[l] = read_element(info->element, base + offsets[l].i * info->element_bytes);
}

// Stores live here, next to loads, so that both share the element codecs.
void Machine::exec_store(const StoreNode* op) {
  const int lanes = op->value.dtype().lanes();
  bool has_vector_index = false;
  for (const Expr& index : op->indices) has_vector_index |= index.dtype().lanes() > 1;
  internal_check(lanes == 1 || has_vector_index)
      << "store of a " << op->value.dtype().to_string() << " value to '" << op->buffer->name
      << "' with only scalar indices; a vector store needs a vector index";
  Lanes value(lanes), offsets(lanes);
  eval(op->value.get(), value.data());
  const BufferLayout* info;
  unsigned char* base = address(op->buffer.get(), op->indices, lanes, offsets.data(), &info);
  for (int l = 0; l < lanes; ++l) write_element(info->element, base + offsets[l].i * info->element_bytes, value[l]);
}

}  // namespace tessel::interp
