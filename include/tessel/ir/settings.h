// Environment settings, read once, in one place. All share the TESSEL_ prefix:
//   TESSEL_DEBUG=N        verbosity of debug output on stderr (0 = none)
//   TESSEL_DUMP_IR=dir    write the loop IR after each pass that changed it
//   TESSEL_DUMP_CODE=dir  write generated code (.tir loop IR, .ll LLVM IR, .s assembly, .cu, .ptx)
//   TESSEL_TIME_PASSES=1  print per-pass timings on stderr
//   TESSEL_NUM_THREADS=N  threads of the runtime pool (read by the runtime itself)
#pragma once

#include <string>

namespace tessel {

struct Settings {
  int debug_level = 0;
  std::string dump_ir_dir;    // empty: off
  std::string dump_code_dir;  // empty: off
  bool time_passes = false;
};

// The process-wide settings, read from the environment on first use.
const Settings& settings();
// Replaces the settings (tests use this instead of setenv).
void set_settings(const Settings& s);

}  // namespace tessel
