// The LLVM backend pipeline: initialisation, target machines, lower -> codegen -> O3, dumps and
// machine-code emission (see llvm_backend.h).
#include "llvm_backend.h"

#include <filesystem>
#include <fstream>
#include <mutex>

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include "codegen_llvm.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/lower.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/settings.h"

namespace tessel::codegen {

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    llvm::InitializeAllAsmParsers();
  });
}

bool is_target_registered(const std::string& triple) {
  initialize_llvm();
  std::string error;
  return llvm::TargetRegistry::lookupTarget(llvm::Triple::normalize(triple), error) != nullptr;
}

std::unique_ptr<llvm::TargetMachine> create_target_machine(const Target& target) {
  initialize_llvm();
  std::string error;
  const llvm::Target* backend = llvm::TargetRegistry::lookupTarget(target.triple, error);
  user_check(backend != nullptr) << "LLVM has no backend for target triple " << target.triple << ": " << error;
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Standard;  // fuse only where `contract` allows
  std::unique_ptr<llvm::TargetMachine> machine(backend->createTargetMachine(
      target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  user_check(machine != nullptr) << "LLVM cannot create a target machine for " << target.to_string();
  return machine;
}

namespace {

// Finds what lower() would still have to do: vectorized/unrolled loops, multi-index or strided
// accesses, multi-dimensional allocations.
class LoweringDetector : public IRVisitor {
 public:
  bool needed = false;
  void visit_For(const ForNode* op) override {
    if (op->for_kind == ForKind::kVectorized || op->for_kind == ForKind::kUnrolled) needed = true;
    IRVisitor::visit_For(op);
  }
  void visit_Load(const LoadNode* op) override {
    check_access(op->buffer.get(), op->indices.size());
    IRVisitor::visit_Load(op);
  }
  void visit_Store(const StoreNode* op) override {
    check_access(op->buffer.get(), op->indices.size());
    IRVisitor::visit_Store(op);
  }
  void visit_Allocate(const AllocateNode* op) override {
    if (op->buffer->shape.size() != 1) needed = true;
    IRVisitor::visit_Allocate(op);
  }

 private:
  void check_access(const BufferNode* buffer, size_t num_indices) {
    if (num_indices != 1) needed = true;
    if (!buffer->strides.empty() && !(buffer->strides.size() == 1 && is_const_int(buffer->strides[0], 1))) {
      needed = true;
    }
  }
};

void optimize_module(llvm::Module& module, llvm::TargetMachine& machine) {
  // Declaration order matters: the managers refer to each other and must die in reverse.
  llvm::LoopAnalysisManager loop_analyses;
  llvm::FunctionAnalysisManager function_analyses;
  llvm::CGSCCAnalysisManager cgscc_analyses;
  llvm::ModuleAnalysisManager module_analyses;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = true;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(module_analyses);
  builder.registerCGSCCAnalyses(cgscc_analyses);
  builder.registerFunctionAnalyses(function_analyses);
  builder.registerLoopAnalyses(loop_analyses);
  builder.crossRegisterProxies(loop_analyses, function_analyses, cgscc_analyses, module_analyses);
  llvm::ModulePassManager passes = builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  passes.run(module, module_analyses);
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  user_check(out.good()) << "cannot write " << path.string();
  out << text;
}

}  // namespace

bool needs_lowering(const PrimFunc& f) {
  LoweringDetector detector;
  detector.visit(f->body);
  return detector.needed;
}

BuiltModule build_module(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& module_name,
                         llvm::TargetMachine& machine) {
  user_check(!funcs.empty()) << "nothing to compile: no functions given";
  BuiltModule built;
  built.name = module_name.empty() ? funcs.front()->name : module_name;
  for (const PrimFunc& f : funcs) {
    user_check(f.defined()) << "undefined function passed to the LLVM code generator";
    built.lowered.push_back(needs_lowering(f) ? lower(f) : f);
  }
  built.context = std::make_unique<llvm::LLVMContext>();
  CodeGenLLVM codegen(*built.context, target, machine.createDataLayout(), built.name);
  for (const PrimFunc& f : built.lowered) codegen.add_function(f);
  built.module = codegen.finish();
  optimize_module(*built.module, machine);

  const std::string& dump_dir = settings().dump_code_dir;
  if (!dump_dir.empty()) {
    std::filesystem::path dir(dump_dir);
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    user_check(!error) << "cannot create TESSEL_DUMP_CODE directory " << dump_dir << ": " << error.message();
    for (const PrimFunc& f : built.lowered) write_text_file(dir / (f->name + ".tir"), to_string(f));
    write_text_file(dir / (built.name + ".ll"), module_to_string(*built.module));
    write_text_file(dir / (built.name + ".s"), module_to_assembly(*built.module, machine));
  }
  return built;
}

std::string module_to_string(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  stream.flush();
  return text;
}

namespace {

void emit_machine_code(const llvm::Module& module, llvm::TargetMachine& machine, llvm::raw_pwrite_stream& out,
                       llvm::CodeGenFileType kind) {
  // Code generation rewrites the IR it runs on, so it works on a copy.
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module);
  llvm::legacy::PassManager passes;
  internal_check(!machine.addPassesToEmitFile(passes, out, nullptr, kind))
      << "LLVM target " << machine.getTargetTriple().str() << " cannot emit this file type";
  passes.run(*copy);
}

}  // namespace

std::string module_to_assembly(const llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  emit_machine_code(module, machine, stream, llvm::CodeGenFileType::AssemblyFile);
  return std::string(buffer.str());
}

void write_object_file(const llvm::Module& module, llvm::TargetMachine& machine, const std::string& path) {
  std::error_code error;
  llvm::raw_fd_ostream out(path, error);
  user_check(!error) << "cannot write object file " << path << ": " << error.message();
  emit_machine_code(module, machine, out, llvm::CodeGenFileType::ObjectFile);
  out.close();
  if (out.has_error()) {
    std::string message = out.error().message();
    out.clear_error();  // an uncleared stream error aborts the process in its destructor
    user_error() << "cannot write object file " << path << ": " << message;
  }
}

}  // namespace tessel::codegen
