// Registration of the neural-network ops: dense/matmul/batch_matmul, convolutions and pooling.
// These are the fusion anchors (out-elemwise-fusable): their elementwise epilogue joins their
// kernel. Each type check names the mismatching extents before the operator library sees them.
#include <numeric>

#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::relay::detail {

namespace ops = te::ops;
using te::Tensor;
using Tensors = std::vector<Tensor>;

namespace {

std::array<int64_t, 2> pair_attr(const Attrs& a, const std::string& name, std::array<int64_t, 2> default_value) {
  if (!a.has(name)) return default_value;
  std::vector<int64_t> v = a.get_ints(name);
  if (v.size() == 1) return {v[0], v[0]};
  user_check(v.size() == 2) << "attribute '" << name << "' must have 2 entries, got " << v.size();
  return {v[0], v[1]};
}

ops::Padding2d padding_attr(const Attrs& a) {
  if (!a.has("padding")) return {0, 0, 0, 0};
  std::vector<int64_t> v = a.get_ints("padding");
  if (v.size() == 1) return {v[0], v[0], v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1], v[0], v[1]};
  user_check(v.size() == 4) << "attribute 'padding' must have 4 entries (top, left, bottom, right), got " << v.size();
  return {v[0], v[1], v[2], v[3]};
}

int64_t prod(const std::vector<int64_t>& v, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= v[i];
  return n;
}

std::vector<int64_t> shape_of(const Tensor& t) {
  std::vector<int64_t> shape;
  for (const Expr& e : t.shape()) shape.push_back(ops::const_extent(e, "matmul"));
  return shape;
}

// numpy.matmul semantics over te's 2-D matmul and 3-D batch_matmul: 1-D operands are promoted
// (and the added axis dropped), leading batch axes broadcast.
Tensor lower_matmul(Tensor a, Tensor b, bool transpose_a, bool transpose_b) {
  user_check(a.ndim() >= 1 && b.ndim() >= 1) << "operands must have at least one dimension";
  bool a_vector = a.ndim() == 1, b_vector = b.ndim() == 1;
  if (a_vector) {
    user_check(!transpose_a) << "transpose_a needs a matrix";
    a = ops::reshape(a, {1, shape_of(a)[0]});
  }
  if (b_vector) {
    user_check(!transpose_b) << "transpose_b needs a matrix";
    b = ops::reshape(b, {shape_of(b)[0], 1});
  }
  std::vector<int64_t> sa = shape_of(a), sb = shape_of(b);
  size_t ra = sa.size(), rb = sb.size();
  int64_t k_a = transpose_a ? sa[ra - 2] : sa[ra - 1];
  int64_t k_b = transpose_b ? sb[rb - 1] : sb[rb - 2];
  user_check(k_a == k_b) << "contraction extents differ: " << k_a << " (a) vs " << k_b << " (b)";
  int64_t m = transpose_a ? sa[ra - 1] : sa[ra - 2];
  int64_t n = transpose_b ? sb[rb - 2] : sb[rb - 1];
  Tensor out;
  std::vector<int64_t> batch;
  if (ra == 2 && rb == 2) {
    out = ops::matmul(a, b, transpose_a, transpose_b);
  } else {
    // Broadcast the batch axes (numpy rules), then flatten them into one.
    std::vector<int64_t> ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    size_t rank = std::max(ba.size(), bb.size());
    ba.insert(ba.begin(), rank - ba.size(), 1);
    bb.insert(bb.begin(), rank - bb.size(), 1);
    for (size_t i = 0; i < rank; ++i) {
      user_check(ba[i] == bb[i] || ba[i] == 1 || bb[i] == 1)
          << "batch extents do not broadcast: " << ba[i] << " vs " << bb[i] << " at batch axis " << i;
      batch.push_back(std::max(ba[i], bb[i]));
    }
    int64_t total = prod(batch, 0, batch.size());
    auto flatten = [&](Tensor t, const std::vector<int64_t>& own_batch, const std::vector<int64_t>& s) {
      int64_t own = prod(own_batch, 0, own_batch.size());
      if (own != total && own != 1) {
        std::vector<Expr> target;
        for (int64_t d : batch) target.push_back(Expr(static_cast<int>(d)));
        target.push_back(Expr(static_cast<int>(s[s.size() - 2])));
        target.push_back(Expr(static_cast<int>(s[s.size() - 1])));
        t = ops::broadcast_to(ops::reshape(t, [&] {
              std::vector<int64_t> r = own_batch;
              r.push_back(s[s.size() - 2]);
              r.push_back(s[s.size() - 1]);
              return r;
            }()), target);
        own = total;
      }
      return ops::reshape(t, {own, s[s.size() - 2], s[s.size() - 1]});
    };
    Tensor a3 = flatten(a, ba, sa), b3 = flatten(b, bb, sb);
    out = ops::batch_matmul(a3, b3, transpose_a, transpose_b);
  }
  std::vector<int64_t> shape = batch;
  if (!a_vector) shape.push_back(m);
  if (!b_vector) shape.push_back(n);
  if (shape.empty()) shape.push_back(1);
  std::vector<int64_t> current = shape_of(out);
  if (current != shape) out = ops::reshape(out, shape);
  return out;
}

void check_conv2d(const std::vector<TensorType>& in, const Attrs& a) {
  std::string layout = a.get_string("data_layout", "NCHW");
  const TensorType& data = in[0];
  const TensorType& weight = in[1];
  int64_t groups = a.get_int("groups", 1);
  user_check(groups >= 1) << "groups must be positive, got " << groups;
  user_check(data.dtype == weight.dtype) << "data is " << data.dtype.to_string() << " but weight is "
                                         << weight.dtype.to_string();
  int64_t out_channels = 0;
  if (layout == "NCHW") {
    user_check(data.shape.size() == 4) << "data must be 4-D NCHW, got " << data.to_string();
    user_check(weight.shape.size() == 4) << "weight must be 4-D OIHW, got " << weight.to_string();
    user_check(data.shape[1] == weight.shape[1] * groups)
        << "data has " << data.shape[1] << " channels but weight " << weight.to_string() << " with groups=" << groups
        << " expects " << weight.shape[1] * groups;
    user_check(weight.shape[0] % groups == 0) << "output channels " << weight.shape[0] << " do not divide by groups=" << groups;
    out_channels = weight.shape[0];
  } else if (layout == "NHWC") {
    user_check(groups == 1) << "NHWC conv2d supports groups=1 only";
    user_check(data.shape.size() == 4 && weight.shape.size() == 4) << "NHWC data and HWIO weight must be 4-D";
    user_check(data.shape[3] == weight.shape[2]) << "data has " << data.shape[3] << " channels but HWIO weight "
                                                 << weight.to_string() << " expects " << weight.shape[2];
    out_channels = weight.shape[3];
  } else {
    user_check(groups == 1) << "blocked conv2d supports groups=1 only";
    user_check(data.shape.size() == 5 && weight.shape.size() == 6)
        << "layout " << layout << " needs 5-D data and a 6-D packed weight, got " << data.to_string() << " and "
        << weight.to_string();
    out_channels = weight.shape[0] * weight.shape[5];
  }
  if (in.size() == 3) {
    user_check(in[2].shape == std::vector<int64_t>{out_channels} && in[2].dtype == data.dtype)
        << "bias must be " << data.dtype.to_string() << "[" << out_channels << "], got " << in[2].to_string();
  }
}

Tensor lower_conv2d(const Tensors& in, const Attrs& a) {
  std::string layout = a.get_string("data_layout", "NCHW");
  auto strides = pair_attr(a, "strides", {1, 1});
  auto dilation = pair_attr(a, "dilation", {1, 1});
  ops::Padding2d padding = padding_attr(a);
  Tensor out;
  std::vector<int64_t> bias_shape;
  if (layout == "NCHW") {
    out = ops::conv2d_nchw(in[0], in[1], strides, padding, dilation, a.get_int("groups", 1));
    if (in.size() == 3) bias_shape = {ops::const_extent(in[2]->op->shape[0], "conv2d"), 1, 1};
  } else if (layout == "NHWC") {
    out = ops::conv2d_nhwc(in[0], in[1], strides, padding, dilation);
    if (in.size() == 3) bias_shape = {ops::const_extent(in[2]->op->shape[0], "conv2d")};
  } else {
    int64_t block = ops::const_extent(in[1]->op->shape[5], "conv2d");
    user_check(layout == "NCHW" + std::to_string(ops::const_extent(in[0]->op->shape[4], "conv2d")) + "c")
        << "data_layout must be \"NCHW\", \"NHWC\" or \"NCHW{c}c\" matching the data's block, got \"" << layout << "\"";
    out = ops::conv2d_nchwc(in[0], in[1], strides, padding, dilation);
    if (in.size() == 3) {
      int64_t channels = ops::const_extent(in[2]->op->shape[0], "conv2d");
      user_check(channels % block == 0) << "bias of " << channels << " channels does not split into blocks of " << block;
      bias_shape = {channels / block, 1, 1, block};
    }
  }
  if (in.size() == 3) out = ops::add(out, ops::reshape(in[2], bias_shape));
  return out;
}

}  // namespace

void register_nn_ops(std::vector<OpDef>& table) {
  table.push_back({.name = "dense", .min_inputs = 2, .max_inputs = 3, .attrs = {}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs&) {
                     return Tensors{ops::dense(in[0], in[1], in.size() == 3 ? std::optional<Tensor>(in[2]) : std::nullopt)};
                   },
                   .check = [](const std::vector<TensorType>& in, const Attrs&) {
                     user_check(in[0].shape.size() == 2 && in[1].shape.size() == 2)
                         << "data and weight must be 2-D, got " << in[0].to_string() << " and " << in[1].to_string();
                     user_check(in[0].shape[1] == in[1].shape[1])
                         << "data " << in[0].to_string() << " has " << in[0].shape[1] << " features but weight "
                         << in[1].to_string() << " expects " << in[1].shape[1];
                     if (in.size() == 3) {
                       user_check(in[2].shape == std::vector<int64_t>{in[1].shape[0]})
                           << "bias must have shape [" << in[1].shape[0] << "], got " << in[2].to_string();
                     }
                   }});
  // dense over a weight already packed into [ceil(N / 16), K, 16] panels (alter_layout emits it
  // with the packing as a separate, constant-folded pack_dense_weight call).
  table.push_back({.name = "pack_dense_weight", .attrs = {}, .pattern = OpPattern::kInjective,
                   .lower = [](const Tensors& in, const Attrs&) { return Tensors{ops::pack_dense_weight(in[0])}; },
                   .check = [](const std::vector<TensorType>& in, const Attrs&) {
                     user_check(in[0].shape.size() == 2) << "weight must be 2-D [N, K], got " << in[0].to_string();
                   }});
  table.push_back({.name = "dense_packed", .min_inputs = 2, .max_inputs = 3, .attrs = {"out_features"},
                   .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::dense_packed(in[0], in[1], a.get_int("out_features"),
                                                      in.size() == 3 ? std::optional<Tensor>(in[2]) : std::nullopt)};
                   },
                   .check = [](const std::vector<TensorType>& in, const Attrs& a) {
                     int64_t n = a.get_int("out_features");
                     user_check(in[0].shape.size() == 2 && in[1].shape.size() == 3)
                         << "data must be 2-D and the packed weight 3-D, got " << in[0].to_string() << " and "
                         << in[1].to_string();
                     user_check(in[1].shape[0] == (n + ops::kDensePanel - 1) / ops::kDensePanel &&
                                in[1].shape[2] == ops::kDensePanel && in[1].shape[1] == in[0].shape[1])
                         << "packed weight " << in[1].to_string() << " does not match data " << in[0].to_string()
                         << " and out_features=" << n;
                     if (in.size() == 3) {
                       user_check(in[2].shape == std::vector<int64_t>{n})
                           << "bias must have shape [" << n << "], got " << in[2].to_string();
                     }
                   }});
  table.push_back({.name = "matmul", .min_inputs = 2, .max_inputs = 2, .attrs = {"transpose_a", "transpose_b"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{lower_matmul(in[0], in[1], a.get_bool("transpose_a", false), a.get_bool("transpose_b", false))};
                   }});
  table.push_back({.name = "batch_matmul", .min_inputs = 2, .max_inputs = 2, .attrs = {"transpose_a", "transpose_b"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::batch_matmul(in[0], in[1], a.get_bool("transpose_a", false),
                                                      a.get_bool("transpose_b", false))};
                   }});
  table.push_back({.name = "conv2d", .min_inputs = 2, .max_inputs = 3,
                   .attrs = {"strides", "padding", "dilation", "groups", "data_layout"},
                   .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) { return Tensors{lower_conv2d(in, a)}; },
                   .check = check_conv2d});
  table.push_back({.name = "conv2d_transpose", .min_inputs = 2, .max_inputs = 3,
                   .attrs = {"strides", "padding", "output_padding", "dilation", "groups"},
                   .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     user_check(a.get_int("groups", 1) == 1) << "conv2d_transpose supports groups=1 only";
                     Tensor out = ops::conv2d_transpose_nchw(in[0], in[1], pair_attr(a, "strides", {1, 1}), padding_attr(a),
                                                             pair_attr(a, "output_padding", {0, 0}),
                                                             pair_attr(a, "dilation", {1, 1}));
                     if (in.size() == 3) {
                       out = ops::add(out, ops::reshape(in[2], {ops::const_extent(in[2]->op->shape[0], "conv2d_transpose"), 1, 1}));
                     }
                     return Tensors{out};
                   },
                   .check = [](const std::vector<TensorType>& in, const Attrs&) {
                     user_check(in[0].shape.size() == 4 && in[1].shape.size() == 4)
                         << "data and weight must be 4-D, got " << in[0].to_string() << " and " << in[1].to_string();
                     user_check(in[0].shape[1] == in[1].shape[0])
                         << "data has " << in[0].shape[1] << " channels but weight " << in[1].to_string() << " expects "
                         << in[1].shape[0];
                     if (in.size() == 3) {
                       user_check(in[2].shape == std::vector<int64_t>{in[1].shape[1]})
                           << "bias must have shape [" << in[1].shape[1] << "], got " << in[2].to_string();
                     }
                   }});
  table.push_back({.name = "max_pool2d", .attrs = {"kernel", "strides", "padding", "dilation", "ceil_mode"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     user_check(a.has("kernel")) << "attribute 'kernel' is required";
                     return Tensors{ops::max_pool2d(in[0], pair_attr(a, "kernel", {1, 1}), pair_attr(a, "strides", {1, 1}),
                                                    padding_attr(a), pair_attr(a, "dilation", {1, 1}),
                                                    a.get_bool("ceil_mode", false))};
                   }});
  table.push_back({.name = "avg_pool2d", .attrs = {"kernel", "strides", "padding", "ceil_mode", "count_include_pad"},
                   .pattern = OpPattern::kOutEWiseFusable, .lower = [](const Tensors& in, const Attrs& a) {
                     user_check(a.has("kernel")) << "attribute 'kernel' is required";
                     return Tensors{ops::avg_pool2d(in[0], pair_attr(a, "kernel", {1, 1}), pair_attr(a, "strides", {1, 1}),
                                                    padding_attr(a), a.get_bool("ceil_mode", false),
                                                    a.get_bool("count_include_pad", true))};
                   }});
  table.push_back({.name = "global_avg_pool2d", .attrs = {}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs&) { return Tensors{ops::global_avg_pool2d(in[0])}; }});
  table.push_back({.name = "global_max_pool2d", .attrs = {}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs&) { return Tensors{ops::global_max_pool2d(in[0])}; }});
  table.push_back({.name = "adaptive_avg_pool2d", .attrs = {"output_size"}, .pattern = OpPattern::kOutEWiseFusable,
                   .lower = [](const Tensors& in, const Attrs& a) {
                     return Tensors{ops::adaptive_avg_pool2d(in[0], pair_attr(a, "output_size", {1, 1}))};
                   }});
}

}  // namespace tessel::relay::detail
