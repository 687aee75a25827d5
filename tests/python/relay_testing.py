"""Shared by the graph-level Python tests: compile, export, load and run; compare with tolerance."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

import tessel


def run_compiled(graph: Any, params: Any, tmp_path: Any, **inputs: np.ndarray) -> Tuple[Any, List[np.ndarray]]:
    """Compiles ``graph``, exports it under ``tmp_path``, loads it with the runtime and runs it."""
    lib = tessel.compile(graph, params, verbose=False)
    path = tmp_path / "model.so"
    lib.export_library(path)
    from tessel import runtime

    module = runtime.load(str(path))
    return lib, [np.array(o) for o in module.run(**inputs)]


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: float = 1e-4) -> None:
    """Relative tolerance ``tol``, and absolute tolerance ``tol`` scaled by the largest expected value."""
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)
