// Statement execution of the reference interpreter and its public entry points (interpreter.h).
// Every loop kind runs serially in order; Allocate takes heap memory for the duration of its body,
// filled with 0x7F bytes so that reading storage nobody wrote gives conspicuous values (huge
// floats and integers) instead of plausible zeros.
#include "tessel/ir/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <variant>

#include "interpreter/machine.h"
#include "tessel/ir/error.h"

namespace tessel {
namespace interp {

VarBinding* Machine::bind(const VarNode* var, std::optional<VarBinding>* saved) {
  var_cache_[cache_slot(var)] = {};
  auto [it, inserted] = vars_.try_emplace(var);
  if (!inserted) {
    saved->emplace(std::move(it->second));
    it->second = VarBinding();
  }
  return &it->second;
}

void Machine::unbind(const VarNode* var, std::optional<VarBinding>* saved) {
  var_cache_[cache_slot(var)] = {};
  if (*saved) vars_[var] = std::move(**saved);
  else vars_.erase(var);
}

void Machine::exec(const StmtNode* s) {
  switch (s->kind) {
    case StmtKind::kFor: exec_for(static_cast<const ForNode*>(s)); return;
    case StmtKind::kStore: exec_store(static_cast<const StoreNode*>(s)); return;
    case StmtKind::kAllocate: exec_allocate(static_cast<const AllocateNode*>(s)); return;
    case StmtKind::kSeq:
      for (const Stmt& child : static_cast<const SeqNode*>(s)->stmts) exec(child.get());
      return;
    case StmtKind::kIfThenElse: {
      const auto* op = static_cast<const IfThenElseNode*>(s);
      if (eval_int(op->condition)) exec(op->then_case.get());
      else if (op->else_case.defined()) exec(op->else_case.get());
      return;
    }
    case StmtKind::kLetStmt: {
      const auto* op = static_cast<const LetStmtNode*>(s);
      const int lanes = op->value.dtype().lanes();
      Lanes value(lanes);
      eval(op->value.get(), value.data());
      ScopedBinding binding(this, op->var.get());
      binding->lanes = lanes;
      if (lanes == 1) binding->scalar = value[0];
      else binding->vector.assign(value.data(), value.data() + lanes);
      exec(op->body.get());
      return;
    }
    case StmtKind::kEvaluate: {
      const auto* op = static_cast<const EvaluateNode*>(s);
      Lanes value(op->value.dtype().lanes());
      eval(op->value.get(), value.data());
      return;
    }
    case StmtKind::kAssert: {
      const auto* op = static_cast<const AssertNode*>(s);
      if (!eval_int(op->condition)) throw CompileError(op->message);
      return;
    }
  }
  internal_error() << "unknown statement kind";
}

void Machine::exec_for(const ForNode* op) {
  const int64_t min = eval_int(op->min);
  const int64_t extent = eval_int(op->extent);
  ScopedBinding binding(this, op->loop_var.get());
  Slot& value = binding->scalar;
  for (int64_t i = min; i < min + extent; ++i) {
    value.i = i;
    exec(op->body.get());
  }
}

void Machine::exec_allocate(const AllocateNode* op) {
  const BufferNode* buffer = op->buffer.get();
  const BufferLayout& info = layout(buffer);
  // Room for every element the buffer's strides can reach (the shape's product when compact).
  int64_t elements = 1, reach = 1;
  for (size_t d = 0; d < buffer->shape.size(); ++d) {
    const int64_t extent = eval_int(buffer->shape[d]);
    user_check(extent >= 0) << "allocation of buffer '" << buffer->name << "' with negative extent " << extent;
    const int64_t stride = info.const_strides.empty() ? eval_int(info.strides[d]) : info.const_strides[d];
    elements *= extent;
    if (extent > 0) reach += (extent - 1) * std::abs(stride);
  }
  if (elements == 0) reach = 0;
  const int64_t bytes = std::max(elements, reach) * info.element_bytes;
  std::vector<unsigned char> memory(static_cast<size_t>(std::max<int64_t>(bytes, 1)), 0x7F);
  ScopedBinding binding(this, buffer->data.get());
  binding->scalar.i = static_cast<int64_t>(reinterpret_cast<uintptr_t>(memory.data()));
  binding->allocation_bytes = bytes;
  exec(op->body.get());
}

}  // namespace interp

// ---- public API ----------------------------------------------------------------------------

Value Value::from_int(DataType t, int64_t v) {
  Value value;
  value.dtype = t;
  if (t.is_float()) value.floats.assign(t.lanes(), interp::round_to_type(t, static_cast<double>(v)));
  else value.ints.assign(t.lanes(), t.is_handle() ? v : interp::wrap_integer(t, v));
  return value;
}

Value Value::from_float(DataType t, double v) {
  Value value;
  value.dtype = t;
  if (t.is_float()) {
    value.floats.assign(t.lanes(), interp::round_to_type(t, v));
  } else {
    user_check(std::isfinite(v)) << "cannot make a " << t.to_string() << " value from " << v;
    value.ints.assign(t.lanes(), interp::wrap_integer(t, static_cast<int64_t>(std::trunc(v))));
  }
  return value;
}

int64_t Value::as_int(int lane) const {
  if (dtype.is_float()) {
    internal_check(lane >= 0 && lane < static_cast<int>(floats.size())) << "lane " << lane << " of " << dtype.to_string();
    return static_cast<int64_t>(std::trunc(floats[lane]));
  }
  internal_check(lane >= 0 && lane < static_cast<int>(ints.size())) << "lane " << lane << " of " << dtype.to_string();
  return ints[lane];
}

double Value::as_float(int lane) const {
  if (dtype.is_float()) {
    internal_check(lane >= 0 && lane < static_cast<int>(floats.size())) << "lane " << lane << " of " << dtype.to_string();
    return floats[lane];
  }
  internal_check(lane >= 0 && lane < static_cast<int>(ints.size())) << "lane " << lane << " of " << dtype.to_string();
  if (dtype.code() == TypeCode::kUInt) return static_cast<double>(static_cast<uint64_t>(ints[lane]));
  return static_cast<double>(ints[lane]);
}

Value evaluate(const Expr& e, const VarBindings& bindings) {
  internal_check(e.defined()) << "evaluate() of an undefined expression";
  interp::Machine machine(/*pure=*/true);
  std::vector<std::optional<interp::VarBinding>> saved(bindings.size());
  size_t k = 0;
  for (const auto& [var, value] : bindings) {
    interp::VarBinding* binding = machine.bind(var, &saved[k++]);
    const DataType t = var->dtype;
    binding->lanes = t.lanes();
    std::vector<interp::Slot> lanes(t.lanes());
    for (int l = 0; l < t.lanes(); ++l) {
      // A scalar Value given for a vector variable is broadcast.
      const int source = (value.dtype.lanes() == 1) ? 0 : l;
      user_check(value.dtype.lanes() == 1 || value.dtype.lanes() == t.lanes())
          << "variable '" << var->name << "' of type " << t.to_string() << " bound to a " << value.dtype.to_string()
          << " value";
      if (t.is_float()) lanes[l].f = interp::round_to_type(t, value.as_float(source));
      else lanes[l].i = t.is_handle() ? value.as_int(source) : interp::wrap_integer(t, value.as_int(source));
    }
    if (t.lanes() == 1) binding->scalar = lanes[0];
    else binding->vector = std::move(lanes);
  }
  const DataType t = e.dtype();
  interp::Lanes out(t.lanes());
  machine.eval(e.get(), out.data());
  Value result;
  result.dtype = t;
  for (int l = 0; l < t.lanes(); ++l) {
    if (t.is_float()) result.floats.push_back(out[l].f);
    else result.ints.push_back(out[l].i);
  }
  return result;
}

void interpret(const PrimFunc& f, const std::vector<InterpArg>& args) {
  internal_check(f.defined()) << "interpret() of an undefined function";
  user_check(args.size() == f->params.size())
      << "function '" << f->name << "' takes " << f->params.size() << " arguments, got " << args.size();
  interp::Machine machine(/*pure=*/false);
  std::vector<std::optional<interp::VarBinding>> saved(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const Param& p = f->params[k];
    const InterpArg& arg = args[k];
    if (p.is_buffer()) {
      const void* const* pointer = std::get_if<void*>(&arg);
      user_check(pointer != nullptr) << "argument " << k << " of '" << f->name << "' (buffer '" << p.buffer->name
                                     << "') must be a pointer";
      user_check(*pointer != nullptr) << "argument " << k << " of '" << f->name << "' (buffer '" << p.buffer->name
                                      << "') is a null pointer";
      machine.bind(p.buffer->data.get(), &saved[k])->scalar.i =
          static_cast<int64_t>(reinterpret_cast<uintptr_t>(*pointer));
      continue;
    }
    const DataType t = p.scalar.dtype();
    user_check(t.is_scalar()) << "scalar parameter '" << p.scalar.name() << "' of '" << f->name << "' has vector type "
                              << t.to_string();
    interp::Slot slot;
    if (t.is_float()) {
      if (const double* d = std::get_if<double>(&arg)) slot.f = interp::round_to_type(t, *d);
      else if (const int64_t* i = std::get_if<int64_t>(&arg)) slot.f = interp::round_to_type(t, static_cast<double>(*i));
      else user_error() << "argument " << k << " of '" << f->name << "' (" << p.scalar.name() << ": " << t.to_string()
                        << ") must be a number, not a pointer";
    } else if (t.is_handle()) {
      const void* const* pointer = std::get_if<void*>(&arg);
      user_check(pointer != nullptr) << "argument " << k << " of '" << f->name << "' (" << p.scalar.name()
                                     << ": handle) must be a pointer";
      slot.i = static_cast<int64_t>(reinterpret_cast<uintptr_t>(*pointer));
    } else {
      const int64_t* i = std::get_if<int64_t>(&arg);
      user_check(i != nullptr) << "argument " << k << " of '" << f->name << "' (" << p.scalar.name() << ": "
                               << t.to_string() << ") must be an integer";
      slot.i = interp::wrap_integer(t, *i);
    }
    machine.bind(p.scalar.get(), &saved[k])->scalar = slot;
  }
  machine.exec(f->body.get());
}

}  // namespace tessel
