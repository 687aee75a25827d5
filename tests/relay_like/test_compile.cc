// Compiling graphs to execution plans: the schedule-provider interface (tuned vs default counts),
// identical workloads compiled once, and the plan run through the JIT against op-by-op evaluation.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>

#include "tessel/codegen/llvm.h"
#include "plan_testing.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/evaluate.h"

using namespace tessel;
using namespace tessel::relay;
using tessel::relay::testing::random_array;
using tessel::relay::testing::run_plan;

namespace {

// Serves an empty step list (the unscheduled loop nest, valid for any DAG) for keys it knows.
class FixedProvider : public ScheduleProvider {
 public:
  std::set<std::string> keys;
  std::optional<std::vector<te::Step>> find(const std::string& key, const codegen::Target&) const override {
    if (keys.count(key)) return std::vector<te::Step>{};
    return std::nullopt;
  }
};

Graph two_branch_graph() {
  Graph g;
  Value x = g.add_input("x", {{3, 11}, DataType::Float(32)});
  Value w = g.add_constant(random_array({5, 11}, 1), "w");
  Value b = g.add_constant(random_array({5}, 2), "b");
  Value d = g.add_call("dense", {x, w, b})[0];
  Value left = g.add_call("relu", {g.add_call("sigmoid", {d})[0]})[0];
  Value right = g.add_call("relu", {g.add_call("sigmoid", {g.add_call("softmax", {d})[0]})[0]})[0];
  g.add_output(g.add_call("subtract", {left, right})[0]);
  return g;
}

}  // namespace

TEST(RelayCompile, PlanMatchesOpByOpEvaluation) {
  Graph g = two_branch_graph();
  CompileOptions options;
  options.print_summary = false;
  CompiledModule module = compile(g, options);
  std::map<std::string, NDArray> inputs{{"x", random_array({3, 11}, 3)}};
  NDArray expected = evaluate_graph(g, inputs)[0];
  NDArray actual = run_plan(module.plan, inputs)[0];
  for (int64_t i = 0; i < expected.num_elements(); ++i) EXPECT_NEAR(actual.as<float>()[i], expected.as<float>()[i], 1e-5f);
  EXPECT_EQ(module.summary(), "0 of " + std::to_string(module.workloads.size()) + " workloads tuned, " +
                                  std::to_string(module.workloads.size()) + " used default schedules");
}

TEST(RelayCompile, ScheduleProviderStepsAreUsedAndCounted) {
  Graph g = two_branch_graph();
  CompileOptions options;
  options.print_summary = false;
  CompiledModule untuned = compile(g, options);
  ASSERT_GE(untuned.workloads.size(), 2u);
  FixedProvider provider;
  provider.keys.insert(untuned.workloads.back().workload_key);
  options.schedules = &provider;
  CompiledModule tuned = compile(g, options);
  EXPECT_EQ(tuned.num_tuned(), 1);
  EXPECT_TRUE(tuned.workloads.back().tuned);
  EXPECT_EQ(tuned.summary(), "1 of " + std::to_string(tuned.workloads.size()) + " workloads tuned, " +
                                 std::to_string(tuned.workloads.size() - 1) + " used default schedules");
  std::map<std::string, NDArray> inputs{{"x", random_array({3, 11}, 4)}};
  NDArray expected = evaluate_graph(g, inputs)[0];
  NDArray actual = run_plan(tuned.plan, inputs)[0];
  for (int64_t i = 0; i < expected.num_elements(); ++i) EXPECT_NEAR(actual.as<float>()[i], expected.as<float>()[i], 1e-5f);
}

TEST(RelayCompile, IdenticalWorkloadsShareOneKernel) {
  Graph g;
  Value x = g.add_input("x", {{2, 3, 5, 5}, DataType::Float(32)});
  Attrs pad{{"padding", std::vector<int64_t>{1, 1, 1, 1}}};
  Value a = g.add_call("relu", {g.add_call("conv2d", {x, g.add_constant(random_array({3, 3, 3, 3}, 5), "w1")}, pad)[0]})[0];
  Value b = g.add_call("relu", {g.add_call("conv2d", {a, g.add_constant(random_array({3, 3, 3, 3}, 6), "w2")}, pad)[0]})[0];
  g.add_output(b);
  CompileOptions options;
  options.print_summary = false;
  CompiledModule module = compile(g, options);
  EXPECT_EQ(module.plan.nodes.size(), 2u);
  EXPECT_EQ(module.plan.kernels.size(), 1u);
  ASSERT_EQ(module.workloads.size(), 1u);
  EXPECT_EQ(module.workloads[0].uses, 2);
  std::map<std::string, NDArray> inputs{{"x", random_array({2, 3, 5, 5}, 7)}};
  NDArray expected = evaluate_graph(g, inputs)[0];
  NDArray actual = run_plan(module.plan, inputs)[0];
  for (int64_t i = 0; i < expected.num_elements(); ++i) EXPECT_NEAR(actual.as<float>()[i], expected.as<float>()[i], 1e-4f);
}
