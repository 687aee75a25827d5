// Registration of the tensor ops: elementwise math, broadcasting binary ops, reductions,
// normalisations and injective transforms. Each entry: name, input count, attributes, pattern
// kind and the lowering to te/ops/tensor.h.
#include <algorithm>

#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::relay::detail {

namespace ops = te::ops;
using te::Tensor;
using Tensors = std::vector<Tensor>;

namespace {

std::vector<int> to_ints(const std::vector<int64_t>& values) { return std::vector<int>(values.begin(), values.end()); }

// A unary op without attributes.
OpDef unary(const std::string& name, Tensor (*function)(const Tensor&)) {
  return {.name = name, .min_inputs = 1, .max_inputs = 1, .attrs = {}, .pattern = OpPattern::kElemWise,
          .lower = [function](const Tensors& in, const Attrs&) { return Tensors{function(in[0])}; }};
}

// A copy with the elemwise tag (identity, dropout at inference).
Tensor copy_tensor(const Tensor& x) {
  return te::compute(x.shape(), [&](const std::vector<Var>& i) { return x(std::vector<Expr>(i.begin(), i.end())); },
                     "copy", "elemwise");
}

OpDef binary(const std::string& name, Tensor (*function)(const ops::Operand&, const ops::Operand&)) {
  return {.name = name, .min_inputs = 2, .max_inputs = 2, .attrs = {}, .pattern = OpPattern::kBroadcast,
          .lower = [function](const Tensors& in, const Attrs&) { return Tensors{function(in[0], in[1])}; }};
}

using Reduce = Tensor (*)(const Tensor&, std::vector<int>, bool);
OpDef reduction(const std::string& name, Reduce function) {
  return {.name = name, .min_inputs = 1, .max_inputs = 1, .attrs = {"axes", "keepdims"},
          .pattern = OpPattern::kCommReduce, .lower = [function](const Tensors& in, const Attrs& a) {
            return Tensors{function(in[0], to_ints(a.get_ints("axes", {})), a.get_bool("keepdims", false))};
          }};
}

using ArgReduce = Tensor (*)(const Tensor&, int, bool, bool, DataType);
OpDef arg_reduction(const std::string& name, ArgReduce function) {
  // Two chained reductions (value, then index): scheduled on their own.
  return {.name = name, .min_inputs = 1, .max_inputs = 1, .attrs = {"axis", "keepdims", "select_last_index"},
          .pattern = OpPattern::kOpaque, .lower = [function](const Tensors& in, const Attrs& a) {
            return Tensors{function(in[0], static_cast<int>(a.get_int("axis", 0)), a.get_bool("keepdims", false),
                                    a.get_bool("select_last_index", false), DataType::Int(64))};
          }};
}

ops::PadMode pad_mode(const std::string& mode) {
  if (mode == "constant") return ops::PadMode::kConstant;
  if (mode == "edge") return ops::PadMode::kEdge;
  user_check(mode == "reflect") << "pad mode must be \"constant\", \"edge\" or \"reflect\", got \"" << mode << "\"";
  return ops::PadMode::kReflect;
}

Tensor lower_resize2d(const Tensor& x, const Attrs& a) {
  std::vector<int64_t> size = a.get_ints("size");
  user_check(size.size() == 2) << "attribute 'size' must have 2 entries (height, width)";
  user_check(x.ndim() == 4) << "expects a 4-D NCHW input";
  std::string method = a.get_string("method", "nearest");
  user_check(method == "nearest" || method == "linear") << "method must be \"nearest\" or \"linear\", got \"" << method << "\"";
  std::string coordinate = a.get_string("coordinate_transformation_mode", "half_pixel");
  ops::ResizeCoordinate c = ops::ResizeCoordinate::kHalfPixel;
  if (coordinate == "asymmetric") c = ops::ResizeCoordinate::kAsymmetric;
  else if (coordinate == "align_corners") c = ops::ResizeCoordinate::kAlignCorners;
  else user_check(coordinate == "half_pixel") << "unsupported coordinate_transformation_mode \"" << coordinate << "\"";
  std::string nearest = a.get_string("nearest_mode", "round_prefer_floor");
  ops::NearestRounding r = ops::NearestRounding::kRoundPreferFloor;
  if (nearest == "round_prefer_ceil") r = ops::NearestRounding::kRoundPreferCeil;
  else if (nearest == "floor") r = ops::NearestRounding::kFloor;
  else if (nearest == "ceil") r = ops::NearestRounding::kCeil;
  else user_check(nearest == "round_prefer_floor") << "unsupported nearest_mode \"" << nearest << "\"";
  return ops::resize2d(x, size[0], size[1], method == "linear" ? ops::ResizeMethod::kLinear : ops::ResizeMethod::kNearest,
                       c, r);
}

Tensors lower_split(const Tensor& x, const Attrs& a) {
  int axis = static_cast<int>(a.get_int("axis", 0));
  user_check(a.has("sections") != a.has("indices")) << "give exactly one of 'sections' and 'indices'";
  if (a.has("sections")) return ops::split(x, static_cast<int>(a.get_int("sections")), axis);
  return ops::split(x, a.get_ints("indices"), axis);
}

void check_same_dtype(const std::vector<TensorType>& in) {
  for (size_t i = 1; i < in.size(); ++i) {
    user_check(in[i].dtype == in[0].dtype) << "inputs must have the same dtype, got " << in[0].dtype.to_string()
                                           << " and " << in[i].dtype.to_string();
  }
}

}  // namespace

void register_tensor_ops(std::vector<OpDef>& table) {
  // ---- unary elementwise ----
  for (auto [name, function] : std::initializer_list<std::pair<const char*, Tensor (*)(const Tensor&)>>{
           {"relu", ops::relu}, {"sigmoid", ops::sigmoid}, {"tanh", ops::tanh}, {"exp", ops::exp},
           {"log", ops::log}, {"sqrt", ops::sqrt}, {"rsqrt", ops::rsqrt}, {"erf", ops::erf},
           {"abs", ops::abs}, {"negative", ops::neg}, {"floor", ops::floor}, {"ceil", ops::ceil},
           {"round", ops::round}, {"sign", ops::sign}, {"sin", ops::sin}, {"cos", ops::cos},
           {"reciprocal", ops::reciprocal}, {"logical_not", ops::logical_not}, {"softplus", ops::softplus},
           {"hard_swish", ops::hard_swish}, {"identity", copy_tensor}, {"dropout", copy_tensor}}) {
    table.push_back(unary(name, function));
  }
  table.push_back({.name = "leaky_relu", .attrs = {"alpha"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::leaky_relu(in[0], a.get_double("alpha", 0.01))};
                   }});
  table.push_back({.name = "elu", .attrs = {"alpha"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::elu(in[0], a.get_double("alpha", 1.0))};
                   }});
  table.push_back({.name = "selu", .attrs = {"alpha", "scale"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::selu(in[0], a.get_double("alpha", 1.6732632423543772),
                                              a.get_double("scale", 1.0507009873554805))};
                   }});
  table.push_back({.name = "hard_sigmoid", .attrs = {"alpha", "beta"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::hard_sigmoid(in[0], a.get_double("alpha", 0.2), a.get_double("beta", 0.5))};
                   }});
  table.push_back({.name = "clip", .attrs = {"min_value", "max_value"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::clip(in[0], a.get_double("min_value", -3.4028234663852886e38),
                                              a.get_double("max_value", 3.4028234663852886e38))};
                   }});
  table.push_back({.name = "gelu", .attrs = {"tanh_approximation"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::gelu(in[0], a.get_bool("tanh_approximation", false))};
                   }});
  table.push_back({.name = "cast", .attrs = {"dtype"}, .pattern = OpPattern::kElemWise,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     user_check(a.has("dtype")) << "attribute 'dtype' is required";
                     return Tensors{ops::cast(in[0], DataType::parse(a.get_string("dtype", "")))};
                   }});
  table.push_back({.name = "prelu", .min_inputs = 2, .max_inputs = 2, .attrs = {"axis"},
                   .pattern = OpPattern::kBroadcast, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::prelu(in[0], in[1], static_cast<int>(a.get_int("axis", 1)))};
                   }});

  // ---- broadcasting binary ----
  for (auto [name, function] :
       std::initializer_list<std::pair<const char*, Tensor (*)(const ops::Operand&, const ops::Operand&)>>{
           {"add", ops::add}, {"subtract", ops::subtract}, {"multiply", ops::multiply}, {"divide", ops::divide},
           {"floor_divide", ops::floor_divide}, {"trunc_divide", ops::trunc_divide}, {"floor_mod", ops::floor_mod},
           {"power", ops::power}, {"maximum", ops::maximum}, {"minimum", ops::minimum}, {"equal", ops::equal},
           {"not_equal", ops::not_equal}, {"less", ops::less}, {"less_equal", ops::less_equal},
           {"greater", ops::greater}, {"greater_equal", ops::greater_equal}, {"logical_and", ops::logical_and},
           {"logical_or", ops::logical_or}, {"logical_xor", ops::logical_xor}}) {
    OpDef def = binary(name, function);
    def.check = [](const std::vector<TensorType>& in, const Attrs&) { check_same_dtype(in); };
    table.push_back(std::move(def));
  }
  table.push_back({.name = "where", .min_inputs = 3, .max_inputs = 3, .attrs = {}, .pattern = OpPattern::kBroadcast,
                   .lower = [](const Tensors& in, const Attrs&) { return Tensors{ops::where(in[0], in[1], in[2])}; },
                   .check = [](const std::vector<TensorType>& in, const Attrs&) {
                     check_same_dtype({in[1], in[2]});
                   }});

  // ---- reductions ----
  table.push_back(reduction("sum", ops::sum));
  table.push_back(reduction("mean", ops::mean));
  table.push_back(reduction("max", ops::max));
  table.push_back(reduction("min", ops::min));
  table.push_back(reduction("prod", ops::prod));
  table.push_back(reduction("sum_of_squares", ops::sum_of_squares));
  table.push_back(arg_reduction("argmax", ops::argmax));
  table.push_back(arg_reduction("argmin", ops::argmin));

  // ---- normalisation: multi-stage row-wise ops; their elementwise epilogue fuses into them ----
  table.push_back({.name = "softmax", .attrs = {"axis"}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::softmax(in[0], static_cast<int>(a.get_int("axis", -1)))};
                   }});
  table.push_back({.name = "log_softmax", .attrs = {"axis"}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::log_softmax(in[0], static_cast<int>(a.get_int("axis", -1)))};
                   }});
  table.push_back({.name = "layer_norm", .min_inputs = 1, .max_inputs = 3, .attrs = {"axes", "epsilon"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     Tensor gamma = in.size() > 1 ? in[1] : Tensor();
                     Tensor beta = in.size() > 2 ? in[2] : Tensor();
                     return Tensors{ops::layer_norm(in[0], gamma, beta, to_ints(a.get_ints("axes", {-1})),
                                                    a.get_double("epsilon", 1e-5))};
                   }});
  table.push_back({.name = "batch_norm", .min_inputs = 5, .max_inputs = 5, .attrs = {"epsilon", "axis"},
                   .pattern = OpPattern::kBroadcast, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::batch_norm(in[0], in[1], in[2], in[3], in[4], a.get_double("epsilon", 1e-5),
                                                    static_cast<int>(a.get_int("axis", 1)))};
                   }});
  table.push_back({.name = "instance_norm", .min_inputs = 3, .max_inputs = 3, .attrs = {"epsilon"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::instance_norm(in[0], in[1], in[2], a.get_double("epsilon", 1e-5))};
                   }});

  // ---- injective transforms ----
  table.push_back({.name = "reshape", .attrs = {"shape"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) { return Tensors{ops::reshape(in[0], a.get_ints("shape"))}; }});
  table.push_back({.name = "transpose", .attrs = {"axes"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::transpose(in[0], to_ints(a.get_ints("axes", {})))};
                   }});
  table.push_back({.name = "concatenate", .min_inputs = 1, .max_inputs = -1, .attrs = {"axis"},
                   .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::concat(in, static_cast<int>(a.get_int("axis", 0)))};
                   },
                   .check = [](const std::vector<TensorType>& in, const Attrs&) { check_same_dtype(in); }});
  // Multi-output: kept in a kernel of its own (fusion handles single-output nodes).
  table.push_back({.name = "split", .attrs = {"sections", "indices", "axis"}, .pattern = OpPattern::kOpaque,
                   .lower = [](const Tensors& in, const Attrs& a) { return lower_split(in[0], a); }});
  table.push_back({.name = "pad", .attrs = {"pad_before", "pad_after", "mode", "value"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::pad(in[0], a.get_ints("pad_before", {}), a.get_ints("pad_after", {}),
                                             pad_mode(a.get_string("mode", "constant")), a.get_double("value", 0.0))};
                   }});
  table.push_back({.name = "strided_slice", .attrs = {"begin", "end", "strides", "axes"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::strided_slice(in[0], a.get_ints("begin"), a.get_ints("end"),
                                                       a.get_ints("strides", {}), to_ints(a.get_ints("axes", {})))};
                   }});
  table.push_back({.name = "take", .min_inputs = 2, .max_inputs = 2, .attrs = {"axis"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::take(in[0], in[1], static_cast<int>(a.get_int("axis", 0)))};
                   }});
  table.push_back({.name = "gather_elements", .min_inputs = 2, .max_inputs = 2, .attrs = {"axis"},
                   .pattern = OpPattern::kInjective, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::gather_elements(in[0], in[1], static_cast<int>(a.get_int("axis", 0)))};
                   }});
  table.push_back({.name = "broadcast_to", .attrs = {"shape"}, .pattern = OpPattern::kBroadcast,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     std::vector<Expr> shape;
                     for (int64_t d : a.get_ints("shape")) shape.push_back(Expr(static_cast<int>(d)));
                     return Tensors{ops::broadcast_to(in[0], shape)};
                   }});
  table.push_back({.name = "tile", .attrs = {"reps"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) { return Tensors{ops::tile(in[0], a.get_ints("reps"))}; }});
  table.push_back({.name = "resize2d", .attrs = {"size", "method", "coordinate_transformation_mode", "nearest_mode"},
                   .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) { return Tensors{lower_resize2d(in[0], a)}; }});
  table.push_back({.name = "layout_transform", .attrs = {"src_layout", "dst_layout"}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     user_check(a.has("src_layout") && a.has("dst_layout")) << "needs 'src_layout' and 'dst_layout'";
                     return Tensors{ops::layout_transform(in[0], a.get_string("src_layout", ""), a.get_string("dst_layout", ""))};
                   }});
}

}  // namespace tessel::relay::detail
