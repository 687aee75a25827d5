// The loop-IR lowering pipeline and its pass manager. The pipeline is the list in default_passes();
// the manager runs each pass, checks that it left no variable unbound, times it
// (TESSEL_TIME_PASSES=1) and dumps the function after every pass that changed it (TESSEL_DUMP_IR).
#include "tessel/ir/lower.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unordered_set>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/settings.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

// A pass may not make the body read a variable that nothing binds.
void check_no_new_free_variables(const std::unordered_set<const VarNode*>& before, const Stmt& after,
                                 const std::string& pass, const std::string& function) {
  for (const VarNode* var : free_variables(after)) {
    internal_check(before.count(var)) << "pass " << pass << " left variable " << var->name
                                      << " unbound in function " << function;
  }
}

void dump(const PrimFunc& f, size_t index, const std::string& pass, const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  std::string number = std::to_string(index);
  if (number.size() < 2) number = "0" + number;
  std::filesystem::path path = std::filesystem::path(directory) / (f->name + "." + number + "." + pass + ".tir");
  std::ofstream out(path);
  user_check(out.good()) << "cannot write the IR dump " << path.string() << " (TESSEL_DUMP_IR)";
  out << to_string(f) << "\n";
}

}  // namespace

const std::vector<Pass>& default_passes() {
  static const std::vector<Pass> passes = {
      {"storage_flatten", storage_flatten},
      {"simplify", simplify_stmt},
      {"loop_partition", loop_partition},
      {"simplify", simplify_stmt},
      {"unroll_loops", unroll_loops},
      {"vectorize_loops", vectorize_loops},
      {"simplify", simplify_stmt},
      {"remove_no_op", remove_no_op},
  };
  return passes;
}

PrimFunc run_passes(const PrimFunc& f, const std::vector<Pass>& passes) {
  internal_check(f.defined()) << "run_passes on an undefined function";
  const Settings& config = settings();
  std::vector<const VarNode*> free_list = free_variables(f->body);
  std::unordered_set<const VarNode*> free_before(free_list.begin(), free_list.end());
  PrimFunc current = f;
  double total_ms = 0;
  for (size_t k = 0; k < passes.size(); ++k) {
    const Pass& pass = passes[k];
    auto start = std::chrono::steady_clock::now();
    Stmt body = pass.run(current->body);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    total_ms += ms;
    internal_check(body.defined()) << "pass " << pass.name << " returned no body for " << f->name;
    if (config.time_passes) {
      std::fprintf(stderr, "[tessel] %s: pass %-16s %9.3f ms\n", f->name.c_str(), pass.name.c_str(), ms);
    }
    if (body.same_as(current->body)) continue;
    check_no_new_free_variables(free_before, body, pass.name, f->name);
    // A rebuilt but structurally identical body is not a change worth a dump file.
    bool dump_this = !config.dump_ir_dir.empty() && !structural_equal(body, current->body);
    current = current.with_body(std::move(body));
    if (dump_this) dump(current, k + 1, pass.name, config.dump_ir_dir);
  }
  if (config.time_passes) {
    std::fprintf(stderr, "[tessel] %s: total of %zu passes %9.3f ms\n", f->name.c_str(), passes.size(), total_ms);
  }
  return current;
}

PrimFunc lower(const PrimFunc& f) { return run_passes(f, default_passes()); }

}  // namespace tessel
