// Python bindings of the neural-network operators (include/tessel/te/ops/nn.h) into `_tessel.ops`.
// Conversion only: window parameters accept an int or a sequence (PyTorch style) and become the
// C++ arrays; padding of 1, 2 or 4 values means all sides, (height, width) or (top, left, bottom, right).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "bind_ops.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/nn.h"

namespace py = pybind11;
namespace ops = tessel::te::ops;
using tessel::te::Tensor;

namespace {

std::vector<int64_t> int_list(py::handle value, const char* what) {
  if (py::isinstance<py::int_>(value)) return {value.cast<int64_t>()};
  user_check(py::isinstance<py::sequence>(value)) << what << " must be an int or a sequence of ints";
  return value.cast<std::vector<int64_t>>();
}

std::array<int64_t, 2> pair(py::handle value, const char* what) {
  std::vector<int64_t> v = int_list(value, what);
  user_check(v.size() == 1 || v.size() == 2) << what << " takes 1 or 2 values, got " << v.size();
  return v.size() == 1 ? std::array<int64_t, 2>{v[0], v[0]} : std::array<int64_t, 2>{v[0], v[1]};
}

ops::Padding2d padding(py::handle value) {
  std::vector<int64_t> v = int_list(value, "padding");
  if (v.size() == 1) return {v[0], v[0], v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1], v[0], v[1]};
  user_check(v.size() == 4) << "padding takes 1, 2 or 4 values (top, left, bottom, right), got " << v.size();
  return {v[0], v[1], v[2], v[3]};
}

}  // namespace

void bind_ops_nn(py::module_& m) {
  m.def("pad_trailing",
        [](const Tensor& data, const std::vector<int64_t>& before, const std::vector<int64_t>& after, double value,
           const std::string& name) { return ops::pad_trailing(data, before, after, value, name); },
        py::arg("data"), py::arg("before"), py::arg("after"), py::arg("pad_value") = 0.0, py::arg("name") = "pad",
        "Pads the trailing len(before) dimensions (negative values crop); tag 'pad'.");
  m.def("nchw_to_nchwc", &ops::nchw_to_nchwc, py::arg("data"), py::arg("block"), py::arg("name") = "data_nchwc",
        "[N, C, H, W] -> [N, ceil(C / block), H, W, block], zero-filled.");
  m.def("nchwc_to_nchw", &ops::nchwc_to_nchw, py::arg("data"), py::arg("channels"), py::arg("name") = "data_nchw",
        "[N, C/c, H, W, c] -> [N, channels, H, W].");
  m.def("pack_conv2d_weight_nchwc", &ops::pack_conv2d_weight_nchwc, py::arg("weight"), py::arg("ic_block"),
        py::arg("oc_block"), py::arg("name") = "weight_nchwc",
        "OIHW -> [O/oc, I/ic, KH, KW, ic, oc], zero-filled (the weight of conv2d_nchwc).");
  m.def("pack_dense_weight", &ops::pack_dense_weight, py::arg("weight"), py::arg("name") = "weight_packed",
        "[N, K] -> [ceil(N / 16), K, 16] panels (the weight of dense_packed).");

  m.def("dense", &ops::dense, py::arg("data"), py::arg("weight"), py::arg("bias") = std::nullopt,
        py::arg("name") = "dense", "data [M, K] x weight [N, K]^T (+ bias [N]) -> [M, N], like torch linear.");
  m.def("dense_packed", &ops::dense_packed, py::arg("data"), py::arg("packed_weight"), py::arg("out_features"),
        py::arg("bias") = std::nullopt, py::arg("name") = "dense", "dense with a pack_dense_weight weight.");
  m.def("matmul", &ops::matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false, py::arg("name") = "matmul", "op(a) @ op(b) for matrices.");
  m.def("batch_matmul", &ops::batch_matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false, py::arg("name") = "batch_matmul",
        "[B, M, K] @ [B, K, N] (transposes optional; a batch of 1 broadcasts).");

  m.def("conv2d_nchw",
        [](const Tensor& data, const Tensor& weight, py::handle strides, py::handle pad, py::handle dilation,
           int64_t groups, const std::string& name) {
          return ops::conv2d_nchw(data, weight, pair(strides, "strides"), padding(pad), pair(dilation, "dilation"),
                                  groups, name);
        },
        py::arg("data"), py::arg("weight"), py::arg("strides") = 1, py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("groups") = 1, py::arg("name") = "conv2d_nchw",
        "NCHW data, OIHW weight [O, C / groups, KH, KW]; groups == C is depthwise.");
  m.def("conv2d_nhwc",
        [](const Tensor& data, const Tensor& weight, py::handle strides, py::handle pad, py::handle dilation,
           const std::string& name) {
          return ops::conv2d_nhwc(data, weight, pair(strides, "strides"), padding(pad), pair(dilation, "dilation"), name);
        },
        py::arg("data"), py::arg("weight"), py::arg("strides") = 1, py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("name") = "conv2d_nhwc", "NHWC data, HWIO weight [KH, KW, C, O].");
  m.def("conv2d_nchwc",
        [](const Tensor& data, const Tensor& weight, py::handle strides, py::handle pad, py::handle dilation,
           const std::string& name) {
          return ops::conv2d_nchwc(data, weight, pair(strides, "strides"), padding(pad), pair(dilation, "dilation"),
                                   name);
        },
        py::arg("data"), py::arg("packed_weight"), py::arg("strides") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("name") = "conv2d_nchwc",
        "Blocked data [N, C/c, H, W, c], packed weight [O/oc, C/c, KH, KW, c, oc] -> [N, O/oc, OH, OW, oc].");
  m.def("conv2d_transpose_nchw",
        [](const Tensor& data, const Tensor& weight, py::handle strides, py::handle pad, py::handle output_padding,
           py::handle dilation, const std::string& name) {
          return ops::conv2d_transpose_nchw(data, weight, pair(strides, "strides"), padding(pad),
                                            pair(output_padding, "output_padding"), pair(dilation, "dilation"), name);
        },
        py::arg("data"), py::arg("weight"), py::arg("strides") = 1, py::arg("padding") = 0,
        py::arg("output_padding") = 0, py::arg("dilation") = 1, py::arg("name") = "conv2d_transpose_nchw",
        "Transposed convolution (torch conv_transpose2d, groups 1): weight [C, O, KH, KW].");

  m.def("max_pool2d",
        [](const Tensor& data, py::handle kernel, py::handle strides, py::handle pad, py::handle dilation,
           bool ceil_mode, const std::string& name) {
          std::array<int64_t, 2> k = pair(kernel, "kernel");
          std::array<int64_t, 2> s = strides.is_none() ? k : pair(strides, "strides");
          return ops::max_pool2d(data, k, s, padding(pad), pair(dilation, "dilation"), ceil_mode, name);
        },
        py::arg("data"), py::arg("kernel"), py::arg("strides") = py::none(), py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("name") = "max_pool2d",
        "NCHW max pooling (strides default to the kernel, as in torch).");
  m.def("avg_pool2d",
        [](const Tensor& data, py::handle kernel, py::handle strides, py::handle pad, bool ceil_mode,
           bool count_include_pad, const std::string& name) {
          std::array<int64_t, 2> k = pair(kernel, "kernel");
          std::array<int64_t, 2> s = strides.is_none() ? k : pair(strides, "strides");
          return ops::avg_pool2d(data, k, s, padding(pad), ceil_mode, count_include_pad, name);
        },
        py::arg("data"), py::arg("kernel"), py::arg("strides") = py::none(), py::arg("padding") = 0,
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("name") = "avg_pool2d",
        "NCHW average pooling (torch semantics for ceil_mode and count_include_pad).");
  m.def("global_avg_pool2d", &ops::global_avg_pool2d, py::arg("data"), py::arg("name") = "global_avg_pool2d",
        "[N, C, H, W] -> [N, C, 1, 1] mean.");
  m.def("global_max_pool2d", &ops::global_max_pool2d, py::arg("data"), py::arg("name") = "global_max_pool2d",
        "[N, C, H, W] -> [N, C, 1, 1] max.");
  m.def("adaptive_avg_pool2d",
        [](const Tensor& data, py::handle output_size, const std::string& name) {
          return ops::adaptive_avg_pool2d(data, pair(output_size, "output_size"), name);
        },
        py::arg("data"), py::arg("output_size"), py::arg("name") = "adaptive_avg_pool2d",
        "NCHW adaptive average pooling (torch's window rule).");
}
