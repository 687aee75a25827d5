"""ONNX shape and data-movement ops -> graph ops (reshape, transpose, slicing, gather, padding).

Most of these also fold with numpy when their data input is a constant: that is how shape
arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) disappears at import. Shape-like
operands (target shapes, axes, pads, repeats) must be constants: shapes are static.
"""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from tessel.frontend.onnx_importer import Const, NodeContext, converter, folder

_INT64_MAX = np.iinfo(np.int64).max


def _ints(array: np.ndarray) -> List[int]:
    return [int(v) for v in np.asarray(array).reshape(-1)]


def _normalize_axes(ctx: NodeContext, axes: Sequence[int], rank: int) -> List[int]:
    result = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ctx.error(f"axis {axis} is out of range for rank {rank}")
        result.append(axis + rank if axis < 0 else axis)
    return result


def _is_const(v: Any) -> bool:
    return isinstance(v, Const)


# ---- constants ----------------------------------------------------------------------------------


@converter("Constant")
def _constant(ctx: NodeContext) -> List[Any]:
    for name, make in (("value", np.asarray), ("value_float", lambda v: np.array(v, np.float32)),
                       ("value_floats", lambda v: np.array(v, np.float32)),
                       ("value_int", lambda v: np.array(v, np.int64)),
                       ("value_ints", lambda v: np.array(v, np.int64))):
        if ctx.has_attr(name):
            return [make(ctx.attr(name))]
    names = ", ".join(sorted(ctx.attrs)) or "none"
    raise ctx.unsupported(f"constant attribute {names} is not supported")


@converter("Shape")
@folder("Shape")
def _shape(ctx: NodeContext) -> List[Any]:
    shape = np.array(ctx.shape(0), dtype=np.int64)
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    return [shape[start:] if end is None else shape[start:int(end)]]


@converter("Size")
@folder("Size")
def _size(ctx: NodeContext) -> List[Any]:
    return [np.array(int(np.prod(ctx.shape(0), dtype=np.int64)), dtype=np.int64)]


@converter("ConstantOfShape")
@folder("ConstantOfShape")
def _constant_of_shape(ctx: NodeContext) -> List[Any]:
    shape = _ints(ctx.const(0, "shape"))
    value = ctx.attr("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    return [np.full(shape, fill[0], dtype=fill.dtype)]


@converter("Range")
@folder("Range")
def _range(ctx: NodeContext) -> List[Any]:
    start, limit, delta = (ctx.const(i, name) for i, name in enumerate(("start", "limit", "delta")))
    dtype = np.asarray(start).dtype
    return [np.arange(start.item(), limit.item(), delta.item()).astype(dtype)]


# ---- reshapes -------------------------------------------------------------------------------


def _reshape_to(ctx: NodeContext, v: Any, shape: Sequence[int]) -> Any:
    if _is_const(v):
        return Const(v.array.reshape(tuple(shape)))
    if not shape:  # an ONNX scalar: graph tensors keep rank >= 1
        shape = [1]
    return ctx.call("reshape", [v], shape=[int(s) for s in shape])


@converter("Reshape")
@folder("Reshape")
def _reshape(ctx: NodeContext) -> List[Any]:
    in_shape = ctx.shape(0)
    target = _ints(ctx.const(1, "shape"))
    allow_zero = int(ctx.attr("allowzero", 0))
    resolved = []
    for i, extent in enumerate(target):
        if extent == 0 and not allow_zero:
            if i >= len(in_shape):
                raise ctx.error(f"shape entry {i} is 0 (copy) but the input has rank {len(in_shape)}")
            resolved.append(in_shape[i])
        elif extent == 0:
            raise ctx.unsupported("a zero extent with allowzero=1 (empty tensor) is not supported")
        else:
            resolved.append(extent)
    if -1 in resolved:
        known = int(np.prod([e for e in resolved if e != -1], dtype=np.int64))
        resolved[resolved.index(-1)] = int(np.prod(in_shape, dtype=np.int64)) // max(known, 1)
    return [_reshape_to(ctx, ctx.value(0), resolved)]


@converter("Flatten")
@folder("Flatten")
def _flatten(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    return [_reshape_to(ctx, ctx.value(0), [outer, int(np.prod(shape[axis:], dtype=np.int64))])]


def _axes_operand(ctx: NodeContext, what: str) -> Any:
    """Axes from the attribute (before opset 13) or the second input (13 and later)."""
    if ctx.opset >= 13:
        axes = ctx.optional_const(1, what)
        return None if axes is None else _ints(axes)
    return ctx.attr("axes")


@converter("Squeeze")
@folder("Squeeze")
def _squeeze(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    axes = _axes_operand(ctx, "axes")
    if axes is None:
        drop = {i for i, s in enumerate(shape) if s == 1}
    else:
        drop = set(_normalize_axes(ctx, axes, len(shape)))
        for axis in drop:
            if shape[axis] != 1:
                raise ctx.error(f"cannot squeeze axis {axis} of extent {shape[axis]}")
    return [_reshape_to(ctx, ctx.value(0), [s for i, s in enumerate(shape) if i not in drop])]


@converter("Unsqueeze")
@folder("Unsqueeze")
def _unsqueeze(ctx: NodeContext) -> List[Any]:
    shape = list(ctx.shape(0))
    axes = _axes_operand(ctx, "axes")
    if not axes:
        raise ctx.error("axes are required")
    out_rank = len(shape) + len(axes)
    inserted = set(_normalize_axes(ctx, axes, out_rank))
    source = iter(shape)
    out_shape = [1 if i in inserted else next(source) for i in range(out_rank)]
    return [_reshape_to(ctx, ctx.value(0), out_shape)]


@converter("Transpose")
@folder("Transpose")
def _transpose(ctx: NodeContext) -> List[Any]:
    rank = ctx.rank(0)
    perm = ctx.attr("perm") or list(reversed(range(rank)))
    v = ctx.value(0)
    if _is_const(v):
        return [np.transpose(v.array, perm)]
    if list(perm) == list(range(rank)):
        return [ctx.call("identity", [v])]
    return [ctx.call("transpose", [v], axes=[int(p) for p in perm])]


@converter("Concat")
@folder("Concat")
def _concat(ctx: NodeContext) -> List[Any]:
    axis = int(ctx.attr("axis"))
    inputs = [ctx.value(i) for i in range(ctx.num_inputs) if ctx.has_input(i)]
    # Zero-sized operands (e.g. an empty shape list in folded shape arithmetic) add nothing.
    inputs = [v for v in inputs if not (_is_const(v) and v.array.size == 0)] or inputs[:1]
    if all(_is_const(v) for v in inputs):
        return [np.concatenate([v.array for v in inputs], axis=axis)]
    if len(inputs) == 1:
        return [ctx.call("identity", [inputs[0]])]
    return [ctx.call("concatenate", inputs, axis=axis)]


@converter("Split")
@folder("Split")
def _split(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    axis = _normalize_axes(ctx, [int(ctx.attr("axis", 0))], len(shape))[0]
    sizes = ctx.optional_const(1, "split") if ctx.opset >= 13 else ctx.attr("split")
    count = ctx.num_outputs
    if sizes is None or len(_ints(np.asarray(sizes))) == 0:
        if shape[axis] % count != 0:
            raise ctx.error(f"extent {shape[axis]} of axis {axis} does not split into {count} equal parts")
        sizes = [shape[axis] // count] * count
    sizes = _ints(np.asarray(sizes))
    if len(sizes) != count or sum(sizes) != shape[axis] or min(sizes) <= 0:
        raise ctx.unsupported(f"split sizes {sizes} for {count} outputs of extent {shape[axis]} are not supported")
    v = ctx.value(0)
    indices = list(np.cumsum(sizes)[:-1])
    if _is_const(v):
        return list(np.split(v.array, indices, axis=axis))
    if count == 1:
        return [ctx.call("identity", [v])]
    if len(set(sizes)) == 1:
        parts = ctx.call("split", [v], sections=count, axis=axis)
    else:
        parts = ctx.call("split", [v], indices=[int(i) for i in indices], axis=axis)
    return list(parts)


# ---- slicing and gathering ----------------------------------------------------------------------


@converter("Slice")
@folder("Slice")
def _slice(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    rank = len(shape)
    starts = _ints(ctx.const(1, "starts"))
    ends = _ints(ctx.const(2, "ends"))
    axes_in = ctx.optional_const(3, "axes")
    steps_in = ctx.optional_const(4, "steps")
    axes = _normalize_axes(ctx, _ints(axes_in) if axes_in is not None else list(range(len(starts))), rank)
    steps = _ints(steps_in) if steps_in is not None else [1] * len(starts)
    ranges = [range(n) for n in shape]
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise ctx.error("a step of 0 is not allowed")
        # Python's slice clamping is ONNX's: starts/ends clamp to [0, n] (or [-1, n-1] backwards).
        start = max(min(start, _INT64_MAX // 2), -_INT64_MAX // 2)
        end = max(min(end, _INT64_MAX // 2), -_INT64_MAX // 2)
        ranges[axis] = range(*slice(start, end, step).indices(shape[axis]))
    v = ctx.value(0)
    if _is_const(v):
        index = tuple(slice(r.start, r.stop if r.stop >= 0 else None, r.step) for r in ranges)
        return [v.array[index].copy()]
    for axis, r in enumerate(ranges):
        if len(r) == 0:
            raise ctx.unsupported(f"the slice of axis {axis} is empty (empty tensors are not supported)")
    forward = [a for a, r in enumerate(ranges) if r.step > 0 and r != range(shape[a])]
    backward = [a for a, r in enumerate(ranges) if r.step < 0]
    result = v
    if forward:
        result = ctx.call("strided_slice", [result], begin=[ranges[a].start for a in forward],
                          end=[ranges[a].stop for a in forward], strides=[ranges[a].step for a in forward],
                          axes=forward)
    for axis in backward:  # a backwards walk is a gather of the explicit index list
        picks = np.array(list(ranges[axis]), dtype=np.int64)
        result = ctx.call("take", [result, Const(picks)], axis=axis)
    if result is v:
        result = ctx.call("identity", [v])
    return [result]


@converter("Gather")
@folder("Gather")
def _gather(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    axis = _normalize_axes(ctx, [int(ctx.attr("axis", 0))], len(shape))[0]
    data, indices = ctx.value(0), ctx.value(1)
    if _is_const(data) and _is_const(indices):
        return [np.take(data.array, indices.array, axis=axis)]
    if _is_const(indices):
        out_shape = list(shape[:axis]) + list(indices.array.shape) + list(shape[axis + 1:])
        if indices.array.ndim == 0:  # a scalar index drops the axis: take [i], then reshape
            picked = ctx.call("take", [data, Const(indices.array.reshape(1))], axis=axis)
            return [_reshape_to(ctx, picked, out_shape)]
    return [ctx.call("take", [data, indices], axis=axis)]


@converter("GatherElements")
def _gather_elements(ctx: NodeContext) -> List[Any]:
    return [ctx.call("gather_elements", [ctx.value(0), ctx.value(1)], axis=int(ctx.attr("axis", 0)))]


@converter("Expand")
@folder("Expand")
def _expand(ctx: NodeContext) -> List[Any]:
    shape = ctx.shape(0)
    target = _ints(ctx.const(1, "shape"))
    try:
        out_shape = list(np.broadcast_shapes(tuple(shape), tuple(target)))
    except ValueError:
        raise ctx.error(f"shape {list(shape)} does not broadcast with {target}") from None
    v = ctx.value(0)
    if _is_const(v):
        return [np.broadcast_to(v.array, out_shape).copy()]
    if out_shape == list(shape):
        return [ctx.call("identity", [v])]
    return [ctx.call("broadcast_to", [v], shape=out_shape)]


@converter("Tile")
@folder("Tile")
def _tile(ctx: NodeContext) -> List[Any]:
    reps = _ints(ctx.const(1, "repeats"))
    v = ctx.value(0)
    if _is_const(v):
        return [np.tile(v.array, reps)]
    return [ctx.call("tile", [v], reps=reps)]


@converter("Pad")
def _pad(ctx: NodeContext) -> List[Any]:
    rank = ctx.rank(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "edge", "reflect"):
        raise ctx.unsupported(f"attribute mode='{mode}' is not supported")
    pads = _ints(ctx.const(1, "pads"))
    if ctx.has_input(3):
        raise ctx.unsupported("input axes is not supported")
    if len(pads) != 2 * rank:
        raise ctx.error(f"pads has {len(pads)} entries, expected {2 * rank}")
    if min(pads) < 0:
        raise ctx.unsupported("negative pads (cropping) are not supported")
    value = 0.0
    constant_value = ctx.optional_const(2, "constant_value")
    if constant_value is not None and constant_value.size:
        value = float(constant_value.reshape(-1)[0])
    if mode != "constant":
        value = 0.0
    if not any(pads):
        return [ctx.call("identity", [ctx.value(0)])]
    return [ctx.call("pad", [ctx.value(0)], pad_before=pads[:rank], pad_after=pads[rank:], mode=mode,
                     value=value)]
