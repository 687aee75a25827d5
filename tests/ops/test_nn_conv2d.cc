// 2-D convolutions (NCHW with stride/padding/dilation/groups/depthwise, NHWC, NCHWc with layout and
// weight packing stages, transposed) through their default schedules, JIT-compiled and under the
// loop-IR interpreter, against direct loops accumulating in double; conv + bias + relu fused.
#include <gtest/gtest.h>

#include "ops/nn_test_util.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::te::ops {
namespace {

using testing::AlignedArray;
using testing::Engine;
using testing::expect_close;
using testing::fill_random;
using testing::run_default_schedule;

const DataType f32 = DataType::Float(32);

struct ConvCase {
  int n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride{1, 1};
  Padding2d pad{0, 0, 0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int groups = 1;
  int out_h() const { return (h + pad[0] + pad[2] - dilation[0] * (kh - 1) - 1) / stride[0] + 1; }
  int out_w() const { return (w + pad[1] + pad[3] - dilation[1] * (kw - 1) - 1) / stride[1] + 1; }
  std::string describe() const {
    return "conv " + std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) +
           " o=" + std::to_string(o) + " k=" + std::to_string(kh) + "x" + std::to_string(kw) + " groups=" +
           std::to_string(groups);
  }
};

// NCHW data, OIHW weight (I = c / groups), NCHW result.
std::vector<double> conv_reference(const ConvCase& p, const AlignedArray<float>& x, const AlignedArray<float>& wt,
                                   const AlignedArray<float>* bias = nullptr, bool relu = false) {
  int oh = p.out_h(), ow = p.out_w(), cg = p.c / p.groups, og = p.o / p.groups;
  std::vector<double> out(static_cast<size_t>(p.n) * p.o * oh * ow);
  for (int n = 0; n < p.n; ++n)
    for (int o = 0; o < p.o; ++o)
      for (int y = 0; y < oh; ++y)
        for (int xx = 0; xx < ow; ++xx) {
          double acc = bias ? (*bias)[o] : 0.0;
          for (int c = 0; c < cg; ++c)
            for (int i = 0; i < p.kh; ++i)
              for (int j = 0; j < p.kw; ++j) {
                int iy = y * p.stride[0] - p.pad[0] + i * p.dilation[0];
                int ix = xx * p.stride[1] - p.pad[1] + j * p.dilation[1];
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                int ci = (o / og) * cg + c;
                acc += static_cast<double>(x[((n * p.c + ci) * p.h + iy) * p.w + ix]) *
                       wt[((o * cg + c) * p.kh + i) * p.kw + j];
              }
          out[((static_cast<size_t>(n) * p.o + o) * oh + y) * ow + xx] = relu ? std::max(acc, 0.0) : acc;
        }
  return out;
}

void check_conv_nchw(const ConvCase& p, Engine engine, bool bias_relu = false) {
  Tensor x = placeholder({p.n, p.c, p.h, p.w}, f32, "x");
  Tensor w = placeholder({p.o, p.c / p.groups, p.kh, p.kw}, f32, "w");
  Tensor b = placeholder({p.o}, f32, "b");
  Tensor out = conv2d_nchw(x, w, p.stride, p.pad, p.dilation, p.groups);
  if (bias_relu) {
    Tensor conv = out;
    out = compute(conv.shape(), [&](const std::vector<Var>& i) {
      return max(conv({i[0], i[1], i[2], i[3]}) + b({i[1]}), Expr(0.0));
    }, "bias_relu");
  }
  AlignedArray<float> xa(x.get() ? testing::num_elements(x) : 0), wa(testing::num_elements(w)), ba(p.o),
      oa(testing::num_elements(out));
  fill_random(xa, 41, -1, 1);
  fill_random(wa, 42, -1, 1);
  fill_random(ba, 43, -1, 1);
  fill_random(oa, 44, -9, 9);
  if (bias_relu) {
    run_default_schedule(out, {x, w, b, out}, {xa.data(), wa.data(), ba.data(), oa.data()}, engine);
  } else {
    run_default_schedule(out, {x, w, out}, {xa.data(), wa.data(), oa.data()}, engine);
  }
  expect_close(oa, conv_reference(p, xa, wa, bias_relu ? &ba : nullptr, bias_relu), 1e-4, p.describe());
}

TEST(NnConv2dNchw, PrimeShapesJit) {
  check_conv_nchw({3, 7, 11, 13, 5, 3, 3, {1, 1}, {1, 1, 1, 1}}, Engine::kJit);
  check_conv_nchw({1, 1, 1, 1, 1, 1, 1}, Engine::kJit);
  check_conv_nchw({1, 16, 20, 37, 24, 3, 3, {1, 1}, {1, 1, 1, 1}}, Engine::kJit);
}

TEST(NnConv2dNchw, StrideAsymmetricPaddingDilationJit) {
  check_conv_nchw({2, 3, 11, 13, 7, 3, 5, {2, 2}, {0, 1, 2, 1}}, Engine::kJit);
  check_conv_nchw({1, 5, 13, 17, 4, 3, 3, {1, 2}, {2, 0, 1, 3}, {2, 2}}, Engine::kJit);
  check_conv_nchw({1, 4, 9, 9, 3, 2, 2, {3, 3}, {0, 0, 0, 0}}, Engine::kJit);
}

TEST(NnConv2dNchw, GroupsAndDepthwiseJit) {
  check_conv_nchw({2, 4, 9, 11, 6, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 2}, Engine::kJit);
  check_conv_nchw({1, 8, 15, 17, 8, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 8}, Engine::kJit);   // depthwise
  check_conv_nchw({1, 6, 12, 19, 12, 3, 3, {2, 2}, {1, 0, 1, 1}, {1, 1}, 6}, Engine::kJit);  // multiplier 2
}

// Width strides read the pad stage split into stride phases; depthwise convs pad per channel inside
// the parallel channel loop; maps narrower than a vector stack 2 or 4 output rows per register tile.
TEST(NnConv2dNchw, StridePhasesAndSmallMapTilesJit) {
  check_conv_nchw({1, 3, 10, 29, 5, 2, 3, {1, 3}, {0, 2, 1, 1}, {1, 2}}, Engine::kJit);      // 3 phases, dilated
  check_conv_nchw({2, 5, 9, 12, 5, 3, 3, {2, 2}, {1, 1, 0, 0}, {1, 1}, 5}, Engine::kJit);    // depthwise, batch 2
  check_conv_nchw({1, 3, 5, 139, 3, 3, 3, {1, 2}, {1, 1, 1, 1}, {1, 1}, 3}, Engine::kJit);   // wide rows, split
  check_conv_nchw({1, 2, 4, 133, 2, 1, 5, {1, 1}, {0, 2, 0, 1}, {1, 1}, 2}, Engine::kJit);   // 1x5 depthwise
  check_conv_nchw({1, 19, 7, 7, 11, 1, 1}, Engine::kJit);                                   // 4 rows x 4 channels
  check_conv_nchw({2, 6, 13, 11, 9, 1, 1}, Engine::kJit);                                   // 2 rows, odd oh
  check_conv_nchw({1, 7, 1, 5, 13, 1, 3, {1, 1}, {0, 1, 0, 1}}, Engine::kJit);              // a single row
  check_conv_nchw({1, 4, 9, 3, 6, 3, 3, {1, 1}, {1, 1, 1, 1}}, Engine::kJit, true);           // fused epilogue
}

TEST(NnConv2dNchw, BiasReluFusedJit) {
  check_conv_nchw({2, 5, 10, 19, 12, 3, 3, {1, 1}, {1, 1, 1, 1}}, Engine::kJit, true);
  check_conv_nchw({1, 8, 15, 17, 8, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 8}, Engine::kJit, true);
}

TEST(NnConv2dNchw, Interpreter) {
  check_conv_nchw({1, 3, 7, 9, 5, 3, 3, {2, 2}, {0, 1, 2, 1}}, Engine::kInterpreter);
  check_conv_nchw({1, 4, 6, 7, 4, 3, 3, {1, 1}, {1, 1, 1, 1}, {2, 1}, 4}, Engine::kInterpreter, true);
  check_conv_nchw({1, 3, 5, 11, 3, 3, 3, {2, 3}, {1, 1, 1, 1}, {1, 1}, 3}, Engine::kInterpreter);
  check_conv_nchw({1, 5, 7, 6, 3, 1, 1}, Engine::kInterpreter, true);
}

TEST(NnConv2dNchw, FusedScheduleComputesConvInsideOutputTile) {
  Tensor x = placeholder({1, 16, 16, 32}, f32, "x"), w = placeholder({16, 16, 3, 3}, f32, "w");
  Tensor conv = conv2d_nchw(x, w, {1, 1}, {1, 1, 1, 1});
  Tensor relu = compute(conv.shape(), [&](const std::vector<Var>& i) {
    return max(conv({i[0], i[1], i[2], i[3]}), Expr(0.0));
  }, "relu");
  Schedule s = default_schedule({relu}, testing::host_schedule_target());
  std::string ir = to_string(lower_schedule(s, {x, w, relu}, "conv_relu"));
  EXPECT_NE(ir.find("parallel"), std::string::npos) << ir;
  EXPECT_NE(ir.find("ramp"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("[16384]"), std::string::npos) << ir;  // no full-size conv intermediate
}

// The epilogue built from the tensor library (broadcast add of a [O, 1, 1] bias, relu) is fused
// into the convolution's schedule just like a hand-written one.
TEST(NnConv2dNchw, TensorLibraryEpilogueFusedJit) {
  ConvCase p{2, 5, 10, 19, 12, 3, 3, {2, 1}, {1, 1, 0, 1}};
  Tensor x = placeholder({p.n, p.c, p.h, p.w}, f32, "x"), w = placeholder({p.o, p.c, p.kh, p.kw}, f32, "w");
  Tensor b = placeholder({p.o}, f32, "b");
  Tensor conv = conv2d_nchw(x, w, p.stride, p.pad);
  Tensor out = relu(add(conv, reshape(b, {p.o, 1, 1})));
  Schedule s = default_schedule({out}, testing::host_schedule_target());
  std::string ir = to_string(lower_schedule(s, {x, w, b, out}, "conv_bias_relu"));
  size_t conv_elements = testing::num_elements(conv);
  EXPECT_EQ(ir.find("[" + std::to_string(conv_elements) + "]"), std::string::npos) << ir;
  AlignedArray<float> xa(testing::num_elements(x)), wa(testing::num_elements(w)), ba(p.o), oa(conv_elements);
  fill_random(xa, 45, -1, 1);
  fill_random(wa, 46, -1, 1);
  fill_random(ba, 47, -1, 1);
  run_default_schedule(out, {x, w, b, out}, {xa.data(), wa.data(), ba.data(), oa.data()});
  expect_close(oa, conv_reference(p, xa, wa, &ba, true), 1e-4, "conv + add + relu");
}

// A default schedule is a step list: replayed onto a freshly built identical DAG it gives the same
// loop IR.
TEST(NnConv2dNchw, DefaultScheduleReplays) {
  auto build = [] {
    Tensor x = placeholder({2, 6, 11, 13}, f32, "x"), w = placeholder({8, 3, 3, 3}, f32, "w");
    Tensor conv = conv2d_nchw(x, w, {2, 1}, {1, 0, 1, 2}, {1, 1}, 2);
    Tensor out = compute(conv.shape(), [&](const std::vector<Var>& i) {
      return max(conv({i[0], i[1], i[2], i[3]}), Expr(0.0));
    }, "relu");
    return std::vector<Tensor>{x, w, out};
  };
  std::vector<Tensor> first = build(), second = build();
  Schedule s1 = default_schedule({first[2]}, testing::host_schedule_target());
  Schedule s2 = create_schedule({second[2]});
  s2.replay(steps_from_json(steps_to_json(s1.steps())));
  EXPECT_EQ(to_string(lower_schedule(s1, first, "k")), to_string(lower_schedule(s2, second, "k")));
}

// NHWC data and HWIO weight, compared with the NCHW reference on transposed copies.
TEST(NnConv2dNhwc, AgainstNchwReferenceJit) {
  for (ConvCase p : {ConvCase{2, 3, 11, 13, 5, 3, 3, {1, 1}, {1, 1, 1, 1}},
                     ConvCase{1, 16, 9, 10, 40, 3, 3, {2, 2}, {0, 1, 2, 1}},
                     ConvCase{1, 5, 13, 7, 17, 3, 2, {1, 1}, {2, 0, 1, 1}, {2, 2}}}) {
    Tensor x = placeholder({p.n, p.h, p.w, p.c}, f32, "x"), w = placeholder({p.kh, p.kw, p.c, p.o}, f32, "w");
    Tensor out = conv2d_nhwc(x, w, p.stride, p.pad, p.dilation);
    AlignedArray<float> x_nchw(p.n * p.c * p.h * p.w), w_oihw(p.o * p.c * p.kh * p.kw);
    fill_random(x_nchw, 51, -1, 1);
    fill_random(w_oihw, 52, -1, 1);
    AlignedArray<float> xa(x_nchw.size()), wa(w_oihw.size()), oa(testing::num_elements(out));
    for (int n = 0; n < p.n; ++n)
      for (int c = 0; c < p.c; ++c)
        for (int y = 0; y < p.h; ++y)
          for (int z = 0; z < p.w; ++z) xa[((n * p.h + y) * p.w + z) * p.c + c] = x_nchw[((n * p.c + c) * p.h + y) * p.w + z];
    for (int o = 0; o < p.o; ++o)
      for (int c = 0; c < p.c; ++c)
        for (int i = 0; i < p.kh; ++i)
          for (int j = 0; j < p.kw; ++j) wa[((i * p.kw + j) * p.c + c) * p.o + o] = w_oihw[((o * p.c + c) * p.kh + i) * p.kw + j];
    run_default_schedule(out, {x, w, out}, {xa.data(), wa.data(), oa.data()});
    std::vector<double> ref = conv_reference(p, x_nchw, w_oihw);
    int oh = p.out_h(), ow = p.out_w();
    std::vector<double> ref_nhwc(ref.size());
    for (int n = 0; n < p.n; ++n)
      for (int o = 0; o < p.o; ++o)
        for (int y = 0; y < oh; ++y)
          for (int z = 0; z < ow; ++z) ref_nhwc[((n * oh + y) * ow + z) * p.o + o] = ref[((n * p.o + o) * oh + y) * ow + z];
    expect_close(oa, ref_nhwc, 1e-4, "nhwc " + p.describe());
  }
}

// NCHW data and OIHW weight re-laid out inside the DAG (layout_transform + weight_pack stages),
// blocked output compared with the NCHW reference.
void check_conv_nchwc(const ConvCase& p, int ic_block, int oc_block, Engine engine) {
  Tensor x = placeholder({p.n, p.c, p.h, p.w}, f32, "x"), w = placeholder({p.o, p.c, p.kh, p.kw}, f32, "w");
  Tensor out = conv2d_nchwc(nchw_to_nchwc(x, ic_block), pack_conv2d_weight_nchwc(w, ic_block, oc_block), p.stride,
                            p.pad, p.dilation);
  AlignedArray<float> xa(testing::num_elements(x)), wa(testing::num_elements(w)), oa(testing::num_elements(out));
  fill_random(xa, 61, -1, 1);
  fill_random(wa, 62, -1, 1);
  run_default_schedule(out, {x, w, out}, {xa.data(), wa.data(), oa.data()}, engine);
  std::vector<double> ref = conv_reference(p, xa, wa);
  int oh = p.out_h(), ow = p.out_w(), blocks = (p.o + oc_block - 1) / oc_block;
  std::vector<double> blocked(static_cast<size_t>(p.n) * blocks * oh * ow * oc_block, 0.0);
  for (int n = 0; n < p.n; ++n)
    for (int o = 0; o < p.o; ++o)
      for (int y = 0; y < oh; ++y)
        for (int z = 0; z < ow; ++z)
          blocked[(((n * blocks + o / oc_block) * oh + y) * ow + z) * oc_block + o % oc_block] =
              ref[((n * p.o + o) * oh + y) * ow + z];
  expect_close(oa, blocked, 1e-4, "nchwc " + p.describe());
}

TEST(NnConv2dNchwc, PackedLayoutsJit) {
  check_conv_nchwc({1, 32, 14, 14, 32, 3, 3, {1, 1}, {1, 1, 1, 1}}, 16, 16, Engine::kJit);
  check_conv_nchwc({2, 7, 11, 13, 19, 3, 3, {2, 2}, {0, 1, 2, 1}}, 4, 16, Engine::kJit);  // padded channels
  check_conv_nchwc({1, 8, 9, 10, 8, 1, 1}, 8, 8, Engine::kJit);
}

TEST(NnConv2dNchwc, Interpreter) {
  check_conv_nchwc({1, 5, 7, 6, 6, 3, 3, {1, 1}, {1, 1, 1, 1}, {2, 1}}, 4, 4, Engine::kInterpreter);
}

struct TransposeCase {
  int n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride;
  Padding2d pad;
  std::array<int64_t, 2> output_padding;
  std::array<int64_t, 2> dilation{1, 1};
  int out(int d) const {
    int in = d == 0 ? h : w, k = d == 0 ? kh : kw;
    return (in - 1) * stride[d] - pad[d] - pad[d + 2] + dilation[d] * (k - 1) + output_padding[d] + 1;
  }
};

void check_conv_transpose(const TransposeCase& p, Engine engine) {
  Tensor x = placeholder({p.n, p.c, p.h, p.w}, f32, "x"), w = placeholder({p.c, p.o, p.kh, p.kw}, f32, "w");
  Tensor out = conv2d_transpose_nchw(x, w, p.stride, p.pad, p.output_padding, p.dilation);
  int oh = p.out(0), ow = p.out(1);
  ASSERT_EQ(testing::num_elements(out), static_cast<size_t>(p.n * p.o * oh * ow));
  AlignedArray<float> xa(testing::num_elements(x)), wa(testing::num_elements(w)), oa(testing::num_elements(out));
  fill_random(xa, 71, -1, 1);
  fill_random(wa, 72, -1, 1);
  run_default_schedule(out, {x, w, out}, {xa.data(), wa.data(), oa.data()}, engine);
  // Scatter form: every input pixel adds its kernel-weighted copy to the output.
  std::vector<double> ref(oa.size(), 0.0);
  for (int n = 0; n < p.n; ++n)
    for (int c = 0; c < p.c; ++c)
      for (int iy = 0; iy < p.h; ++iy)
        for (int ix = 0; ix < p.w; ++ix)
          for (int o = 0; o < p.o; ++o)
            for (int i = 0; i < p.kh; ++i)
              for (int j = 0; j < p.kw; ++j) {
                int y = iy * p.stride[0] - p.pad[0] + i * p.dilation[0];
                int z = ix * p.stride[1] - p.pad[1] + j * p.dilation[1];
                if (y < 0 || y >= oh || z < 0 || z >= ow) continue;
                ref[((n * p.o + o) * oh + y) * ow + z] += static_cast<double>(xa[((n * p.c + c) * p.h + iy) * p.w + ix]) *
                                                          wa[((c * p.o + o) * p.kh + i) * p.kw + j];
              }
  expect_close(oa, ref, 1e-4, "conv2d_transpose");
}

TEST(NnConv2dTranspose, StridePaddingOutputPaddingJit) {
  check_conv_transpose({1, 3, 5, 7, 4, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}}, Engine::kJit);
  check_conv_transpose({2, 4, 7, 6, 5, 4, 4, {2, 2}, {1, 1, 1, 1}, {0, 0}}, Engine::kJit);
  check_conv_transpose({1, 2, 6, 5, 3, 3, 2, {1, 3}, {0, 2, 1, 0}, {0, 2}, {2, 1}}, Engine::kJit);
  check_conv_transpose({1, 1, 1, 1, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {0, 0}}, Engine::kJit);
}

TEST(NnConv2dTranspose, Interpreter) {
  check_conv_transpose({1, 2, 4, 3, 3, 3, 3, {2, 2}, {1, 0, 1, 1}, {1, 0}}, Engine::kInterpreter);
}

TEST(NnConv2d, ShapeErrorsAreUserErrors) {
  Tensor x = placeholder({1, 4, 5, 5}, f32, "x");
  EXPECT_THROW(conv2d_nchw(x, placeholder({6, 3, 3, 3}, f32, "w")), CompileError);           // channels
  EXPECT_THROW(conv2d_nchw(x, placeholder({6, 2, 3, 3}, f32, "w"), {1, 1}, {0, 0, 0, 0}, {1, 1}, 3), CompileError);
  EXPECT_THROW(conv2d_nchw(x, placeholder({6, 4, 7, 7}, f32, "w")), CompileError);           // kernel too large
  EXPECT_THROW(conv2d_nchw(x, placeholder({6, 4, 3, 3}, f32, "w"), {0, 1}), CompileError);   // zero stride
}

}  // namespace
}  // namespace tessel::te::ops
