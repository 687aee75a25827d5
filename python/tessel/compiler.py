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
from typing import Any, List, Mapping, Optional, Union

import numpy as np

from tessel import TesselError
from tessel.relay import _native_relay

__all__ = ["compile", "CompiledModule"]


class CompiledModule:
    """A compiled graph: kernels, execution plan and weights, ready to export."""

    def __init__(self, native: Any, target: str = "llvm") -> None:
        self._native = native
        self._target = target

    @property
    def target(self) -> str:
        """The target string the module was compiled for ("llvm ...", "cuda -arch=sm_90", ...)."""
        return self._target

    def export_library(self, path: Union[str, os.PathLike]) -> None:
        """Writes the module as one shared library (load it with ``tessel.runtime.load``)."""
        self._native.export_library(os.fspath(path))

    @property
    def summary(self) -> str:
        """"N of M workloads tuned, K used default schedules"."""
        return str(self._native.summary())

    @property
    def num_kernel_calls(self) -> int:
        """Kernel calls per run (fused groups plus output copies)."""
        return int(self._native.num_kernel_calls)

    @property
    def num_kernels(self) -> int:
        """Distinct compiled kernels (identical workloads share one)."""
        return int(self._native.num_kernels)

    @property
    def kernel_calls(self) -> List[str]:
        """Kernel name of each call, in execution order."""
        return list(self._native.kernel_calls)

    @property
    def graph(self) -> Any:
        """The optimised graph that was fused."""
        return self._native.graph

    @property
    def fusion(self) -> str:
        """The fusion groups, one line each."""
        return str(self._native.fusion)


def compile(graph: Any, params: Optional[Mapping[str, Any]] = None, target: str = "llvm",
            name: str = "tessel_module", verbose: bool = True, records: Optional[str] = None,
            db: Optional[str] = None) -> CompiledModule:  # noqa: A001
    """Compiles ``graph`` (from ``relay.GraphBuilder.finish`` or ``tessel.frontend.from_onnx``).

    ``params`` replace the graph's named constants of the same name (same shape and dtype);
    ``target`` is an LLVM target string ("llvm", "llvm -mcpu=...") or a CUDA one ("cuda",
    "cuda -arch=sm_90"). With ``records`` (or ``db``),
    a tuning-record file, each workload uses its best record for this target. With ``verbose``,
    prints how many workloads used tuned and default schedules.
    """
    if records is not None or db is not None:
        from tessel import autotune
        return autotune.compile(graph, params, target=target, records=records, db=db, name=name, verbose=verbose)
    relay = _native_relay()
    if params:
        graph = graph.copy()
        for key, value in params.items():
            graph.set_param(key, np.ascontiguousarray(value))
    if not isinstance(target, str):
        raise TesselError(f"target must be a string such as 'llvm', got {target!r}")
    return CompiledModule(relay.compile(graph, target=target, name=name, print_summary=verbose), target)
