// JitModule: compiles PrimFuncs through build_module() and hands the optimised module to an ORC
// LLJIT configured for the target CPU. Undefined symbols resolve to tessel_parallel_launch (bound
// to the runtime linked into this process) and to the process's own symbols (libc, libm).
#include <mutex>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Support/SourceMgr.h>

#include "codegen_llvm.h"
#include "llvm_backend.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/parallel.h"

namespace tessel::codegen {

namespace {

template <typename T>
T check_llvm(llvm::Expected<T> value, const std::string& what) {
  if (!value) internal_error() << what << ": " << llvm::toString(value.takeError());
  return std::move(*value);
}

void check_llvm(llvm::Error error, const std::string& what) {
  if (error) internal_error() << what << ": " << llvm::toString(std::move(error));
}

std::vector<std::string> split_features(const std::string& text) {
  std::vector<std::string> result;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) result.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return result;
}

}  // namespace

struct JitModule::Impl {
  Target target;
  std::string name;
  std::vector<PrimFunc> lowered;
  std::string llvm_ir;
  std::once_flag assembly_once;
  std::string assembly;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unordered_map<std::string, PackedEntry> entries;
  const char* const* last_error = nullptr;
};

JitModule::JitModule() = default;
JitModule::~JitModule() = default;
JitModule::JitModule(const JitModule&) = default;
JitModule& JitModule::operator=(const JitModule&) = default;

JitModule JitModule::compile(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& module_name) {
  user_check(target.runs_on_host()) << "target " << target.to_string()
                                    << " cannot run in this process; use emit_object_file or emit_assembly to "
                                       "cross-compile";
  std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(target);
  BuiltModule built = build_module(funcs, target, module_name, *machine);

  auto impl = std::make_shared<Impl>();
  impl->target = target;
  impl->name = built.name;
  impl->lowered = built.lowered;
  impl->llvm_ir = module_to_string(*built.module);

  llvm::orc::JITTargetMachineBuilder machine_builder{llvm::Triple(target.triple)};
  machine_builder.setCPU(target.cpu);
  machine_builder.addFeatures(split_features(target.features));
  machine_builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  machine_builder.getOptions().AllowFPOpFusion = llvm::FPOpFusion::Standard;
  impl->jit = check_llvm(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(machine_builder)).create(),
                         "cannot create the LLVM JIT");
  llvm::orc::LLJIT& jit = *impl->jit;
  llvm::orc::JITDylib& library = jit.getMainJITDylib();
  library.addGenerator(check_llvm(
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(jit.getDataLayout().getGlobalPrefix()),
      "cannot expose process symbols to the JIT"));
  llvm::orc::SymbolMap runtime_symbols;
  runtime_symbols[jit.mangleAndIntern("tessel_parallel_launch")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&tessel_parallel_launch),
      llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  check_llvm(library.define(llvm::orc::absoluteSymbols(std::move(runtime_symbols))), "cannot define runtime symbols");
  check_llvm(jit.addIRModule(llvm::orc::ThreadSafeModule(std::move(built.module), std::move(built.context))),
             "cannot add the module to the JIT");

  // The first lookup compiles the whole module.
  for (const PrimFunc& f : impl->lowered) {
    llvm::orc::ExecutorAddr address = check_llvm(jit.lookup(f->name), "cannot find compiled function " + f->name);
    impl->entries[f->name] = address.toPtr<PackedEntry>();
  }
  impl->last_error = check_llvm(jit.lookup(CodeGenLLVM::kLastErrorSymbol), "cannot find the error message slot")
                         .toPtr<const char* const*>();
  JitModule result;
  result.impl_ = std::move(impl);
  return result;
}

JitFunction JitModule::get_function(const std::string& name) const {
  internal_check(impl_ != nullptr) << "get_function on an empty JitModule";
  auto it = impl_->entries.find(name);
  user_check(it != impl_->entries.end()) << "module " << impl_->name << " has no function named " << name;
  JitFunction function;
  function.name_ = name;
  function.entry_ = it->second;
  function.owner_ = impl_;
  function.last_error_ = impl_->last_error;
  return function;
}

const Target& JitModule::target() const { return impl_->target; }
const std::string& JitModule::module_name() const { return impl_->name; }
const std::vector<PrimFunc>& JitModule::lowered_functions() const { return impl_->lowered; }
const std::string& JitModule::llvm_ir() const { return impl_->llvm_ir; }

const std::string& JitModule::assembly() const {
  std::call_once(impl_->assembly_once, [this] {
    // Recompile the optimised IR for the same target; this is the code the JIT runs.
    llvm::LLVMContext context;
    llvm::SMDiagnostic diagnostic;
    std::unique_ptr<llvm::Module> module =
        llvm::parseIR(llvm::MemoryBufferRef(impl_->llvm_ir, impl_->name), diagnostic, context);
    internal_check(module != nullptr) << "cannot re-read the module's LLVM IR: " << diagnostic.getMessage().str();
    std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(impl_->target);
    impl_->assembly = module_to_assembly(*module, *machine);
  });
  return impl_->assembly;
}

std::string JitModule::last_error() const {
  const char* message = impl_ && impl_->last_error ? *impl_->last_error : nullptr;
  return message ? message : "";
}

int32_t JitFunction::call_status(std::vector<void*> args) const {
  internal_check(entry_ != nullptr) << "call of an undefined JitFunction";
  return entry_(args.data(), static_cast<int32_t>(args.size()));
}

void JitFunction::call(std::vector<void*> args) const {
  int32_t status = call_status(std::move(args));
  if (status != 0) {
    const char* message = last_error_ ? *last_error_ : nullptr;
    user_error() << name_ << " failed (status " << status << "): " << (message ? message : "unknown error");
  }
}

}  // namespace tessel::codegen
