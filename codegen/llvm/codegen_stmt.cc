// Statement and function translation for CodeGenLLVM: the packed entry and the typed direct
// function of each PrimFunc, serial loops (a header block with a phi), stores, allocations
// (hoisted allocas up to 64 KiB, aligned_alloc/free beyond), if/else, lets and asserts.
// Every failure exit stores a static message in __tessel_last_error, frees the heap blocks that
// are live at that point and returns a non-zero status.
#include <algorithm>
#include <cctype>
#include <set>

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include "codegen_llvm.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"

namespace tessel::codegen {

namespace {

// Allocations of at most this many bytes with a constant size live on the stack.
constexpr int64_t kMaxStackAllocationBytes = 64 * 1024;

}  // namespace

CodeGenLLVM::CodeGenLLVM(llvm::LLVMContext& context, const Target& target, const llvm::DataLayout& layout,
                         const std::string& module_name)
    : context_(context), target_(target), module_(std::make_unique<llvm::Module>(module_name, context)),
      builder_(context) {
  module_->setTargetTriple(target.triple);
  module_->setDataLayout(layout);
  // Float arithmetic may fuse a * b + c into one FMA; nothing else is relaxed.
  llvm::FastMathFlags flags;
  flags.setAllowContract(true);
  builder_.setFastMathFlags(flags);
  last_error_ = new llvm::GlobalVariable(*module_, builder_.getPtrTy(), false, llvm::GlobalValue::ExternalLinkage,
                                         llvm::ConstantPointerNull::get(builder_.getPtrTy()), kLastErrorSymbol);
}

CodeGenLLVM::~CodeGenLLVM() = default;

std::unique_ptr<llvm::Module> CodeGenLLVM::finish() {
  std::string errors;
  llvm::raw_string_ostream stream(errors);
  internal_check(!llvm::verifyModule(*module_, &stream)) << "generated LLVM IR is invalid: " << stream.str();
  return std::move(module_);
}

namespace {

// Entry points are C symbols: identifiers that do not collide with the runtime or with the C
// library functions generated code calls (directly or through LLVM's lowering of intrinsics).
void check_function_name(const std::string& name) {
  bool identifier = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
  for (char ch : name) identifier &= std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  user_check(identifier) << "function name '" << name << "' is not a C identifier";
  static const std::set<std::string> reserved = {
      "aligned_alloc", "free", "malloc", "memcpy", "memmove", "memset", "exp", "expf", "log", "logf",
      "pow", "powf", "tanh", "tanhf", "erf", "erff", "fma", "fmaf", "sqrt", "sqrtf", "floor", "floorf",
      "ceil", "ceilf", "roundeven", "roundevenf", "main"};
  user_check(!reserved.count(name) && name.rfind("tessel_", 0) != 0 && name.rfind("__tessel", 0) != 0)
      << "function name '" << name << "' is reserved (C library or Tessel runtime symbol)";
}

}  // namespace

void CodeGenLLVM::add_function(const PrimFunc& f) {
  check_function_name(f->name);
  user_check(module_->getFunction(f->name) == nullptr) << "two functions named " << f->name << " in one module";
  function_name_ = f->name;
  parallel_count_ = 0;
  llvm::Function* direct = emit_direct_function(f);
  emit_packed_entry(f, direct);
}

void CodeGenLLVM::set_target_attributes(llvm::Function* fn) {
  fn->addFnAttr("target-cpu", target_.cpu);
  if (!target_.features.empty()) fn->addFnAttr("target-features", target_.features);
  // Keep the full native vector width legal: CPUs that prefer 256-bit vectors would otherwise
  // split the 512-bit operations the loop IR asks for.
  fn->addFnAttr("min-legal-vector-width", std::to_string(target_.vector_bits));
  fn->addFnAttr(llvm::Attribute::NoUnwind);
}

void CodeGenLLVM::begin_function(llvm::Function* fn, FunctionState* state) {
  state->function = fn;
  llvm::BasicBlock* entry = llvm::BasicBlock::Create(context_, "entry", fn);
  llvm::BasicBlock* body = llvm::BasicBlock::Create(context_, "body", fn);
  builder_.SetInsertPoint(entry);
  state->alloca_point = builder_.CreateBr(body);
  builder_.SetInsertPoint(body);
  function_ = state;
}

void CodeGenLLVM::bind(const VarNode* var, llvm::Value* value, int64_t multiple) {
  vars_[var].push_back(value);
  if (multiple > 1) var_multiples_[var] = multiple;
}

void CodeGenLLVM::unbind(const VarNode* var) {
  auto it = vars_.find(var);
  internal_check(it != vars_.end() && !it->second.empty()) << "codegen: unbinding unbound variable " << var->name;
  it->second.pop_back();
  if (it->second.empty()) vars_.erase(it);
}

llvm::Value* CodeGenLLVM::global_string(const std::string& text) {
  auto it = strings_.find(text);
  if (it != strings_.end()) return it->second;
  llvm::Value* value = builder_.CreateGlobalString(text, "tessel.message", 0, module_.get());
  strings_.emplace(text, value);
  return value;
}

// ---- functions ---------------------------------------------------------------------------------

// `int32_t <name>__direct(typed params...)`: buffers as `ptr noalias nonnull align(N) noundef`,
// scalars by value. Internal: the packed entry calls it and it is inlined there.
llvm::Function* CodeGenLLVM::emit_direct_function(const PrimFunc& f) {
  std::vector<llvm::Type*> param_types;
  for (const Param& param : f->params) {
    param_types.push_back(param.is_buffer() ? builder_.getPtrTy() : llvm_type(param.scalar.dtype()));
  }
  auto* type = llvm::FunctionType::get(builder_.getInt32Ty(), param_types, false);
  auto* fn = llvm::Function::Create(type, llvm::GlobalValue::InternalLinkage, f->name + "__direct", module_.get());
  set_target_attributes(fn);
  for (size_t i = 0; i < f->params.size(); ++i) {
    const Param& param = f->params[i];
    fn->addParamAttr(i, llvm::Attribute::NoUndef);
    if (param.is_buffer()) {
      fn->addParamAttr(i, llvm::Attribute::NoAlias);
      fn->addParamAttr(i, llvm::Attribute::NonNull);
      fn->addParamAttr(i, llvm::Attribute::getWithAlignment(context_, llvm::Align(param.buffer->alignment)));
      fn->getArg(i)->setName(param.buffer->name);
    } else {
      fn->getArg(i)->setName(param.scalar.name());
    }
  }
  FunctionState state;
  begin_function(fn, &state);
  for (size_t i = 0; i < f->params.size(); ++i) {
    const Param& param = f->params[i];
    if (param.is_buffer()) {
      bind(param.buffer->data.get(), fn->getArg(i));
      distinct_memory_.insert(param.buffer->data.get());
    } else {
      bind(param.scalar.get(), fn->getArg(i));
    }
  }
  emit(f->body);
  builder_.CreateRet(builder_.getInt32(0));
  for (const Param& param : f->params) unbind(param.is_buffer() ? param.buffer->data.get() : param.scalar.get());
  function_ = nullptr;
  return fn;
}

// `int32_t <name>(void** args, int32_t num_args)`: checks the argument count, that buffer
// pointers are non-null and aligned as their buffers promise, loads scalars, calls the direct
// function.
void CodeGenLLVM::emit_packed_entry(const PrimFunc& f, llvm::Function* direct) {
  auto* type = llvm::FunctionType::get(builder_.getInt32Ty(), {builder_.getPtrTy(), builder_.getInt32Ty()}, false);
  auto* fn = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, f->name, module_.get());
  set_target_attributes(fn);
  fn->getArg(0)->setName("args");
  fn->getArg(1)->setName("num_args");
  FunctionState state;
  begin_function(fn, &state);
  const int num_params = static_cast<int>(f->params.size());
  emit_failure_unless(builder_.CreateICmpEQ(fn->getArg(1), builder_.getInt32(num_params)),
                      f->name + ": expected " + std::to_string(num_params) + " arguments");
  std::vector<llvm::Value*> call_args;
  for (int i = 0; i < num_params; ++i) {
    const Param& param = f->params[i];
    const std::string what = param.is_buffer() ? "buffer " + param.buffer->name : "scalar " + param.scalar.name();
    llvm::Value* slot = builder_.CreateConstInBoundsGEP1_64(builder_.getPtrTy(), fn->getArg(0), i);
    llvm::Value* pointer = builder_.CreateAlignedLoad(builder_.getPtrTy(), slot, llvm::Align(8), what);
    emit_failure_unless(builder_.CreateIsNotNull(pointer),
                        f->name + ": argument " + std::to_string(i) + " (" + what + ") is null");
    if (param.is_buffer()) {
      const int alignment = param.buffer->alignment;
      if (alignment > 1) {
        llvm::Value* low_bits = builder_.CreateAnd(builder_.CreatePtrToInt(pointer, builder_.getInt64Ty()),
                                                   builder_.getInt64(alignment - 1));
        emit_failure_unless(builder_.CreateICmpEQ(low_bits, builder_.getInt64(0)),
                            f->name + ": argument " + std::to_string(i) + " (" + what + ") is not aligned to " +
                                std::to_string(alignment) + " bytes");
      }
      call_args.push_back(pointer);
    } else {
      DataType t = param.scalar.dtype();
      llvm::Value* value = builder_.CreateLoad(llvm_memory_type(t), pointer);
      if (t.is_bool()) value = builder_.CreateICmpNE(value, builder_.getInt8(0));
      call_args.push_back(value);
    }
  }
  builder_.CreateRet(builder_.CreateCall(direct, call_args));
  function_ = nullptr;
}

// ---- failure exits -----------------------------------------------------------------------------

void CodeGenLLVM::emit_return_failure(llvm::Value* status, const std::string& message) {
  if (!message.empty()) {
    // Atomic so that tasks of a parallel loop failing at once do not race.
    llvm::StoreInst* store = builder_.CreateAlignedStore(global_string(message), last_error_, llvm::Align(8));
    store->setAtomic(llvm::AtomicOrdering::Monotonic);
  }
  llvm::FunctionCallee free_fn = module_->getOrInsertFunction(
      "free", llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy()}, false));
  for (auto it = function_->live_heap_blocks.rbegin(); it != function_->live_heap_blocks.rend(); ++it) {
    builder_.CreateCall(free_fn, {*it});
  }
  builder_.CreateRet(status ? status : builder_.getInt32(-1));
}

void CodeGenLLVM::emit_failure_unless(llvm::Value* condition_ok, const std::string& message, llvm::Value* status) {
  llvm::Function* fn = function_->function;
  auto* ok = llvm::BasicBlock::Create(context_, "ok", fn);
  auto* fail = llvm::BasicBlock::Create(context_, "fail", fn);
  llvm::MDBuilder weights(context_);
  builder_.CreateCondBr(condition_ok, ok, fail, weights.createBranchWeights(1 << 20, 1));
  builder_.SetInsertPoint(fail);
  emit_return_failure(status, message);
  builder_.SetInsertPoint(ok);
}

// ---- statements --------------------------------------------------------------------------------

void CodeGenLLVM::emit(const Stmt& s) {
  internal_check(s.defined()) << "codegen of an undefined statement";
  switch (s.kind()) {
    case StmtKind::kFor:
      emit_for(s.as<ForNode>());
      return;
    case StmtKind::kStore:
      emit_store(s.as<StoreNode>());
      return;
    case StmtKind::kAllocate:
      emit_allocate(s.as<AllocateNode>());
      return;
    case StmtKind::kSeq:
      for (const Stmt& stmt : s.as<SeqNode>()->stmts) emit(stmt);
      return;
    case StmtKind::kIfThenElse:
      emit_if(s.as<IfThenElseNode>());
      return;
    case StmtKind::kLetStmt: {
      const auto* op = s.as<LetStmtNode>();
      llvm::Value* value = emit(op->value);
      bind(op->var.get(), value, op->value.dtype().is_integral() ? known_multiple(op->value) : 1);
      emit(op->body);
      unbind(op->var.get());
      return;
    }
    case StmtKind::kEvaluate:
      return;  // expressions have no side effects
    case StmtKind::kAssert:
      emit_assert(s.as<AssertNode>());
      return;
  }
  internal_error() << "codegen: unknown statement kind";
}

void CodeGenLLVM::emit_for(const ForNode* op) {
  switch (op->for_kind) {
    case ForKind::kSerial:
      break;
    case ForKind::kParallel:
      if (parallel_depth_ == 0) {
        emit_parallel_for(op);
        return;
      }
      break;  // a parallel loop inside a parallel body runs serially
    case ForKind::kVectorized:
    case ForKind::kUnrolled:
      internal_error() << "codegen: " << for_kind_name(op->for_kind) << " loop over " << op->loop_var.name()
                       << " remains after lowering";
    case ForKind::kThreadBound:
      user_error() << "loop over " << op->loop_var.name() << " is bound to GPU thread axis " << op->thread_tag
                   << ", which a CPU target cannot run";
  }
  const DataType t = op->loop_var.dtype();
  llvm::Value* begin = emit_cast(t, op->min.dtype(), emit(op->min));
  llvm::Value* extent = emit_cast(t, op->extent.dtype(), emit(op->extent));
  emit_serial_loop(op->loop_var, begin, builder_.CreateAdd(begin, extent), op->body);
}

// for (v = begin; v < end; ++v): the increment cannot overflow because v < end, hence `nsw`.
void CodeGenLLVM::emit_serial_loop(const Var& loop_var, llvm::Value* begin, llvm::Value* end, const Stmt& body) {
  llvm::Function* fn = function_->function;
  llvm::BasicBlock* preheader = builder_.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(context_, "for." + loop_var.name(), fn);
  auto* body_block = llvm::BasicBlock::Create(context_, "for.body." + loop_var.name(), fn);
  auto* exit = llvm::BasicBlock::Create(context_, "for.end." + loop_var.name(), fn);
  builder_.CreateBr(header);
  builder_.SetInsertPoint(header);
  llvm::PHINode* phi = builder_.CreatePHI(begin->getType(), 2, loop_var.name());
  phi->addIncoming(begin, preheader);
  const bool is_signed = loop_var.dtype().is_int();
  builder_.CreateCondBr(is_signed ? builder_.CreateICmpSLT(phi, end) : builder_.CreateICmpULT(phi, end), body_block, exit);
  builder_.SetInsertPoint(body_block);
  bind(loop_var.get(), phi);
  emit(body);
  unbind(loop_var.get());
  llvm::Value* next = builder_.CreateAdd(phi, llvm::ConstantInt::get(phi->getType(), 1), loop_var.name() + ".next",
                                         /*HasNUW=*/!is_signed, /*HasNSW=*/is_signed);
  phi->addIncoming(next, builder_.GetInsertBlock());
  builder_.CreateBr(header);
  builder_.SetInsertPoint(exit);
}

void CodeGenLLVM::emit_store(const StoreNode* op) {
  const BufferNode* buffer = op->buffer.get();
  internal_check(op->indices.size() == 1) << "codegen requires storage-flattened IR: store to " << buffer->name
                                          << " has " << op->indices.size() << " indices";
  const int lanes = op->value.dtype().lanes();
  llvm::Value* value = emit(op->value);
  if (buffer->dtype.is_bool()) value = builder_.CreateZExt(value, llvm_memory_type(op->value.dtype()));
  Address address = emit_address(buffer, op->indices[0], lanes);
  if (address.contiguous) {
    builder_.CreateAlignedStore(value, address.pointer, address.alignment);
  } else {
    builder_.CreateMaskedScatter(value, address.pointer, address.alignment);
  }
}

// Constant sizes up to 64 KiB: an alloca in the function's entry block (SROA can then keep
// small register tiles in registers; inside a parallel body each task has its own). Larger or
// dynamic sizes: aligned_alloc + free around the body.
void CodeGenLLVM::emit_allocate(const AllocateNode* op) {
  const BufferNode* buffer = op->buffer.get();
  Buffer handle(op->buffer);
  const int64_t element_bytes = std::max(1, buffer->dtype.bytes());
  const int64_t alignment = std::max<int64_t>(buffer->alignment, element_bytes);
  llvm::Type* element = llvm_memory_type(buffer->dtype);
  Expr count = handle.num_elements();
  const int64_t* constant = as_const_int(count);
  llvm::Value* pointer = nullptr;
  bool on_heap = false;
  if (constant && *constant * element_bytes <= kMaxStackAllocationBytes) {
    llvm::IRBuilder<> entry(function_->alloca_point);
    auto* alloca = entry.CreateAlloca(llvm::ArrayType::get(element, std::max<int64_t>(*constant, 1)), nullptr,
                                      buffer->name);
    alloca->setAlignment(llvm::Align(alignment));
    pointer = alloca;
  } else {
    // aligned_alloc needs a size that is a non-zero multiple of the alignment.
    llvm::Value* bytes = builder_.CreateMul(emit(count), builder_.getInt64(element_bytes));
    bytes = builder_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, bytes, builder_.getInt64(1));
    bytes = builder_.CreateAnd(builder_.CreateAdd(bytes, builder_.getInt64(alignment - 1)),
                               builder_.getInt64(~(alignment - 1)));
    llvm::FunctionCallee aligned_alloc = module_->getOrInsertFunction(
        "aligned_alloc", llvm::FunctionType::get(builder_.getPtrTy(), {builder_.getInt64Ty(), builder_.getInt64Ty()}, false));
    pointer = builder_.CreateCall(aligned_alloc, {builder_.getInt64(alignment), bytes}, buffer->name);
    emit_failure_unless(builder_.CreateIsNotNull(pointer), "out of memory allocating buffer " + buffer->name);
    function_->live_heap_blocks.push_back(pointer);
    on_heap = true;
  }
  bind(buffer->data.get(), pointer);
  distinct_memory_.insert(buffer->data.get());
  emit(op->body);
  unbind(buffer->data.get());
  if (on_heap) {
    function_->live_heap_blocks.pop_back();
    llvm::FunctionCallee free_fn = module_->getOrInsertFunction(
        "free", llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy()}, false));
    builder_.CreateCall(free_fn, {pointer});
  }
}

void CodeGenLLVM::emit_if(const IfThenElseNode* op) {
  internal_check(op->condition.dtype().is_scalar()) << "codegen: if condition must be a scalar";
  llvm::Function* fn = function_->function;
  llvm::Value* condition = emit(op->condition);
  auto* then_block = llvm::BasicBlock::Create(context_, "if.then", fn);
  auto* end_block = llvm::BasicBlock::Create(context_, "if.end", fn);
  llvm::BasicBlock* else_block = op->else_case.defined() ? llvm::BasicBlock::Create(context_, "if.else", fn) : end_block;
  builder_.CreateCondBr(condition, then_block, else_block);
  builder_.SetInsertPoint(then_block);
  emit(op->then_case);
  builder_.CreateBr(end_block);
  if (op->else_case.defined()) {
    builder_.SetInsertPoint(else_block);
    emit(op->else_case);
    builder_.CreateBr(end_block);
  }
  builder_.SetInsertPoint(end_block);
}

void CodeGenLLVM::emit_assert(const AssertNode* op) {
  internal_check(op->condition.dtype().is_scalar()) << "codegen: assert condition must be a scalar";
  emit_failure_unless(emit(op->condition), op->message.empty() ? "assertion failed" : op->message);
}

}  // namespace tessel::codegen
