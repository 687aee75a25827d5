// Ahead-of-time outputs of the LLVM backend: LLVM IR text, assembly, object files and shared
// libraries linked with the system C compiler driver against libtessel_runtime.so.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "llvm_backend.h"
#include "tessel/codegen/llvm.h"
#include "../process.h"
#include "tessel/ir/error.h"

namespace tessel::codegen {

std::string emit_llvm_ir(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& module_name) {
  std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(target);
  BuiltModule built = build_module(funcs, target, module_name, *machine);
  return module_to_string(*built.module);
}

std::string emit_assembly(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& module_name) {
  std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(target);
  BuiltModule built = build_module(funcs, target, module_name, *machine);
  return module_to_assembly(*built.module, *machine);
}

void emit_object_file(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& path,
                      const std::string& module_name) {
  std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(target);
  BuiltModule built = build_module(funcs, target, module_name, *machine);
  write_object_file(*built.module, *machine, path);
}

void compile_to_shared_library(const std::vector<PrimFunc>& funcs, const Target& target, const std::string& path,
                               const std::string& module_name) {
  user_check(target.runs_on_host()) << "cannot link a shared library for " << target.to_string()
                                    << " on this machine; use emit_object_file and a cross linker";
  static std::atomic<int> counter{0};
  std::filesystem::path object = std::filesystem::temp_directory_path() /
                                 ("tessel-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".o");
  emit_object_file(funcs, target, object.string(), module_name);
  const char* compiler = std::getenv("CC");
  const std::string runtime_dir = TESSEL_RUNTIME_LIBRARY_DIR;
  std::vector<std::string> argv = {compiler && *compiler ? compiler : "cc",
                                   "-shared",
                                   "-o",
                                   path,
                                   object.string(),
                                   "-L" + runtime_dir,
                                   "-ltessel_runtime",
                                   "-Wl,-rpath," + runtime_dir,
                                   "-lm"};
  int status = run_program(argv);
  std::error_code ignored;
  std::filesystem::remove(object, ignored);
  user_check(status == 0) << "linking " << path << " failed: " << argv[0] << " exited with status " << status;
}

}  // namespace tessel::codegen
