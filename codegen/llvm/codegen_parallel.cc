// Parallel loops for CodeGenLLVM. A kParallel loop (outside any other parallel loop) is outlined:
//   <func>__parallel_<k>(task_id, num_tasks, closure)   the TesselParallelLambda: reads the
//       loop bounds and the captured values from the closure, takes the task's contiguous chunk
//       of the iteration range, and calls
//   <func>__parallel_<k>_body(begin, end, captures...)  the loop over [begin, end), with the
//       captured pointers to distinct memory (buffer parameters, allocations) marked noalias.
// The enclosing function stores the loop bounds and every free variable of the loop body into a
// closure struct on its stack and calls tessel_parallel_launch(lambda, &closure, 0), which lets the
// runtime choose the task count (several per pool thread, handed out dynamically for load balance).
// A non-zero status from any task makes the enclosing function fail with it.
#include <algorithm>
#include <unordered_set>

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include "codegen_llvm.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"

namespace tessel::codegen {

void CodeGenLLVM::emit_parallel_for(const ForNode* op) {
  std::vector<const VarNode*> captured;
  for (const VarNode* var : free_variables(op->body)) {
    if (var != op->loop_var.get()) captured.push_back(var);
  }

  const DataType loop_type = op->loop_var.dtype();
  llvm::Type* index_type = llvm_type(loop_type);
  llvm::Value* begin = emit_cast(loop_type, op->min.dtype(), emit(op->min));
  llvm::Value* extent = emit_cast(loop_type, op->extent.dtype(), emit(op->extent));

  // Closure: { begin, extent, captured values... }.
  std::vector<llvm::Type*> fields = {index_type, index_type};
  std::vector<llvm::Value*> values = {begin, extent};
  for (const VarNode* var : captured) {
    auto it = vars_.find(var);
    internal_check(it != vars_.end() && !it->second.empty())
        << "codegen: parallel loop over " << op->loop_var.name() << " uses unbound variable " << var->name;
    values.push_back(it->second.back());
    fields.push_back(it->second.back()->getType());
  }
  auto* closure_type = llvm::StructType::get(context_, fields);
  llvm::AllocaInst* closure = llvm::IRBuilder<>(function_->alloca_point).CreateAlloca(closure_type, nullptr, "closure");
  for (size_t i = 0; i < values.size(); ++i) {
    builder_.CreateStore(values[i], builder_.CreateStructGEP(closure_type, closure, i));
  }

  const std::string name = function_name_ + "__parallel_" + std::to_string(parallel_count_++);
  llvm::Type* i32 = builder_.getInt32Ty();
  llvm::Type* ptr = builder_.getPtrTy();

  // The loop over one chunk.
  std::vector<llvm::Type*> body_params = {index_type, index_type};
  for (size_t i = 2; i < fields.size(); ++i) body_params.push_back(fields[i]);
  auto* body_fn = llvm::Function::Create(llvm::FunctionType::get(i32, body_params, false),
                                         llvm::GlobalValue::InternalLinkage, name + "_body", module_.get());
  set_target_attributes(body_fn);
  body_fn->addFnAttr(llvm::Attribute::AlwaysInline);
  for (size_t i = 0; i < captured.size(); ++i) {
    llvm::Argument* arg = body_fn->getArg(i + 2);
    arg->setName(captured[i]->name);
    if (captured[i]->dtype.is_handle() && distinct_memory_.count(captured[i])) {
      arg->addAttr(llvm::Attribute::NoAlias);
    }
  }

  // The TesselParallelLambda.
  auto* lambda = llvm::Function::Create(llvm::FunctionType::get(i32, {i32, i32, ptr}, false),
                                        llvm::GlobalValue::InternalLinkage, name, module_.get());
  set_target_attributes(lambda);

  // Emit both outlined functions with their own variable scopes, then come back here.
  auto saved_vars = std::move(vars_);
  vars_.clear();
  FunctionState* saved_function = function_;
  llvm::IRBuilderBase::InsertPoint saved_point = builder_.saveIP();
  ++parallel_depth_;
  {
    FunctionState state;
    begin_function(lambda, &state);
    std::vector<llvm::Value*> loaded;
    for (size_t i = 0; i < fields.size(); ++i) {
      loaded.push_back(builder_.CreateLoad(fields[i], builder_.CreateStructGEP(closure_type, lambda->getArg(2), i)));
    }
    // The range is cut into used = min(num_tasks, extent) chunks whose sizes differ by one
    // iteration at most: task t < used runs [begin + lo, begin + hi) with lo = extent * t / used
    // and hi = extent * (t + 1) / used (in 64 bits); tasks from `used` on run nothing. So no
    // thread gets a whole chunk more than another, and a loop shorter than the task count keeps
    // its iterations on the first tasks, which the runtime gives to distinct threads.
    llvm::Type* i64 = builder_.getInt64Ty();
    llvm::Value* extent64 = builder_.CreateSExtOrTrunc(loaded[1], i64);
    llvm::Value* task = builder_.CreateSExt(lambda->getArg(0), i64);
    llvm::Value* used = builder_.CreateBinaryIntrinsic(llvm::Intrinsic::smin,
                                                       builder_.CreateSExt(lambda->getArg(1), i64), extent64);
    auto bound = [&](llvm::Value* t) {
      llvm::Value* clamped = builder_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, t, used);
      return builder_.CreateSExtOrTrunc(builder_.CreateSDiv(builder_.CreateMul(extent64, clamped), used), index_type);
    };
    llvm::Value* lo = bound(task);
    llvm::Value* hi = bound(builder_.CreateAdd(task, llvm::ConstantInt::get(i64, 1)));
    std::vector<llvm::Value*> args = {builder_.CreateAdd(loaded[0], lo), builder_.CreateAdd(loaded[0], hi)};
    for (size_t i = 2; i < loaded.size(); ++i) args.push_back(loaded[i]);
    builder_.CreateRet(builder_.CreateCall(body_fn, args));
  }
  {
    FunctionState state;
    begin_function(body_fn, &state);
    for (size_t i = 0; i < captured.size(); ++i) bind(captured[i], body_fn->getArg(i + 2));
    emit_serial_loop(op->loop_var, body_fn->getArg(0), body_fn->getArg(1), op->body);
    builder_.CreateRet(builder_.getInt32(0));
    for (const VarNode* var : captured) unbind(var);
  }
  --parallel_depth_;
  vars_ = std::move(saved_vars);
  function_ = saved_function;
  builder_.restoreIP(saved_point);

  // Launch when there is work: status = tessel_parallel_launch(lambda, &closure, 0).
  if (!parallel_launch_) {
    parallel_launch_ = llvm::Function::Create(llvm::FunctionType::get(i32, {ptr, ptr, i32}, false),
                                              llvm::GlobalValue::ExternalLinkage, "tessel_parallel_launch", module_.get());
  }
  llvm::Function* fn = function_->function;
  auto* launch_block = llvm::BasicBlock::Create(context_, "parallel.launch", fn);
  auto* done_block = llvm::BasicBlock::Create(context_, "parallel.done", fn);
  builder_.CreateCondBr(builder_.CreateICmpSGT(extent, llvm::ConstantInt::get(index_type, 0)), launch_block, done_block);
  builder_.SetInsertPoint(launch_block);
  llvm::Value* status = builder_.CreateCall(parallel_launch_, {lambda, closure, builder_.getInt32(0)});
  emit_failure_unless(builder_.CreateICmpEQ(status, builder_.getInt32(0)), "", status);
  builder_.CreateBr(done_block);
  builder_.SetInsertPoint(done_block);
}

}  // namespace tessel::codegen
