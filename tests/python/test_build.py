"""tessel.lower and tessel.build: the DESIGN.md example verbatim, argument checking of built
functions (count, dtype, shape, layout, alignment, overlap), generated sources and targets."""

import numpy as np
import pytest

import tessel
from tessel import te


def design_example(M: int, N: int, K: int):
    """The Python contract of DESIGN.md, as written there."""
    A = te.placeholder((M, K), "float32", name="A"); B = te.placeholder((K, N), "float32", name="B")  # noqa: E702
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 32, 32); s[C].vectorize(ji); s[C].parallel(io)  # noqa: E702
    return s, A, B, C


@pytest.mark.parametrize("M,N,K", [(128, 96, 64), (37, 29, 13), (1, 17, 1)])
def test_design_example_matches_numpy(M: int, N: int, K: int, capsys: pytest.CaptureFixture) -> None:
    s, A, B, C = design_example(M, N, K)
    print(tessel.lower(s, [A, B, C]))                      # readable loop IR
    text = capsys.readouterr().out
    assert ("for (k" in text or K == 1) and "ramp(" in text
    if M % 32 == 0 and M > 32:
        assert "parallel (i.outer" in text
    f = tessel.build(s, [A, B, C], target="llvm")          # JIT-compiled callable
    rng = np.random.default_rng(M * 1000 + N)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    c = np.full((M, N), np.nan, dtype=np.float32)
    f(a, b, c)                                              # numpy arrays in, written in place
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-4)


def test_lower_text_is_loop_ir() -> None:
    s, A, B, C = design_example(64, 64, 8)
    lowered = tessel.lower(s, [A, B, C], name="matmul")
    text = str(lowered)
    assert text.startswith("func matmul(A: float32[64, 8], B: float32[8, 64], C: float32[64, 64])")
    assert "ramp(" in text  # vectorised
    assert lowered.params == ["A", "B", "C"]
    raw = str(tessel.lower(s, [A, B, C], simple_mode=True))
    assert "vectorized" in raw and "ramp(" not in raw


def small_add():
    A = te.placeholder((3, 5), "float32", name="A")
    B = te.placeholder((3, 5), "float32", name="B")
    C = te.compute((3, 5), lambda i, j: A[i, j] + B[i, j], name="C")
    return tessel.build(te.create_schedule(C), [A, B, C])


def test_argument_errors_name_the_argument() -> None:
    f = small_add()
    a = np.ones((3, 5), np.float32)
    b = np.ones((3, 5), np.float32)
    c = np.zeros((3, 5), np.float32)
    with pytest.raises(tessel.TesselError, match=r"takes 3 arguments \(A, B, C\), got 2"):
        f(a, b)
    with pytest.raises(tessel.TesselError, match=r"argument 1 \(B\): expected dtype float32, got float64"):
        f(a, b.astype(np.float64), c)
    with pytest.raises(tessel.TesselError, match=r"argument 2 \(C\): expected shape \(3, 5\), got \(5, 3\)"):
        f(a, b, np.zeros((5, 3), np.float32))
    with pytest.raises(tessel.TesselError, match=r"argument 0 \(A\): .*C-contiguous"):
        f(np.ones((5, 3), np.float32).T, b, c)
    with pytest.raises(tessel.TesselError, match=r"argument 0 \(A\): expected a numpy array, got list"):
        f([[1.0] * 5] * 3, b, c)
    with pytest.raises(tessel.TesselError, match=r"argument 2 \(C\) overlaps argument 0 \(A\)"):
        f(a, b, a)
    frozen = np.zeros((3, 5), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(tessel.TesselError, match=r"argument 2 \(C\): .*read-only"):
        f(a, b, frozen)
    f(a, b, c)  # read-only inputs are fine
    np.testing.assert_array_equal(c, 2 * np.ones((3, 5), np.float32))


def test_misaligned_arrays_are_copied_in_and_out() -> None:
    f = small_add()
    rng = np.random.default_rng(7)
    for offset in (0, 4, 8, 60):
        # Views into a byte buffer at a chosen distance from a 64-byte boundary.
        def view(seed: int) -> np.ndarray:
            raw = np.zeros(15 * 4 + 128, np.uint8)
            start = (-raw.ctypes.data) % 64 + offset
            return raw[start:start + 60].view(np.float32).reshape(3, 5)

        a, b, c = view(1), view(2), view(3)
        a[...] = rng.standard_normal((3, 5))
        b[...] = rng.standard_normal((3, 5))
        assert a.ctypes.data % 64 == offset
        f(a, b, c)
        np.testing.assert_array_equal(c, a + b)
    aligned = tessel.build_module.empty((7, 3), "float64")
    assert aligned.ctypes.data % 64 == 0 and aligned.shape == (7, 3) and aligned.dtype == np.float64


def test_integer_and_bool_tensors() -> None:
    n = 45
    A = te.placeholder((n,), "int8", name="A")
    M = te.compute((n,), lambda i: A[i] > 3, name="M")
    W = te.compute((n,), lambda i: te.if_then_else(M[i], A[i].astype("int32") * 1000, -1), name="W")
    s = te.create_schedule(W)
    f = tessel.build(s, [A, M, W])
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 127, size=n, dtype=np.int8)
    m = np.zeros(n, bool)
    w = np.zeros(n, np.int32)
    f(a, m, w)
    np.testing.assert_array_equal(m, a > 3)
    np.testing.assert_array_equal(w, np.where(a > 3, a.astype(np.int32) * 1000, -1))


def test_sources_and_targets() -> None:
    s, A, B, C = design_example(32, 32, 4)
    f = tessel.build(s, [A, B, C], name="mm")
    assert f.entry_name == "mm"
    assert "define" in f.get_source("ll") and "@mm" in f.get_source("ll")
    assert "mm" in f.get_source("asm")
    assert f.get_source("tir").startswith("func mm(")
    with pytest.raises(tessel.TesselError, match="unknown format"):
        f.get_source("ptx")
    host = tessel.host_target()
    f2 = tessel.build(s, [A, B, C], target=f"llvm -mcpu={host['cpu']}", name="mm2")
    assert f"-mcpu={host['cpu']}" in f2.target
    a = np.ones((32, 4), np.float32)
    b = np.ones((4, 32), np.float32)
    c = np.zeros((32, 32), np.float32)
    f2(a, b, c)
    assert (c == 4).all()
    with pytest.raises(tessel.TesselError):
        tessel.build(s, [A, B, C], target="cuda -arch=sm_90")
    with pytest.raises(tessel.TesselError):
        tessel.build(s, [A, B, C], target="llvm -mbogus=1")
    with pytest.raises(tessel.TesselError, match="reserved"):
        tessel.build(s, [A, B, C], name="main")
    with pytest.raises(tessel.TesselError, match="output C is not among the arguments"):
        tessel.build(s, [A, B])


def test_cross_target_gives_source_only() -> None:
    if not tessel._native().codegen.is_target_registered("aarch64-linux-gnu"):
        pytest.skip("LLVM has no AArch64 backend here")
    s, A, B, C = design_example(16, 16, 4)
    f = tessel.build(s, [A, B, C], target="llvm -mtriple=aarch64-linux-gnu -mcpu=neoverse-v1", name="mm")
    assert "aarch64" in f.get_source("ll")
    assert "fmla" in f.get_source("asm")
    with pytest.raises(tessel.TesselError, match="cannot run in this process"):
        f(np.ones((16, 4), np.float32), np.ones((4, 16), np.float32), np.zeros((16, 16), np.float32))


def test_time_evaluator_reports_positive_times() -> None:
    f = small_add()
    a = np.ones((3, 5), np.float32)
    result = f.time_evaluator(number=3, repeat=2)(a, a, np.zeros((3, 5), np.float32))
    assert len(result.results) == 2 and all(t > 0 for t in result.results)
    assert result.min <= result.mean


def test_operator_library_composes_with_te_and_default_schedules() -> None:
    if not hasattr(tessel.ops, "dense") or not hasattr(tessel.ops, "relu"):
        pytest.skip("the operator library bindings are not built")
    X = te.placeholder((5, 33), "float32", name="X")
    W = te.placeholder((19, 33), "float32", name="W")
    Y = tessel.ops.relu(tessel.ops.dense(X, W))
    s = te.default_schedule(Y)
    f = tessel.build(s, [X, W, Y])
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 33), dtype=np.float32)
    w = rng.standard_normal((19, 33), dtype=np.float32)
    y = np.full((5, 19), np.nan, np.float32)
    f(x, w, y)
    np.testing.assert_allclose(y, np.maximum(x.astype(np.float64) @ w.T, 0), rtol=1e-4, atol=1e-4)
