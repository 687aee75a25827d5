// Shared plumbing of the LLVM backend (private to codegen/llvm): LLVM initialisation, target
// machines, and the pipeline every output goes through: lower -> CodeGenLLVM -> verify -> O3,
// with TESSEL_DUMP_CODE dumps. The JIT (jit.cc) and the object/.so writers (emit.cc) use it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "tessel/codegen/llvm.h"

namespace tessel::codegen {

// Registers every LLVM target compiled into libLLVM (once per process).
void initialize_llvm();

// A target machine for `target` at CodeGenOptLevel::Aggressive, position-independent code,
// FMA fusion only where the IR allows contraction. Throws CompileError for unknown targets.
std::unique_ptr<llvm::TargetMachine> create_target_machine(const Target& target);

struct BuiltModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;  // optimised
  std::vector<PrimFunc> lowered;
  std::string name;
};

// Lowers (where needed), generates, verifies and optimises at O3. With TESSEL_DUMP_CODE=dir,
// writes <func>.tir, <module>.ll and <module>.s there.
BuiltModule build_module(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& module_name,
                         llvm::TargetMachine& machine);

std::string module_to_string(const llvm::Module& module);
// Machine code for a copy of `module` (the module itself is left as it is).
std::string module_to_assembly(const llvm::Module& module, llvm::TargetMachine& machine);
void write_object_file(const llvm::Module& module, llvm::TargetMachine& machine, const std::string& path);

}  // namespace tessel::codegen
