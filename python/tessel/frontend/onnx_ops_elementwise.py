"""ONNX elementwise, activation, reduction and softmax ops -> graph ops, with numpy folding.

Each converter maps one ONNX op (at the model's opset) onto the graph vocabulary; the numpy
folders evaluate the same op at import time when all of its inputs are constants.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from tessel.frontend.onnx_importer import Const, NodeContext, converter, folder

_UNARY = {
    "Abs": "abs", "Neg": "negative", "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Erf": "erf", "Floor": "floor", "Ceil": "ceil",
    "Round": "round", "Sign": "sign", "Sin": "sin", "Cos": "cos", "Reciprocal": "reciprocal",
    "Not": "logical_not", "Softplus": "softplus", "HardSwish": "hard_swish", "Identity": "identity",
}
# Ops that the graph defines for floating-point inputs only.
_FLOAT_ONLY = {"sigmoid", "tanh", "exp", "log", "sqrt", "erf", "sin", "cos", "reciprocal", "softplus",
               "hard_swish", "round", "floor", "ceil"}
_FLOATS = ("float32", "float64")

_BINARY = {
    "Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide", "Pow": "power",
    "Equal": "equal", "Less": "less", "LessOrEqual": "less_equal", "Greater": "greater",
    "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor",
}


@converter(*_UNARY)
def _unary(ctx: NodeContext) -> List[Any]:
    op = _UNARY[ctx.op_type]
    if op in _FLOAT_ONLY and ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported (floating point only)")
    return [ctx.call(op, [ctx.value(0)])]


@converter("Softsign")
def _softsign(ctx: NodeContext) -> List[Any]:
    x = ctx.value(0)
    denominator = ctx.call("add", [ctx.call("abs", [x]), ctx.scalar(1, ctx.dtype(0))])
    return [ctx.call("divide", [x, denominator])]


@converter(*_BINARY)
def _binary(ctx: NodeContext) -> List[Any]:
    a, b = ctx.value(0), ctx.value(1)
    if ctx.op_type == "Pow":
        if ctx.dtype(0) not in _FLOATS:
            raise ctx.unsupported(f"base of element type {ctx.dtype(0)} is not supported (floating point only)")
        if ctx.dtype(1) != ctx.dtype(0):  # ONNX allows any numeric exponent type
            b = ctx.call("cast", [b], dtype=ctx.dtype(0))
        exponent = ctx.importer.values[ctx.node.input[1]]
        if isinstance(exponent, Const) and exponent.array.size == 1 and float(exponent.array.reshape(-1)[0]) == 2.0:
            return [ctx.call("multiply", [a, a])]  # x ** 2 (LayerNorm variance as exported)
    elif ctx.dtype(0) != ctx.dtype(1):
        raise ctx.error(f"operand element types differ ({ctx.dtype(0)} and {ctx.dtype(1)})")
    return [ctx.call(_BINARY[ctx.op_type], [a, b])]


@converter("Mod")
def _mod(ctx: NodeContext) -> List[Any]:
    a, b = ctx.value(0), ctx.value(1)
    if ctx.attr("fmod", 0) == 0:
        if ctx.dtype(0) in _FLOATS:
            raise ctx.unsupported("fmod=0 on floating point inputs is not defined by ONNX")
        return [ctx.call("floor_mod", [a, b])]
    # fmod: the remainder takes the dividend's sign: a - trunc(a / b) * b
    quotient = ctx.call("trunc_divide", [a, b])
    return [ctx.call("subtract", [a, ctx.call("multiply", [quotient, b])])]


@converter("Sum", "Mean", "Max", "Min")
def _variadic(ctx: NodeContext) -> List[Any]:
    op = {"Sum": "add", "Mean": "add", "Max": "maximum", "Min": "minimum"}[ctx.op_type]
    inputs = [ctx.value(i) for i in range(ctx.num_inputs) if ctx.has_input(i)]
    result = inputs[0]
    for other in inputs[1:]:
        result = ctx.call(op, [result, other])
    if ctx.op_type == "Mean":
        if ctx.dtype(0) not in _FLOATS:
            raise ctx.unsupported("Mean of integer tensors is not supported")
        result = ctx.call("divide", [result, ctx.scalar(len(inputs), ctx.dtype(0))])
    elif len(inputs) == 1:
        result = ctx.call("identity", [result])
    return [result]


# ---- activations with attributes ---------------------------------------------------------------


@converter("LeakyRelu")
def _leaky_relu(ctx: NodeContext) -> List[Any]:
    return [ctx.call("leaky_relu", [ctx.value(0)], alpha=float(ctx.attr("alpha", 0.01)))]


@converter("Elu")
def _elu(ctx: NodeContext) -> List[Any]:
    return [ctx.call("elu", [ctx.value(0)], alpha=float(ctx.attr("alpha", 1.0)))]


@converter("Selu")
def _selu(ctx: NodeContext) -> List[Any]:
    alpha = float(ctx.attr("alpha", 1.67326319217681884765625))
    gamma = float(ctx.attr("gamma", 1.05070102214813232421875))
    return [ctx.call("selu", [ctx.value(0)], alpha=alpha, scale=gamma)]


@converter("HardSigmoid")
def _hard_sigmoid(ctx: NodeContext) -> List[Any]:
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    return [ctx.call("hard_sigmoid", [ctx.value(0)], alpha=alpha, beta=beta)]


@converter("PRelu")
def _prelu(ctx: NodeContext) -> List[Any]:
    x, slope = ctx.value(0), ctx.value(1)
    x_shape, slope_shape = ctx.shape(0), ctx.shape(1)
    rank = len(x_shape)
    aligned = (1,) * (rank - len(slope_shape)) + tuple(slope_shape)
    if len(aligned) == rank:
        varying = [i for i, s in enumerate(aligned) if s != 1]
        if not varying:
            return [ctx.call("prelu", [x, ctx.reshape(slope, [1])], axis=1 if rank > 1 else 0)]
        if len(varying) == 1 and aligned[varying[0]] == x_shape[varying[0]]:
            axis = varying[0]
            return [ctx.call("prelu", [x, ctx.reshape(slope, [x_shape[axis]])], axis=axis)]
    # General unidirectional broadcast: where(x < 0, x * slope, x).
    negative = ctx.call("less", [x, ctx.scalar(0, ctx.dtype(0))])
    return [ctx.call("where", [negative, ctx.call("multiply", [x, slope]), x])]


def _clip_bounds(ctx: NodeContext) -> List[Optional[Any]]:
    if ctx.opset < 11:
        return [ctx.attr("min"), ctx.attr("max")]
    return [ctx.value(i) if ctx.has_input(i) else None for i in (1, 2)]


@converter("Clip")
def _clip(ctx: NodeContext) -> List[Any]:
    x = ctx.value(0)
    dtype = ctx.dtype(0)
    bounds = _clip_bounds(ctx)
    if all(b is None or isinstance(b, Const) for b in bounds):
        if dtype in _FLOATS:
            low, high = -np.inf, np.inf
        else:
            info = np.iinfo(dtype) if dtype != "bool" else None
            if info is None:
                raise ctx.unsupported("Clip of bool tensors is not supported")
            low, high = float(info.min), float(info.max)
        if bounds[0] is not None:
            low = float(bounds[0].array.reshape(-1)[0])
        if bounds[1] is not None:
            high = float(bounds[1].array.reshape(-1)[0])
        if dtype in _FLOATS:
            return [ctx.call("clip", [x], min_value=low, max_value=high)]
        result = x  # integers: max/min against constants keep the exact integer semantics
        if bounds[0] is not None:
            result = ctx.call("maximum", [result, ctx.scalar(int(low), dtype)])
        if bounds[1] is not None:
            result = ctx.call("minimum", [result, ctx.scalar(int(high), dtype)])
        if result is x:
            result = ctx.call("identity", [x])
        return [result]
    result = x  # bounds computed at run time: min(max(x, low), high)
    if bounds[0] is not None:
        result = ctx.call("maximum", [result, bounds[0]])
    if bounds[1] is not None:
        result = ctx.call("minimum", [result, bounds[1]])
    return [result]


@converter("Cast")
def _cast(ctx: NodeContext) -> List[Any]:
    from tessel.frontend.onnx_importer import onnx_dtype  # noqa: PLC0415

    ctx.reject_attr("saturate", [1])
    dtype = onnx_dtype(int(ctx.attr("to")), ctx.prefix())
    if ctx.dtype(0) == dtype:
        return [ctx.call("identity", [ctx.value(0)])]
    return [ctx.call("cast", [ctx.value(0)], dtype=dtype)]


@converter("Where")
def _where(ctx: NodeContext) -> List[Any]:
    return [ctx.call("where", [ctx.value(0), ctx.value(1), ctx.value(2)])]


# ---- reductions ---------------------------------------------------------------------------------

_REDUCE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceProd": "prod", "ReduceSumSquare": "sum_of_squares"}
_REDUCE_COMPOSED = ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")


def reduce_axes(ctx: NodeContext) -> Optional[List[int]]:
    """The normalised reduction axes (all axes when none are given), or None for a no-op."""
    rank = ctx.rank(0)
    axes_from_input = ctx.op_type == "ReduceSum" and ctx.opset >= 13
    if axes_from_input:
        axes = ctx.optional_const(1, "axes")
        axes = None if axes is None else [int(a) for a in axes.reshape(-1)]
    else:
        axes = ctx.attr("axes")
    if not axes:
        if axes_from_input and ctx.attr("noop_with_empty_axes", 0):
            return None
        ctx.attr("noop_with_empty_axes")
        return list(range(rank))
    ctx.attr("noop_with_empty_axes")
    return sorted({a + rank if a < 0 else a for a in axes})


def _reduce_numpy(ctx: NodeContext, x: np.ndarray) -> Any:
    axes = reduce_axes(ctx)
    keepdims = bool(ctx.attr("keepdims", 1))
    if axes is None:
        return [x.copy()]
    axes_t = tuple(axes)
    functions = {
        "ReduceSum": lambda: np.sum(x, axis=axes_t, keepdims=keepdims),
        "ReduceMean": lambda: np.mean(x, axis=axes_t, keepdims=keepdims),
        "ReduceMax": lambda: np.max(x, axis=axes_t, keepdims=keepdims),
        "ReduceMin": lambda: np.min(x, axis=axes_t, keepdims=keepdims),
        "ReduceProd": lambda: np.prod(x, axis=axes_t, keepdims=keepdims),
        "ReduceSumSquare": lambda: np.sum(x * x, axis=axes_t, keepdims=keepdims),
    }
    if ctx.op_type not in functions:
        return None
    return [np.asarray(functions[ctx.op_type]()).astype(x.dtype)]


@folder(*_REDUCE)
def _fold_reduce(ctx: NodeContext) -> Any:
    return _reduce_numpy(ctx, ctx.const(0, "data"))


@converter(*_REDUCE, *_REDUCE_COMPOSED)
def _reduce(ctx: NodeContext) -> List[Any]:
    axes = reduce_axes(ctx)
    keepdims = bool(ctx.attr("keepdims", 1))
    x = ctx.value(0)
    if axes is None:
        return [ctx.call("identity", [x])]
    if ctx.op_type in _REDUCE:
        return [ctx.call(_REDUCE[ctx.op_type], [x], axes=axes, keepdims=keepdims)]
    if ctx.dtype(0) not in _FLOATS:
        raise ctx.unsupported(f"input element type {ctx.dtype(0)} is not supported (floating point only)")
    if ctx.op_type == "ReduceL1":
        return [ctx.call("sum", [ctx.call("abs", [x])], axes=axes, keepdims=keepdims)]
    if ctx.op_type == "ReduceL2":
        return [ctx.call("sqrt", [ctx.call("sum_of_squares", [x], axes=axes, keepdims=keepdims)])]
    if ctx.op_type == "ReduceLogSum":
        return [ctx.call("log", [ctx.call("sum", [x], axes=axes, keepdims=keepdims)])]
    # ReduceLogSumExp, stabilised: m + log(sum(exp(x - m))) with m the maximum over the axes.
    peak = ctx.call("max", [x], axes=axes, keepdims=True)
    total = ctx.call("sum", [ctx.call("exp", [ctx.call("subtract", [x, peak])])], axes=axes, keepdims=keepdims)
    peak_out = peak if keepdims else ctx.call("max", [x], axes=axes, keepdims=False)
    return [ctx.call("add", [ctx.call("log", [total]), peak_out])]


@converter("ArgMax", "ArgMin")
def _arg_extreme(ctx: NodeContext) -> List[Any]:
    op = "argmax" if ctx.op_type == "ArgMax" else "argmin"
    axis = int(ctx.attr("axis", 0))
    keepdims = bool(ctx.attr("keepdims", 1))
    last = bool(ctx.attr("select_last_index", 0))
    result = ctx.call(op, [ctx.value(0)], axis=axis, keepdims=keepdims, select_last_index=last)
    if ctx.type_of(result)[1] != "int64":
        result = ctx.call("cast", [result], dtype="int64")
    return [result]


# ---- softmax ----------------------------------------------------------------------------------


@converter("Softmax", "LogSoftmax")
def _softmax(ctx: NodeContext) -> List[Any]:
    op = "softmax" if ctx.op_type == "Softmax" else "log_softmax"
    shape = ctx.shape(0)
    rank = len(shape)
    if ctx.opset >= 13:
        return [ctx.call(op, [ctx.value(0)], axis=int(ctx.attr("axis", -1)))]
    # Before opset 13 the input is viewed as 2-D [prod(shape[:axis]), prod(shape[axis:])].
    axis = int(ctx.attr("axis", 1))
    axis = axis + rank if axis < 0 else axis
    if axis == rank - 1:
        return [ctx.call(op, [ctx.value(0)], axis=-1)]
    rows = int(np.prod(shape[:axis], dtype=np.int64))
    flat = ctx.reshape(ctx.value(0), [rows, int(np.prod(shape[axis:], dtype=np.int64))])
    return [ctx.reshape(ctx.call(op, [flat], axis=1), list(shape))]


# ---- numpy folders ----------------------------------------------------------------------------

def _trunc_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        quotient = np.abs(a) // np.abs(b)
        return (np.sign(a) * np.sign(b) * quotient).astype(a.dtype)
    return a / b


_NUMPY_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _trunc_divide,
    "Equal": np.equal, "Less": np.less, "LessOrEqual": np.less_equal, "Greater": np.greater,
    "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
    "Xor": np.logical_xor,
}
_NUMPY_UNARY = {"Neg": np.negative, "Abs": np.abs, "Not": np.logical_not,
                "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Sign": np.sign}


@folder(*_NUMPY_BINARY)
def _fold_binary(ctx: NodeContext) -> List[np.ndarray]:
    a, b = ctx.const(0, "a"), ctx.const(1, "b")
    result = np.asarray(_NUMPY_BINARY[ctx.op_type](a, b))
    if result.dtype != np.bool_:
        result = result.astype(a.dtype)
    return [result]


@folder("Identity")
def _fold_identity(ctx: NodeContext) -> List[Any]:
    return [ctx.value(0)]  # the same constant (an initializer keeps its parameter name)


@folder(*_NUMPY_UNARY)
def _fold_unary(ctx: NodeContext) -> List[np.ndarray]:
    x = ctx.const(0, "x")
    return [np.asarray(_NUMPY_UNARY[ctx.op_type](x)).astype(x.dtype)]


@folder("Max", "Min", "Sum")
def _fold_variadic(ctx: NodeContext) -> List[np.ndarray]:
    function = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}[ctx.op_type]
    arrays: Sequence[np.ndarray] = [ctx.const(i, "operand") for i in range(ctx.num_inputs) if ctx.has_input(i)]
    result = arrays[0]
    for other in arrays[1:]:
        result = function(result, other)
    return [np.asarray(result).astype(arrays[0].dtype)]


@folder("Cast")
def _fold_cast(ctx: NodeContext) -> List[np.ndarray]:
    from tessel.frontend.onnx_importer import onnx_dtype  # noqa: PLC0415

    ctx.reject_attr("saturate", [1])
    return [ctx.const(0, "input").astype(onnx_dtype(int(ctx.attr("to")), ctx.prefix()))]


@folder("Where")
def _fold_where(ctx: NodeContext) -> List[np.ndarray]:
    x = ctx.const(1, "x")
    return [np.where(ctx.const(0, "condition"), x, ctx.const(2, "y")).astype(x.dtype)]


@converter("CastLike")
def _cast_like(ctx: NodeContext) -> List[Any]:
    ctx.reject_attr("saturate", [1])
    dtype = ctx.dtype(1)
    if ctx.dtype(0) == dtype:
        return [ctx.call("identity", [ctx.value(0)])]
    return [ctx.call("cast", [ctx.value(0)], dtype=dtype)]


@converter("ThresholdedRelu")
def _thresholded_relu(ctx: NodeContext) -> List[Any]:
    x, dtype = ctx.value(0), ctx.dtype(0)
    above = ctx.call("greater", [x, ctx.scalar(float(ctx.attr("alpha", 1.0)), dtype)])
    return [ctx.call("where", [above, x, ctx.scalar(0, dtype)])]


@converter("Sinh", "Cosh")
def _hyperbolic(ctx: NodeContext) -> List[Any]:
    x, dtype = ctx.value(0), ctx.dtype(0)
    if dtype not in _FLOATS:
        raise ctx.unsupported(f"input element type {dtype} is not supported (floating point only)")
    grow, decay = ctx.call("exp", [x]), ctx.call("exp", [ctx.call("negative", [x])])
    combined = ctx.call("subtract" if ctx.op_type == "Sinh" else "add", [grow, decay])
    return [ctx.call("multiply", [combined, ctx.scalar(0.5, dtype)])]
