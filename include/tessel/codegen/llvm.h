// The LLVM CPU code generator: loop IR (PrimFuncs) -> LLVM IR -> optimised native code, run in
// process through a JIT, written as an object file or assembly, or linked into a shared library.
// No LLVM types appear here; the implementation lives in codegen/llvm/.
//
// Calling convention. Every PrimFunc `f` becomes an exported C function
//     int32_t f(void** args, int32_t num_args);
// with one entry in `args` per parameter, in order: for a buffer parameter the pointer to its data
// (element type = the buffer's dtype, laid out by its strides), for a scalar parameter a pointer to
// the scalar (e.g. an int32_t* for an int32 parameter, a float* for float32). bool scalars and bool
// buffer elements are one byte (0 or 1). It returns 0 on success and -1 on failure (wrong argument
// count, a null or under-aligned buffer pointer, a failed Assert, a failed allocation), after
// storing a static message in the module's global `const char* __tessel_last_error`.
// Buffers must not overlap each other (they are passed as `noalias`), and each buffer pointer must
// be aligned to the buffer's declared alignment (checked at the entry).
//
// Floating point: IEEE arithmetic with FMA contraction allowed (a * b + c may be fused into one
// rounding); no other fast-math assumptions (NaN, infinities and signed zeros are kept). exp, log,
// tanh, erf and sigmoid on float32 use vectorisable polynomial approximations (see
// codegen/llvm/math_approx.cc for their accuracy); other math uses LLVM intrinsics.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessel/codegen/target.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {

// The packed entry point of a compiled function (see the calling convention above).
using PackedEntry = int32_t (*)(void** args, int32_t num_args);

class JitModule;

// A callable compiled function. Keeps its module alive.
class JitFunction {
 public:
  JitFunction() = default;
  bool defined() const { return entry_ != nullptr; }
  PackedEntry entry() const { return entry_; }
  const std::string& name() const { return name_; }
  // Calls the packed entry and returns its status (0 = success).
  int32_t call_status(std::vector<void*> args) const;
  // Calls the packed entry; a non-zero status throws CompileError with the function's message.
  void call(std::vector<void*> args) const;

 private:
  friend class JitModule;
  std::string name_;
  PackedEntry entry_ = nullptr;
  std::shared_ptr<const void> owner_;  // the JIT session behind the code
  const char* const* last_error_ = nullptr;
};

// Functions compiled in this process through LLVM's ORC JIT.
class JitModule {
 public:
  // Lowers each function that is not lowered yet (see needs_lowering), generates one LLVM module,
  // optimises it at O3 for `target` and JIT-compiles it. `target` must run on the host.
  // With TESSEL_DUMP_CODE=dir, writes dir/<func>.tir, dir/<module>.ll and dir/<module>.s.
  // module_name defaults to the first function's name.
  static JitModule compile(const std::vector<PrimFunc>& funcs, const Target& target = Target::host(),
                           const std::string& module_name = "");

  JitModule();
  ~JitModule();
  JitModule(const JitModule&);
  JitModule& operator=(const JitModule&);

  // Throws CompileError when there is no function of that name.
  JitFunction get_function(const std::string& name) const;
  const Target& target() const;
  const std::string& module_name() const;
  // The loop IR that was compiled (after lowering).
  const std::vector<PrimFunc>& lowered_functions() const;
  // Optimised LLVM IR text, and the assembly the same IR compiles to (generated on first use).
  const std::string& llvm_ir() const;
  const std::string& assembly() const;
  // The message of the last failure in this module's code (empty when none).
  std::string last_error() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// True when f still needs lower(): it has vectorized or unrolled loops, multi-dimensional
// buffers or multi-index accesses. Codegen requires flat, vectorised IR.
bool needs_lowering(const PrimFunc& f);

// Ahead-of-time outputs (any registered LLVM target, cross compilation included). Each lowers,
// generates and optimises exactly like JitModule::compile.
std::string emit_llvm_ir(const std::vector<PrimFunc>& funcs, const Target& target,
                         const std::string& module_name = "");
std::string emit_assembly(const std::vector<PrimFunc>& funcs, const Target& target,
                          const std::string& module_name = "");
void emit_object_file(const std::vector<PrimFunc>& funcs, const Target& target,
                      const std::string& path, const std::string& module_name = "");
// Emits an object file and links it with the system C compiler driver (`cc`, or $CC) into a
// shared library that depends on libtessel_runtime.so (found through an rpath to the runtime's
// build directory). Load it with dlopen and call the entries by their function names.
void compile_to_shared_library(const std::vector<PrimFunc>& funcs, const Target& target,
                               const std::string& path, const std::string& module_name = "");

// Whether LLVM has a backend for the triple's architecture (e.g. "aarch64-linux-gnu").
bool is_target_registered(const std::string& triple);

}  // namespace tessel::codegen
