// Running an external tool (the system C compiler driver) from the code generator.
#pragma once

#include <string>
#include <vector>

namespace tessel::codegen {

// Runs argv[0] (searched on PATH) with argv and waits. Returns its exit status (128 + signal when
// it was killed); throws CompileError when it cannot be started.
int run_program(const std::vector<std::string>& argv);

}  // namespace tessel::codegen
