"""Assembling and exporting deployable modules by hand, before the graph compiler exists.

A plan is a list of kernel calls over named tensors. Kernels are loop-IR functions
(``tessel.ir.PrimFunc``) or ``(schedule, args, name)`` tuples lowered with ``tessel.lower``;
each node passes tensors in the kernel's parameter order, inputs then outputs. The result loads
with ``tessel.runtime.load`` (or the C/C++ runtime) and needs nothing of the compiler.

    tessel.deploy.export_kernels(
        "model.so",
        kernels=[dense_func, relu_func],
        nodes=[("dense", ["x", "w"], ["h"]), ("relu", ["h"], ["y"])],
        inputs={"x": ((8, 64), "float32")},
        outputs=["y"],
        params={"w": w_array},
        tensors={"h": ((8, 32), "float32"), "y": ((8, 32), "float32")},
    )
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

import tessel
from tessel import TesselError
from tessel.target import Target, TargetLike

__all__ = ["export_kernels"]

_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}

Shape = Tuple[int, ...]


def _as_kernel(kernel: Any) -> Any:
    if isinstance(kernel, tuple):
        lower = getattr(tessel, "lower", None)
        if lower is None:
            raise TesselError("this build of tessel cannot lower schedules (tessel.lower is missing)")
        schedule, args, name = kernel
        return lower(schedule, args, name=name)
    return kernel


def _bytes_of(shape: Sequence[int], dtype: str) -> int:
    if dtype not in _DTYPES:
        raise TesselError(f"unsupported dtype '{dtype}' (one of {', '.join(sorted(_DTYPES))})")
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def export_kernels(
    path: Union[str, os.PathLike],
    kernels: Sequence[Any],
    nodes: Sequence[Tuple[str, Sequence[str], Sequence[str]]],
    inputs: Mapping[str, Tuple[Shape, str]],
    outputs: Sequence[str],
    params: Mapping[str, np.ndarray] = {},
    tensors: Mapping[str, Tuple[Shape, str]] = {},
    target: TargetLike = "llvm",
    name: str = "tessel_module",
) -> None:
    """Exports a plan of kernel calls as one shared library at ``path``.

    ``nodes`` are ``(kernel_name, input_tensor_names, output_tensor_names)`` in execution order;
    ``inputs`` give the shape and dtype of each module input; ``params`` are constant weights,
    embedded in the library and used in place at run time; ``tensors`` give the shape and dtype
    of every other tensor (intermediates and outputs). Raises ``TesselError`` on an invalid plan.
    """
    native = tessel._native()
    if not hasattr(native, "export_library"):
        raise TesselError("this build of tessel has no exporter (_tessel.export_library)")
    storage: Dict[str, int] = {}
    sizes: List[int] = []
    described: Dict[str, Tuple[Shape, str]] = {}

    def declare(tensor: str, shape: Shape, dtype: str) -> int:
        if tensor in storage:
            raise TesselError(f"tensor '{tensor}' is declared twice")
        storage[tensor] = len(sizes)
        sizes.append(_bytes_of(shape, dtype))
        described[tensor] = (tuple(int(d) for d in shape), dtype)
        return storage[tensor]

    for tensor, (shape, dtype) in inputs.items():
        declare(tensor, shape, dtype)
    constants = []
    for tensor, value in params.items():
        array = np.ascontiguousarray(value)
        declare(tensor, array.shape, str(array.dtype))
        constants.append((tensor, storage[tensor], array.reshape(-1).view(np.uint8)))
    for tensor, (shape, dtype) in tensors.items():
        declare(tensor, shape, dtype)

    def lookup(tensor: str) -> int:
        if tensor not in storage:
            raise TesselError(f"tensor '{tensor}' has no shape: add it to inputs, params or tensors")
        return storage[tensor]

    plan_nodes = []
    for index, (kernel, ins, outs) in enumerate(nodes):
        plan_nodes.append((f"{kernel}_{index}", kernel, [lookup(t) for t in ins], [lookup(t) for t in outs]))
    plan_inputs = [(t, list(described[t][0]), described[t][1], storage[t]) for t in inputs]
    plan_outputs = [(t, list(described[t][0]), described[t][1], lookup(t)) for t in outputs]
    try:
        native.export_library(
            os.fspath(path), Target.of(target).native, name, [_as_kernel(k) for k in kernels], sizes,
            plan_nodes, plan_inputs, plan_outputs, constants,
        )
    except RuntimeError as error:  # CompileError arrives as RuntimeError without translation
        raise TesselError(str(error)) from None
