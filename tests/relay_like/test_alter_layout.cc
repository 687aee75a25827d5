// Layout alteration (NCHW -> NCHW{c}c with compile-time weight packing, dense weight pre-packing):
// the rewritten graph's text, cancellation of inverse layout_transform pairs, and equal results
// of a small CNN compiled with and without the pass (JIT-run plan vs the unaltered graph).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "tessel/codegen/llvm.h"
#include "plan_testing.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/evaluate.h"
#include "tessel/relay_like/transforms.h"

using namespace tessel;
using namespace tessel::relay;
using tessel::relay::testing::random_array;
using tessel::relay::testing::run_plan;

namespace {

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.kind == NodeKind::kCall && node.op == op ? 1 : 0;
  return n;
}

void expect_close(const NDArray& a, const NDArray& b, float tolerance) {
  ASSERT_EQ(a.shape(), b.shape());
  double norm = 0;
  for (int64_t i = 0; i < b.num_elements(); ++i) norm = std::max(norm, std::fabs(static_cast<double>(b.as<float>()[i])));
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    ASSERT_NEAR(a.as<float>()[i], b.as<float>()[i], tolerance * (1.0 + norm)) << "at " << i;
  }
}

Attrs conv_attrs(int64_t pad, int64_t stride = 1) {
  return Attrs{{"strides", std::vector<int64_t>{stride, stride}}, {"padding", std::vector<int64_t>{pad, pad, pad, pad}}};
}

// conv-bn-relu stem (3 input channels), a residual block (conv-bias-relu, conv, add, relu), a
// strided conv to 32 channels, max pool, global average pool and dense. 9 x 11 input: odd sizes.
Graph small_cnn() {
  Graph g;
  Value x = g.add_input("input", {{2, 3, 9, 11}, DataType::Float(32)});
  Value c0 = g.add_call("conv2d", {x, g.add_constant(random_array({16, 3, 3, 3}, 1, 0.4f), "stem.w")}, conv_attrs(1))[0];
  NDArray var = random_array({16}, 6, 0.5f);
  for (int64_t i = 0; i < 16; ++i) var.as<float>()[i] += 1.0f;
  Value bn = g.add_call("batch_norm", {c0, g.add_constant(random_array({16}, 2), "bn.gamma"),
                                       g.add_constant(random_array({16}, 3), "bn.beta"),
                                       g.add_constant(random_array({16}, 4), "bn.mean"), g.add_constant(var, "bn.var")},
                        Attrs{{"epsilon", 1e-5}})[0];
  Value stem = g.add_call("relu", {bn})[0];
  Value c1 = g.add_call("conv2d", {stem, g.add_constant(random_array({16, 16, 3, 3}, 7, 0.2f), "b1.w"),
                                   g.add_constant(random_array({16}, 8), "b1.b")},
                        conv_attrs(1))[0];
  Value r1 = g.add_call("relu", {c1})[0];
  Value c2 = g.add_call("conv2d", {r1, g.add_constant(random_array({16, 16, 3, 3}, 9, 0.2f), "b2.w")}, conv_attrs(1))[0];
  Value biased = g.add_call("add", {c2, g.add_constant(random_array({16, 1, 1}, 10), "b2.b")})[0];
  Value block = g.add_call("relu", {g.add_call("add", {biased, stem})[0]})[0];
  Value c3 = g.add_call("conv2d", {block, g.add_constant(random_array({32, 16, 3, 3}, 11, 0.2f), "b3.w")},
                        conv_attrs(1, 2))[0];
  Value scaled = g.add_call("multiply", {c3, g.add_constant(random_array({1}, 12), "scale")})[0];
  Value pooled = g.add_call("max_pool2d", {scaled}, Attrs{{"kernel", std::vector<int64_t>{3, 3}},
                                                          {"strides", std::vector<int64_t>{2, 2}},
                                                          {"padding", std::vector<int64_t>{1, 1, 1, 1}}})[0];
  Value gap = g.add_call("global_avg_pool2d", {pooled})[0];
  Value flat = g.add_call("reshape", {gap}, Attrs{{"shape", std::vector<int64_t>{2, 32}}})[0];
  g.add_output(g.add_call("dense", {flat, g.add_constant(random_array({7, 32}, 13), "fc.w"),
                                    g.add_constant(random_array({7}, 14), "fc.b")})[0]);
  return g;
}

}  // namespace

TEST(RelayAlterLayout, ConvChainGoesBlockedWithPackedWeights) {
  Graph g;
  Value x = g.add_input("x", {{1, 16, 5, 7}, DataType::Float(32)});
  Value c1 = g.add_call("conv2d", {x, g.add_constant(random_array({32, 16, 3, 3}, 1), "w1")}, conv_attrs(1))[0];
  Value b = g.add_call("add", {c1, g.add_constant(random_array({32, 1, 1}, 2), "b")})[0];
  Value r = g.add_call("relu", {b})[0];
  Value c2 = g.add_call("conv2d", {r, g.add_constant(random_array({32, 32, 1, 1}, 3), "w2")})[0];
  g.add_output(g.add_call("add", {c2, r})[0]);
  Graph altered = alter_layout(g, 16, 0.0);  // every eligible conv, whatever the region's size
  EXPECT_EQ(altered.to_string(),
            "graph(%x: float32[1, 16, 5, 7]) {\n"
            "  @w1 = constant : float32[32, 16, 3, 3]\n"
            "  %2 = layout_transform(@w1, src_layout=\"OIHW\", dst_layout=\"OIHW16i16o\") : float32[2, 1, 3, 3, 16, 16]\n"
            "  %3 = layout_transform(%x, src_layout=\"NCHW\", dst_layout=\"NCHW16c\") : float32[1, 1, 5, 7, 16]\n"
            "  %4 = conv2d(%3, %2, strides=[1, 1], padding=[1, 1, 1, 1], data_layout=\"NCHW16c\") : float32[1, 2, 5, 7, 16]\n"
            "  @b = constant : float32[32, 1, 1]\n"
            "  %6 = reshape(@b, shape=[1, 32, 1, 1]) : float32[1, 32, 1, 1]\n"
            "  %7 = layout_transform(%6, src_layout=\"NCHW\", dst_layout=\"NCHW16c\") : float32[1, 2, 1, 1, 16]\n"
            "  %8 = add(%4, %7) : float32[1, 2, 5, 7, 16]\n"
            "  %9 = relu(%8) : float32[1, 2, 5, 7, 16]\n"
            "  @w2 = constant : float32[32, 32, 1, 1]\n"
            "  %11 = layout_transform(@w2, src_layout=\"OIHW\", dst_layout=\"OIHW16i16o\") : float32[2, 2, 1, 1, 16, 16]\n"
            "  %12 = conv2d(%9, %11, data_layout=\"NCHW16c\") : float32[1, 2, 5, 7, 16]\n"
            "  %13 = add(%12, %9) : float32[1, 2, 5, 7, 16]\n"
            "  %14 = layout_transform(%13, src_layout=\"NCHW16c\", dst_layout=\"NCHW\") : float32[1, 32, 5, 7]\n"
            "  return (%14)\n"
            "}\n");
  // After the pipeline's folding the weight packs and the bias re-layout are constants: the only
  // layout_transforms left are the two graph boundaries.
  Graph folded = eliminate_dead_code(fold_constants(altered));
  EXPECT_EQ(count_op(folded, "layout_transform"), 2);
  std::map<std::string, NDArray> inputs{{"x", random_array({1, 16, 5, 7}, 5)}};
  expect_close(evaluate_graph(folded, inputs)[0], evaluate_graph(g, inputs)[0], 1e-5f);
}

TEST(RelayAlterLayout, InverseLayoutPairsCancel) {
  Graph g;
  Value x = g.add_input("x", {{1, 2, 3, 5, 16}, DataType::Float(32)});
  Value plain = g.add_call("layout_transform", {x}, Attrs{{"src_layout", "NCHW16c"}, {"dst_layout", "NCHW"}})[0];
  Value back = g.add_call("layout_transform", {plain}, Attrs{{"src_layout", "NCHW"}, {"dst_layout", "NCHW16c"}})[0];
  Value r = g.add_call("relu", {back})[0];
  // NCHW -> NCHW16c -> NCHW the other way round.
  Value y = g.add_input("y", {{1, 32, 3, 5}, DataType::Float(32)});
  Value yb = g.add_call("layout_transform", {y}, Attrs{{"src_layout", "NCHW"}, {"dst_layout", "NCHW16c"}})[0];
  Value yp = g.add_call("layout_transform", {yb}, Attrs{{"src_layout", "NCHW16c"}, {"dst_layout", "NCHW"}})[0];
  g.add_output(r);
  g.add_output(g.add_call("sigmoid", {yp})[0]);
  Graph altered = eliminate_dead_code(alter_layout(g, 16));
  EXPECT_EQ(altered.to_string(),
            "graph(%x: float32[1, 2, 3, 5, 16], %y: float32[1, 32, 3, 5]) {\n"
            "  %1 = relu(%x) : float32[1, 2, 3, 5, 16]\n"
            "  %3 = sigmoid(%y) : float32[1, 32, 3, 5]\n"
            "  return (%1, %3)\n"
            "}\n");
  std::map<std::string, NDArray> inputs{{"x", random_array({1, 2, 3, 5, 16}, 1)}, {"y", random_array({1, 32, 3, 5}, 2)}};
  auto expected = evaluate_graph(g, inputs);
  auto actual = evaluate_graph(altered, inputs);
  expect_close(actual[0], expected[0], 0.0f);
  expect_close(actual[1], expected[1], 1e-6f);
}

TEST(RelayAlterLayout, DenseWithConstantWeightIsPrePacked) {
  Graph g;
  Value x = g.add_input("x", {{3, 13}, DataType::Float(32)});
  Value d = g.add_call("dense", {x, g.add_constant(random_array({17, 13}, 1), "w"), g.add_constant(random_array({17}, 2), "b")})[0];
  Value y = g.add_input("y", {{17, 13}, DataType::Float(32)});
  g.add_output(g.add_call("relu", {d})[0]);
  g.add_output(g.add_call("dense", {x, y})[0]);  // a runtime weight stays a plain dense
  Graph optimized = optimize(g);
  EXPECT_EQ(count_op(optimized, "dense_packed"), 1);
  EXPECT_EQ(count_op(optimized, "dense"), 1);
  EXPECT_EQ(count_op(optimized, "pack_dense_weight"), 0);  // folded into a [2, 13, 16] constant
  bool packed_constant = false;
  for (const Node& node : optimized.nodes()) {
    packed_constant |= node.kind == NodeKind::kConstant && node.types[0].shape == std::vector<int64_t>{2, 13, 16};
  }
  EXPECT_TRUE(packed_constant);
  std::map<std::string, NDArray> inputs{{"x", random_array({3, 13}, 3)}, {"y", random_array({17, 13}, 4)}};
  CompiledModule module = compile(g, CompileOptions{.print_summary = false});
  auto actual = run_plan(module.plan, inputs);
  auto expected = evaluate_graph(g, inputs);
  expect_close(actual[0], expected[0], 1e-5f);
  expect_close(actual[1], expected[1], 1e-5f);
}

TEST(RelayAlterLayout, SmallCnnCompiledWithAndWithoutThePassAgree) {
  Graph g = small_cnn();
  Graph optimized = optimize(g);
  // Stem (3 channels -> one NCHW3c block), residual block and strided conv all blocked.
  EXPECT_EQ(count_op(optimized, "conv2d"), 4);
  for (const Node& node : optimized.nodes()) {
    if (node.kind == NodeKind::kCall && node.op == "conv2d") {
      EXPECT_NE(node.attrs.get_string("data_layout", "NCHW"), "NCHW");
    }
  }
  // Boundaries: input -> NCHW3c, and back to NCHW after the global average pool (32 values). The
  // residual block stays blocked throughout (no transform between its convs), and both pools run
  // on the blocked data.
  EXPECT_EQ(count_op(optimized, "layout_transform"), 2) << optimized.to_string();
  for (const Node& node : optimized.nodes()) {
    if (node.kind != NodeKind::kCall || (node.op != "max_pool2d" && node.op != "global_avg_pool2d")) continue;
    EXPECT_EQ(optimized.type_of(node.inputs[0]).shape.size(), 5u) << node.op << " in " << optimized.to_string();
  }
  for (const Node& node : optimized.nodes()) {
    if (node.kind != NodeKind::kCall || node.op != "layout_transform") continue;
    if (node.attrs.get_string("dst_layout", "") != "NCHW") continue;
    EXPECT_EQ(node.types[0].num_elements(), 2 * 32) << optimized.to_string();
  }
  EXPECT_EQ(count_op(optimized, "dense_packed"), 1);

  std::map<std::string, NDArray> inputs{{"input", random_array({2, 3, 9, 11}, 21)}};
  CompiledModule with_pass = compile(g, CompileOptions{.print_summary = false});
  // Without the pass: the same pipeline minus alter_layout, compiled as is.
  Graph plain = g;
  for (const GraphPass& pass : default_pipeline()) {
    if (pass.name != "alter_layout") plain = pass.run(plain);
  }
  EXPECT_EQ(count_op(plain, "layout_transform"), 0);
  CompiledModule without_pass = compile(plain, CompileOptions{.optimize = false, .print_summary = false});
  auto a = run_plan(with_pass.plan, inputs);
  auto b = run_plan(without_pass.plan, inputs);
  expect_close(a[0], b[0], 1e-4f);
  // And both against the unoptimised graph op by op.
  expect_close(a[0], evaluate_graph(g, inputs)[0], 1e-4f);
  // The residual conv's epilogue (bias, residual add, relu) is one kernel in the blocked layout.
  bool residual_kernel = false;
  for (const FusedGroup& group : with_pass.fusion.groups) {
    residual_kernel |= group_name(with_pass.graph, group) == "fused_conv2d_add_add_relu";
  }
  EXPECT_TRUE(residual_kernel) << with_pass.fusion.to_string(with_pass.graph);
}

// The cost model: a MobileNet-style block (1x1 expand, depthwise, 1x1 project, residual add) whose
// depthwise conv stays NCHW would need a transform on each side of it for two cheap 1x1 convs,
// so by default it stays NCHW; forced (ratio 0) it goes blocked with those transforms, and both
// graphs compute the same values.
TEST(RelayAlterLayout, CheapRegionsCutByDepthwiseConvsStayNchw) {
  Graph g;
  Value x = g.add_input("x", {{1, 16, 7, 5}, DataType::Float(32)});
  Attrs clip{{"min_value", 0.0}, {"max_value", 6.0}};
  Value e = g.add_call("conv2d", {x, g.add_constant(random_array({48, 16, 1, 1}, 1, 0.3f), "expand")})[0];
  e = g.add_call("clip", {e}, clip)[0];
  Value d = g.add_call("conv2d", {e, g.add_constant(random_array({48, 1, 3, 3}, 2, 0.3f), "dw")},
                       Attrs{{"padding", std::vector<int64_t>{1, 1, 1, 1}}, {"groups", int64_t{48}}})[0];
  d = g.add_call("clip", {d}, clip)[0];
  Value p = g.add_call("conv2d", {d, g.add_constant(random_array({16, 48, 1, 1}, 3, 0.3f), "project")})[0];
  g.add_output(g.add_call("add", {p, x})[0]);
  Graph kept = alter_layout(g, 16);
  EXPECT_EQ(count_op(kept, "layout_transform"), 0) << kept.to_string();
  Graph forced = eliminate_dead_code(fold_constants(alter_layout(g, 16, 0.0)));
  // x in (shared by the expand conv and the residual add), around the depthwise conv, and out.
  EXPECT_EQ(count_op(forced, "layout_transform"), 4) << forced.to_string();
  std::map<std::string, NDArray> inputs{{"x", random_array({1, 16, 7, 5}, 4)}};
  expect_close(evaluate_graph(forced, inputs)[0], evaluate_graph(g, inputs)[0], 1e-5f);
}
