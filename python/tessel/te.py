"""Tensor expressions, TVM style: describe *what* to compute, then schedule *how*.

    A = te.placeholder((M, K), "float32", name="A")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C)

Expressions (``Expr``) support Python's operators. For integer expressions ``/`` and ``//`` are
both FLOOR division and ``%`` is floor modulo (as in Python); for floats ``/`` is true division,
``//`` is ``floor(a / b)``. Comparisons return bool expressions, and ``&``, ``|``, ``~`` are
logical and/or/not on bool expressions. An expression has no truth value: ``if expr:`` raises
``TesselError`` (use :func:`if_then_else`). A Python int next to an expression takes its type;
a Python float takes its type when it is a float, else float32. Mixing two different types
(``float32 + int32``) is an error: convert one side with ``expr.astype(dtype)``.

Axes (``IterVar``) convert to their variable in arithmetic and indexing. ``axis == axis`` is
identity; ``axis == 3`` builds an expression.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from tessel import TesselError, _native

_api = _native()
_te = _api.te
_ir = _api.ir

Expr = _ir.Expr
IterVar = _te.IterVar
Tensor = _te.Tensor
Operation = _te.Operation
Reduction = _te.Reduction
CommReducer = _te.CommReducer
Schedule = _te.Schedule
Stage = _te.Stage
ThreadAxis = _te.ThreadAxis
Range = _te.Range

ExprLike = Union[Expr, IterVar, int, float, bool]
ShapeLike = Union[int, Expr, Sequence[Union[int, Expr]]]
AxisLike = Union[IterVar, Sequence[IterVar]]

__all__ = [
    "Expr", "IterVar", "Tensor", "Operation", "Reduction", "CommReducer", "Schedule", "Stage",
    "ThreadAxis", "Range", "placeholder", "compute", "reduce_axis", "sum", "max", "min", "prod",
    "comm_reducer", "if_then_else", "select", "const", "var", "exp", "log", "sqrt", "rsqrt",
    "tanh", "erf", "sigmoid", "power", "pow", "abs", "fabs", "floor", "ceil", "round", "fma",
    "max_value", "min_value", "create_schedule", "thread_axis", "replay", "workload_key",
    "default_schedule",
]

_DEFAULT_AXIS_NAMES = ("i", "j", "k", "l", "m", "n")


def _shape_tuple(shape: ShapeLike) -> Tuple[Any, ...]:
    if isinstance(shape, (list, tuple)):
        return tuple(shape)
    return (shape,)


# ---- tensors -------------------------------------------------------------------------------


def placeholder(shape: ShapeLike, dtype: str = "float32", name: str = "placeholder") -> Tensor:
    """An input tensor of the given shape (ints or integer expressions) and element type."""
    return _te.placeholder(_shape_tuple(shape), dtype, name)


def _axis_names(fcompute: Callable[..., Any], ndim: int, name: str) -> List[str]:
    """Names the axes after fcompute's parameters, like TVM (``lambda i, j: ...`` gives i, j)."""
    defaults = [
        _DEFAULT_AXIS_NAMES[d] if d < len(_DEFAULT_AXIS_NAMES) else f"ax{d}" for d in range(ndim)
    ]
    try:
        parameters = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):  # builtins and C functions have no signature
        return defaults
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return defaults
    positional = [
        p for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    if not (len(required) <= ndim <= len(positional)):
        raise TesselError(
            f"compute {name}: fcompute takes {len(positional)} index argument(s) but the shape has "
            f"{ndim} dimension(s)"
        )
    return [p.name for p in positional[:ndim]]


def compute(
    shape: ShapeLike,
    fcompute: Callable[..., Union[ExprLike, Reduction]],
    name: str = "compute",
    tag: str = "",
) -> Tensor:
    """A tensor whose element at index (i, j, ...) is ``fcompute(i, j, ...)``.

    ``fcompute`` receives one integer variable per dimension and returns an expression, or a
    reduction (``te.sum(..., axis=k)`` and friends), which must then be the whole body. ``tag``
    says what the operator is ("elemwise", "broadcast", "injective", "reduce", "dense", ...), for
    default schedules; it is not part of the workload key.
    """
    dims = _shape_tuple(shape)
    names = _axis_names(fcompute, len(dims), name)
    axes = [_te.data_axis(extent, axis_name) for extent, axis_name in zip(dims, names)]
    body = fcompute(*[axis.var for axis in axes])
    if isinstance(body, Reduction):
        return _te.make_reduce(name, axes, body, tag)
    if isinstance(body, (list, tuple)):
        raise TesselError(f"compute {name}: fcompute must return one value (multiple outputs are not supported)")
    if body is None:
        raise TesselError(f"compute {name}: fcompute returned None")
    return _te.make_compute(name, axes, body, tag)


def reduce_axis(dom: Union[Tuple[ExprLike, ExprLike], Range], name: str = "rv") -> IterVar:
    """A reduction axis over ``[dom[0], dom[1])`` (or over a Range)."""
    if isinstance(dom, Range):
        return _te.reduce_axis(dom.min, dom.min + dom.extent, name)
    if not isinstance(dom, (list, tuple)) or len(dom) != 2:
        raise TesselError(f"reduce_axis {name}: dom must be a (min, max) pair, got {dom!r}")
    return _te.reduce_axis(dom[0], dom[1], name)


# ---- reductions ----------------------------------------------------------------------------


def _is_axis_argument(value: Any) -> bool:
    if isinstance(value, IterVar):
        return True
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, IterVar) for v in value)


def sum(expr: ExprLike, axis: AxisLike, where: Optional[ExprLike] = None) -> Reduction:  # noqa: A001
    """Sum of expr over the reduce axis (or axes) where the bool condition ``where`` holds."""
    return _te.reduce("sum", expr, axis, where)


def prod(expr: ExprLike, axis: AxisLike, where: Optional[ExprLike] = None) -> Reduction:
    """Product of expr over the reduce axis (or axes) where ``where`` holds."""
    return _te.reduce("prod", expr, axis, where)


def max(  # noqa: A001
    expr: ExprLike, axis: Union[AxisLike, ExprLike, None] = None, where: Optional[ExprLike] = None
) -> Union[Reduction, Expr]:
    """Maximum of expr over reduce axes (``te.max(x, axis=k)``; identity: the type's lowest value,
    -inf for floats), or, given a value instead of axes, the element-wise ``max(expr, value)``."""
    if axis is None:
        raise TesselError("te.max needs axis= (reduce axes) or a second value (element-wise max)")
    if _is_axis_argument(axis) or isinstance(axis, (list, tuple)):
        return _te.reduce("max", expr, axis, where)
    if where is not None:
        raise TesselError("te.max: `where` applies only to reductions")
    return _ir.elementwise_max(expr, axis)


def min(  # noqa: A001
    expr: ExprLike, axis: Union[AxisLike, ExprLike, None] = None, where: Optional[ExprLike] = None
) -> Union[Reduction, Expr]:
    """Minimum of expr over reduce axes (identity: the type's highest value, +inf for floats),
    or, given a value instead of axes, the element-wise ``min(expr, value)``."""
    if axis is None:
        raise TesselError("te.min needs axis= (reduce axes) or a second value (element-wise min)")
    if _is_axis_argument(axis) or isinstance(axis, (list, tuple)):
        return _te.reduce("min", expr, axis, where)
    if where is not None:
        raise TesselError("te.min: `where` applies only to reductions")
    return _ir.elementwise_min(expr, axis)


class Reducer:
    """A reduction built by :func:`comm_reducer`; call it like ``te.sum``:
    ``reducer(expr, axis=k, where=None)``."""

    def __init__(
        self, fcombine: Callable[[Expr, Expr], ExprLike], fidentity: Callable[[str], ExprLike], name: str
    ) -> None:
        self.fcombine = fcombine
        self.fidentity = fidentity
        self.name = name
        self._by_dtype: Dict[str, CommReducer] = {}

    def combiner(self, dtype: str) -> CommReducer:
        """The combiner for values of dtype (built once per dtype)."""
        if dtype not in self._by_dtype:
            identity = self.fidentity(dtype)
            self._by_dtype[dtype] = _te.comm_reducer(self.name, dtype, self.fcombine, identity)
        return self._by_dtype[dtype]

    def __call__(self, expr: ExprLike, axis: AxisLike, where: Optional[ExprLike] = None) -> Reduction:
        source = _ir.to_expr(expr)
        return _te.reduce_with(self.combiner(source.dtype), source, axis, where)

    def __repr__(self) -> str:
        return f"Reducer({self.name})"


def comm_reducer(
    fcombine: Callable[[Expr, Expr], ExprLike],
    fidentity: Callable[[str], ExprLike],
    name: str = "reduce",
) -> Reducer:
    """A custom commutative, associative reduction (TVM's ``te.comm_reducer``).

    ``fcombine(lhs, rhs)`` combines two partial results and must be commutative and
    associative; ``fidentity(dtype)`` returns the identity element for a dtype string. Example,
    the largest magnitude: ``absmax = te.comm_reducer(lambda x, y: te.max(te.abs(x), te.abs(y)),
    lambda t: te.const(0, t), name="absmax")``, then ``absmax(A[i, k], axis=k)``.
    """
    return Reducer(fcombine, fidentity, name)


# ---- scalar expressions --------------------------------------------------------------------


def if_then_else(condition: ExprLike, true_value: ExprLike, false_value: ExprLike) -> Expr:
    """``true_value`` where the bool condition holds, else ``false_value`` (both may be evaluated,
    so neither may read out of bounds)."""
    return _ir.select(condition, true_value, false_value)


select = if_then_else


def const(value: Union[int, float, bool], dtype: Optional[str] = None) -> Expr:
    """A constant; without dtype, bool -> "bool", int -> "int32", float -> "float32"."""
    if dtype is None:
        dtype = "bool" if isinstance(value, bool) else "int32" if isinstance(value, int) else "float32"
    return _ir.const(value, dtype)


def var(name: str = "v", dtype: str = "int32") -> Expr:
    """A new scalar variable (an identity object; the name is only a hint)."""
    return _ir.var(name, dtype)


def _intrinsic(name: str, *args: ExprLike) -> Expr:
    return _ir.call(name, list(args))


def exp(x: ExprLike) -> Expr:
    """e ** x (float)."""
    return _intrinsic("exp", x)


def log(x: ExprLike) -> Expr:
    """Natural logarithm (float)."""
    return _intrinsic("log", x)


def sqrt(x: ExprLike) -> Expr:
    """Square root (float)."""
    return _intrinsic("sqrt", x)


def rsqrt(x: ExprLike) -> Expr:
    """1 / sqrt(x) (float)."""
    return _intrinsic("rsqrt", x)


def tanh(x: ExprLike) -> Expr:
    """Hyperbolic tangent (float)."""
    return _intrinsic("tanh", x)


def erf(x: ExprLike) -> Expr:
    """Error function (float)."""
    return _intrinsic("erf", x)


def sigmoid(x: ExprLike) -> Expr:
    """1 / (1 + exp(-x)) (float)."""
    return _intrinsic("sigmoid", x)


def power(x: ExprLike, y: ExprLike) -> Expr:
    """x ** y (float)."""
    return _intrinsic("pow", x, y)


pow = power  # noqa: A001


def abs(x: ExprLike) -> Expr:  # noqa: A001
    """Absolute value (float or int)."""
    return _intrinsic("fabs", x)


fabs = abs


def floor(x: ExprLike) -> Expr:
    """Round toward negative infinity (float)."""
    return _intrinsic("floor", x)


def ceil(x: ExprLike) -> Expr:
    """Round toward positive infinity (float)."""
    return _intrinsic("ceil", x)


def round(x: ExprLike) -> Expr:  # noqa: A001
    """Round to nearest, ties away from zero (float)."""
    return _intrinsic("round", x)


def fma(a: ExprLike, b: ExprLike, c: ExprLike) -> Expr:
    """a * b + c with one rounding (float)."""
    return _intrinsic("fma", a, b, c)


def max_value(dtype: str) -> Expr:
    """The largest finite value of dtype, as a constant."""
    return _ir.max_value(dtype)


def min_value(dtype: str) -> Expr:
    """The smallest finite value of dtype (the most negative), as a constant."""
    return _ir.min_value(dtype)


# ---- schedules -----------------------------------------------------------------------------


def create_schedule(outputs: Union[Tensor, Operation, Sequence[Union[Tensor, Operation]]]) -> Schedule:
    """A schedule for the DAG ending in outputs: every stage at root, loops in index order."""
    return _te.create_schedule(outputs)


def thread_axis(dom: Union[str, Tuple[int, int], None] = None, tag: str = "", name: str = "") -> ThreadAxis:
    """A GPU thread index for ``s[C].bind(axis, te.thread_axis("threadIdx.x"))``."""
    if isinstance(dom, str):
        tag = dom
    if not tag:
        raise TesselError("thread_axis needs a tag such as 'threadIdx.x' or 'blockIdx.y'")
    return ThreadAxis(tag)


def replay(schedule: Schedule, steps_json: str) -> Schedule:
    """Replays a step list (from ``Schedule.steps_json()``) onto a fresh schedule of an
    identically built DAG; returns the schedule."""
    schedule.replay(steps_json)
    return schedule


def workload_key(outputs: Union[Tensor, Sequence[Tensor]]) -> str:
    """The structural identity of the DAG ending in outputs (32 hex digits): equal for the same
    computation on the same shapes and dtypes whatever the names; stable across processes."""
    if not hasattr(_te, "workload_key"):
        raise TesselError("this build of tessel has no workload keys (rebuild the extension)")
    return _te.workload_key(outputs)


def default_schedule(
    outputs: Union[Tensor, Sequence[Tensor]], target: Union[str, Any] = "llvm"
) -> Schedule:
    """The operator library's default schedule for the DAG ending in outputs on ``target`` (a
    target string or a :class:`tessel.Target`): what ``tessel.compile`` falls back to."""
    from tessel.target import Target

    return _te.default_schedule(outputs, Target.of(target).native)
