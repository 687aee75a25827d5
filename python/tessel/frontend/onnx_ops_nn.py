"""ONNX neural-network ops -> graph ops: convolution, pooling, Gemm/MatMul, normalisation, Resize.

Window ops are 2-D (NCHW) in the graph; 1-D ONNX windows (N, C, L) run as 2-D with H = 1.
3-D windows are rejected as unsupported.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, List, Sequence, Tuple

import numpy as np

from tessel.frontend.onnx_importer import Const, NodeContext, converter

_FLOATS = ("float32", "float64")


def _window_rank(ctx: NodeContext) -> int:
    """Number of spatial axes (1 or 2) of input 0; UnsupportedError otherwise."""
    rank = ctx.rank(0)
    if rank not in (3, 4):
        raise ctx.unsupported(f"{rank - 2}-D windows are not supported (1-D and 2-D only)")
    if ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported (floating point only)")
    return rank - 2


def _as_2d(ctx: NodeContext, v: Any) -> Any:
    """[N, C, L] -> [N, C, 1, L] (a 1-D window op as a 2-D one)."""
    shape = ctx.type_of(v)[0]
    return ctx.reshape(v, list(shape[:2]) + [1] + list(shape[2:]))


def _spatial(values: Sequence[int], spatial: int, fill: int) -> List[int]:
    values = list(values) if values else [fill] * spatial
    return [fill] * (2 - spatial) + values  # 1-D: the inserted H axis gets the neutral value


def _padding(ctx: NodeContext, in_sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> List[int]:
    """ONNX pads/auto_pad for the spatial axes -> [begin..., end...] (in ONNX's order)."""
    spatial = len(in_sizes)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        pads = ctx.attr("pads") or [0] * (2 * spatial)
        return [int(p) for p in pads]
    if auto_pad == "VALID":
        return [0] * (2 * spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return begin + end
    raise ctx.unsupported(f"attribute auto_pad='{auto_pad}' is not supported")


def _to_graph_padding(pads: Sequence[int], spatial: int) -> List[int]:
    """ONNX [begin..., end...] -> the graph's (top, left, bottom, right)."""
    begin, end = list(pads[:spatial]), list(pads[spatial:])
    if spatial == 1:
        return [0, begin[0], 0, end[0]]
    return [begin[0], begin[1], end[0], end[1]]


def _restore_1d(ctx: NodeContext, result: Any, spatial: int) -> Any:
    if spatial == 2:
        return result
    shape = ctx.type_of(result)[0]
    return ctx.reshape(result, [shape[0], shape[1], shape[3]])


# ---- convolution --------------------------------------------------------------------------------


@converter("Conv")
def _conv(ctx: NodeContext) -> List[Any]:
    spatial = _window_rank(ctx)
    x_shape, w_shape = ctx.shape(0), ctx.shape(1)
    kernel = list(ctx.attr("kernel_shape") or w_shape[2:])
    strides = ctx.attr("strides") or [1] * spatial
    dilations = ctx.attr("dilations") or [1] * spatial
    pads = _padding(ctx, x_shape[2:], kernel, strides, dilations)
    x, w = ctx.value(0), ctx.value(1)
    if spatial == 1:
        x, w = _as_2d(ctx, x), _as_2d(ctx, w)
    inputs = [x, w] + ([ctx.value(2)] if ctx.has_input(2) else [])
    result = ctx.call("conv2d", inputs, strides=_spatial(strides, spatial, 1),
                      padding=_to_graph_padding(pads, spatial), dilation=_spatial(dilations, spatial, 1),
                      groups=int(ctx.attr("group", 1)))
    return [_restore_1d(ctx, result, spatial)]


@converter("ConvTranspose")
def _conv_transpose(ctx: NodeContext) -> List[Any]:
    spatial = _window_rank(ctx)
    x_shape, w_shape = ctx.shape(0), ctx.shape(1)
    kernel = list(ctx.attr("kernel_shape") or w_shape[2:])
    strides = list(ctx.attr("strides") or [1] * spatial)
    dilations = list(ctx.attr("dilations") or [1] * spatial)
    output_padding = list(ctx.attr("output_padding") or [0] * spatial)
    output_shape = ctx.attr("output_shape")
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    pads = list(ctx.attr("pads") or [0] * (2 * spatial))
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # Output size given (or SAME: input * stride): pads follow from it (ONNX's formula).
        sizes = list(output_shape)[-spatial:] if output_shape is not None else [
            size * s for size, s in zip(x_shape[2:], strides)]
        begin, end = [], []
        for size, out, k, s, d, op in zip(x_shape[2:], sizes, kernel, strides, dilations, output_padding):
            total = s * (size - 1) + op + ((k - 1) * d + 1) - out
            if total < 0:
                raise ctx.unsupported(f"output_shape {list(output_shape or sizes)} needs negative padding")
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad != "SAME_LOWER" else large)
            end.append(large if auto_pad != "SAME_LOWER" else small)
        pads = begin + end
    elif auto_pad not in ("NOTSET", "VALID"):
        raise ctx.unsupported(f"attribute auto_pad='{auto_pad}' is not supported")
    elif auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    x, w = ctx.value(0), ctx.value(1)
    if spatial == 1:
        x, w = _as_2d(ctx, x), _as_2d(ctx, w)
    inputs = [x, w] + ([ctx.value(2)] if ctx.has_input(2) else [])
    result = ctx.call("conv2d_transpose", inputs, strides=_spatial(strides, spatial, 1),
                      padding=_to_graph_padding(pads, spatial),
                      output_padding=_spatial(output_padding, spatial, 0),
                      dilation=_spatial(dilations, spatial, 1), groups=int(ctx.attr("group", 1)))
    return [_restore_1d(ctx, result, spatial)]


# ---- pooling ------------------------------------------------------------------------------------


@converter("MaxPool", "AveragePool")
def _pool(ctx: NodeContext) -> List[Any]:
    spatial = _window_rank(ctx)
    if ctx.output_used(1):
        raise ctx.unsupported("output Indices is not supported")
    ctx.reject_attr("storage_order", [0])
    kernel = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides") or [1] * spatial)
    dilations = list(ctx.attr("dilations") or [1] * spatial)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    pads = _padding(ctx, ctx.shape(0)[2:], kernel, strides, dilations)
    if ceil_mode:
        # The graph drops a last window that would start in the end padding (PyTorch's rule);
        # ONNX keeps it. Accept only shapes where the two agree.
        for size, k, s, d, b, e in zip(ctx.shape(0)[2:], kernel, strides, dilations, pads[:spatial], pads[spatial:]):
            count = math.ceil((size + b + e - ((k - 1) * d + 1)) / s) + 1
            if (count - 1) * s >= size + b:
                raise ctx.unsupported("ceil_mode=1 with a last window starting in the padding is not supported")
    x = ctx.value(0)
    if spatial == 1:
        x = _as_2d(ctx, x)
    common = dict(kernel=_spatial(kernel, spatial, 1), strides=_spatial(strides, spatial, 1),
                  padding=_to_graph_padding(pads, spatial), ceil_mode=ceil_mode)
    if ctx.op_type == "MaxPool":
        result = ctx.call("max_pool2d", [x], dilation=_spatial(dilations, spatial, 1), **common)
    else:
        if any(d != 1 for d in dilations):
            raise ctx.unsupported("attribute dilations is not supported for AveragePool")
        include_pad = bool(ctx.attr("count_include_pad", 0))
        result = ctx.call("avg_pool2d", [x], count_include_pad=include_pad, **common)
    return [_restore_1d(ctx, result, spatial)]


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: NodeContext) -> List[Any]:
    rank = ctx.rank(0)
    op = "global_avg_pool2d" if ctx.op_type == "GlobalAveragePool" else "global_max_pool2d"
    if rank == 4:
        return [ctx.call(op, [ctx.value(0)])]
    if ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported")
    reduce = "mean" if ctx.op_type == "GlobalAveragePool" else "max"
    return [ctx.call(reduce, [ctx.value(0)], axes=list(range(2, rank)), keepdims=True)]


# ---- dense algebra ----------------------------------------------------------------------------


@converter("Gemm")
def _gemm(ctx: NodeContext) -> List[Any]:
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
    a, b = ctx.value(0), ctx.value(1)
    dtype = ctx.dtype(0)
    n = ctx.shape(1)[0] if trans_b else ctx.shape(1)[1]
    bias = ctx.value(2) if ctx.has_input(2) else None
    if bias is not None and beta == 0.0:
        bias = None
    if not trans_a and trans_b and alpha == 1.0 and (bias is None or (beta == 1.0 and ctx.shape(2) in ((n,), (1, n)))):
        # x @ W^T + b with W [N, K]: the graph's dense (a fully connected layer).
        inputs = [a, b] + ([ctx.reshape(bias, [n])] if bias is not None else [])
        return [ctx.call("dense", inputs)]
    result = ctx.call("matmul", [a, b], transpose_a=trans_a, transpose_b=trans_b)
    if alpha != 1.0:
        result = ctx.call("multiply", [result, ctx.scalar(alpha, dtype)])
    if bias is not None:
        if beta != 1.0:
            bias = ctx.call("multiply", [bias, ctx.scalar(beta, dtype)])
        result = ctx.call("add", [result, bias])
    return [result]


def _transposed_weight(ctx: NodeContext, weight: Const) -> Const:
    """``weight`` [K, N] as the [N, K] weight of dense, once per named weight."""
    if weight.param_name is None:
        return Const(np.ascontiguousarray(weight.array.T))
    cache = ctx.importer.transposed_weights
    if weight.param_name not in cache:
        cache[weight.param_name] = Const(np.ascontiguousarray(weight.array.T), f"{weight.param_name}.transposed")
    return cache[weight.param_name]


@converter("MatMul")
def _matmul(ctx: NodeContext) -> List[Any]:
    a, b = ctx.value(0), ctx.value(1)
    a_shape, b_shape = ctx.shape(0), ctx.shape(1)
    if ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported (floating point only)")
    if len(a_shape) == 1 and len(b_shape) == 1:
        product = ctx.call("matmul", [ctx.reshape(a, [1, a_shape[0]]), ctx.reshape(b, [b_shape[0], 1])])
        return [ctx.reshape(product, [1])]
    if len(a_shape) == 1:  # a vector on the left: [K] -> [1, K], the 1 dropped afterwards
        product = ctx.call("matmul", [ctx.reshape(a, [1, a_shape[0]]), b])
        shape = ctx.type_of(product)[0]
        return [ctx.reshape(product, list(shape[:-2]) + [shape[-1]])]
    if len(b_shape) == 1:
        product = ctx.call("matmul", [a, ctx.reshape(b, [b_shape[0], 1])])
        shape = ctx.type_of(product)[0]
        return [ctx.reshape(product, list(shape[:-1]))]
    if len(a_shape) >= 2 and len(b_shape) == 2 and isinstance(b, Const):
        # A weight on the right (a linear layer): dense with the transposed weight, which the
        # graph compiler packs into the panels its kernel reads. Leading batch dimensions of the
        # activations fold into the rows ([B, S, K] -> [B*S, K]) and come back afterwards.
        weight = _transposed_weight(ctx, b)
        if len(a_shape) == 2:
            return [ctx.call("dense", [a, weight])]
        rows = int(np.prod(a_shape[:-1]))
        product = ctx.call("dense", [ctx.reshape(a, [rows, a_shape[-1]]), weight])
        return [ctx.reshape(product, list(a_shape[:-1]) + [b_shape[1]])]
    return [ctx.call("matmul", [a, b])]


# ---- normalisation ------------------------------------------------------------------------------


@converter("BatchNormalization")
def _batch_norm(ctx: NodeContext) -> List[Any]:
    if ctx.attr("training_mode", 0):
        raise ctx.unsupported("attribute training_mode=1 is not supported (inference only)")
    if any(ctx.output_used(i) for i in range(1, ctx.num_outputs)):
        raise ctx.unsupported("outputs running_mean/running_var (training) are not supported")
    ctx.attr("momentum")
    inputs = [ctx.value(i) for i in range(5)]
    return [ctx.call("batch_norm", inputs, epsilon=float(ctx.attr("epsilon", 1e-5)), axis=1)]


@converter("InstanceNormalization")
def _instance_norm(ctx: NodeContext) -> List[Any]:
    if ctx.rank(0) < 3:
        raise ctx.error("the input needs at least one spatial axis")
    inputs = [ctx.value(i) for i in range(3)]
    return [ctx.call("instance_norm", inputs, epsilon=float(ctx.attr("epsilon", 1e-5)))]


@converter("LayerNormalization")
def _layer_norm(ctx: NodeContext) -> List[Any]:
    ctx.reject_attr("stash_type", [1])
    shape = ctx.shape(0)
    rank = len(shape)
    axis = int(ctx.attr("axis", -1))
    axis = axis + rank if axis < 0 else axis
    normalized = list(shape[axis:])
    inputs = [ctx.value(0)]
    for i in (1, 2):
        if not ctx.has_input(i):
            break
        v = ctx.value(i)
        if list(ctx.shape(i)) != normalized:
            # Scale/bias broadcast to the normalised shape (ONNX allows broadcastable shapes).
            v = Const(np.broadcast_to(v.array, normalized).copy()) if isinstance(v, Const) else \
                ctx.call("broadcast_to", [v], shape=normalized)
        inputs.append(v)
    axes = list(range(axis, rank))
    epsilon = float(ctx.attr("epsilon", 1e-5))
    outputs = [ctx.call("layer_norm", inputs, axes=axes, epsilon=epsilon)]
    if ctx.output_used(1) or ctx.output_used(2):
        # Mean and InvStdDev = 1 / sqrt(var + epsilon), both with the normalised axes kept as 1.
        x = ctx.value(0)
        mean = ctx.call("mean", [x], axes=axes, keepdims=True)
        centered = ctx.call("subtract", [x, mean])
        variance = ctx.call("mean", [ctx.call("multiply", [centered, centered])], axes=axes, keepdims=True)
        shifted = ctx.call("add", [variance, ctx.scalar(epsilon, ctx.dtype(0))])
        outputs += [mean, ctx.call("rsqrt", [shifted])]
    return outputs


@converter("Dropout")
def _dropout(ctx: NodeContext) -> List[Any]:
    training = ctx.optional_const(2, "training_mode")
    if training is not None and bool(training.reshape(-1)[0]):
        raise ctx.unsupported("training_mode=true is not supported (inference only)")
    ctx.attr("seed")
    outputs: List[Any] = [ctx.call("dropout", [ctx.value(0)])]
    if ctx.output_used(1):  # the mask of an inference dropout keeps everything
        outputs.append(Const(np.ones(ctx.shape(0), dtype=bool)))
    return outputs


# ---- Resize -------------------------------------------------------------------------------------

_COORDINATES = {"half_pixel": "half_pixel", "asymmetric": "asymmetric", "align_corners": "align_corners"}


def _resize_sizes(ctx: NodeContext, shape: Tuple[int, ...]) -> List[int]:
    sizes = ctx.optional_const(3, "sizes")
    if sizes is not None and sizes.size:
        return [int(s) for s in sizes.reshape(-1)]
    scales = ctx.optional_const(2, "scales")
    if scales is None or not scales.size:
        raise ctx.error("neither scales nor sizes is given")
    scales = [float(s) for s in scales.reshape(-1)]
    sizes_out = [int(math.floor(n * s)) for n, s in zip(shape, scales)]
    for n, s, out in zip(shape, scales, sizes_out):
        # The graph derives the coordinate scale as out / in; ONNX uses the given scale.
        if abs(out - n * s) > 1e-6 * max(1.0, n * s):
            raise ctx.unsupported(f"scale {s} giving a non-integral output size from {n} is not supported")
    return sizes_out


@converter("Resize")
def _resize(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    if len(shape) != 4:
        raise ctx.unsupported(f"rank-{len(shape)} inputs are not supported (NCHW only)")
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.unsupported(f"attribute mode='{mode}' is not supported")
    ctx.reject_attr("exclude_outside", [0])
    ctx.attr("cubic_coeff_a")
    ctx.attr("extrapolation_value")
    sizes = _resize_sizes(ctx, shape)
    if list(sizes[:2]) != list(shape[:2]):
        raise ctx.unsupported("resizing the batch or channel axis is not supported")
    coordinate = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if coordinate == "pytorch_half_pixel" and min(sizes[2:]) > 1:
        coordinate = "half_pixel"  # the two agree unless an output extent is 1
    if coordinate not in _COORDINATES:
        raise ctx.unsupported(f"attribute coordinate_transformation_mode='{coordinate}' is not supported")
    if coordinate == "align_corners" and min(sizes[2:]) == 1:
        raise ctx.unsupported("align_corners with an output extent of 1 is not supported")
    nearest_mode = ctx.attr("nearest_mode", "round_prefer_floor")
    if ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported")
    attrs = dict(size=sizes[2:], method=mode, coordinate_transformation_mode=_COORDINATES[coordinate])
    if mode == "nearest":
        attrs["nearest_mode"] = nearest_mode
        for axis in (2, 3):
            _check_nearest_ties(ctx, shape[axis], sizes[axis], coordinate, nearest_mode)
    return [ctx.call("resize2d", [ctx.value(0)], **attrs)]


def _check_nearest_ties(ctx: NodeContext, size: int, out: int, coordinate: str, nearest_mode: str) -> None:
    """Rejects a resize whose exact source coordinate sits on a rounding boundary while the scale
    is not exact in binary floating point: the graph's float arithmetic may land on either side."""
    ratio = Fraction(size, out)
    if ratio.denominator & (ratio.denominator - 1) == 0:
        return  # a dyadic ratio: coordinates are computed exactly
    for o in range(out):
        if coordinate == "half_pixel":
            x = (o + Fraction(1, 2)) * ratio - Fraction(1, 2)
        elif coordinate == "asymmetric":
            x = o * ratio
        else:
            x = Fraction(o * (size - 1), out - 1)
            if x.denominator == 1:
                continue  # align_corners hits integers exactly
        fraction = x - math.floor(x)
        on_boundary = fraction == Fraction(1, 2) if nearest_mode.startswith("round") else fraction == 0
        if on_boundary and 0 <= x <= size - 1:
            raise ctx.unsupported(
                f"nearest resize from {size} to {out} puts output {o} exactly on a rounding boundary "
                f"(source coordinate {x}) that the graph's float arithmetic does not resolve like ONNX")
