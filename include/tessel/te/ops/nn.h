// Neural-network operators of the operator library: dense/matmul/batch_matmul, 2-D convolutions
// (NCHW with groups and depthwise, NHWC, blocked NCHW{c}c with packed weights, transposed), 2-D
// pooling and the padding/packing stages they are built from. Every function builds a compute
// DAG; the returned tensor's op carries the tag its default schedule is registered under.
//
// Shapes must be constant (the default schedules tile by them). Padding is a separate injective
// stage ("pad") that reads its input through clamped indices, so it never reads out of bounds
// even though both branches of its select are evaluated.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "tessel/te/tensor.h"

namespace tessel::te::ops {

// ---- tags ---------------------------------------------------------------------------------
// Anchor ops (reductions with a registered default schedule). Elementwise stages an op builds on
// top of its reduction (dense's bias add, avg_pool2d's division) carry the op's tag too, so that
// default_schedule dispatches to the op's schedule, which fuses them.
inline constexpr const char* kTagDense = "dense";
inline constexpr const char* kTagMatmul = "matmul";
inline constexpr const char* kTagBatchMatmul = "batch_matmul";
inline constexpr const char* kTagConv2dNchw = "conv2d_nchw";
inline constexpr const char* kTagConv2dNhwc = "conv2d_nhwc";
inline constexpr const char* kTagConv2dNchwc = "conv2d_nchwc";
inline constexpr const char* kTagConv2dTransposeNchw = "conv2d_transpose_nchw";
inline constexpr const char* kTagPool2d = "pool2d";             // max_pool2d, and avg_pool2d's sum
inline constexpr const char* kTagGlobalPool2d = "global_pool2d";  // global max / avg's sum
inline constexpr const char* kTagAdaptivePool2d = "adaptive_pool2d";
// Producer stages the anchors' schedules place themselves.
inline constexpr const char* kTagPad = "pad";                  // injective zero/constant padding
inline constexpr const char* kTagWeightPack = "weight_pack";   // injective re-layout of a weight
inline constexpr const char* kTagLayoutTransform = "layout_transform";

// Columns of one packed weight panel in dense / matmul(transpose_b) / batch_matmul(transpose_b):
// weights [N, K] are re-laid out as [ceil(N / 16), K, 16] (zero-filled past N) so that the
// register tile reads 16 consecutive output columns with one vector load.
inline constexpr int kDensePanel = 16;

// ---- padding and layout helpers ------------------------------------------------------------

// Pads the last dimensions of `data`: before[d] / after[d] elements for each of its trailing
// before.size() dimensions (negative values crop). Elements outside `data` are `pad_value`.
Tensor pad_trailing(const Tensor& data, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    double pad_value = 0.0, const std::string& name = "pad");

// NCHW -> NCHW{block}c: [N, C, H, W] -> [N, ceil(C / block), H, W, block] (zero-filled past C).
Tensor nchw_to_nchwc(const Tensor& data, int64_t block, const std::string& name = "data_nchwc");
// NCHW{c}c -> NCHW keeping `channels` channels.
Tensor nchwc_to_nchw(const Tensor& data, int64_t channels, const std::string& name = "data_nchw");
// OIHW weight -> [ceil(O / oc_block), ceil(I / ic_block), KH, KW, ic_block, oc_block] (zero-filled).
Tensor pack_conv2d_weight_nchwc(const Tensor& weight, int64_t ic_block, int64_t oc_block,
                                const std::string& name = "weight_nchwc");
// Dense weight [N, K] -> [ceil(N / kDensePanel), K, kDensePanel] (zero-filled past N).
Tensor pack_dense_weight(const Tensor& weight, const std::string& name = "weight_packed");

// ---- dense and matmul ---------------------------------------------------------------------

// out[i, j] = sum_k data[i, k] * weight[j, k] (+ bias[j]); like torch.nn.functional.linear.
// The weight is packed by a weight_pack stage inside the DAG (constant-foldable at graph level).
Tensor dense(const Tensor& data, const Tensor& weight, const std::optional<Tensor>& bias = std::nullopt,
             const std::string& name = "dense");
// The same with an already packed weight [ceil(N / kDensePanel), K, kDensePanel] and N given.
Tensor dense_packed(const Tensor& data, const Tensor& packed_weight, int64_t out_features,
                    const std::optional<Tensor>& bias = std::nullopt, const std::string& name = "dense");
// C = op(A) * op(B) with op(X) = X^T when the flag is set: A [M, K] (or [K, M]), B [K, N] (or [N, K]).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false,
              const std::string& name = "matmul");
// C[b] = op(A[b]) * op(B[b]); A [batch, M, K], B [batch, K, N] (transposes as in matmul). A batch
// of 1 on either side broadcasts against the other.
Tensor batch_matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false,
                    const std::string& name = "batch_matmul");

// ---- convolution --------------------------------------------------------------------------

// Padding of a 2-D window op: top, left, bottom, right.
using Padding2d = std::array<int64_t, 4>;

// data [N, C, H, W], weight [O, C / groups, KH, KW] -> [N, O, OH, OW] with
// OH = (H + top + bottom - dilation_h * (KH - 1) - 1) / stride_h + 1 (floor). groups == C is depthwise.
Tensor conv2d_nchw(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides = {1, 1},
                   Padding2d padding = {0, 0, 0, 0}, std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1,
                   const std::string& name = "conv2d_nchw");
// data [N, H, W, C], weight HWIO [KH, KW, C, O] -> [N, OH, OW, O]. groups == 1.
Tensor conv2d_nhwc(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides = {1, 1},
                   Padding2d padding = {0, 0, 0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                   const std::string& name = "conv2d_nhwc");
// data [N, C / ic, H, W, ic], weight [O / oc, C / ic, KH, KW, ic, oc] (pack_conv2d_weight_nchwc)
// -> [N, O / oc, OH, OW, oc]. groups == 1. Channels are taken from the blocked shapes (padded
// channels of zero weight contribute nothing).
Tensor conv2d_nchwc(const Tensor& data, const Tensor& packed_weight, std::array<int64_t, 2> strides = {1, 1},
                    Padding2d padding = {0, 0, 0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                    const std::string& name = "conv2d_nchwc");
// Transposed convolution (the gradient of conv2d_nchw w.r.t. its input, PyTorch's
// conv_transpose2d): data [N, C, H, W], weight [C, O, KH, KW] -> [N, O, OH, OW] with
// OH = (H - 1) * stride_h - top - bottom + dilation_h * (KH - 1) + output_padding_h + 1.
Tensor conv2d_transpose_nchw(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides = {1, 1},
                             Padding2d padding = {0, 0, 0, 0}, std::array<int64_t, 2> output_padding = {0, 0},
                             std::array<int64_t, 2> dilation = {1, 1},
                             const std::string& name = "conv2d_transpose_nchw");

// ---- pooling (NCHW, and NCHW{b}c for window and global pooling) ---------------------------
//
// Window and global pooling also take 5-D channel-blocked data [N, C / b, H, W, b] (what the
// graph compiler's blocked convolutions produce); the result keeps the block. Adaptive pooling
// is NCHW only.

// Window positions as in PyTorch: OH = floor_or_ceil((H + top + bottom - dilation * (KH - 1) - 1)
// / stride) + 1, and with ceil_mode a last window that would start in the bottom padding is dropped.
Tensor max_pool2d(const Tensor& data, std::array<int64_t, 2> kernel, std::array<int64_t, 2> strides,
                  Padding2d padding = {0, 0, 0, 0}, std::array<int64_t, 2> dilation = {1, 1}, bool ceil_mode = false,
                  const std::string& name = "max_pool2d");
// count_include_pad: divide by the window clipped to the padded input (PyTorch's rule); otherwise
// by the number of real input elements under the window.
Tensor avg_pool2d(const Tensor& data, std::array<int64_t, 2> kernel, std::array<int64_t, 2> strides,
                  Padding2d padding = {0, 0, 0, 0}, bool ceil_mode = false, bool count_include_pad = true,
                  const std::string& name = "avg_pool2d");
// [N, C, H, W] -> [N, C, 1, 1] (and [N, C / b, H, W, b] -> [N, C / b, 1, 1, b]).
Tensor global_avg_pool2d(const Tensor& data, const std::string& name = "global_avg_pool2d");
Tensor global_max_pool2d(const Tensor& data, const std::string& name = "global_max_pool2d");
// Output cell (i, j) averages rows [floor(i * H / OH), ceil((i + 1) * H / OH)) and likewise columns.
Tensor adaptive_avg_pool2d(const Tensor& data, std::array<int64_t, 2> output_size,
                           const std::string& name = "adaptive_avg_pool2d");

}  // namespace tessel::te::ops
