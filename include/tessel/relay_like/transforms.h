// Graph passes. Each is a function from a graph to a new graph (graphs are values); each lives in
// its own file under relay_like/transforms/ and says there what it requires and guarantees. The
// default pipeline is one list in relay_like/pipeline.cc.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tessel/codegen/target.h"
#include "tessel/relay_like/graph.h"
#include "tessel/relay_like/op.h"

namespace tessel::relay {

// Re-runs every call's type relation (after passes that edit attributes in place, or on a graph
// assembled elsewhere); throws CompileError on the first bad call.
Graph infer_types(const Graph& graph);

// Inference-only rewrites: batch_norm after a conv2d/dense whose weight (and bias) are constants
// is folded into that op's weight and bias; dropout and identity are removed.
Graph simplify_inference(const Graph& graph);

// Evaluates every call whose inputs are all constants (lowered to TE with the default schedule,
// JIT-compiled and run on the host) and replaces it by a constant.
Graph fold_constants(const Graph& graph);

// The op chain of a layer normalisation over trailing axes (mean, subtract, square, mean, add
// eps, sqrt, divide, then an optional multiply by gamma and add of beta, as exporters emit it)
// becomes one layer_norm call (relay_like/transforms/recognize_layer_norm.cc). Leaves the
// replaced calls unused: run eliminate_dead_code after it.
Graph recognize_layer_norm(const Graph& graph);

// Merges calls with the same op, attributes and inputs, and anonymous constants with equal data.
Graph eliminate_common_subexpressions(const Graph& graph);

// Drops calls and constants no output depends on (graph inputs are kept: they are the interface).
Graph eliminate_dead_code(const Graph& graph);

// Layout alteration for CPU (relay_like/transforms/alter_layout.cc): conv2d with a constant
// weight and output channels divisible by `block` goes to NCHW{c}c (weight re-laid out by a
// layout_transform that fold_constants folds), dense with a constant weight to dense_packed over
// pack_dense_weight; layout_transform calls are inserted at layout boundaries (once per value and
// layout), inverse pairs cancel, and elementwise/broadcast ops stay in the blocked layout.
// Convs go blocked by regions (convs and elementwise ops between them) whose convs' multiply-adds
// are at least min_work_ratio times the elements the region's boundary transforms convert.
// block <= 0: channel_block(codegen::Target::host()).
Graph alter_layout(const Graph& graph, int64_t block = 0, double min_work_ratio = 256.0);
// Floats per vector register of the target's CPU (16 with AVX-512, 8 with AVX2; at least 4).
int64_t channel_block(const codegen::Target& target);

// Operator fusion: a partition of the calls into groups, each compiled as one kernel. Groups
// grow along edges whose producer has a single consumer (so every group has one output and no
// path leaves and re-enters it), driven by the pattern kinds: an out-elemwise-fusable op
// (conv2d, dense, pooling, softmax) or a reduction takes the elemwise/broadcast chain after it;
// elemwise, broadcast and injective ops fuse with each other; a reduction takes its elemwise and
// broadcast producers. Opaque and multi-output ops stay alone. Then the dominator step: a group
// whose root has several consumers absorbs everything up to the root's immediate post-dominator
// when all of it may fuse with the group (e.g. conv -> {relu, sigmoid} -> multiply: one kernel),
// so groups still have one output and never leave and re-enter.
struct FusedGroup {
  std::vector<int> nodes;  // call node ids, ascending (topological)
  int root = -1;           // the node whose outputs leave the group
  OpPattern pattern = OpPattern::kElemWise;  // the group's dominant kind
};
struct FusionPlan {
  std::vector<FusedGroup> groups;  // ordered by root (a valid execution order)
  std::vector<int> group_of;       // by node id; -1 for inputs and constants
  // One line per group: "fused_conv2d_add_relu: %3 %4 %5 (out-elemwise-fusable)".
  std::string to_string(const Graph& graph) const;
};
FusionPlan fuse_ops(const Graph& graph);
// The kernel name of a group: "fused_" + its ops joined by "_" (shortened when long).
std::string group_name(const Graph& graph, const FusedGroup& group);

// The default optimisation pipeline (relay_like/pipeline.cc): every pass, in order, by name.
struct GraphPass {
  std::string name;
  std::function<Graph(const Graph&)> run;
};
// For a CUDA target the CPU layout alteration is left out (NCHW{c}c blocking and weight packing
// serve CPU vector registers, not GPU threads); for a CPU target the channel block is the
// target's vector width in float32 lanes (at least 4).
std::vector<GraphPass> default_pipeline(const codegen::Target& target = codegen::Target::host());
// Runs default_pipeline(target). With TESSEL_DEBUG set, prints each pass's name and the graph
// after it when it changed.
Graph optimize(const Graph& graph, const codegen::Target& target = codegen::Target::host());

}  // namespace tessel::relay
