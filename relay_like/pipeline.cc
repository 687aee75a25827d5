// The graph optimisation pipeline, as one list (for a CPU or a CUDA target). Operator fusion is not in it: it partitions the
// optimised graph into kernels and runs inside compile (relay_like/compile.cc). alter_layout
// follows the first constant folding (so batch norm is already folded into conv weights) and is
// followed by another, which turns its weight packing into packed constants.
#include <cstdlib>
#include <iostream>
#include <string>

#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

std::vector<GraphPass> default_pipeline(const codegen::Target& target) {
  std::vector<GraphPass> passes = {
      {"simplify_inference", simplify_inference},
      {"recognize_layer_norm", recognize_layer_norm},
      {"eliminate_dead_code", eliminate_dead_code},
      {"fold_constants", fold_constants},
  };
  if (!target.is_cuda()) {
    // TESSEL_ALTER_LAYOUT=0 keeps every layout as imported (for comparisons and debugging).
    int64_t block = channel_block(target);
    passes.push_back({"alter_layout", [block](const Graph& g) {
                        const char* flag = std::getenv("TESSEL_ALTER_LAYOUT");
                        return flag != nullptr && std::string(flag) == "0" ? g : alter_layout(g, block);
                      }});
  }
  passes.insert(passes.end(), {
                                  {"fold_constants", fold_constants},
                                  {"eliminate_common_subexpressions", eliminate_common_subexpressions},
                                  {"eliminate_dead_code", eliminate_dead_code},
                              });
  return passes;
}

Graph optimize(const Graph& graph, const codegen::Target& target) {
  const char* debug = std::getenv("TESSEL_DEBUG");
  bool verbose = debug != nullptr && debug[0] != '\0' && debug[0] != '0';
  Graph current = graph;
  for (const GraphPass& pass : default_pipeline(target)) {
    std::string before = verbose ? current.to_string() : "";
    current = pass.run(current);
    if (verbose) {
      std::string after = current.to_string();
      std::cerr << "[tessel] graph pass " << pass.name << (after == before ? ": unchanged\n" : ":\n" + after);
    }
  }
  return current;
}

}  // namespace tessel::relay
