// The tensor operators of the operator library: elementwise math, numpy-style broadcasting binary
// operators, reductions, normalisations (softmax, layer/batch/instance norm) and injective
// transforms (reshape, transpose, concat, pad, slice, gather, resize, layout changes).
//
// Every function builds compute ops and returns the output tensor; the op's tag selects its
// default schedule (te/ops/tensor_registry.cc): "elemwise", "broadcast", "injective", "reduce",
// "softmax", "log_softmax", "layer_norm", "instance_norm". Axes may be negative (counted from the
// end). Shapes are expected to be constant where an operator has to decide something from them
// (broadcasting a 1, slicing bounds); symbolic extents are accepted where they only flow through.
#pragma once

#include <string>
#include <vector>

#include "tessel/te/schedule.h"
#include "tessel/te/tensor.h"

namespace tessel::te::ops {

// ---- unary elementwise (tag "elemwise") -----------------------------------------------------
// Float-only ops throw CompileError on integer inputs; relu, leaky_relu, clip, abs, neg, sign,
// maximum/minimum-like ops also take integers.

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double alpha = 0.01);
// slope is broadcast along `axis` of x: a tensor of shape [C] (C = x's extent on axis) or [1].
// Tag "broadcast".
Tensor prelu(const Tensor& x, const Tensor& slope, int axis = 1);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor erf(const Tensor& x);
// Exact: 0.5 x (1 + erf(x / sqrt 2)); approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Tensor gelu(const Tensor& x, bool tanh_approximation = false);
Tensor clip(const Tensor& x, double min_value, double max_value);
// ONNX HardSigmoid: max(0, min(1, alpha x + beta)).
Tensor hard_sigmoid(const Tensor& x, double alpha = 0.2, double beta = 0.5);
// x * max(0, min(1, x / 6 + 1/2)).
Tensor hard_swish(const Tensor& x);
// log(1 + exp(x)), evaluated as max(x, 0) + log(1 + exp(-|x|)) so that it never overflows.
Tensor softplus(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor selu(const Tensor& x, double alpha = 1.6732632423543772, double scale = 1.0507009873554805);
Tensor abs(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);  // halfway cases to even, as numpy.round
Tensor sign(const Tensor& x);   // -1, 0 or 1 (0 for ±0; NaN stays NaN for floats)
// sin and cos: Cody-Waite reduction by pi/2 (three-part constant, fma) and minimax polynomials on
// [-pi/4, pi/4]. float32: max abs error measured below 1e-7 (against double-precision sin of the
// same float input) on [-100, 100] and up to |x| = 1e5; not guaranteed beyond. float64 inputs get
// the same float32-level accuracy (~1e-7 absolute), not double precision.
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor reciprocal(const Tensor& x);
// Bool result: !x for bool inputs, x == 0 otherwise.
Tensor logical_not(const Tensor& x);
// Elementwise conversion (float -> int truncates toward zero; any -> bool is x != 0).
Tensor cast(const Tensor& x, DataType dtype);

// ---- broadcasting binary operators (tag "broadcast", or "elemwise" for equal shapes) --------
// numpy broadcasting: shapes are aligned at the right; each pair of extents must be equal or one
// of them 1. Operands must have the same dtype; a scalar operand is converted to the tensor's.

// A binary operand: a tensor, or a scalar that is converted to the other operand's dtype.
struct Operand {
  Operand(Tensor t) : tensor(std::move(t)) {}     // NOLINT(google-explicit-constructor)
  Operand(Expr e) : scalar(std::move(e)) {}       // NOLINT(google-explicit-constructor)
  // Kept as a float64 immediate so that a float64 tensor sees the full value.
  Operand(double v) : scalar(make_float(DataType::Float(64), v)) {}  // NOLINT(google-explicit-constructor)
  Operand(int v) : scalar(Expr(v)) {}             // NOLINT(google-explicit-constructor)
  bool is_tensor() const { return tensor.defined(); }
  Tensor tensor;
  Expr scalar;
};

// The broadcast shape of two shapes; CompileError naming `op_name` when they do not broadcast.
std::vector<Expr> broadcast_shape(const std::vector<Expr>& a, const std::vector<Expr>& b, const std::string& op_name);

Tensor add(const Operand& a, const Operand& b);
Tensor subtract(const Operand& a, const Operand& b);
Tensor multiply(const Operand& a, const Operand& b);
// Floats: true division. Integers: truncation toward zero (C and ONNX Div semantics).
Tensor divide(const Operand& a, const Operand& b);
// Integers: quotient rounded toward negative infinity (Python //). Floats: floor(a / b).
Tensor floor_divide(const Operand& a, const Operand& b);
// Integers: quotient rounded toward zero. Floats: trunc(a / b).
Tensor trunc_divide(const Operand& a, const Operand& b);
// Integers: remainder with the divisor's sign (Python %). Floats: a - floor(a / b) * b.
Tensor floor_mod(const Operand& a, const Operand& b);
Tensor power(const Operand& a, const Operand& b);  // floats only
Tensor maximum(const Operand& a, const Operand& b);
Tensor minimum(const Operand& a, const Operand& b);
// Comparisons return bool tensors.
Tensor equal(const Operand& a, const Operand& b);
Tensor not_equal(const Operand& a, const Operand& b);
Tensor less(const Operand& a, const Operand& b);
Tensor less_equal(const Operand& a, const Operand& b);
Tensor greater(const Operand& a, const Operand& b);
Tensor greater_equal(const Operand& a, const Operand& b);
// Logical ops take bool operands.
Tensor logical_and(const Operand& a, const Operand& b);
Tensor logical_or(const Operand& a, const Operand& b);
Tensor logical_xor(const Operand& a, const Operand& b);
// cond ? x : y with all three broadcast together; cond is bool (or compared with 0).
Tensor where(const Operand& condition, const Operand& x, const Operand& y);
// numpy.broadcast_to: x's shape must broadcast to `shape` (which keeps its rank).
Tensor broadcast_to(const Tensor& x, const std::vector<Expr>& shape);

// ---- reductions (tag "reduce") --------------------------------------------------------------
// `axes` empty means all axes. keepdims keeps reduced axes as extent 1; reducing every axis
// without keepdims gives shape [1] (tensors have at least one dimension; numpy would give 0-d).

Tensor sum(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
// Floats: sum / count. Integers: the sum divided by the count, truncated toward zero.
Tensor mean(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
Tensor max(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
Tensor prod(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
Tensor sum_of_squares(const Tensor& x, std::vector<int> axes = {}, bool keepdims = false);
// Index of the maximum (minimum) along one axis, like numpy: the first occurrence, or the last
// with select_last_index (ONNX ArgMax). Two reductions: the extreme value, then the smallest
// (largest) index holding it. NaNs are not handled specially: a NaN never compares equal, so a
// slice whose extreme came out NaN yields an index outside [0, extent) (unlike numpy).
Tensor argmax(const Tensor& x, int axis, bool keepdims = false, bool select_last_index = false,
              DataType index_dtype = DataType::Int(32));
Tensor argmin(const Tensor& x, int axis, bool keepdims = false, bool select_last_index = false,
              DataType index_dtype = DataType::Int(32));

// ---- normalisation ---------------------------------------------------------------------------

// exp(x - max) / sum(exp(x - max)) along axis. Tag "softmax".
Tensor softmax(const Tensor& x, int axis = -1);
// x - max - log(sum(exp(x - max))). Tag "log_softmax".
Tensor log_softmax(const Tensor& x, int axis = -1);
// (x - mean) / sqrt(var + epsilon) * gamma + beta, mean and (biased) variance over `axes`, which
// must be the trailing axes of x (as ONNX LayerNormalization's axis..rank-1); gamma and beta have
// the shape of those trailing axes (or are undefined for 1 and 0). Tag "layer_norm".
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, std::vector<int> axes = {-1},
                  double epsilon = 1e-5);
// Inference batch norm: (x - mean[c]) / sqrt(var[c] + epsilon) * gamma[c] + beta[c] with c the
// index on `axis`. Tag "broadcast".
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                  const Tensor& moving_var, double epsilon = 1e-5, int axis = 1);
// Per (n, c) normalisation over the spatial axes 2.. of an N, C, ... tensor; gamma and beta have
// shape [C]. Tag "instance_norm".
Tensor instance_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon = 1e-5);

// ---- injective transforms (tag "injective") -------------------------------------------------

// numpy reshape: one extent may be -1 (inferred); element count must match. Row-major order.
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);
// Permutes axes; empty axes reverses them (numpy.transpose).
Tensor transpose(const Tensor& x, std::vector<int> axes = {});
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);
// numpy.split: into `sections` equal parts (CompileError if the extent does not divide) ...
std::vector<Tensor> split(const Tensor& x, int sections, int axis = 0);
// ... or at the given increasing indices.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& indices, int axis = 0);

enum class PadMode : uint8_t { kConstant, kEdge, kReflect };
// pad_before/pad_after per axis (missing trailing entries are 0; negative pads are rejected).
// Reflect mirrors without repeating the edge (numpy "reflect") and needs pad < extent.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad_before, const std::vector<int64_t>& pad_after,
           PadMode mode = PadMode::kConstant, double value = 0.0);

// numpy/ONNX Slice: for each listed axis, begin/end (negative counts from the end, clamped to the
// extent) and stride (non-zero; negative walks backwards). Axes not listed are kept whole;
// empty `axes` means 0, 1, ... An empty result is a CompileError (tensors have positive extents).
Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                     const std::vector<int64_t>& strides = {}, const std::vector<int>& axes = {});

// numpy.take / ONNX Gather along axis: out shape = x.shape[:axis] + indices.shape + x.shape[axis+1:].
// Negative indices count from the end; indices outside [-n, n) are clamped into range (never read
// out of bounds).
Tensor take(const Tensor& x, const Tensor& indices, int axis = 0);
// ONNX GatherElements: out has indices' shape; out[..., i_axis, ...] = x[..., indices[...], ...].
// Same negative-index wrap and clamping as take.
Tensor gather_elements(const Tensor& x, const Tensor& indices, int axis = 0);

// numpy.tile: reps longer than the rank prepend axes of extent 1.
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps);

// Coordinate transform from an output pixel to an input coordinate (ONNX Resize names).
enum class ResizeCoordinate : uint8_t {
  kHalfPixel,     // (o + 0.5) / scale - 0.5            (PyTorch align_corners=False)
  kAsymmetric,    // o / scale                          (PyTorch nearest)
  kAlignCorners,  // o * (in - 1) / (out - 1)           (PyTorch align_corners=True)
};
enum class ResizeMethod : uint8_t { kNearest, kLinear };
// How nearest mode turns a coordinate into an index.
enum class NearestRounding : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
// Resizes the two trailing (H, W) axes of an NCHW tensor to (out_height, out_width); scale is
// out / in per axis. Linear clamps source coordinates into [0, in - 1] (edge pixels repeat).
Tensor resize2d(const Tensor& x, int64_t out_height, int64_t out_width, ResizeMethod method = ResizeMethod::kLinear,
                ResizeCoordinate coordinate = ResizeCoordinate::kHalfPixel,
                NearestRounding rounding = NearestRounding::kRoundPreferFloor);

// Converts between layouts written as TVM layout strings: upper-case letters are primal axes,
// "<factor><lower-case letter>" a sub-axis of that many elements (e.g. "NCHW16c" splits C into
// C/16 outer and 16 inner). Both layouts name the same primal axes; a primal axis that does not
// divide by its new factor is padded with zeros (and the padding dropped on the way back).
// Examples: NCHW <-> NCHW16c, NCHW8c -> NCHW16c, NCHW <-> NHWC.
Tensor layout_transform(const Tensor& x, const std::string& src_layout, const std::string& dst_layout);

// ---- default schedules ------------------------------------------------------------------------

struct ScheduleTarget;
// For a DAG whose output is an injective epilogue (e.g. multiply(softmax(x), 2) or relu(sum(x)))
// of one of these operators: applies that operator's default schedule with the epilogue as the
// output (row-wise stages computed inside the epilogue's parallel row loop; reductions with their
// vectorised/parallel schedule). Returns false, applying nothing, when the nearest reduction
// feeding `output` is not a tensor operator's (then the caller schedules it). Meant for the
// dispatch of the "elemwise", "broadcast", "injective" and "" tags.
bool schedule_tensor_epilogue(Schedule& schedule, const Tensor& output, const ScheduleTarget& target);

// ---- helpers shared by the operator files -----------------------------------------------------

// Normalises a possibly negative axis for a rank-`ndim` tensor; CompileError naming op_name.
int normalize_axis(int axis, int ndim, const std::string& op_name);
// The constant value of a shape extent; CompileError naming op_name when it is symbolic.
int64_t const_extent(const Expr& extent, const std::string& op_name);

}  // namespace tessel::te::ops
