// Graph IR: building graphs with eager type inference, the text printer, the op registry's type
// relations and their error messages.
#include <gtest/gtest.h>

#include "tessel/ir/error.h"
#include "tessel/relay_like/graph.h"
#include "tessel/relay_like/op.h"

using namespace tessel;
using namespace tessel::relay;

namespace {

NDArray filled(std::vector<int64_t> shape, float start = 0.5f) {
  NDArray a(std::move(shape), DataType::Float(32));
  for (int64_t i = 0; i < a.num_elements(); ++i) a.as<float>()[i] = start + 0.25f * static_cast<float>(i % 7);
  return a;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CompileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RelayGraph, NDArrayIsAlignedAndCopies) {
  NDArray a({3, 5}, DataType::Float(32));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
  EXPECT_EQ(a.byte_size(), 60);
  a.as<float>()[7] = 2.5f;
  NDArray b = a.copy();
  EXPECT_TRUE(a.content_equal(b));
  b.as<float>()[7] = 1.0f;
  EXPECT_FALSE(a.content_equal(b));
  NDArray flags({4}, DataType::Bool());
  EXPECT_EQ(flags.byte_size(), 4);
}

TEST(RelayGraph, PrintsConvReluGraph) {
  Graph g;
  Value x = g.add_input("input", {{1, 3, 8, 8}, DataType::Float(32)});
  Value w = g.add_constant(filled({4, 3, 3, 3}), "conv1.weight");
  Value y = g.add_call("conv2d", {x, w}, {{"strides", std::vector<int64_t>{2, 2}}, {"padding", std::vector<int64_t>{1, 1, 1, 1}}})[0];
  EXPECT_EQ(g.type_of(y).to_string(), "float32[1, 4, 4, 4]");
  Value r = g.add_call("relu", {y})[0];
  g.add_output(r);
  EXPECT_EQ(g.to_string(),
            "graph(%input: float32[1, 3, 8, 8]) {\n"
            "  @conv1.weight = constant : float32[4, 3, 3, 3]\n"
            "  %2 = conv2d(%input, @conv1.weight, strides=[2, 2], padding=[1, 1, 1, 1]) : float32[1, 4, 4, 4]\n"
            "  %3 = relu(%2) : float32[1, 4, 4, 4]\n"
            "  return (%3)\n"
            "}\n");
  EXPECT_EQ(g.params().size(), 1u);
  EXPECT_EQ(g.num_calls(), 2);
}

TEST(RelayGraph, MultiOutputAndBroadcastTypes) {
  Graph g;
  Value x = g.add_input("x", {{2, 6, 5}, DataType::Float(32)});
  std::vector<Value> parts = g.add_call("split", {x}, {{"sections", int64_t{3}}, {"axis", int64_t{1}}});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(g.type_of(parts[2]).to_string(), "float32[2, 2, 5]");
  Value b = g.add_input("b", {{5}, DataType::Float(32)});
  Value s = g.add_call("add", {parts[1], b})[0];
  EXPECT_EQ(g.type_of(s).to_string(), "float32[2, 2, 5]");
  g.add_output(parts[0]);
  g.add_output(s);
  EXPECT_NE(g.to_string().find("%1 = split(%x, sections=3, axis=1) : (float32[2, 2, 5], float32[2, 2, 5], float32[2, 2, 5])"),
            std::string::npos);
  EXPECT_NE(g.to_string().find("add(%1.1, %b)"), std::string::npos);
  Value c = g.add_call("less", {s, s})[0];
  EXPECT_EQ(g.type_of(c).to_string(), "bool[2, 2, 5]");
}

TEST(RelayGraph, MatmulBroadcastsBatchAxes) {
  Graph g;
  Value a = g.add_input("a", {{2, 3, 4, 5}, DataType::Float(32)});
  Value b = g.add_input("b", {{5, 7}, DataType::Float(32)});
  EXPECT_EQ(g.type_of(g.add_call("matmul", {a, b})[0]).to_string(), "float32[2, 3, 4, 7]");
  Value c = g.add_input("c", {{3, 5, 2}, DataType::Float(32)});
  EXPECT_EQ(g.type_of(g.add_call("matmul", {a, c})[0]).to_string(), "float32[2, 3, 4, 2]");
  Value v = g.add_input("v", {{5}, DataType::Float(32)});
  EXPECT_EQ(g.type_of(g.add_call("matmul", {a, v})[0]).to_string(), "float32[2, 3, 4]");
}

TEST(RelayGraph, ErrorsNameOpNodeAndProblem) {
  Graph g;
  Value x = g.add_input("x", {{1, 3, 8, 8}, DataType::Float(32)});
  Value w = g.add_constant(filled({4, 2, 3, 3}), "w");
  std::string message = error_of([&] { g.add_call("conv2d", {x, w}); });
  EXPECT_NE(message.find("conv2d (node %2)"), std::string::npos) << message;
  EXPECT_NE(message.find("3 channels"), std::string::npos) << message;

  message = error_of([&] { g.add_call("relu", {x}, {{"alpha", 0.5}}); });
  EXPECT_NE(message.find("relu (node %2): unknown attribute 'alpha'"), std::string::npos) << message;

  message = error_of([&] { g.add_call("no_such_op", {x}); });
  EXPECT_NE(message.find("unknown op 'no_such_op'"), std::string::npos) << message;

  Value y = g.add_input("y", {{1, 3, 7, 8}, DataType::Float(32)});
  message = error_of([&] { g.add_call("add", {x, y}); });
  EXPECT_NE(message.find("add (node %3)"), std::string::npos) << message;

  message = error_of([&] { g.add_call("reshape", {x}, {{"shape", std::vector<int64_t>{5, -1}}}); });
  EXPECT_NE(message.find("reshape (node %3)"), std::string::npos) << message;

  message = error_of([&] { g.add_call("transpose", {x}, {{"axes", std::string("nope")}}); });
  EXPECT_NE(message.find("attribute 'axes' must be an int list"), std::string::npos) << message;

  message = error_of([&] { g.add_call("dense", {x}); });
  EXPECT_NE(message.find("expects 2 to 3 inputs, got 1"), std::string::npos) << message;

  message = error_of([&] { g.add_input("x", {{2}, DataType::Float(32)}); });
  EXPECT_NE(message.find("used twice"), std::string::npos) << message;
}

TEST(RelayGraph, RegistryHasEveryDocumentedOp) {
  for (const char* op : {"relu", "gelu", "cast", "prelu", "add", "where", "sum", "argmax", "dense", "matmul",
                         "batch_matmul", "conv2d", "conv2d_transpose", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
                         "adaptive_avg_pool2d", "softmax", "layer_norm", "batch_norm", "instance_norm", "dropout",
                         "reshape", "transpose", "concatenate", "split", "pad", "strided_slice", "take",
                         "gather_elements", "broadcast_to", "tile", "resize2d", "layout_transform"}) {
    EXPECT_NE(find_op(op), nullptr) << op;
  }
  EXPECT_EQ(get_op("conv2d").pattern, OpPattern::kOutEWiseFusable);
  EXPECT_EQ(get_op("add").pattern, OpPattern::kBroadcast);
  EXPECT_EQ(get_op("reshape").pattern, OpPattern::kInjective);
  EXPECT_EQ(get_op("sum").pattern, OpPattern::kCommReduce);
}
