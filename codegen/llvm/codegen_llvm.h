// CodeGenLLVM: translates lowered loop IR (flat buffers, vector ops, no vectorized/unrolled loops)
// into one LLVM module. Expressions are in codegen_expr.cc, statements and functions (entry
// points, serial loops, allocation, asserts) in codegen_stmt.cc, parallel-loop outlining in
// codegen_parallel.cc. Private to codegen/llvm.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "tessel/codegen/llvm.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {

class CodeGenLLVM {
 public:
  CodeGenLLVM(llvm::LLVMContext& context, const Target& target, const llvm::DataLayout& layout,
              const std::string& module_name);
  ~CodeGenLLVM();

  // Adds f (already lowered) as the packed entry `f->name` plus internal helpers.
  void add_function(const PrimFunc& f);
  // Hands over the finished, verified module.
  std::unique_ptr<llvm::Module> finish();

  // Name of the module global holding the last failure message (a `const char*`).
  static constexpr const char* kLastErrorSymbol = "__tessel_last_error";

 private:
  // Per-LLVM-function state: where allocas go, which heap blocks are live (freed on every exit),
  // the block that returns a failure status.
  struct FunctionState {
    llvm::Function* function = nullptr;
    llvm::Instruction* alloca_point = nullptr;  // allocas are inserted before this
    std::vector<llvm::Value*> live_heap_blocks;
  };

  // ---- types and constants (codegen_expr.cc) ----
  llvm::Type* llvm_type(DataType t);         // register type: bool is i1
  llvm::Type* llvm_memory_type(DataType t);  // in-memory element type: bool is i8

  // ---- expressions (codegen_expr.cc) ----
  llvm::Value* emit(const Expr& e);
  llvm::Value* emit_binary(const BinaryNode* op);
  llvm::Value* emit_integer_division(BinaryOp op, DataType t, llvm::Value* a, llvm::Value* b,
                                     const Expr& divisor);
  llvm::Value* emit_cast(DataType to, DataType from, llvm::Value* value);
  llvm::Value* emit_round_to_bfloat16(llvm::Value* value, int lanes);
  llvm::Value* emit_round_to_odd_float32(llvm::Value* value, int lanes);
  llvm::Value* emit_load(const LoadNode* op);
  llvm::Value* emit_ramp(const RampNode* op);
  llvm::Value* emit_call(const CallNode* op);
  llvm::Value* emit_math_float32(Intrinsic op, const std::vector<llvm::Value*>& args);
  llvm::Value* emit_libm_per_lane(const char* scalar_name, DataType t, const std::vector<llvm::Value*>& args);
  // Address computation for Load/Store: a pointer for contiguous accesses (`lanes` consecutive
  // elements from it) or a vector of pointers for gathers/scatters.
  struct Address {
    llvm::Value* pointer = nullptr;
    bool contiguous = true;
    llvm::Align alignment;
  };
  Address emit_address(const BufferNode* buffer, const Expr& index, int lanes);
  // The largest power of two (capped) known to divide an integer expression: for alignment.
  int64_t known_multiple(const Expr& e);

  // ---- statements (codegen_stmt.cc) ----
  void emit(const Stmt& s);
  void emit_for(const ForNode* op);
  void emit_serial_loop(const Var& loop_var, llvm::Value* begin, llvm::Value* end, const Stmt& body);
  void emit_store(const StoreNode* op);
  void emit_allocate(const AllocateNode* op);
  void emit_if(const IfThenElseNode* op);
  void emit_assert(const AssertNode* op);
  // When condition_ok is false: record `message` (unless empty), free the live heap blocks and
  // return `status` (default -1). Emission continues on the true branch.
  void emit_failure_unless(llvm::Value* condition_ok, const std::string& message, llvm::Value* status = nullptr);
  void emit_return_failure(llvm::Value* status, const std::string& message);
  llvm::Value* global_string(const std::string& text);
  llvm::Function* emit_direct_function(const PrimFunc& f);
  void emit_packed_entry(const PrimFunc& f, llvm::Function* direct);
  // Begins a new LLVM function body: entry block for allocas, then a body block.
  void begin_function(llvm::Function* fn, FunctionState* state);
  void set_target_attributes(llvm::Function* fn);

  // ---- parallel loops (codegen_parallel.cc) ----
  void emit_parallel_for(const ForNode* op);

  // Binding of variables to LLVM values, restored when leaving a scope.
  void bind(const VarNode* var, llvm::Value* value, int64_t multiple = 1);
  void unbind(const VarNode* var);

  llvm::LLVMContext& context_;
  Target target_;
  std::unique_ptr<llvm::Module> module_;
  llvm::IRBuilder<> builder_;
  llvm::GlobalVariable* last_error_ = nullptr;
  llvm::Function* parallel_launch_ = nullptr;  // declared on first use
  std::unordered_map<std::string, llvm::Value*> strings_;

  std::unordered_map<const VarNode*, std::vector<llvm::Value*>> vars_;  // a stack per variable
  std::unordered_map<const VarNode*, int64_t> var_multiples_;            // for known_multiple
  // Handle variables that point to memory no other handle variable reaches (noalias buffer
  // parameters and allocations); outlined parallel bodies keep `noalias` on them.
  std::unordered_set<const VarNode*> distinct_memory_;

  FunctionState* function_ = nullptr;
  std::string function_name_;  // the PrimFunc being emitted, for helper names
  int parallel_depth_ = 0;     // > 0 inside an outlined parallel body
  int parallel_count_ = 0;     // outlined bodies so far in this function
};

}  // namespace tessel::codegen
