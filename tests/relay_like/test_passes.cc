// Graph passes, each as a before/after test: the rewritten graph's text, and (where values change
// form) equal results before and after, computed op by op with evaluate_graph, plus a naive
// reference for batch-norm folding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tessel/relay_like/evaluate.h"
#include "tessel/relay_like/transforms.h"

using namespace tessel;
using namespace tessel::relay;

namespace {

NDArray random_array(std::vector<int64_t> shape, uint32_t seed = 1, float low = -1.0f, float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  NDArray a(std::move(shape), DataType::Float(32));
  for (int64_t i = 0; i < a.num_elements(); ++i) a.as<float>()[i] = dist(rng);
  return a;
}

void expect_close(const NDArray& a, const NDArray& b, float tolerance) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    ASSERT_NEAR(a.as<float>()[i], b.as<float>()[i], tolerance * (1.0f + std::fabs(b.as<float>()[i]))) << "at " << i;
  }
}

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.kind == NodeKind::kCall && node.op == op ? 1 : 0;
  return n;
}

}  // namespace

TEST(RelayPasses, SimplifyInferenceFoldsBatchNormIntoConv) {
  Graph g;
  Value x = g.add_input("x", {{1, 3, 7, 5}, DataType::Float(32)});
  Value w = g.add_constant(random_array({5, 3, 3, 3}, 1), "w");
  Value conv = g.add_call("conv2d", {x, w}, {{"padding", std::vector<int64_t>{1, 1, 1, 1}}})[0];
  Value gamma = g.add_constant(random_array({5}, 2, 0.5f, 1.5f), "gamma");
  Value beta = g.add_constant(random_array({5}, 3), "beta");
  Value mean = g.add_constant(random_array({5}, 4), "mean");
  Value var = g.add_constant(random_array({5}, 5, 0.2f, 2.0f), "var");
  Value bn = g.add_call("batch_norm", {conv, gamma, beta, mean, var}, {{"epsilon", 1e-3}})[0];
  Value d = g.add_call("dropout", {bn})[0];
  g.add_output(g.add_call("relu", {d})[0]);

  Graph after = eliminate_dead_code(simplify_inference(g));
  EXPECT_EQ(after.to_string(),
            "graph(%x: float32[1, 3, 7, 5]) {\n"
            "  %1 = constant : float32[5, 3, 3, 3]\n"
            "  %2 = constant : float32[5]\n"
            "  %3 = conv2d(%x, %1, %2, padding=[1, 1, 1, 1]) : float32[1, 5, 7, 5]\n"
            "  %4 = relu(%3) : float32[1, 5, 7, 5]\n"
            "  return (%4)\n"
            "}\n");
  // The folded bias against the formula, computed naively.
  const NDArray& bias = after.node(2).value;
  for (int c = 0; c < 5; ++c) {
    float scale = g.node(gamma.node).value.as<float>()[c] / std::sqrt(g.node(var.node).value.as<float>()[c] + 1e-3f);
    float expected = -g.node(mean.node).value.as<float>()[c] * scale + g.node(beta.node).value.as<float>()[c];
    EXPECT_NEAR(bias.as<float>()[c], expected, 1e-5f);
  }
  std::map<std::string, NDArray> inputs{{"x", random_array({1, 3, 7, 5}, 9)}};
  expect_close(evaluate_graph(after, inputs)[0], evaluate_graph(g, inputs)[0], 1e-4f);
}

TEST(RelayPasses, SimplifyInferenceKeepsBatchNormOnNonConstantWeights) {
  Graph g;
  Value x = g.add_input("x", {{2, 4}, DataType::Float(32)});
  Value w = g.add_input("w", {{3, 4}, DataType::Float(32)});
  Value y = g.add_call("dense", {x, w})[0];
  std::vector<Value> p;
  for (uint32_t s = 0; s < 4; ++s) p.push_back(g.add_constant(random_array({3}, s, 0.5f, 1.0f)));
  g.add_output(g.add_call("batch_norm", {y, p[0], p[1], p[2], p[3]})[0]);
  EXPECT_EQ(count_op(simplify_inference(g), "batch_norm"), 1);
}

TEST(RelayPasses, FoldConstantsEvaluatesConstantSubgraphs) {
  Graph g;
  Value x = g.add_input("x", {{2, 3}, DataType::Float(32)});
  Value c = g.add_constant(random_array({3, 2}, 7));
  Value t = g.add_call("transpose", {c})[0];
  Value e = g.add_call("exp", {t})[0];
  g.add_output(g.add_call("add", {x, e})[0]);
  Graph after = eliminate_dead_code(fold_constants(g));
  EXPECT_EQ(after.to_string(),
            "graph(%x: float32[2, 3]) {\n"
            "  %1 = constant : float32[2, 3]\n"
            "  %2 = add(%x, %1) : float32[2, 3]\n"
            "  return (%2)\n"
            "}\n");
  const NDArray& folded = after.node(1).value;
  const NDArray& original = g.node(c.node).value;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(folded.as<float>()[i * 3 + j], std::exp(original.as<float>()[j * 2 + i]), 1e-5f);
    }
  }
}

TEST(RelayPasses, CommonSubexpressionsAndDeadCode) {
  Graph g;
  Value x = g.add_input("x", {{4, 5}, DataType::Float(32)});
  Value unused = g.add_input("unused", {{3}, DataType::Float(32)});
  (void)unused;
  Value a = g.add_call("sigmoid", {x})[0];
  Value b = g.add_call("sigmoid", {x})[0];
  Value c1 = g.add_constant(random_array({5}, 3));
  Value c2 = g.add_constant(g.node(c1.node).value.copy());
  Value s = g.add_call("add", {a, c1})[0];
  Value t = g.add_call("add", {b, c2})[0];
  g.add_call("tanh", {x});  // dead
  g.add_output(g.add_call("multiply", {s, t})[0]);
  Graph after = eliminate_dead_code(eliminate_common_subexpressions(g));
  EXPECT_EQ(after.to_string(),
            "graph(%x: float32[4, 5], %unused: float32[3]) {\n"
            "  %2 = sigmoid(%x) : float32[4, 5]\n"
            "  %3 = constant : float32[5]\n"
            "  %4 = add(%2, %3) : float32[4, 5]\n"
            "  %5 = multiply(%4, %4) : float32[4, 5]\n"
            "  return (%5)\n"
            "}\n");
}

TEST(RelayPasses, OptimizePipelineRunsEveryPass) {
  std::vector<std::string> names;
  for (const GraphPass& pass : default_pipeline()) names.push_back(pass.name);
  EXPECT_EQ(names, (std::vector<std::string>{"simplify_inference", "recognize_layer_norm", "eliminate_dead_code",
                                             "fold_constants",
                                             "alter_layout", "fold_constants", "eliminate_common_subexpressions",
                                             "eliminate_dead_code"}));
}

// A ResNet basic block: conv+bias+relu, then conv+bias, the residual add and relu in one group.
TEST(RelayFusion, ResidualBlockFusesConvBiasAddRelu) {
  Graph g;
  Value x = g.add_input("x", {{1, 8, 6, 6}, DataType::Float(32)});
  Value stem = g.add_call("relu", {x})[0];
  Attrs pad{{"padding", std::vector<int64_t>{1, 1, 1, 1}}};
  Value c1 = g.add_call("conv2d", {stem, g.add_constant(random_array({8, 8, 3, 3}), "w1")}, pad)[0];
  Value b1 = g.add_call("add", {c1, g.add_constant(random_array({8, 1, 1}, 2), "b1")})[0];
  Value r1 = g.add_call("relu", {b1})[0];
  Value c2 = g.add_call("conv2d", {r1, g.add_constant(random_array({8, 8, 3, 3}, 3), "w2")}, pad)[0];
  Value b2 = g.add_call("add", {c2, g.add_constant(random_array({8, 1, 1}, 4), "b2")})[0];
  Value sum = g.add_call("add", {b2, stem})[0];
  g.add_output(g.add_call("relu", {sum})[0]);
  FusionPlan plan = fuse_ops(g);
  EXPECT_EQ(plan.to_string(g),
            "fused_relu: %1 (elemwise)\n"
            "fused_conv2d_add_relu: %3 %5 %6 (out-elemwise-fusable)\n"
            "fused_conv2d_add_add_relu: %8 %10 %11 %12 (out-elemwise-fusable)\n");
}

TEST(RelayFusion, InjectiveChainsReductionsAndDiamonds) {
  Graph g;
  Value x = g.add_input("x", {{6, 10}, DataType::Float(32)});
  Value r = g.add_call("reshape", {x}, {{"shape", std::vector<int64_t>{3, 20}}})[0];
  Value t = g.add_call("transpose", {r})[0];      // injective chain with reshape
  Value e = g.add_call("exp", {t})[0];            // elementwise joins it
  // A reduction takes elementwise producer groups only, not this injective one.
  Value s = g.add_call("sum", {e}, {{"axes", std::vector<int64_t>{1}}})[0];
  Value n = g.add_call("negative", {s})[0];       // and its epilogue
  Value a = g.add_call("sigmoid", {n})[0];        // two consumers that rejoin at m:
  Value l = g.add_call("log", {a})[0];
  Value q = g.add_call("sqrt", {a})[0];
  Value m = g.add_call("multiply", {l, q})[0];    // the post-dominator: the diamond joins the reduction
  Value sm = g.add_call("softmax", {m})[0];       // m feeds it and its epilogue
  g.add_output(g.add_call("multiply", {sm, m})[0]);
  FusionPlan plan = fuse_ops(g);
  EXPECT_EQ(plan.to_string(g),
            "fused_reshape_transpose_exp: %1 %2 %3 (injective)\n"
            "fused_sum_negative_sigmoid_log_sqrt_multiply: %4 %5 %6 %7 %8 %9 (reduction)\n"
            "fused_softmax_multiply: %10 %11 (out-elemwise-fusable)\n");
}

TEST(RelayFusion, EpilogueMustKeepTheAnchorShape) {
  Graph g;
  Value x = g.add_input("x", {{1, 4}, DataType::Float(32)});
  Value d = g.add_call("dense", {x, g.add_constant(random_array({3, 4}), "w")})[0];
  Value y = g.add_input("y", {{5, 1, 3}, DataType::Float(32)});
  Value s = g.add_call("add", {d, y})[0];  // broadcasts to [5, 1, 3]: not an epilogue of dense
  g.add_output(g.add_call("relu", {s})[0]);
  EXPECT_EQ(fuse_ops(g).to_string(g),
            "fused_dense: %2 (out-elemwise-fusable)\n"
            "fused_add_relu: %4 %5 (broadcast)\n");
}

// Dominator-based fusion: a conv output read by two branches that rejoin is one kernel with both
// branches in its epilogue; a branch that leaves (a graph output, another anchor) stops it.
TEST(RelayFusion, DiamondEpilogueJoinsItsAnchor) {
  Graph g;
  Value x = g.add_input("x", {{1, 5, 7, 6}, DataType::Float(32)});
  Attrs pad{{"padding", std::vector<int64_t>{1, 1, 1, 1}}};
  Value c = g.add_call("conv2d", {x, g.add_constant(random_array({5, 5, 3, 3}), "w")}, pad)[0];
  Value b = g.add_call("add", {c, g.add_constant(random_array({5, 1, 1}, 2), "b")})[0];
  Value r = g.add_call("relu", {b})[0];
  Value s = g.add_call("sigmoid", {b})[0];
  Value m = g.add_call("multiply", {r, s})[0];
  Value t = g.add_call("tanh", {m})[0];               // two consumers again:
  Value p = g.add_call("max_pool2d", {t}, {{"kernel", std::vector<int64_t>{2, 2}}})[0];  // an anchor
  Value e = g.add_call("exp", {t})[0];
  g.add_output(p);
  g.add_output(e);
  FusionPlan plan = fuse_ops(g);
  EXPECT_EQ(plan.to_string(g),
            "fused_conv2d_add_relu_sigmoid_multiply_tanh: %2 %4 %5 %6 %7 %8 (out-elemwise-fusable)\n"
            "fused_max_pool2d: %9 (out-elemwise-fusable)\n"
            "fused_exp: %10 (elemwise)\n");
}

namespace {

// x -> (x - mean) / sqrt(mean((x - mean)^2) + eps) [* gamma] [+ beta], as exporters emit it.
struct LayerNormChain {
  Graph graph;
  Value normalised, scaled, shifted, x, centred;
};

LayerNormChain layer_norm_chain(bool gamma_first = true) {
  LayerNormChain c;
  Graph& g = c.graph;
  c.x = g.add_input("x", {{2, 3, 8}, DataType::Float(32)});
  Attrs reduce{{"axes", std::vector<int64_t>{-1}}, {"keepdims", true}};
  Value mean = g.add_call("mean", {c.x}, reduce)[0];
  Value centred = c.centred = g.add_call("subtract", {c.x, mean})[0];
  Value variance = g.add_call("mean", {g.add_call("multiply", {centred, centred})[0]}, reduce)[0];
  NDArray eps({1}, DataType::Float(32));
  eps.as<float>()[0] = 1e-5f;
  Value denominator = g.add_call("sqrt", {g.add_call("add", {variance, g.add_constant(eps)})[0]})[0];
  c.normalised = g.add_call("divide", {centred, denominator})[0];
  Value gamma = g.add_constant(random_array({8}, 11), "gamma");
  c.scaled = gamma_first ? g.add_call("multiply", {gamma, c.normalised})[0]
                         : g.add_call("multiply", {c.normalised, gamma})[0];
  c.shifted = g.add_call("add", {c.scaled, g.add_constant(random_array({8}, 12), "beta")})[0];
  return c;
}

}  // namespace

TEST(RelayPasses, RecognizeLayerNormFusesTheExportedChain) {
  for (bool gamma_first : {true, false}) {
    LayerNormChain c = layer_norm_chain(gamma_first);
    c.graph.add_output(c.shifted);
    Graph after = eliminate_dead_code(recognize_layer_norm(c.graph));
    EXPECT_EQ(after.to_string(),
              "graph(%x: float32[2, 3, 8]) {\n"
              "  @gamma = constant : float32[8]\n"
              "  @beta = constant : float32[8]\n"
              "  %3 = layer_norm(%x, @gamma, @beta, axes=[2], epsilon=1e-05) : float32[2, 3, 8]\n"
              "  return (%3)\n"
              "}\n");
    std::map<std::string, NDArray> inputs{{"x", random_array({2, 3, 8}, 5, -3.0f, 3.0f)}};
    expect_close(evaluate_graph(after, inputs)[0], evaluate_graph(c.graph, inputs)[0], 1e-4f);
  }
}

TEST(RelayPasses, RecognizeLayerNormStopsWhereValuesAreUsedOutside) {
  // The centred value x - mean is also a graph output: the chain is kept as it is.
  LayerNormChain c = layer_norm_chain();
  c.graph.add_output(c.shifted);
  c.graph.add_output(c.centred);
  Graph after = eliminate_dead_code(recognize_layer_norm(c.graph));
  EXPECT_EQ(count_op(after, "layer_norm"), 0) << after.to_string();
  // The normalised value is an output too: layer_norm without gamma and beta gives it, and the
  // affine multiply and add stay after it.
  LayerNormChain shared = layer_norm_chain();
  shared.graph.add_output(shared.shifted);
  shared.graph.add_output(shared.normalised);
  Graph kept = eliminate_dead_code(recognize_layer_norm(shared.graph));
  EXPECT_EQ(count_op(kept, "layer_norm"), 1) << kept.to_string();
  EXPECT_EQ(count_op(kept, "multiply"), 1) << kept.to_string();
  std::map<std::string, NDArray> shared_inputs{{"x", random_array({2, 3, 8}, 8, -2.0f, 2.0f)}};
  for (size_t k = 0; k < 2; ++k) {
    expect_close(evaluate_graph(kept, shared_inputs)[k], evaluate_graph(shared.graph, shared_inputs)[k], 1e-4f);
  }
  // Without gamma and beta the chain still goes, as a plain layer_norm.
  LayerNormChain bare = layer_norm_chain();
  bare.graph.add_output(bare.normalised);
  Graph plain = eliminate_dead_code(recognize_layer_norm(bare.graph));
  EXPECT_EQ(count_op(plain, "layer_norm"), 1) << plain.to_string();
  EXPECT_EQ(count_op(plain, "mean"), 0);
  std::map<std::string, NDArray> inputs{{"x", random_array({2, 3, 8}, 9, -2.0f, 2.0f)}};
  expect_close(evaluate_graph(plain, inputs)[0], evaluate_graph(bare.graph, inputs)[0], 1e-4f);
}
