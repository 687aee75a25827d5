// Python bindings of the tensor operators (include/tessel/te/ops/tensor.h) into `_tessel.ops`:
// elementwise, broadcast, reductions, normalisation and injective transforms. Conversion only:
// Python numbers become scalar operands, None/int/sequence become axis lists, strings name dtypes
// and modes.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bind_common.h"
#include "bind_ops.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/tensor.h"

namespace py = pybind11;

namespace {

using tessel::DataType;
using tessel::Expr;
using tessel::te::Tensor;
namespace ops = tessel::te::ops;

// A tensor, or a Python number / expression as a scalar operand (a float keeps double precision).
ops::Operand to_operand(py::handle obj) {
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (py::isinstance<py::float_>(obj)) return ops::Operand(obj.cast<double>());
  return ops::Operand(tessel::python::to_expr(obj, Expr(), "operand"));
}

// None: all axes; an int: that axis; a sequence: those axes.
std::vector<int> to_axes(py::handle axis) {
  if (axis.is_none()) return {};
  if (py::isinstance<py::int_>(axis)) return {axis.cast<int>()};
  return axis.cast<std::vector<int>>();
}

std::vector<Expr> to_shape(py::handle shape) {
  std::vector<Expr> result;
  if (py::isinstance<py::int_>(shape) || py::isinstance<Expr>(shape)) {
    result.push_back(tessel::python::to_expr(shape, Expr(), "shape extent"));
    return result;
  }
  for (py::handle item : shape) result.push_back(tessel::python::to_expr(item, Expr(), "shape extent"));
  return result;
}

ops::PadMode pad_mode(const std::string& mode) {
  if (mode == "constant") return ops::PadMode::kConstant;
  if (mode == "edge") return ops::PadMode::kEdge;
  user_check(mode == "reflect") << "pad: mode must be constant, edge or reflect, not " << mode;
  return ops::PadMode::kReflect;
}

ops::ResizeMethod resize_method(const std::string& method) {
  if (method == "nearest") return ops::ResizeMethod::kNearest;
  user_check(method == "linear" || method == "bilinear") << "resize2d: method must be nearest or linear, not " << method;
  return ops::ResizeMethod::kLinear;
}

ops::ResizeCoordinate resize_coordinate(const std::string& mode) {
  if (mode == "half_pixel") return ops::ResizeCoordinate::kHalfPixel;
  if (mode == "asymmetric") return ops::ResizeCoordinate::kAsymmetric;
  user_check(mode == "align_corners") << "resize2d: coordinate transform must be half_pixel, asymmetric or "
                                      << "align_corners, not " << mode;
  return ops::ResizeCoordinate::kAlignCorners;
}

ops::NearestRounding nearest_rounding(const std::string& mode) {
  if (mode == "round_prefer_floor") return ops::NearestRounding::kRoundPreferFloor;
  if (mode == "round_prefer_ceil") return ops::NearestRounding::kRoundPreferCeil;
  if (mode == "floor") return ops::NearestRounding::kFloor;
  user_check(mode == "ceil") << "resize2d: rounding must be round_prefer_floor, round_prefer_ceil, floor or ceil, not "
                             << mode;
  return ops::NearestRounding::kCeil;
}

using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const ops::Operand&, const ops::Operand&);
using Reduce = Tensor (*)(const Tensor&, std::vector<int>, bool);

void def_unary(py::module_& m, const char* name, Unary f, const char* doc) {
  m.def(name, f, py::arg("x"), doc);
}

void def_binary(py::module_& m, const char* name, Binary f, const char* doc) {
  m.def(name, [f](py::handle a, py::handle b) { return f(to_operand(a), to_operand(b)); }, py::arg("a"), py::arg("b"),
        doc);
}

void def_reduce(py::module_& m, const char* name, Reduce f, const char* doc) {
  m.def(name, [f](const Tensor& x, py::handle axis, bool keepdims) { return f(x, to_axes(axis), keepdims); },
        py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false, doc);
}

}  // namespace

void bind_ops_tensor(py::module_& m) {
  // ---- unary elementwise
  def_unary(m, "relu", ops::relu, "max(x, 0).");
  m.def("leaky_relu", &ops::leaky_relu, py::arg("x"), py::arg("alpha") = 0.01, "x if x >= 0 else alpha * x.");
  m.def("prelu", &ops::prelu, py::arg("x"), py::arg("slope"), py::arg("axis") = 1,
        "x if x >= 0 else slope[c] * x, slope broadcast along axis.");
  def_unary(m, "sigmoid", ops::sigmoid, "1 / (1 + exp(-x)).");
  def_unary(m, "tanh", ops::tanh, "Hyperbolic tangent.");
  def_unary(m, "exp", ops::exp, "e ** x.");
  def_unary(m, "log", ops::log, "Natural logarithm.");
  def_unary(m, "sqrt", ops::sqrt, "Square root.");
  def_unary(m, "rsqrt", ops::rsqrt, "1 / sqrt(x).");
  def_unary(m, "erf", ops::erf, "Error function.");
  m.def("gelu", &ops::gelu, py::arg("x"), py::arg("tanh_approximation") = false,
        "0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation.");
  m.def("clip", &ops::clip, py::arg("x"), py::arg("a_min"), py::arg("a_max"), "min(max(x, a_min), a_max).");
  m.def("hard_sigmoid", &ops::hard_sigmoid, py::arg("x"), py::arg("alpha") = 0.2, py::arg("beta") = 0.5,
        "max(0, min(1, alpha x + beta)).");
  def_unary(m, "hard_swish", ops::hard_swish, "x * max(0, min(1, x / 6 + 0.5)).");
  def_unary(m, "softplus", ops::softplus, "log(1 + exp(x)), overflow-free.");
  m.def("elu", &ops::elu, py::arg("x"), py::arg("alpha") = 1.0, "x if x > 0 else alpha (exp(x) - 1).");
  m.def("selu", &ops::selu, py::arg("x"), py::arg("alpha") = 1.6732632423543772, py::arg("scale") = 1.0507009873554805,
        "scale * elu(x, alpha).");
  def_unary(m, "abs", ops::abs, "|x|.");
  def_unary(m, "negative", ops::neg, "-x.");
  def_unary(m, "floor", ops::floor, "Round toward negative infinity.");
  def_unary(m, "ceil", ops::ceil, "Round toward positive infinity.");
  def_unary(m, "round", ops::round, "Round to nearest, halfway cases to even (numpy.round).");
  def_unary(m, "sign", ops::sign, "-1, 0 or 1.");
  def_unary(m, "sin", ops::sin, "Sine (float32 accuracy, ~1e-7 absolute for |x| <= 1e5).");
  def_unary(m, "cos", ops::cos, "Cosine (float32 accuracy, ~1e-7 absolute for |x| <= 1e5).");
  def_unary(m, "reciprocal", ops::reciprocal, "1 / x.");
  def_unary(m, "logical_not", ops::logical_not, "not x (x == 0 for non-bool tensors).");
  m.def("cast", [](const Tensor& x, const std::string& dtype) { return ops::cast(x, DataType::parse(dtype)); },
        py::arg("x"), py::arg("dtype"), "Elementwise conversion (float -> int truncates; -> bool is x != 0).");

  // ---- broadcasting binary operators
  def_binary(m, "add", ops::add, "a + b with numpy broadcasting.");
  def_binary(m, "subtract", ops::subtract, "a - b with numpy broadcasting.");
  def_binary(m, "multiply", ops::multiply, "a * b with numpy broadcasting.");
  def_binary(m, "divide", ops::divide, "a / b: true division for floats, truncation toward zero for integers.");
  def_binary(m, "floor_divide", ops::floor_divide, "a // b (floor division).");
  def_binary(m, "trunc_divide", ops::trunc_divide, "a / b truncated toward zero.");
  def_binary(m, "floor_mod", ops::floor_mod, "a % b with the divisor's sign (Python %).");
  def_binary(m, "power", ops::power, "a ** b (floats).");
  def_binary(m, "maximum", ops::maximum, "Elementwise maximum.");
  def_binary(m, "minimum", ops::minimum, "Elementwise minimum.");
  def_binary(m, "equal", ops::equal, "a == b (bool).");
  def_binary(m, "not_equal", ops::not_equal, "a != b (bool).");
  def_binary(m, "less", ops::less, "a < b (bool).");
  def_binary(m, "less_equal", ops::less_equal, "a <= b (bool).");
  def_binary(m, "greater", ops::greater, "a > b (bool).");
  def_binary(m, "greater_equal", ops::greater_equal, "a >= b (bool).");
  def_binary(m, "logical_and", ops::logical_and, "a and b (bool tensors).");
  def_binary(m, "logical_or", ops::logical_or, "a or b (bool tensors).");
  def_binary(m, "logical_xor", ops::logical_xor, "a xor b (bool tensors).");
  m.def("where", [](py::handle c, py::handle x, py::handle y) {
    return ops::where(to_operand(c), to_operand(x), to_operand(y));
  }, py::arg("condition"), py::arg("x"), py::arg("y"), "condition ? x : y, all three broadcast.");
  m.def("broadcast_to", [](const Tensor& x, py::handle shape) { return ops::broadcast_to(x, to_shape(shape)); },
        py::arg("x"), py::arg("shape"), "numpy.broadcast_to.");

  // ---- reductions
  def_reduce(m, "sum", ops::sum, "Sum over axis (None: all; a full reduction has shape (1,)).");
  def_reduce(m, "mean", ops::mean, "Mean over axis (integers: truncated).");
  def_reduce(m, "max", ops::max, "Maximum over axis.");
  def_reduce(m, "min", ops::min, "Minimum over axis.");
  def_reduce(m, "prod", ops::prod, "Product over axis.");
  def_reduce(m, "sum_of_squares", ops::sum_of_squares, "Sum of x * x over axis.");
  auto arg_doc = "Index of the first (or, with select_last_index, the last) extreme along axis.";
  m.def("argmax", [](const Tensor& x, int axis, bool keepdims, bool select_last_index, const std::string& dtype) {
    return ops::argmax(x, axis, keepdims, select_last_index, DataType::parse(dtype));
  }, py::arg("x"), py::arg("axis"), py::arg("keepdims") = false, py::arg("select_last_index") = false,
        py::arg("dtype") = "int32", arg_doc);
  m.def("argmin", [](const Tensor& x, int axis, bool keepdims, bool select_last_index, const std::string& dtype) {
    return ops::argmin(x, axis, keepdims, select_last_index, DataType::parse(dtype));
  }, py::arg("x"), py::arg("axis"), py::arg("keepdims") = false, py::arg("select_last_index") = false,
        py::arg("dtype") = "int32", arg_doc);

  // ---- normalisation
  m.def("softmax", &ops::softmax, py::arg("x"), py::arg("axis") = -1, "exp(x - max) / sum(exp(x - max)) along axis.");
  m.def("log_softmax", &ops::log_softmax, py::arg("x"), py::arg("axis") = -1, "x - max - log(sum(exp(x - max))).");
  m.def("layer_norm", [](const Tensor& x, std::optional<Tensor> gamma, std::optional<Tensor> beta, py::handle axis,
                         double epsilon) {
    std::vector<int> axes = axis.is_none() ? std::vector<int>{-1} : to_axes(axis);
    return ops::layer_norm(x, gamma.value_or(Tensor()), beta.value_or(Tensor()), axes, epsilon);
  }, py::arg("x"), py::arg("gamma") = py::none(), py::arg("beta") = py::none(), py::arg("axis") = -1,
        py::arg("epsilon") = 1e-5, "Layer normalisation over the trailing axes (gamma/beta optional).");
  m.def("batch_norm", &ops::batch_norm, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"),
        py::arg("moving_var"), py::arg("epsilon") = 1e-5, py::arg("axis") = 1, "Inference batch normalisation.");
  m.def("instance_norm", &ops::instance_norm, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("epsilon") = 1e-5, "Per (n, c) normalisation over the spatial axes.");

  // ---- injective transforms
  m.def("reshape", &ops::reshape, py::arg("x"), py::arg("newshape"), "numpy reshape (one extent may be -1).");
  m.def("transpose", [](const Tensor& x, py::handle axes) { return ops::transpose(x, to_axes(axes)); }, py::arg("x"),
        py::arg("axes") = py::none(), "Permutes axes (None reverses them).");
  m.def("concatenate", &ops::concat, py::arg("tensors"), py::arg("axis") = 0, "Joins tensors along axis.");
  m.def("split", [](const Tensor& x, py::handle indices_or_sections, int axis) {
    if (py::isinstance<py::int_>(indices_or_sections)) return ops::split(x, indices_or_sections.cast<int>(), axis);
    return ops::split(x, indices_or_sections.cast<std::vector<int64_t>>(), axis);
  }, py::arg("x"), py::arg("indices_or_sections"), py::arg("axis") = 0, "numpy.split: a list of tensors.");
  m.def("pad", [](const Tensor& x, const std::vector<int64_t>& pad_before, std::optional<std::vector<int64_t>> pad_after,
                  const std::string& mode, double value) {
    return ops::pad(x, pad_before, pad_after.value_or(pad_before), pad_mode(mode), value);
  }, py::arg("x"), py::arg("pad_before"), py::arg("pad_after") = py::none(), py::arg("mode") = "constant",
        py::arg("pad_value") = 0.0, "Pads each axis (pad_after defaults to pad_before); mode constant, edge or reflect.");
  m.def("strided_slice", [](const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                            std::optional<std::vector<int64_t>> strides, std::optional<std::vector<int>> axes) {
    return ops::strided_slice(x, begin, end, strides.value_or(std::vector<int64_t>{}),
                              axes.value_or(std::vector<int>{}));
  }, py::arg("x"), py::arg("begin"), py::arg("end"), py::arg("strides") = py::none(), py::arg("axes") = py::none(),
        "numpy/ONNX slicing with clamped bounds and negative strides.");
  m.def("take", &ops::take, py::arg("x"), py::arg("indices"), py::arg("axis") = 0,
        "numpy.take / ONNX Gather (negative indices wrap; out-of-range ones are clamped).");
  m.def("gather_elements", &ops::gather_elements, py::arg("x"), py::arg("indices"), py::arg("axis") = 0,
        "ONNX GatherElements.");
  m.def("tile", &ops::tile, py::arg("x"), py::arg("reps"), "numpy.tile.");
  m.def("resize2d", [](const Tensor& x, const std::vector<int64_t>& size, const std::string& method,
                       const std::string& coordinate_transformation_mode, const std::string& rounding_method) {
    user_check(size.size() == 2) << "resize2d: size must be (height, width)";
    return ops::resize2d(x, size[0], size[1], resize_method(method), resize_coordinate(coordinate_transformation_mode),
                         nearest_rounding(rounding_method));
  }, py::arg("x"), py::arg("size"), py::arg("method") = "linear",
        py::arg("coordinate_transformation_mode") = "half_pixel", py::arg("rounding_method") = "round_prefer_floor",
        "Resizes the trailing (H, W) axes.");
  m.def("layout_transform", &ops::layout_transform, py::arg("x"), py::arg("src_layout"), py::arg("dst_layout"),
        "Converts between layouts such as NCHW and NCHW16c.");
}
