// The interpreter's machine state: variable bindings, buffer layouts and the evaluator of
// expressions (eval.cc) and statements (exec.cc). Values travel as arrays of Slots, one per lane;
// a Slot holds an int64 (integers wrapped to their type, bools 0/1, handles as addresses) or a
// double (floats, already rounded to their type's precision), as the dtype says.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessel/ir/expr.h"
#include "tessel/ir/stmt.h"

namespace tessel::interp {

union Slot {
  int64_t i;
  double f;
};

// Lane storage for one value: inline for up to 16 lanes, on the heap beyond.
class Lanes {
 public:
  explicit Lanes(int count) {
    if (count > kInline) heap_.reset(new Slot[count]);
  }
  Slot* data() { return heap_ ? heap_.get() : inline_; }
  Slot& operator[](int lane) { return data()[lane]; }

 private:
  static constexpr int kInline = 16;
  Slot inline_[kInline];
  std::unique_ptr<Slot[]> heap_;
};

// The value bound to a variable. Handles bound by an Allocate also remember the allocation's size,
// so every access through them is checked against it.
struct VarBinding {
  int lanes = 1;
  Slot scalar{0};
  std::vector<Slot> vector;       // when lanes > 1
  int64_t allocation_bytes = -1;  // -1: unknown (memory passed in by the caller)
};

// How a buffer's elements are stored in memory.
enum class ElementKind : uint8_t { kI8, kI16, kI32, kI64, kU8, kU16, kU32, kU64, kBool, kF16, kBF16, kF32, kF64, kHandle };

// Per-buffer layout, computed once per interpretation.
struct BufferLayout {
  ElementKind element;
  int element_bytes;
  std::vector<Expr> strides;            // effective strides, in elements
  std::vector<int64_t> const_strides;   // filled when every stride is a constant
  std::vector<int64_t> const_shape;     // filled when every extent is a constant
  int64_t const_num_elements = -1;      // product of const_shape, -1 when not constant
};

class Machine {
 public:
  // In pure mode (used by `evaluate`) a Load is reported as an error rather than as an unbound
  // buffer.
  explicit Machine(bool pure) : pure_(pure) {}

  // Writes e->dtype.lanes() slots to out.
  void eval(const ExprNode* e, Slot* out);
  void exec(const StmtNode* s);

  // Binds var for a scope; `saved` receives what it shadowed. Pointers to bindings stay valid
  // while the binding exists (unordered_map nodes are stable).
  VarBinding* bind(const VarNode* var, std::optional<VarBinding>* saved);
  void unbind(const VarNode* var, std::optional<VarBinding>* saved);

 private:
  friend class ScopedBinding;

  void eval_binary(const BinaryNode* op, Slot* out);
  void eval_cast(const CastNode* op, Slot* out);
  void eval_call(const CallNode* op, Slot* out);
  void eval_load(const LoadNode* op, Slot* out);
  void exec_store(const StoreNode* op);
  const VarBinding& lookup(const VarNode* var);
  int64_t eval_int(const Expr& e);

  const BufferLayout& layout(const BufferNode* buffer);
  // Element offsets (lanes of them) of an access buffer[indices], bounds-checked where the shape or
  // the allocation is known, and the base address.
  unsigned char* address(const BufferNode* buffer, const std::vector<Expr>& indices, int lanes, Slot* offsets,
                         const BufferLayout** layout_out);

  void exec_for(const ForNode* op);
  void exec_allocate(const AllocateNode* op);

  // Direct-mapped caches in front of the maps below: hot loops touch a handful of variables and
  // buffers, and a pointer compare is much cheaper than a hash lookup. A variable's entry is
  // dropped whenever it is bound or unbound; layouts never change once computed.
  static constexpr int kCacheSize = 64;
  static int cache_slot(const void* key) { return static_cast<int>((reinterpret_cast<uintptr_t>(key) >> 4) % kCacheSize); }
  struct VarCacheEntry {
    const VarNode* var = nullptr;
    VarBinding* binding = nullptr;
  };
  struct LayoutCacheEntry {
    const BufferNode* buffer = nullptr;
    const BufferLayout* layout = nullptr;
  };

  bool pure_;
  std::unordered_map<const VarNode*, VarBinding> vars_;
  std::unordered_map<const BufferNode*, BufferLayout> layouts_;
  VarCacheEntry var_cache_[kCacheSize];
  LayoutCacheEntry layout_cache_[kCacheSize];
};

// Binds a variable for the lifetime of the object.
class ScopedBinding {
 public:
  ScopedBinding(Machine* machine, const VarNode* var) : machine_(machine), var_(var) {
    binding_ = machine->bind(var, &saved_);
  }
  ~ScopedBinding() { machine_->unbind(var_, &saved_); }
  ScopedBinding(const ScopedBinding&) = delete;
  ScopedBinding& operator=(const ScopedBinding&) = delete;
  VarBinding* operator->() { return binding_; }
  VarBinding& get() { return *binding_; }

 private:
  Machine* machine_;
  const VarNode* var_;
  std::optional<VarBinding> saved_;
  VarBinding* binding_;
};

// Rounds a double to the precision of float type t (float16, bfloat16, float32, float64).
double round_to_type(DataType t, double value);
// Wraps to the width of integral type t, two's complement (bool keeps the lowest bit); agrees
// with wrap_to_type in expr.h.
int64_t wrap_integer(DataType t, int64_t value);

}  // namespace tessel::interp
