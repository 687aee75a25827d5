"""tessel.te schedules from Python: every primitive on real kernels checked against numpy, the
errors users see for misuse, and step lists that replay in another process to the same loop IR."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tessel
from tessel import te

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def matmul(M: int, N: int, K: int):
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def check_matmul(s, A, B, C, seed: int = 0) -> str:
    """Builds and runs the schedule; returns the lowered text."""
    M, K = A.shape
    N = B.shape[1]
    f = tessel.build(s, [A, B, C])
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    c = np.full((M, N), np.nan, np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    return str(tessel.lower(s, [A, B, C]))


def cached_tiles(C, tile_i: int, tile_j: int, k_factor: int):
    """C tiled (tile_i x tile_j), the tile loops fused and parallel, the tile accumulated in a
    `local` cache computed per tile with its reduction split by k_factor: (s, CC, ko, ki)."""
    s = te.create_schedule(C)
    CC = s.cache_write(C, "local")
    xo, yo, xi, yi = s[C].tile(s[C].op.axis[0], s[C].op.axis[1], tile_i, tile_j)
    fused = s[C].fuse(xo, yo)
    s[C].parallel(fused)
    s[CC].compute_at(s[C], fused)
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=k_factor)
    return s, CC, ko, ki


def test_cache_write_register_tile() -> None:
    A, B, C = matmul(64, 80, 37)
    s, CC, ko, ki = cached_tiles(C, 8, 16, 4)
    s[CC].reorder(ko, ki, *s[CC].op.axis)
    s[CC].vectorize(s[CC].op.axis[1])
    s[CC].unroll(ki)
    assert s[CC].attach == "scope" and s[CC].scope == "local"
    text = check_matmul(s, A, B, C)
    assert "parallel" in text and "allocate" in text


def test_cache_read_and_compute_at() -> None:
    A, B, C = matmul(24, 16, 9)
    s = te.create_schedule(C)
    AS = s.cache_read(A, "shared", [C])
    BL = s.cache_read(B, "local", C)
    io, ii = s[C].split(C.op.axis[0], factor=8)
    s[AS].compute_at(s[C], io)
    assert AS.name != A.name and AS.shape == A.shape
    text = check_matmul(s, A, B, C, seed=1)
    assert text.count("allocate") >= 2
    assert s[BL].attach == "root"


def test_rfactor() -> None:
    rows, n = 3, 45
    A = te.placeholder((rows, n), name="A")
    k = te.reduce_axis((0, n), name="k")
    S = te.compute((rows,), lambda i: te.sum(A[i, k], axis=k), name="S")
    s = te.create_schedule(S)
    ko, ki = s[S].split(S.op.reduce_axis[0], factor=16)
    SF = s.rfactor(S, ki)
    assert SF.ndim == 2 and SF.shape[0] == 16
    s[SF].vectorize(s[SF].op.axis[0])
    f = tessel.build(s, [A, S])
    a = np.random.default_rng(2).standard_normal((rows, n)).astype(np.float32)
    out = np.zeros(rows, np.float32)
    f(a, out)
    np.testing.assert_allclose(out, a.sum(axis=1), rtol=1e-5, atol=1e-5)
    with pytest.raises(tessel.TesselError, match="factor_axis"):
        s.rfactor(S, ko, factor_axis=1)


def test_split_nparts_fuse_reorder_unroll_pragma() -> None:
    A, B, C = matmul(30, 22, 13)
    s = te.create_schedule(C)
    fused = s[C].fuse(C.op.axis[0], C.op.axis[1])
    outer, inner = s[C].split(fused, nparts=7)
    ko, ki = s[C].split(C.op.reduce_axis[0], 4)
    s[C].reorder(outer, ko, inner, ki)
    s[C].unroll(ki)
    s[C].pragma(outer, "auto_unroll_max_step", 16)
    s[C].parallel(outer)
    assert [iv.name for iv in s[C].leaf_iter_vars] == [outer.name, ko.name, inner.name, ki.name]
    check_matmul(s, A, B, C, seed=3)


def test_fuse_three_axes_and_storage_align() -> None:
    X = te.placeholder((4, 6, 10), name="X")
    Y = te.compute((4, 6, 10), lambda a, b, c: X[a, b, c] + 1.0, name="Y")
    Z = te.compute((4, 6, 10), lambda a, b, c: Y[a, b, c] * Y[a, b, c], name="Z")
    s = te.create_schedule(Z)
    s[Y].storage_align(Y.op.axis[1], 16, 1)
    fused = s[Z].fuse(*Z.op.axis)
    assert fused.name == "a.b.fused.c.fused"
    o, i = s[Z].split(fused, 16)
    s[Z].vectorize(i)
    f = tessel.build(s, [X, Z])
    x = np.random.default_rng(4).standard_normal((4, 6, 10)).astype(np.float32)
    z = np.zeros_like(x)
    f(x, z)
    np.testing.assert_allclose(z, (x + 1) ** 2, rtol=1e-6)


@pytest.mark.parametrize("block", [8, 16, 12])
def test_storage_pack_of_a_panel(block: int) -> None:
    # A B panel stored packed: B.local[k, j] at [j // block, k, j % block]. 37 and 53 leave partial
    # tiles and panels, and block 12 does not divide the 48-column panel (a partial last block).
    A, B, C = matmul(37, 53, 29)
    s, CC, ko, ki = cached_tiles(C, 16, 48, 8)
    ci, cj = s[CC].op.axis
    cj0, cj1 = s[CC].split(cj, factor=block)
    s[CC].reorder(ko, ci, cj0, ki, cj1)
    s[CC].vectorize(cj1)
    BL = s.cache_read(B, "local", [CC])
    s[BL].compute_at(s[CC], ko)
    s[BL].storage_pack(block)
    pk, pj = s[BL].op.axis
    jb, jf = s[BL].split(pj, factor=block)
    s[BL].reorder(jb, pk, jf)
    text = check_matmul(s, A, B, C, seed=block)
    # The panel is allocated in blocks: ceil(48 / block) x 8 x block elements.
    assert f"B.local: float32[{-(-48 // block) * 8 * block}]" in text, text


def test_storage_pack_is_not_for_outputs() -> None:
    A, B, C = matmul(8, 8, 8)
    s = te.create_schedule(C)
    s[C].storage_pack(4)
    with pytest.raises(tessel.TesselError, match="storage_pack"):
        tessel.build(s, [A, B, C])


def test_stage_handles_survive_new_stages_and_ops_index_schedules() -> None:
    A, B, C = matmul(16, 16, 4)
    s = te.create_schedule(C.op)
    stage = s[C]
    s.cache_write(C, "local")  # inserts a stage before C's
    xo, xi = stage.split(stage.op.axis[0], 4)
    assert stage.name == "C" and s[C.op].name == "C"
    assert xo.same_as(stage.leaf_iter_vars[0]) and xi.same_as(stage.leaf_iter_vars[1])
    assert s[stage.op].name == stage.name
    assert len(s.stages) == 4
    check_matmul(s, A, B, C, seed=5)


def test_thread_binding_is_recorded() -> None:
    A, B, C = matmul(64, 64, 4)
    s = te.create_schedule(C)
    bx, tx = s[C].split(C.op.axis[0], 32)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    steps = json.loads(s.steps_json())["steps"]
    assert [step["kind"] for step in steps] == ["split", "bind", "bind"]
    assert "threadIdx.x" in s.steps_json()
    with pytest.raises(tessel.TesselError):
        s[C].bind(s[C].leaf_iter_vars[-1], te.thread_axis("warpIdx.q"))


def test_schedule_errors_name_stage_and_axis() -> None:
    A, B, C = matmul(8, 8, 8)
    s = te.create_schedule(C)
    D = te.compute((8,), lambda i: A[i, i] * 2.0, name="D")
    with pytest.raises(tessel.TesselError, match=r"split on stage C: axis i does not belong to this stage"):
        s[C].split(D.op.axis[0], 2)
    with pytest.raises(tessel.TesselError, match=r"reduction axis") as info:
        s[C].vectorize(C.op.reduce_axis[0])
    assert "k" in str(info.value)
    with pytest.raises(tessel.TesselError, match="exactly one of factor and nparts"):
        s[C].split(C.op.axis[0])
    with pytest.raises(tessel.TesselError, match="not part of this schedule"):
        s[D]
    X = te.placeholder((8,), name="X")
    P = te.compute((8,), lambda i: X[i] + 1.0, name="P")
    Q = te.compute((8,), lambda i: P[i] * 2.0, name="Q")
    R = te.compute((8,), lambda i: Q[i] + X[i], name="R")
    s3 = te.create_schedule(R)
    with pytest.raises(tessel.TesselError, match="does not consume P"):
        s3[P].compute_at(s3[R], R.op.axis[0])
    with pytest.raises(tessel.TesselError, match="output"):
        s3[R].compute_inline()
    o, i = s[C].split(C.op.axis[0], 2)
    with pytest.raises(tessel.TesselError, match="already transformed"):
        s[C].split(C.op.axis[0], 2)
    with pytest.raises(tessel.TesselError, match="unknown pragma"):
        s[C].pragma(o, "unroll_everything", 1)
    with pytest.raises(tessel.TesselError):
        s.replay("not json")


def build_dag_source() -> str:
    return """
from tessel import te
A = te.placeholder((40, 24), name="A")
B = te.placeholder((24, 36), name="B")
k = te.reduce_axis((0, 24), name="k")
C = te.compute((40, 36), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
D = te.compute((40, 36), lambda i, j: te.max(C[i, j], 0.0), name="D")
s = te.create_schedule(D)
"""


REPLAY_SCRIPT = build_dag_source() + """
import sys, tessel
te.replay(s, sys.stdin.read())
print(tessel.lower(s, [A, B, D]))
"""


def test_replay_in_another_process_gives_identical_loop_ir() -> None:
    scope: dict = {}
    exec(build_dag_source(), scope)  # the same DAG, built the same way
    s, A, B, C, D = scope["s"], scope["A"], scope["B"], scope["C"], scope["D"]
    CC = s.cache_write(C, "local")
    xo, yo, xi, yi = s[D].tile(D.op.axis[0], D.op.axis[1], 8, 12)
    s[D].parallel(xo)
    s[C].compute_at(s[D], yo)
    s[CC].compute_at(s[C], s[C].op.axis[0])
    ko, ki = s[CC].split(CC.op.reduce_axis[0], 4)
    s[CC].unroll(ki)
    s[D].vectorize(yi)
    steps = s.steps_json()
    expected = str(tessel.lower(s, [A, B, D]))
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    result = subprocess.run(
        ["/usr/bin/python3", "-c", REPLAY_SCRIPT], input=steps, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected.strip()
    # Replayed in this process, too, and the result computes the right thing.
    scope2: dict = {}
    exec(build_dag_source(), scope2)
    s2 = scope2["s"]
    s2.replay(steps)
    assert str(tessel.lower(s2, [scope2["A"], scope2["B"], scope2["D"]])) == expected
    f = tessel.build(s2, [scope2["A"], scope2["B"], scope2["D"]])
    rng = np.random.default_rng(6)
    a = rng.standard_normal((40, 24), dtype=np.float32)
    b = rng.standard_normal((24, 36), dtype=np.float32)
    d = np.zeros((40, 36), np.float32)
    f(a, b, d)
    np.testing.assert_allclose(d, np.maximum(a.astype(np.float64) @ b, 0), rtol=1e-4, atol=1e-4)


def test_default_schedule_runs() -> None:
    X = te.placeholder((3, 50), name="X")
    Y = te.compute((3, 50), lambda i, j: te.exp(X[i, j]) + 1.0, name="Y", tag="elemwise")
    s = te.default_schedule(Y)
    f = tessel.build(s, [X, Y])
    x = np.random.default_rng(8).standard_normal((3, 50)).astype(np.float32)
    y = np.zeros_like(x)
    f(x, y)
    np.testing.assert_allclose(y, np.exp(x) + 1, rtol=1e-5)
