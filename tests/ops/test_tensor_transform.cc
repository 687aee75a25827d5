// Injective transforms (reshape, transpose, concat, split, pad, strided_slice, take,
// gather_elements, tile, resize2d, layout_transform) through the generic injective schedule and
// the LLVM JIT (bounds-sensitive ones also through the bounds-checking interpreter), against
// index-by-index C++ references.
#include <functional>

#include "tessel/ir/error.h"
#include "ops/test_tensor_util.h"

namespace tessel::te::ops {
namespace {

using testing::HostArray;
using testing::Runner;
using Shape = std::vector<int64_t>;

Shape shape_of_tensor(const Tensor& t) {
  Shape s;
  for (const Expr& e : t.shape()) s.push_back(*as_const_int(e));
  return s;
}

// Checks out[i] == source(multi-index of i) for every element.
void expect_elements(const HostArray& out, const std::function<double(const Shape&)>& source, const std::string& what,
                     double tol = 0) {
  int reported = 0;
  for (int64_t i = 0; i < out.size(); ++i) {
    double e = source(testing::unravel(i, out.shape()));
    double a = out.get(i);
    if (std::fabs(a - e) > tol && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " is " << a << ", expected " << e;
  }
}

void check_both_runners(const Tensor& x, HostArray& a, const Tensor& y, const std::function<double(const Shape&)>& source,
                        const std::string& what, double tol = 0) {
  for (Runner r : {Runner::kJit, Runner::kInterpreter}) {
    HostArray out = testing::run_one({x}, {&a}, y, r);
    expect_elements(out, source, what + (r == Runner::kJit ? " (jit)" : " (interpreter)"), tol);
  }
}

TEST(TensorTransform, Reshape) {
  Tensor x = placeholder(testing::shape_of({6, 35}), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {6, 35});
  a.fill(1);
  Tensor y = reshape(x, {5, -1, 3});
  EXPECT_EQ(shape_of_tensor(y), (Shape{5, 14, 3}));
  EXPECT_EQ(y->op->tag, "injective");
  HostArray out = testing::run_one({x}, {&a}, y);
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(out.get(i), a.get(i)) << i;
  EXPECT_THROW(reshape(x, {4, -1}), CompileError);
  EXPECT_THROW(reshape(x, {-1, -1}), CompileError);
  EXPECT_THROW(reshape(x, {7, 31}), CompileError);
}

TEST(TensorTransform, Transpose) {
  Shape shape = {2, 3, 17, 5};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Int(32), "x");
  HostArray a(DataType::Int(32), shape);
  a.fill(2, -1000, 1000);
  Tensor y = transpose(x, {2, 0, 3, 1});
  EXPECT_EQ(shape_of_tensor(y), (Shape{17, 2, 5, 3}));
  check_both_runners(x, a, y, [&](const Shape& o) { return a.at({o[1], o[3], o[0], o[2]}); }, "transpose");
  Tensor r = transpose(x);  // reversed
  EXPECT_EQ(shape_of_tensor(r), (Shape{5, 17, 3, 2}));
  HostArray out = testing::run_one({x}, {&a}, r);
  expect_elements(out, [&](const Shape& o) { return a.at({o[3], o[2], o[1], o[0]}); }, "transpose reversed");
  EXPECT_THROW(transpose(x, {0, 1, 1, 2}), CompileError);
}

TEST(TensorTransform, ConcatAndSplit) {
  Tensor p = placeholder(testing::shape_of({3, 5, 7}), DataType::Float(32), "p");
  Tensor q = placeholder(testing::shape_of({3, 2, 7}), DataType::Float(32), "q");
  Tensor r = placeholder(testing::shape_of({3, 11, 7}), DataType::Float(32), "r");
  HostArray hp(DataType::Float(32), {3, 5, 7}), hq(DataType::Float(32), {3, 2, 7}), hr(DataType::Float(32), {3, 11, 7});
  hp.fill(3);
  hq.fill(4);
  hr.fill(5);
  Tensor c = concat({p, q, r}, 1);
  EXPECT_EQ(shape_of_tensor(c), (Shape{3, 18, 7}));
  auto source = [&](const Shape& o) {
    if (o[1] < 5) return hp.at({o[0], o[1], o[2]});
    if (o[1] < 7) return hq.at({o[0], o[1] - 5, o[2]});
    return hr.at({o[0], o[1] - 7, o[2]});
  };
  for (Runner runner : {Runner::kJit, Runner::kInterpreter}) {
    HostArray out = testing::run_one({p, q, r}, {&hp, &hq, &hr}, c, runner);
    expect_elements(out, source, "concat");
  }
  // Concat along the innermost axis, where the vector loop straddles the pieces.
  Tensor s = placeholder(testing::shape_of({2, 13}), DataType::Float(32), "s");
  Tensor t = placeholder(testing::shape_of({2, 20}), DataType::Float(32), "t");
  HostArray hs(DataType::Float(32), {2, 13}), ht(DataType::Float(32), {2, 20});
  hs.fill(6);
  ht.fill(7);
  HostArray out = testing::run_one({s, t}, {&hs, &ht}, concat({s, t}, -1));
  expect_elements(out, [&](const Shape& o) { return o[1] < 13 ? hs.at({o[0], o[1]}) : ht.at({o[0], o[1] - 13}); },
                  "concat inner");

  // split: sections and indices; all parts as outputs of one function.
  Tensor x = placeholder(testing::shape_of({4, 18}), DataType::Float(32), "x");
  HostArray hx(DataType::Float(32), {4, 18});
  hx.fill(8);
  std::vector<Tensor> parts = split(x, 3, 1);
  ASSERT_EQ(parts.size(), 3u);
  auto outs = testing::run_default({x}, {&hx}, parts);
  for (int p = 0; p < 3; ++p) {
    expect_elements(outs[p], [&](const Shape& o) { return hx.at({o[0], o[1] + 6 * p}); }, "split " + std::to_string(p));
  }
  std::vector<Tensor> pieces = split(x, std::vector<int64_t>{1, 3}, 0);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(shape_of_tensor(pieces[2]), (Shape{1, 18}));
  HostArray middle = testing::run_one({x}, {&hx}, pieces[1]);
  expect_elements(middle, [&](const Shape& o) { return hx.at({o[0] + 1, o[1]}); }, "split indices");
  EXPECT_THROW(split(x, 5, 1), CompileError);
  EXPECT_THROW(concat({p, placeholder(testing::shape_of({3, 5, 6}), DataType::Float(32), "bad")}, 1), CompileError);
}

TEST(TensorTransform, PadModes) {
  Shape shape = {3, 6};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(9);
  std::vector<int64_t> before = {2, 5}, after = {1, 4};
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  auto edge = [](int64_t i, int64_t n) { return std::clamp<int64_t>(i, 0, n - 1); };
  Tensor pc = pad(x, before, after, PadMode::kConstant, 2.5);
  EXPECT_EQ(shape_of_tensor(pc), (Shape{6, 15}));
  check_both_runners(x, a, pc, [&](const Shape& o) {
    int64_t i = o[0] - 2, j = o[1] - 5;
    return (i < 0 || i >= 3 || j < 0 || j >= 6) ? 2.5 : a.at({i, j});
  }, "pad constant");
  check_both_runners(x, a, pad(x, before, after, PadMode::kEdge), [&](const Shape& o) {
    return a.at({edge(o[0] - 2, 3), edge(o[1] - 5, 6)});
  }, "pad edge");
  check_both_runners(x, a, pad(x, before, after, PadMode::kReflect), [&](const Shape& o) {
    return a.at({reflect(o[0] - 2, 3), reflect(o[1] - 5, 6)});
  }, "pad reflect");
  // Pads on one axis only (shorter lists), with an int dtype.
  Tensor xi = placeholder(testing::shape_of({2, 33}), DataType::Int(8), "xi");
  HostArray ai(DataType::Int(8), {2, 33});
  ai.fill(10, -100, 100);
  HostArray out = testing::run_one({xi}, {&ai}, pad(xi, {1}, {0}, PadMode::kConstant, -7));
  expect_elements(out, [&](const Shape& o) { return o[0] == 0 ? -7.0 : ai.at({o[0] - 1, o[1]}); }, "pad int8");
  EXPECT_THROW(pad(x, {3}, {0}, PadMode::kReflect), CompileError);
  EXPECT_THROW(pad(x, {-1}, {0}), CompileError);
}

TEST(TensorTransform, StridedSlice) {
  Shape shape = {9, 40};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(11);
  struct Case {
    std::vector<int64_t> begin, end, strides;
    std::vector<int> axes;
  };
  std::vector<Case> cases = {
      {{1, 3}, {8, 37}, {2, 3}, {}},           // positive strides, not dividing
      {{-1}, {-100}, {-2}, {1}},                // backwards over an axis, clamped end
      {{7, 100}, {-10, -41}, {-3, -1}, {0, 1}}, // both backwards, clamped begin
      {{2}, {5}, {}, {0}},                      // unit stride, one axis
      {{-3}, {INT32_MAX}, {1}, {-1}},           // to the end
  };
  for (const Case& c : cases) {
    Tensor y = strided_slice(x, c.begin, c.end, c.strides, c.axes);
    // Reference: per axis start/step as numpy would choose them.
    std::vector<int64_t> start = {0, 0}, step = {1, 1}, length = shape;
    for (size_t s = 0; s < c.begin.size(); ++s) {
      int d = c.axes.empty() ? static_cast<int>(s) : (c.axes[s] < 0 ? c.axes[s] + 2 : c.axes[s]);
      int64_t n = shape[d], st = c.strides.empty() ? 1 : c.strides[s];
      int64_t b = c.begin[s] < 0 ? c.begin[s] + n : c.begin[s], e = c.end[s] < 0 ? c.end[s] + n : c.end[s];
      if (st > 0) {
        b = std::clamp<int64_t>(b, 0, n);
        e = std::clamp<int64_t>(e, 0, n);
      } else {
        b = std::clamp<int64_t>(b, -1, n - 1);
        e = std::clamp<int64_t>(e, -1, n - 1);
      }
      int64_t count = 0;
      for (int64_t i = b; st > 0 ? i < e : i > e; i += st) ++count;
      start[d] = b;
      step[d] = st;
      length[d] = count;
    }
    ASSERT_EQ(shape_of_tensor(y), length);
    check_both_runners(x, a, y, [&](const Shape& o) {
      return a.at({start[0] + o[0] * step[0], start[1] + o[1] * step[1]});
    }, "strided_slice");
  }
  EXPECT_THROW(strided_slice(x, {5}, {5}), CompileError);  // empty
  EXPECT_THROW(strided_slice(x, {0}, {5}, {0}), CompileError);
}

TEST(TensorTransform, TakeWithNegativeAndOutOfRangeIndices) {
  Shape shape = {5, 7, 3};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(12);
  for (DataType it : {DataType::Int(32), DataType::Int(64)}) {
    Tensor idx = placeholder(testing::shape_of({2, 4}), it, "idx");
    HostArray hi(it, {2, 4});
    std::vector<double> values = {0, 6, -1, -7, 3, 9, -20, 2};  // 9 and -20 are clamped
    for (int i = 0; i < 8; ++i) hi.set(i, values[i]);
    Tensor y = take(x, idx, 1);
    EXPECT_EQ(shape_of_tensor(y), (Shape{5, 2, 4, 3}));
    auto wrap = [](int64_t v, int64_t n) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n - 1); };
    for (Runner r : {Runner::kJit, Runner::kInterpreter}) {
      HostArray out = testing::run_one({x, idx}, {&a, &hi}, y, r);
      expect_elements(out, [&](const Shape& o) {
        return a.at({o[0], wrap(static_cast<int64_t>(hi.at({o[1], o[2]})), 7), o[3]});
      }, "take " + it.to_string());
    }
  }
  // gather_elements along axis 0.
  Tensor idx = placeholder(testing::shape_of({3, 7, 3}), DataType::Int(32), "gi");
  HostArray hi(DataType::Int(32), {3, 7, 3});
  hi.fill(13, -5, 4);
  HostArray out = testing::run_one({x, idx}, {&a, &hi}, gather_elements(x, idx, 0));
  expect_elements(out, [&](const Shape& o) {
    int64_t v = static_cast<int64_t>(hi.at(o));
    return a.at({v < 0 ? v + 5 : v, o[1], o[2]});
  }, "gather_elements");
  EXPECT_THROW(take(x, placeholder({2}, DataType::Float(32), "f"), 0), CompileError);
}

TEST(TensorTransform, Tile) {
  Tensor x = placeholder(testing::shape_of({3, 5}), DataType::Int(16), "x");
  HostArray a(DataType::Int(16), {3, 5});
  a.fill(14, -50, 50);
  Tensor y = tile(x, {2, 1, 4});
  EXPECT_EQ(shape_of_tensor(y), (Shape{2, 3, 20}));
  HostArray out = testing::run_one({x}, {&a}, y);
  expect_elements(out, [&](const Shape& o) { return a.at({o[1], o[2] % 5}); }, "tile");
}

// Reference bilinear / nearest resize of one (H, W) plane, following the header's definitions.
double resize_reference(const HostArray& a, const Shape& o, int64_t oh, int64_t ow, ResizeMethod method,
                        ResizeCoordinate coord, NearestRounding rounding) {
  int64_t ih = a.shape()[2], iw = a.shape()[3];
  auto src = [&](int64_t x, int64_t in, int64_t out) -> double {
    switch (coord) {
      case ResizeCoordinate::kHalfPixel: return (x + 0.5) * in / out - 0.5;
      case ResizeCoordinate::kAsymmetric: return static_cast<double>(x) * in / out;
      case ResizeCoordinate::kAlignCorners: return out == 1 ? 0.0 : static_cast<double>(x) * (in - 1) / (out - 1);
    }
    return 0;
  };
  double cy = src(o[2], ih, oh), cx = src(o[3], iw, ow);
  if (method == ResizeMethod::kNearest) {
    auto pick = [&](double c, int64_t in) {
      double r = 0;
      switch (rounding) {
        case NearestRounding::kRoundPreferFloor: r = std::ceil(c - 0.5); break;
        case NearestRounding::kRoundPreferCeil: r = std::floor(c + 0.5); break;
        case NearestRounding::kFloor: r = std::floor(c); break;
        case NearestRounding::kCeil: r = std::ceil(c); break;
      }
      return std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
    };
    return a.at({o[0], o[1], pick(cy, ih), pick(cx, iw)});
  }
  auto corners = [](double c, int64_t in, int64_t& lo, int64_t& hi, double& w) {
    c = std::max(c, 0.0);
    lo = std::min<int64_t>(static_cast<int64_t>(std::floor(c)), in - 1);
    hi = std::min<int64_t>(lo + 1, in - 1);
    w = std::min(c - lo, 1.0);
  };
  int64_t y0, y1, x0, x1;
  double wy, wx;
  corners(cy, ih, y0, y1, wy);
  corners(cx, iw, x0, x1, wx);
  auto at = [&](int64_t y, int64_t x) { return a.at({o[0], o[1], y, x}); };
  double top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx, bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
  return top * (1 - wy) + bottom * wy;
}

TEST(TensorTransform, Resize2d) {
  Shape shape = {2, 3, 5, 7};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(15, -4, 4);
  struct Case {
    int64_t oh, ow;
    ResizeMethod method;
    ResizeCoordinate coord;
    NearestRounding rounding;
  };
  using M = ResizeMethod;
  using C = ResizeCoordinate;
  using R = NearestRounding;
  std::vector<Case> cases = {
      {11, 17, M::kLinear, C::kHalfPixel, R::kFloor},       {3, 4, M::kLinear, C::kHalfPixel, R::kFloor},
      {10, 14, M::kLinear, C::kAsymmetric, R::kFloor},      {9, 20, M::kLinear, C::kAlignCorners, R::kFloor},
      {1, 1, M::kLinear, C::kAlignCorners, R::kFloor},      {10, 21, M::kNearest, C::kAsymmetric, R::kFloor},
      {12, 9, M::kNearest, C::kHalfPixel, R::kRoundPreferFloor}, {7, 16, M::kNearest, C::kHalfPixel, R::kRoundPreferCeil},
      {4, 5, M::kNearest, C::kAlignCorners, R::kCeil},
  };
  for (const Case& c : cases) {
    Tensor y = resize2d(x, c.oh, c.ow, c.method, c.coord, c.rounding);
    EXPECT_EQ(shape_of_tensor(y), (Shape{2, 3, c.oh, c.ow}));
    check_both_runners(x, a, y, [&](const Shape& o) {
      return static_cast<float>(resize_reference(a, o, c.oh, c.ow, c.method, c.coord, c.rounding));
    }, "resize2d " + std::to_string(c.oh) + "x" + std::to_string(c.ow), 1e-5);
  }
  EXPECT_THROW(resize2d(placeholder({2, 4, 4}, DataType::Int(32), "i"), 8, 8), CompileError);
}

TEST(TensorTransform, LayoutTransform) {
  // NCHW -> NCHW8c with C = 20 (padded to 24), then back; NCHW -> NHWC; NCHW4c -> NCHW8c.
  Shape shape = {2, 20, 3, 5};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(16);
  Tensor packed = layout_transform(x, "NCHW", "NCHW8c");
  EXPECT_EQ(shape_of_tensor(packed), (Shape{2, 3, 3, 5, 8}));
  check_both_runners(x, a, packed, [&](const Shape& o) {
    int64_t c = o[1] * 8 + o[4];
    return c < 20 ? a.at({o[0], c, o[2], o[3]}) : 0.0;
  }, "NCHW->NCHW8c");
  Tensor back = layout_transform(packed, "NCHW8c", "NCHW");
  EXPECT_EQ(shape_of_tensor(back), (Shape{2, 24, 3, 5}));
  HostArray out = testing::run_one({x}, {&a}, back);
  expect_elements(out, [&](const Shape& o) { return o[1] < 20 ? a.at(o) : 0.0; }, "NCHW8c->NCHW (round trip)");

  Tensor nhwc = layout_transform(x, "NCHW", "NHWC");
  EXPECT_EQ(shape_of_tensor(nhwc), (Shape{2, 3, 5, 20}));
  out = testing::run_one({x}, {&a}, nhwc);
  expect_elements(out, [&](const Shape& o) { return a.at({o[0], o[3], o[1], o[2]}); }, "NCHW->NHWC");

  Tensor p4 = placeholder(testing::shape_of({1, 4, 2, 3, 4}), DataType::Float(32), "p4");
  HostArray h4(DataType::Float(32), {1, 4, 2, 3, 4});
  h4.fill(17);
  Tensor p8 = layout_transform(p4, "NCHW4c", "NCHW8c");
  EXPECT_EQ(shape_of_tensor(p8), (Shape{1, 2, 2, 3, 8}));
  out = testing::run_one({p4}, {&h4}, p8);
  expect_elements(out, [&](const Shape& o) {
    int64_t c = o[1] * 8 + o[4];
    return h4.at({o[0], c / 4, o[2], o[3], c % 4});
  }, "NCHW4c->NCHW8c");

  EXPECT_THROW(layout_transform(x, "NCHW", "NCH"), CompileError);
  EXPECT_THROW(layout_transform(x, "NCHW", "NCHW8"), CompileError);
  EXPECT_THROW(layout_transform(x, "NCHW", "NCHW8d"), CompileError);
  EXPECT_THROW(layout_transform(x, "NCH", "NCH"), CompileError);
}

}  // namespace
}  // namespace tessel::te::ops
