"""tessel.te expressions: Python operators, type rules, intrinsics, axes and tensors, and the
errors users see for misuse. Numeric meaning is checked by building and running small kernels."""

import numpy as np
import pytest

import tessel
from tessel import te


def run_elementwise(fcompute, x: np.ndarray, out_dtype: str = "float32", in_dtype: str = "float32"):
    """Builds Y[i] = fcompute(X[i]) for a 1-D input and returns Y."""
    n = x.shape[0]
    X = te.placeholder((n,), in_dtype, name="X")
    Y = te.compute((n,), lambda i: fcompute(X[i]), name="Y")
    assert Y.dtype == out_dtype
    s = te.create_schedule(Y)
    f = tessel.build(s, [X, Y])
    y = np.zeros(n, dtype=out_dtype)
    f(x, y)
    return y


def test_operators_print_as_loop_ir() -> None:
    x = te.var("x")
    y = te.var("y", "float32")
    assert str(x + 1) == "x + 1"
    assert str(1 + x) == "1 + x"
    assert str(x - 2) == "x - 2"
    assert str(3 * x) == "3 * x"
    assert str(x / 2) == "x / 2"  # floor division on ints
    assert str(x // 2) == "x / 2"
    assert str(x % 3) == "x % 3"
    assert str(y / 2) == "y / 2f"
    assert str(y // 2) == "floor(y / 2f)"
    assert str((x < 3) & (x >= 1)) == "x < 3 && x >= 1"
    assert str(~(x == 3)) == "!(x == 3)"
    assert str(x != 3) == "x != 3"


def test_python_numbers_take_the_other_sides_type() -> None:
    x64 = te.var("n", "int64")
    assert (x64 + 1).dtype == "int64"
    assert (2 * x64).dtype == "int64"
    h = te.var("h", "float16")
    assert (h * 2.5).dtype == "float16"
    assert (h + 1).dtype == "float16"
    x = te.var("x")
    assert (x + 1).dtype == "int32"
    assert te.const(1.5).dtype == "float32"
    assert te.const(7, "int8").value == 7
    assert te.const(True).dtype == "bool"
    assert (x < 1).dtype == "bool"


def test_mixed_types_and_truth_value_are_user_errors() -> None:
    x = te.var("x")
    y = te.var("y", "float32")
    with pytest.raises(tessel.TesselError, match=r"different types: int32 .* float32"):
        x + y
    with pytest.raises(tessel.TesselError, match="float argument"):
        te.exp(x)
    with pytest.raises(tessel.TesselError, match="no Python truth value"):
        bool(x < 3)
    with pytest.raises(tessel.TesselError, match="no Python truth value"):
        if y > 0:
            pass
    with pytest.raises(tessel.TesselError, match="needs bool operands"):
        x & 1
    with pytest.raises(TypeError):
        x + "one"
    assert issubclass(tessel.TesselError, ValueError)


def test_expressions_hash_by_identity_and_compare_to_other_types() -> None:
    x = te.var("x")
    table = {x: "x"}
    assert table[x] == "x"
    assert hash(x) == hash(x)
    assert (x == None) is False  # noqa: E711 - not an expression operand: identity comparison
    assert (x == "x") is False
    assert x.same_as(x)
    assert not x.same_as(te.var("x"))


def test_axes_convert_to_their_variable() -> None:
    k = te.reduce_axis((2, 9), name="k")
    assert k.kind == "reduce"
    assert k.dom.min == 2 and k.dom.extent == 7
    assert str(k + 1) == "k + 1"
    assert str(k.var) == "k"
    assert k == k and hash(k) == hash(k)
    assert str(k == 3) == "k == 3"
    A = te.placeholder((4, 10), name="A")
    assert str(A[1, k]) == "A[1, k]"
    C = te.compute((4, 10), lambda i, j: A[i, j] * 2.0, name="C")
    axis = C.op.axis
    assert [a.name for a in axis] == ["i", "j"]
    assert axis[0] == C.op.axis[0]  # same axis through two wrappers
    assert axis[0] != axis[1]
    assert C.op.reduce_axis == []


def test_tensor_properties() -> None:
    n = te.var("n")
    A = te.placeholder((n, 3), "int8", name="A")
    assert A.ndim == 2
    assert A.dtype == "int8"
    assert A.name == "A"
    assert A.shape[1] == 3 and str(A.shape[0]) == "n"
    assert A.op.is_placeholder and A.op.name == "A"
    B = te.compute((5,), lambda i: A[i, 0].astype("int32") + 1, name="B", tag="elemwise")
    assert B.shape == (5,) and B.dtype == "int32" and B.op.tag == "elemwise"
    assert B.op.input_tensors == [A]
    assert B.op.output(0) == B
    with pytest.raises(tessel.TesselError, match="2 dimensions but is indexed with 1"):
        A[1]
    with pytest.raises(tessel.TesselError, match="must be an integer"):
        A[1, 0.5]
    with pytest.raises(tessel.TesselError, match="takes 1 index argument"):
        te.compute((2, 2), lambda i: A[i, 0])


def test_intrinsics_match_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 3.0, size=37).astype("float32")
    cases = [
        (te.exp, np.exp, 1e-5),
        (te.log, np.log, 1e-5),
        (te.sqrt, np.sqrt, 1e-6),
        (te.rsqrt, lambda v: 1 / np.sqrt(v), 1e-5),
        (te.tanh, np.tanh, 1e-5),
        (te.sigmoid, lambda v: 1 / (1 + np.exp(-v)), 1e-5),
        (te.floor, np.floor, 0),
        (te.ceil, np.ceil, 0),
        (lambda v: te.power(v, 1.5), lambda v: np.power(v, 1.5), 1e-5),
        (lambda v: te.fma(v, v, 1.0), lambda v: v * v + 1, 1e-5),
        (lambda v: te.abs(v - 1.5), lambda v: np.abs(v - 1.5), 0),
    ]
    for fte, fnp, tol in cases:
        y = run_elementwise(fte, x)
        np.testing.assert_allclose(y, fnp(x).astype("float32"), rtol=tol, atol=tol)


def test_arithmetic_semantics_match_python() -> None:
    rng = np.random.default_rng(1)
    xi = rng.integers(-50, 50, size=29).astype("int32")
    y = run_elementwise(lambda v: v // 7 + v % 7 * 100, xi, "int32", "int32")
    np.testing.assert_array_equal(y, xi // 7 + (xi % 7) * 100)  # floor semantics, like numpy
    y = run_elementwise(lambda v: v / 7, xi, "int32", "int32")
    np.testing.assert_array_equal(y, xi // 7)
    xf = rng.uniform(-5, 5, size=29).astype("float32")
    y = run_elementwise(lambda v: v / 3 + v // 2 - (-v) * 2, xf)
    np.testing.assert_allclose(y, xf / 3 + np.floor(xf / 2) + xf * 2, rtol=1e-5, atol=1e-5)
    y = run_elementwise(lambda v: te.if_then_else((v > 1) | (v < -2), v * 2, 0), xf)
    np.testing.assert_array_equal(y, np.where((xf > 1) | (xf < -2), xf * 2, 0).astype("float32"))
    y = run_elementwise(lambda v: te.max(v, 0.5) + te.min(v, -0.5), xf)
    np.testing.assert_allclose(y, np.maximum(xf, 0.5) + np.minimum(xf, -0.5), rtol=1e-6)
    y = run_elementwise(lambda v: v.astype("int32"), xf, "int32")
    np.testing.assert_array_equal(y, np.trunc(xf).astype("int32"))


def test_max_min_value_constants() -> None:
    assert te.max_value("float32").value == pytest.approx(np.finfo(np.float32).max)
    assert te.min_value("float32").value == pytest.approx(-np.finfo(np.float32).max)
    assert te.max_value("int8").value == 127
    assert te.min_value("int16").value == -32768
    assert te.max_value("uint8").value == 255
    assert te.max_value("int64").value == 2**63 - 1


def test_numpy_scalars_are_numbers() -> None:
    A = te.placeholder((np.int64(4), np.int32(3)), name="A")
    assert A.shape == (4, 3) and all(type(d) is int for d in A.shape)
    x = te.var("x", "float32")
    assert str(np.float32(2.5) * x) == "2.5f * x"
    assert str(x + np.int8(3)) == "x + 3f"
    assert str(A[np.int64(1), 2]) == "A[1, 2]"


def test_error_classes() -> None:
    assert issubclass(tessel.TesselError, ValueError)
    assert issubclass(tessel.InternalError, RuntimeError)
    assert not issubclass(tessel.InternalError, ValueError)
    with pytest.raises(ValueError):  # user errors are ValueErrors for generic callers
        te.placeholder((3,), "float33")
