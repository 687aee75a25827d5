"""Compiling a graph into a deployable module: ``tessel.compile(graph, params, target="llvm")``.

The graph is optimised (simplify inference, constant folding, CSE/DCE), fused into kernels,
each kernel scheduled (default schedules until a tuning database provides steps) and compiled;
``export_library(path)`` writes one shared library that ``tessel.runtime.load`` runs.

With ``target="cuda"`` (``"cuda -arch=sm_80"``, default sm_90) every kernel gets the operator
library's GPU schedule and becomes CUDA C++; export compiles it with NVRTC (the CUDA toolkit, no
GPU needed) and embeds the PTX and cubin in the library, which runs where a GPU and its driver are.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Union

import numpy as np

from tessel._fields import native_field
from tessel.relay import _native_relay
from tessel.target import Target, TargetLike

__all__ = ["compile", "CompiledModule"]


class CompiledModule:
    """A compiled graph: kernels, execution plan and weights, ready to export."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def target(self) -> Target:
        """The target the module was compiled for (equal to its text, e.g. ``== "cuda"``)."""
        return Target._wrap(self._native.target)

    def export_library(self, path: Union[str, os.PathLike]) -> None:
        """Writes the module as one shared library (load it with ``tessel.runtime.load``)."""
        self._native.export_library(os.fspath(path))

    @property
    def summary(self) -> str:
        """"N of M workloads tuned, K used default schedules"."""
        return str(self._native.summary())

    num_tuned_to_default = native_field("num_tuned_to_default", int,
                                        "Tuned workloads whose best measured schedule is their default one.")
    num_kernel_calls = native_field("num_kernel_calls", int, "Kernel calls per run (fused groups plus output copies).")
    num_kernels = native_field("num_kernels", int, "Distinct compiled kernels (identical workloads share one).")
    kernel_calls = native_field("kernel_calls", list, "Kernel name of each call, in execution order.")
    graph = native_field("graph", lambda graph: graph, "The optimised graph that was fused.")
    fusion = native_field("fusion", str, "The fusion groups, one line each.")


def compile(graph: Any, params: Optional[Mapping[str, Any]] = None, target: TargetLike = "llvm",
            name: str = "tessel_module", verbose: bool = True, records: Optional[str] = None,
            db: Optional[str] = None) -> CompiledModule:  # noqa: A001
    """Compiles ``graph`` (from ``relay.GraphBuilder.finish`` or ``tessel.frontend.from_onnx``).

    ``params`` replace the graph's named constants of the same name (same shape and dtype);
    ``target`` is a :class:`tessel.Target` or its text: an LLVM target ("llvm", "llvm -mcpu=...")
    or a CUDA one ("cuda", "cuda -arch=sm_90"). With ``records`` (or ``db``), a tuning-record
    file, each workload uses its best record for this target. With ``verbose``, prints how many
    workloads used tuned and default schedules.
    """
    parsed = Target.of(target)
    if records is not None or db is not None:
        from tessel import autotune
        return autotune.compile(graph, params, target=parsed, records=records, db=db, name=name, verbose=verbose)
    native_graph = with_params(graph, params)
    return CompiledModule(_native_relay().compile(native_graph, target=parsed.native, name=name,
                                                  print_summary=verbose))


def with_params(graph: Any, params: Optional[Mapping[str, Any]]) -> Any:
    """The native graph to compile: ``graph`` itself, or with ``params`` replacing its named
    constants (a copy; the caller's graph is left alone). ``from_onnx`` returns the weights
    inside the graph already, so passing its ``params`` back only checks that they match."""
    native_graph = getattr(graph, "_native", graph)
    if not params:
        return native_graph
    current = {name: value for name, value in params.items()
               if not (isinstance(value, np.ndarray) and native_graph.holds_param(name, value))}
    if not current:
        return native_graph
    copy = graph.copy()
    for key, value in current.items():
        copy.set_param(key, np.ascontiguousarray(value))
    return getattr(copy, "_native", copy)
