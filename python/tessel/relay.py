"""The graph IR from Python: build graphs op by op, inspect them, run graph passes.

    from tessel import relay
    g = relay.GraphBuilder()
    x = g.input("input", (1, 3, 224, 224), "float32")
    w = g.param("conv1.weight", weight_array)
    y = g.call("conv2d", [x, w], strides=[2, 2], padding=[3, 3, 3, 3])
    g.output(g.call("relu", [y]))
    graph, params = g.finish()
    print(graph)

Op names and attributes are those listed in relay_like/README.md. Types are inferred at every
``call``; a bad call raises ``tessel.TesselError`` naming the op, the node and the problem.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

import tessel
from tessel import TesselError

__all__ = ["GraphBuilder", "Graph", "Value", "registered_ops", "run_pass", "optimize", "fuse_ops", "evaluate",
           "pipeline"]


def _native_relay() -> Any:
    native = tessel._native()
    if not hasattr(native, "relay"):
        raise TesselError("this build of tessel has no graph compiler (_tessel.relay)")
    return native.relay


def __getattr__(name: str) -> Any:
    # Graph and Value are the native classes; resolved lazily so that importing works unbuilt.
    if name in ("Graph", "Value"):
        return getattr(_native_relay(), name)
    raise AttributeError(name)


def _attr(name: str, value: Any) -> Tuple[str, str, Any]:
    """Tags an attribute value with its kind for the native side."""
    if isinstance(value, (bool, np.bool_)):
        return (name, "bool", bool(value))
    if isinstance(value, numbers.Integral):
        return (name, "int", int(value))
    if isinstance(value, numbers.Real):
        return (name, "float", float(value))
    if isinstance(value, str):
        return (name, "str", value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value):
            return (name, "ints", [int(v) for v in value])
        if all(isinstance(v, numbers.Real) for v in value):
            return (name, "floats", [float(v) for v in value])
    raise TesselError(f"attribute '{name}' has an unsupported value {value!r} "
                      "(int, float, bool, str, or a list of ints or floats)")


class GraphBuilder:
    """Builds a graph call by call, inferring types eagerly."""

    def __init__(self) -> None:
        self._graph = _native_relay().Graph()

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> Any:
        """Adds a graph input and returns its value."""
        return self._graph.add_input(name, [int(d) for d in shape], str(np.dtype(dtype)) if dtype != "bool" else "bool")

    def param(self, name: str, value: Any) -> Any:
        """Adds a named constant (a weight); its value is kept and returned by ``finish``."""
        if not name:
            raise TesselError("params need a name (use constant() for anonymous constants)")
        return self._graph.add_constant(np.ascontiguousarray(value), name)

    def constant(self, value: Any) -> Any:
        """Adds an anonymous constant."""
        return self._graph.add_constant(np.ascontiguousarray(value), "")

    def call(self, op: str, inputs: Sequence[Any], **attrs: Any) -> Any:
        """Adds a call of ``op``; returns its value, or a tuple of values for multi-output ops."""
        values = self._graph.add_call(op, list(inputs), [_attr(k, v) for k, v in attrs.items()])
        return values[0] if len(values) == 1 else tuple(values)

    def type_of(self, value: Any) -> Tuple[Tuple[int, ...], str]:
        """(shape, dtype) of a value."""
        return self._graph.type_of(value)

    def output(self, value: Any) -> None:
        """Appends a graph output."""
        self._graph.add_output(value)

    def finish(self) -> Tuple[Any, Dict[str, np.ndarray]]:
        """Returns ``(graph, params)``: the graph and its named constants by name."""
        graph = self._graph.copy()
        return graph, dict(graph.params())


def registered_ops() -> List[str]:
    """Names of every graph op."""
    return list(_native_relay().registered_ops())


def pipeline() -> List[str]:
    """Names of the passes of the default optimisation pipeline, in order."""
    return list(_native_relay().pipeline())


def run_pass(name: str, graph: Any) -> Any:
    """Runs one graph pass by name (``pipeline()`` lists them; also ``"infer_types"``)."""
    return _native_relay().run_pass(name, graph)


def optimize(graph: Any) -> Any:
    """Runs the default optimisation pipeline."""
    return _native_relay().run_pass("optimize", graph)


def fuse_ops(graph: Any) -> Tuple[str, List[List[int]]]:
    """Operator fusion groups of a graph: (readable text, node ids of each group)."""
    text, groups = _native_relay().fuse_ops(graph)
    return text, [list(g) for g in groups]


def evaluate(graph: Any, **inputs: Any) -> List[np.ndarray]:
    """Runs the graph op by op (unfused, JIT) on numpy inputs; a reference for graph rewrites."""
    return list(_native_relay().evaluate(graph, {k: np.ascontiguousarray(v) for k, v in inputs.items()}))
