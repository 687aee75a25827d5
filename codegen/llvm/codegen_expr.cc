// Expression translation for CodeGenLLVM, with the loop IR's semantics: integers wrap (no nsw/nuw
// flags), integer division and modulo round toward negative infinity, float min/max are
// `a < b ? a : b` / `a > b ? a : b`, floats are IEEE with FMA contraction. Loads become contiguous
// vector loads when the index is a stride-1 ramp, gathers for other vector indices.
#include <bit>
#include <optional>

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include "codegen_llvm.h"
#include "math_approx.h"
#include "tessel/ir/error.h"

namespace tessel::codegen {

namespace {

constexpr int64_t kMultipleCap = int64_t{1} << 20;

int64_t lowest_power_of_two_factor(int64_t value) {
  if (value == 0) return kMultipleCap;
  uint64_t magnitude = static_cast<uint64_t>(value);
  uint64_t factor = magnitude & (~magnitude + 1);
  return factor > static_cast<uint64_t>(kMultipleCap) ? kMultipleCap : static_cast<int64_t>(factor);
}

// A vector index of the form base + stride * lane (scalar base, constant stride), recognised
// through Ramp, Broadcast, +, - and multiplication by a broadcast constant, so that e.g.
// `ramp(x, 1, 16) + broadcast(y)` still becomes one contiguous load at x + y.
struct LinearIndex {
  Expr base;
  int64_t stride;
};

std::optional<LinearIndex> as_linear_index(const Expr& e) {
  if (const auto* ramp = e.as<RampNode>()) {
    if (const int64_t* stride = as_const_int(ramp->stride)) return LinearIndex{ramp->base, *stride};
    return std::nullopt;
  }
  if (const auto* broadcast = e.as<BroadcastNode>()) return LinearIndex{broadcast->value, 0};
  const auto* binary = e.as<BinaryNode>();
  if (!binary) return std::nullopt;
  if (binary->op == BinaryOp::kAdd || binary->op == BinaryOp::kSub) {
    auto a = as_linear_index(binary->a);
    auto b = as_linear_index(binary->b);
    if (!a || !b) return std::nullopt;
    if (binary->op == BinaryOp::kAdd) return LinearIndex{a->base + b->base, a->stride + b->stride};
    return LinearIndex{a->base - b->base, a->stride - b->stride};
  }
  if (binary->op == BinaryOp::kMul) {
    auto constant_of = [](const Expr& x) -> const int64_t* {
      const auto* broadcast = x.as<BroadcastNode>();
      return broadcast ? as_const_int(broadcast->value) : nullptr;
    };
    if (const int64_t* c = constant_of(binary->b)) {
      if (auto a = as_linear_index(binary->a)) return LinearIndex{a->base * make_int(a->base.dtype(), *c), a->stride * *c};
    }
    if (const int64_t* c = constant_of(binary->a)) {
      if (auto b = as_linear_index(binary->b)) return LinearIndex{b->base * make_int(b->base.dtype(), *c), b->stride * *c};
    }
  }
  return std::nullopt;
}

// Looks through a broadcast to a scalar integer constant.
const int64_t* as_const_int_or_splat(const Expr& e) {
  if (const auto* broadcast = e.as<BroadcastNode>()) return as_const_int(broadcast->value);
  return as_const_int(e);
}

}  // namespace

// ---- types -------------------------------------------------------------------------------------

llvm::Type* CodeGenLLVM::llvm_type(DataType t) {
  llvm::Type* element = nullptr;
  switch (t.code()) {
    case TypeCode::kInt:
    case TypeCode::kUInt:
      element = llvm::Type::getIntNTy(context_, t.bits());
      break;
    case TypeCode::kFloat:
      if (t.bits() == 16) element = llvm::Type::getHalfTy(context_);
      else if (t.bits() == 32) element = llvm::Type::getFloatTy(context_);
      else if (t.bits() == 64) element = llvm::Type::getDoubleTy(context_);
      break;
    case TypeCode::kBFloat:
      element = llvm::Type::getBFloatTy(context_);
      break;
    case TypeCode::kHandle:
      element = llvm::PointerType::getUnqual(context_);
      break;
  }
  user_check(element != nullptr) << "the LLVM backend does not support type " << t.to_string();
  if (t.lanes() > 1) return llvm::FixedVectorType::get(element, t.lanes());
  return element;
}

llvm::Type* CodeGenLLVM::llvm_memory_type(DataType t) {
  if (t.is_bool()) return llvm_type(DataType::UInt(8, t.lanes()));
  return llvm_type(t);
}

// ---- alignment analysis ------------------------------------------------------------------------

int64_t CodeGenLLVM::known_multiple(const Expr& e) {
  switch (e.kind()) {
    case ExprKind::kIntImm:
      return lowest_power_of_two_factor(e.as<IntImmNode>()->value);
    case ExprKind::kVar: {
      auto it = var_multiples_.find(e.as<VarNode>());
      return it == var_multiples_.end() ? 1 : it->second;
    }
    case ExprKind::kBinary: {
      const auto* op = e.as<BinaryNode>();
      switch (op->op) {
        case BinaryOp::kAdd:
        case BinaryOp::kSub:
        case BinaryOp::kMin:
        case BinaryOp::kMax:
          return std::min(known_multiple(op->a), known_multiple(op->b));
        case BinaryOp::kMul:
          return std::min(known_multiple(op->a) * known_multiple(op->b), kMultipleCap);
        default:
          return 1;
      }
    }
    case ExprKind::kCast: {
      const auto* op = e.as<CastNode>();
      return op->value.dtype().is_integral() && e.dtype().is_integral() ? known_multiple(op->value) : 1;
    }
    case ExprKind::kSelect: {
      const auto* op = e.as<SelectNode>();
      return std::min(known_multiple(op->true_value), known_multiple(op->false_value));
    }
    case ExprKind::kBroadcast:
      return known_multiple(e.as<BroadcastNode>()->value);
    case ExprKind::kLet: {
      const auto* op = e.as<LetNode>();
      var_multiples_[op->var.get()] = known_multiple(op->value);
      return known_multiple(op->body);
    }
    default:
      return 1;
  }
}

// ---- expressions -------------------------------------------------------------------------------

llvm::Value* CodeGenLLVM::emit(const Expr& e) {
  internal_check(e.defined()) << "codegen of an undefined expression";
  switch (e.kind()) {
    case ExprKind::kIntImm: {
      const auto* op = e.as<IntImmNode>();
      return llvm::ConstantInt::get(llvm_type(op->dtype), static_cast<uint64_t>(op->value), op->dtype.is_int());
    }
    case ExprKind::kFloatImm: {
      const auto* op = e.as<FloatImmNode>();
      return llvm::ConstantFP::get(llvm_type(op->dtype), op->value);
    }
    case ExprKind::kVar: {
      const auto* op = e.as<VarNode>();
      auto it = vars_.find(op);
      internal_check(it != vars_.end() && !it->second.empty()) << "codegen: unbound variable " << op->name;
      return it->second.back();
    }
    case ExprKind::kBinary:
      return emit_binary(e.as<BinaryNode>());
    case ExprKind::kNot:
      return builder_.CreateNot(emit(e.as<NotNode>()->a));
    case ExprKind::kSelect: {
      const auto* op = e.as<SelectNode>();
      llvm::Value* condition = emit(op->condition);
      return builder_.CreateSelect(condition, emit(op->true_value), emit(op->false_value));
    }
    case ExprKind::kCast: {
      const auto* op = e.as<CastNode>();
      return emit_cast(op->dtype, op->value.dtype(), emit(op->value));
    }
    case ExprKind::kLoad:
      return emit_load(e.as<LoadNode>());
    case ExprKind::kRamp:
      return emit_ramp(e.as<RampNode>());
    case ExprKind::kBroadcast: {
      const auto* op = e.as<BroadcastNode>();
      return builder_.CreateVectorSplat(op->lanes, emit(op->value));
    }
    case ExprKind::kLet: {
      const auto* op = e.as<LetNode>();
      llvm::Value* value = emit(op->value);
      bind(op->var.get(), value, op->value.dtype().is_integral() ? known_multiple(op->value) : 1);
      llvm::Value* body = emit(op->body);
      unbind(op->var.get());
      return body;
    }
    case ExprKind::kCall:
      return emit_call(e.as<CallNode>());
  }
  internal_error() << "codegen: unknown expression kind";
}

llvm::Value* CodeGenLLVM::emit_binary(const BinaryNode* op) {
  DataType t = op->a.dtype();
  llvm::Value* a = emit(op->a);
  llvm::Value* b = emit(op->b);
  const bool is_float = t.is_float();
  const bool is_signed = t.is_int();
  if (t.is_bfloat16() && (op->op == BinaryOp::kAdd || op->op == BinaryOp::kSub || op->op == BinaryOp::kMul ||
                          op->op == BinaryOp::kDiv)) {
    // Computed in float32 and rounded once: exact for the product, and for +, -, / float32's 24
    // bits are enough that the double rounding gives the correctly rounded bfloat16 result.
    llvm::Type* f32 = llvm_type(DataType::Float(32, t.lanes()));
    llvm::Value* wide_a = builder_.CreateFPExt(a, f32);
    llvm::Value* wide_b = builder_.CreateFPExt(b, f32);
    llvm::Value* wide = op->op == BinaryOp::kAdd   ? builder_.CreateFAdd(wide_a, wide_b)
                        : op->op == BinaryOp::kSub ? builder_.CreateFSub(wide_a, wide_b)
                        : op->op == BinaryOp::kMul ? builder_.CreateFMul(wide_a, wide_b)
                                                   : builder_.CreateFDiv(wide_a, wide_b);
    return emit_round_to_bfloat16(wide, t.lanes());
  }
  switch (op->op) {
    case BinaryOp::kAdd: return is_float ? builder_.CreateFAdd(a, b) : builder_.CreateAdd(a, b);
    case BinaryOp::kSub: return is_float ? builder_.CreateFSub(a, b) : builder_.CreateSub(a, b);
    case BinaryOp::kMul: return is_float ? builder_.CreateFMul(a, b) : builder_.CreateMul(a, b);
    case BinaryOp::kDiv:
      if (is_float) return builder_.CreateFDiv(a, b);
      return emit_integer_division(BinaryOp::kDiv, t, a, b, op->b);
    case BinaryOp::kMod: {
      if (!is_float) return emit_integer_division(BinaryOp::kMod, t, a, b, op->b);
      // x - floor(x / y) * y, rounded after each step like the interpreter: no contraction.
      llvm::FastMathFlags saved = builder_.getFastMathFlags();
      builder_.clearFastMathFlags();
      llvm::Value* quotient = builder_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, builder_.CreateFDiv(a, b));
      llvm::Value* result = builder_.CreateFSub(a, builder_.CreateFMul(quotient, b));
      builder_.setFastMathFlags(saved);
      return result;
    }
    case BinaryOp::kMin:
      if (is_float) return builder_.CreateSelect(builder_.CreateFCmpOLT(a, b), a, b);
      return builder_.CreateBinaryIntrinsic(is_signed ? llvm::Intrinsic::smin : llvm::Intrinsic::umin, a, b);
    case BinaryOp::kMax:
      if (is_float) return builder_.CreateSelect(builder_.CreateFCmpOGT(a, b), a, b);
      return builder_.CreateBinaryIntrinsic(is_signed ? llvm::Intrinsic::smax : llvm::Intrinsic::umax, a, b);
    case BinaryOp::kEQ: return is_float ? builder_.CreateFCmpOEQ(a, b) : builder_.CreateICmpEQ(a, b);
    // NaN != x is true, as in C.
    case BinaryOp::kNE: return is_float ? builder_.CreateFCmpUNE(a, b) : builder_.CreateICmpNE(a, b);
    case BinaryOp::kLT:
      if (is_float) return builder_.CreateFCmpOLT(a, b);
      return is_signed ? builder_.CreateICmpSLT(a, b) : builder_.CreateICmpULT(a, b);
    case BinaryOp::kLE:
      if (is_float) return builder_.CreateFCmpOLE(a, b);
      return is_signed ? builder_.CreateICmpSLE(a, b) : builder_.CreateICmpULE(a, b);
    case BinaryOp::kGT:
      if (is_float) return builder_.CreateFCmpOGT(a, b);
      return is_signed ? builder_.CreateICmpSGT(a, b) : builder_.CreateICmpUGT(a, b);
    case BinaryOp::kGE:
      if (is_float) return builder_.CreateFCmpOGE(a, b);
      return is_signed ? builder_.CreateICmpSGE(a, b) : builder_.CreateICmpUGE(a, b);
    case BinaryOp::kAnd: return builder_.CreateAnd(a, b);
    case BinaryOp::kOr: return builder_.CreateOr(a, b);
  }
  internal_error() << "codegen: unknown binary operator";
}

// Floor division / modulo. Unsigned: plain udiv/urem. Signed by a positive power of two: an
// arithmetic shift / a mask (exact for two's complement). Otherwise truncating sdiv/srem,
// corrected when the remainder is non-zero and its sign differs from the divisor's:
// q = q - 1 and r = r + b. Division by zero and INT_MIN / -1 are undefined (as in the IR).
llvm::Value* CodeGenLLVM::emit_integer_division(BinaryOp op, DataType t, llvm::Value* a, llvm::Value* b,
                                                const Expr& divisor) {
  const bool is_div = op == BinaryOp::kDiv;
  if (!t.is_int()) return is_div ? builder_.CreateUDiv(a, b) : builder_.CreateURem(a, b);
  const int64_t* constant = as_const_int_or_splat(divisor);
  if (constant && *constant > 0 && std::has_single_bit(static_cast<uint64_t>(*constant))) {
    int shift = std::countr_zero(static_cast<uint64_t>(*constant));
    if (is_div) return shift == 0 ? a : builder_.CreateAShr(a, llvm::ConstantInt::get(a->getType(), shift));
    return builder_.CreateAnd(a, llvm::ConstantInt::get(a->getType(), static_cast<uint64_t>(*constant - 1)));
  }
  llvm::Value* quotient = builder_.CreateSDiv(a, b);
  llvm::Value* remainder = builder_.CreateSRem(a, b);
  llvm::Value* zero = llvm::Constant::getNullValue(a->getType());
  llvm::Value* adjust;
  if (constant && *constant > 0) {
    adjust = builder_.CreateICmpSLT(remainder, zero);
  } else {
    llvm::Value* signs_differ = builder_.CreateICmpSLT(builder_.CreateXor(remainder, b), zero);
    adjust = builder_.CreateAnd(builder_.CreateICmpNE(remainder, zero), signs_differ);
  }
  if (is_div) return builder_.CreateSub(quotient, builder_.CreateZExt(adjust, a->getType()));
  return builder_.CreateAdd(remainder, builder_.CreateSelect(adjust, b, zero));
}

llvm::Value* CodeGenLLVM::emit_cast(DataType to, DataType from, llvm::Value* value) {
  if (to == from) return value;
  llvm::Type* target = llvm_type(to);
  if (to.is_bool()) {
    if (from.is_float()) return builder_.CreateFCmpUNE(value, llvm::ConstantFP::get(value->getType(), 0.0));
    if (from.is_handle()) return builder_.CreateIsNotNull(value);
    return builder_.CreateICmpNE(value, llvm::Constant::getNullValue(value->getType()));
  }
  if (from.is_bool()) return to.is_float() ? builder_.CreateUIToFP(value, target) : builder_.CreateZExt(value, target);
  if (from.is_handle() || to.is_handle()) {
    user_check(from.is_integral() || to.is_integral()) << "cannot cast " << from.to_string() << " to " << to.to_string();
    return from.is_handle() ? builder_.CreatePtrToInt(value, target) : builder_.CreateIntToPtr(value, target);
  }
  if (from.is_integral() && to.is_integral()) return builder_.CreateIntCast(value, target, from.is_int());
  if (from.is_integral()) return from.is_int() ? builder_.CreateSIToFP(value, target) : builder_.CreateUIToFP(value, target);
  if (to.is_integral()) return to.is_int() ? builder_.CreateFPToSI(value, target) : builder_.CreateFPToUI(value, target);
  if (to.is_bfloat16() && !from.is_bfloat16()) {
    // Narrowing to bfloat16 is done in integer arithmetic: without AVX512-BF16, LLVM lowers a
    // bfloat16 fptrunc to a libcall (__truncsfbf2) that neither the JIT nor older libgcc provide.
    DataType f32 = DataType::Float(32, to.lanes());
    if (from.bits() == 32) return emit_round_to_bfloat16(value, to.lanes());
    if (from.bits() < 32) return emit_round_to_bfloat16(emit_cast(f32, from, value), to.lanes());
    return emit_round_to_bfloat16(emit_round_to_odd_float32(value, to.lanes()), to.lanes());
  }
  if (from.bits() == to.bits()) {  // bfloat16 -> float16, through float32 (exact)
    llvm::Type* f32 = llvm_type(DataType::Float(32, to.lanes()));
    return builder_.CreateFPTrunc(builder_.CreateFPExt(value, f32), target);
  }
  return from.bits() < to.bits() ? builder_.CreateFPExt(value, target) : builder_.CreateFPTrunc(value, target);
}

// float64 -> float32 rounded to odd (truncate toward zero, then set the lowest bit when inexact),
// so that a second rounding to bfloat16 gives the correctly rounded result of the float64 value.
llvm::Value* CodeGenLLVM::emit_round_to_odd_float32(llvm::Value* value, int lanes) {
  llvm::Type* f32 = llvm_type(DataType::Float(32, lanes));
  llvm::Type* i32 = llvm_type(DataType::Int(32, lanes));
  llvm::Value* nearest = builder_.CreateFPTrunc(value, f32);
  llvm::Value* back = builder_.CreateFPExt(nearest, value->getType());
  llvm::Value* bits = builder_.CreateBitCast(nearest, i32);
  llvm::Value* magnitude = builder_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, value);
  llvm::Value* rounded_away = builder_.CreateFCmpOGT(builder_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, back), magnitude);
  llvm::Value* toward_zero =
      builder_.CreateSelect(rounded_away, builder_.CreateSub(bits, llvm::ConstantInt::get(i32, 1)), bits);
  llvm::Value* inexact = builder_.CreateZExt(builder_.CreateFCmpONE(back, value), i32);
  return builder_.CreateBitCast(builder_.CreateOr(toward_zero, inexact), f32);
}

// float32 -> bfloat16 with round-to-nearest-even on the bit pattern: add 0x7fff plus the lowest
// kept bit, keep the high half. NaNs keep their sign and become quiet NaNs (the addition could
// otherwise carry a NaN's payload into the exponent or clear it to infinity). Infinities and
// overflow to infinity come out of the same addition.
llvm::Value* CodeGenLLVM::emit_round_to_bfloat16(llvm::Value* value, int lanes) {
  llvm::Type* i32 = llvm_type(DataType::Int(32, lanes));
  llvm::Type* i16 = llvm_type(DataType::Int(16, lanes));
  auto const32 = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };  // splat for vectors
  llvm::Value* bits = builder_.CreateBitCast(value, i32);
  llvm::Value* lowest_kept = builder_.CreateAnd(builder_.CreateLShr(bits, const32(16)), const32(1));
  llvm::Value* rounded = builder_.CreateAdd(bits, builder_.CreateAdd(lowest_kept, const32(0x7fff)));
  llvm::Value* high = builder_.CreateTrunc(builder_.CreateLShr(rounded, const32(16)), i16);
  llvm::Value* quiet_nan = builder_.CreateTrunc(builder_.CreateLShr(builder_.CreateOr(bits, const32(0x00400000)),
                                                                    const32(16)), i16);
  llvm::Value* is_nan = builder_.CreateFCmpUNO(value, value);
  return builder_.CreateBitCast(builder_.CreateSelect(is_nan, quiet_nan, high), llvm_type(DataType::BFloat16(lanes)));
}

llvm::Value* CodeGenLLVM::emit_ramp(const RampNode* op) {
  llvm::Value* base = emit(op->base);
  llvm::Value* stride = emit(op->stride);
  std::vector<llvm::Constant*> steps;
  for (int lane = 0; lane < op->lanes; ++lane) steps.push_back(llvm::ConstantInt::get(base->getType(), lane));
  llvm::Value* offsets = builder_.CreateMul(builder_.CreateVectorSplat(op->lanes, stride), llvm::ConstantVector::get(steps));
  return builder_.CreateAdd(builder_.CreateVectorSplat(op->lanes, base), offsets);
}

// ---- memory ------------------------------------------------------------------------------------

CodeGenLLVM::Address CodeGenLLVM::emit_address(const BufferNode* buffer, const Expr& index, int lanes) {
  auto it = vars_.find(buffer->data.get());
  internal_check(it != vars_.end() && !it->second.empty())
      << "codegen: buffer " << buffer->name << " is used outside the scope of its data pointer";
  llvm::Value* base = it->second.back();
  llvm::Type* element = llvm_memory_type(buffer->dtype.element_of());
  const int64_t element_bytes = std::max(1, buffer->dtype.bytes());
  // The buffer's alignment holds at offsets that are multiples of alignment / element size.
  auto alignment_at = [&](const Expr& offset) {
    int64_t bytes = std::min<int64_t>(buffer->alignment, std::min(known_multiple(offset), kMultipleCap) * element_bytes);
    return llvm::Align(static_cast<uint64_t>(std::max(bytes, element_bytes)));
  };
  if (lanes == 1) {
    return Address{builder_.CreateInBoundsGEP(element, base, emit(index)), true, alignment_at(index)};
  }
  if (auto linear = as_linear_index(index); linear && linear->stride == 1) {
    return Address{builder_.CreateInBoundsGEP(element, base, emit(linear->base)), true, alignment_at(linear->base)};
  }
  llvm::Value* pointers = builder_.CreateInBoundsGEP(element, base, emit(index));
  return Address{pointers, false, llvm::Align(static_cast<uint64_t>(element_bytes))};
}

llvm::Value* CodeGenLLVM::emit_load(const LoadNode* op) {
  const BufferNode* buffer = op->buffer.get();
  internal_check(op->indices.size() == 1) << "codegen requires storage-flattened IR: load from " << buffer->name
                                          << " has " << op->indices.size() << " indices";
  const int lanes = op->dtype.lanes();
  // A vector load at a lane-invariant index reads one element and broadcasts it.
  if (lanes > 1) {
    if (auto linear = as_linear_index(op->indices[0]); linear && linear->stride == 0) {
      Address address = emit_address(buffer, linear->base, 1);
      llvm::Value* scalar = builder_.CreateAlignedLoad(llvm_memory_type(buffer->dtype), address.pointer, address.alignment);
      if (buffer->dtype.is_bool()) scalar = builder_.CreateICmpNE(scalar, llvm::ConstantInt::get(scalar->getType(), 0));
      return builder_.CreateVectorSplat(lanes, scalar);
    }
  }
  Address address = emit_address(buffer, op->indices[0], lanes);
  llvm::Type* type = llvm_memory_type(op->dtype);
  llvm::Value* value = address.contiguous
                           ? static_cast<llvm::Value*>(builder_.CreateAlignedLoad(type, address.pointer, address.alignment))
                           : builder_.CreateMaskedGather(type, address.pointer, address.alignment);
  if (buffer->dtype.is_bool()) value = builder_.CreateICmpNE(value, llvm::Constant::getNullValue(type));
  return value;
}

// ---- calls -------------------------------------------------------------------------------------

llvm::Value* CodeGenLLVM::emit_math_float32(Intrinsic op, const std::vector<llvm::Value*>& args) {
  switch (op) {
    case Intrinsic::k_exp: return emit_exp_f32(builder_, args[0]);
    case Intrinsic::k_log: return emit_log_f32(builder_, args[0]);
    case Intrinsic::k_tanh: return emit_tanh_f32(builder_, args[0]);
    case Intrinsic::k_erf: return emit_erf_f32(builder_, args[0]);
    case Intrinsic::k_sigmoid: return emit_sigmoid_f32(builder_, args[0]);
    default: internal_error() << "no float32 approximation for " << intrinsic_name(op);
  }
}

// Calls the scalar libm function once per lane (float64 tanh/erf only).
llvm::Value* CodeGenLLVM::emit_libm_per_lane(const char* scalar_name, DataType t, const std::vector<llvm::Value*>& args) {
  llvm::Type* scalar = llvm_type(t.element_of());
  std::vector<llvm::Type*> params(args.size(), scalar);
  llvm::FunctionCallee callee =
      module_->getOrInsertFunction(scalar_name, llvm::FunctionType::get(scalar, params, false));
  if (t.lanes() == 1) return builder_.CreateCall(callee, args);
  llvm::Value* result = llvm::PoisonValue::get(llvm_type(t));
  for (int lane = 0; lane < t.lanes(); ++lane) {
    std::vector<llvm::Value*> lane_args;
    for (llvm::Value* arg : args) lane_args.push_back(builder_.CreateExtractElement(arg, lane));
    result = builder_.CreateInsertElement(result, builder_.CreateCall(callee, lane_args), lane);
  }
  return result;
}

llvm::Value* CodeGenLLVM::emit_call(const CallNode* op) {
  const DataType t = op->dtype;
  if (t.is_bfloat16()) {
    // bfloat16 intrinsics run in float32 and round once (LLVM would call a runtime routine to
    // narrow its promoted result, which the JIT cannot resolve on CPUs without AVX512-BF16).
    const DataType f32 = DataType::Float(32, t.lanes());
    std::vector<Expr> wide_args;
    for (const Expr& arg : op->args) wide_args.push_back(arg.dtype().is_bfloat16() ? make_cast(f32, arg) : arg);
    const CallNode wide(f32, op->op, std::move(wide_args));
    return emit_round_to_bfloat16(emit_call(&wide), t.lanes());
  }
  std::vector<llvm::Value*> args;
  for (const Expr& arg : op->args) args.push_back(emit(arg));
  switch (op->op) {
    case Intrinsic::k_exp:
    case Intrinsic::k_log:
    case Intrinsic::k_tanh:
    case Intrinsic::k_erf:
    case Intrinsic::k_sigmoid: {
      const DataType f32 = DataType::Float(32, t.lanes());
      if (t.bits() == 32) return emit_math_float32(op->op, args);
      if (t.bits() == 16) {  // float16 / bfloat16: compute in float32, round once
        return emit_cast(t, f32, emit_math_float32(op->op, {emit_cast(f32, t, args[0])}));
      }
      // float64: LLVM's intrinsics where they exist, else libm per lane.
      if (op->op == Intrinsic::k_exp) return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, args[0]);
      if (op->op == Intrinsic::k_log) return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::log, args[0]);
      if (op->op == Intrinsic::k_sigmoid) {
        llvm::Value* e = builder_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, builder_.CreateFNeg(args[0]));
        llvm::Value* one = llvm::ConstantFP::get(e->getType(), 1.0);
        return builder_.CreateFDiv(one, builder_.CreateFAdd(one, e));
      }
      return emit_libm_per_lane(op->op == Intrinsic::k_tanh ? "tanh" : "erf", t, args);
    }
    case Intrinsic::k_sqrt:
      return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, args[0]);
    case Intrinsic::k_rsqrt: {
      llvm::Value* root = builder_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, args[0]);
      return builder_.CreateFDiv(llvm::ConstantFP::get(root->getType(), 1.0), root);
    }
    case Intrinsic::k_fabs:
      if (t.is_float()) return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, args[0]);
      if (!t.is_int()) return args[0];
      // |INT_MIN| wraps to INT_MIN.
      return builder_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, args[0], builder_.getFalse());
    case Intrinsic::k_floor:
      return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, args[0]);
    case Intrinsic::k_ceil:
      return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::ceil, args[0]);
    case Intrinsic::k_round:
      // Halfway cases round to even, as numpy, ONNX and the interpreter do.
      return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, args[0]);
    case Intrinsic::k_pow:
      return builder_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, args[0], args[1]);
    case Intrinsic::k_fma:
      return builder_.CreateIntrinsic(llvm::Intrinsic::fma, {args[0]->getType()}, args);
  }
  internal_error() << "codegen: unknown intrinsic";
}

}  // namespace tessel::codegen
