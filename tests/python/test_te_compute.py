"""tessel.te compute DAGs built from Python, compiled and compared with numpy: element-wise chains
(inlined or not), reductions with conditions, custom reducers, and workload keys."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tessel
from tessel import te

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def random(shape, seed: int, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("inline", [False, True])
def test_elementwise_chain(inline: bool) -> None:
    n, m = 23, 19
    X = te.placeholder((n, m), name="X")
    Y = te.compute((n, m), lambda i, j: X[i, j] * 2.0 + 1, name="Y")
    Z = te.compute((n, m), lambda i, j: te.tanh(Y[i, j]) - te.exp(X[i, j] * 0.1), name="Z")
    W = te.compute((n, m), lambda i, j: Z[i, j] * Y[i, j] + te.sqrt(te.abs(X[i, j])), name="W")
    s = te.create_schedule(W)
    if inline:
        s[Y].compute_inline()
        s[Z].compute_inline()
        fused = s[W].fuse(*W.op.axis)
        outer, inner = s[W].split(fused, factor=16)
        s[W].vectorize(inner)
        s[W].parallel(outer)
    text = str(tessel.lower(s, [X, W]))
    assert ("allocate" in text) != inline, text
    f = tessel.build(s, [X, W])
    x = random((n, m), 1)
    w = np.zeros((n, m), np.float32)
    f(x, w)
    y = x * 2 + 1
    z = np.tanh(y) - np.exp(x * 0.1)
    np.testing.assert_allclose(w, z * y + np.sqrt(np.abs(x)), rtol=1e-5, atol=1e-5)


def test_reductions_with_where() -> None:
    rows, cols = 7, 41
    A = te.placeholder((rows, cols), name="A")
    k = te.reduce_axis((0, cols), name="k")
    S = te.compute((rows,), lambda i: te.sum(A[i, k], axis=k, where=k % 3 != 0), name="S")
    k2 = te.reduce_axis((0, cols), name="k2")
    M = te.compute((rows,), lambda i: te.max(A[i, k2], axis=[k2], where=A[i, k2] < 0.5), name="M")
    k3 = te.reduce_axis((0, cols), name="k3")
    N = te.compute((rows,), lambda i: te.min(A[i, k3] * A[i, k3], axis=k3, where=k3 > i), name="N")
    k4 = te.reduce_axis((0, 5), name="k4")
    P = te.compute((rows,), lambda i: te.prod(A[i, k4] + 2, axis=k4), name="P")
    s = te.create_schedule([S, M, N, P])
    f = tessel.build(s, [A, S, M, N, P])
    a = random((rows, cols), 2)
    out = [np.zeros(rows, np.float32) for _ in range(4)]
    f(a, *out)
    idx = np.arange(cols)
    np.testing.assert_allclose(out[0], a[:, idx % 3 != 0].sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[1], np.where(a < 0.5, a, -np.inf).max(axis=1))
    sq = np.where(idx[None, :] > np.arange(rows)[:, None], a * a, np.inf)
    np.testing.assert_allclose(out[2], sq.min(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out[3], np.prod(a[:, :5] + 2, axis=1), rtol=1e-5)


def test_two_reduce_axes_and_integer_sum() -> None:
    A = te.placeholder((6, 5, 7), "int32", name="A")
    r = te.reduce_axis((0, 5), name="r")
    c = te.reduce_axis((1, 7), name="c")
    S = te.compute((6,), lambda i: te.sum(A[i, r, c], axis=[r, c]), name="S")
    s = te.create_schedule(S)
    f = tessel.build(s, [A, S])
    a = np.random.default_rng(4).integers(-1000, 1000, size=(6, 5, 7), dtype=np.int32)
    out = np.zeros(6, np.int32)
    f(a, out)
    np.testing.assert_array_equal(out, a[:, :, 1:].sum(axis=(1, 2)))


def test_comm_reducer() -> None:
    rows, cols = 5, 33
    A = te.placeholder((rows, cols), name="A")
    # Largest magnitude, and a custom sum over squares.
    absmax = te.comm_reducer(lambda x, y: te.max(te.abs(x), te.abs(y)), lambda t: te.const(0, t), name="absmax")
    mysum = te.comm_reducer(lambda x, y: x + y, lambda t: te.const(0, t), name="mysum")
    k = te.reduce_axis((0, cols), name="k")
    M = te.compute((rows,), lambda i: absmax(A[i, k], axis=k), name="M")
    k2 = te.reduce_axis((0, cols), name="k2")
    Q = te.compute((rows,), lambda i: mysum(A[i, k2] * A[i, k2], axis=k2, where=k2 < 20), name="Q")
    assert M.op.body.combiner.name == "absmax"
    s = te.create_schedule([M, Q])
    f = tessel.build(s, [A, M, Q])
    a = random((rows, cols), 5)
    m = np.zeros(rows, np.float32)
    q = np.zeros(rows, np.float32)
    f(a, m, q)
    np.testing.assert_array_equal(m, np.abs(a).max(axis=1))
    np.testing.assert_allclose(q, (a[:, :20] ** 2).sum(axis=1), rtol=1e-5)
    with pytest.raises(tessel.TesselError, match="not a reduce axis"):
        te.compute((rows,), lambda i: mysum(A[i, 0], axis=M.op.axis[0]))


def test_reduction_misuse_is_a_user_error() -> None:
    A = te.placeholder((4, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(tessel.TesselError, match="where"):
        te.sum(A[0, k], axis=k, where=A[0, k])  # float condition
    with pytest.raises(tessel.TesselError, match="te.max needs axis"):
        te.max(A[0, k])
    with pytest.raises(tessel.TesselError, match="empty range"):
        te.reduce_axis((3, 3), name="e")
    with pytest.raises(TypeError):
        te.compute((4,), lambda i: te.sum(A[i, k], axis=k) * 2)


WORKLOAD_SCRIPT = """
from tessel import te
def key(name_a, name_b, n):
    A = te.placeholder((n, 8), "float32", name=name_a)
    k = te.reduce_axis((0, 8), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * 2.0, axis=k), name=name_b)
    return te.workload_key(B)
print(key("A", "B", 16))
"""


def test_workload_key() -> None:
    def key(name_a: str, name_b: str, n: int, dtype: str = "float32", scale: float = 2.0) -> str:
        A = te.placeholder((n, 8), dtype, name=name_a)
        k = te.reduce_axis((0, 8), name=name_b + "_k")
        B = te.compute((n,), lambda r: te.sum(A[r, k] * scale, axis=k), name=name_b)
        return te.workload_key(B)

    base = key("A", "B", 16)
    assert len(base) == 32 and all(ch in "0123456789abcdef" for ch in base)
    assert key("data", "out", 16) == base  # names do not matter
    assert key("A", "B", 17) != base  # shapes do
    assert key("A", "B", 16, "float64") != base  # dtypes do
    assert key("A", "B", 16, scale=3.0) != base  # the computation does
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    runs = [
        subprocess.run([sys.executable, "-c", WORKLOAD_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == base
