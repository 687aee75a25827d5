// Vectorisable float32 math for the LLVM backend: exp, log, tanh, erf and sigmoid emitted as
// straight-line LLVM IR (polynomials, bit manipulation, selects), so that a vector loop stays a
// vector loop instead of calling libm once per lane. Each works on float or <N x float>.
// Accuracy is stated next to each function in math_approx.cc; tests/codegen/test_math.cc checks it.
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace tessel::codegen {

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_log_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_erf_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_sigmoid_f32(llvm::IRBuilder<>& builder, llvm::Value* x);

}  // namespace tessel::codegen
