"""tessel.ops tensor operators (elementwise, broadcast, reductions, normalisation, transforms)
built with their default schedules and compared with numpy and PyTorch on random data and odd
shapes."""

from typing import Callable, List, Sequence

import numpy as np
import pytest

import tessel
from tessel import ops, te

torch = pytest.importorskip("torch")


def run(outputs, inputs: Sequence, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Default schedule -> build -> run; returns the outputs as numpy arrays."""
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    s = te.default_schedule(outs)
    f = tessel.build(s, list(inputs) + outs, target="llvm", name="op")
    results = [np.empty(tuple(o.shape), dtype=np.dtype(o.dtype)) for o in outs]
    f(*arrays, *results)
    return results


def rand(shape, low=-2.0, high=2.0, seed=0, dtype="float32") -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)


def t(a: np.ndarray) -> "torch.Tensor":
    return torch.from_numpy(a.astype(np.float64))


UNARY = [
    ("relu", ops.relu, lambda a: np.maximum(a, 0), (-3, 3)),
    ("sigmoid", ops.sigmoid, lambda a: torch.sigmoid(t(a)).numpy(), (-10, 10)),
    ("tanh", ops.tanh, np.tanh, (-5, 5)),
    ("exp", ops.exp, np.exp, (-10, 10)),
    ("log", ops.log, np.log, (0.01, 50)),
    ("sqrt", ops.sqrt, np.sqrt, (0, 50)),
    ("erf", ops.erf, lambda a: torch.erf(t(a)).numpy(), (-3, 3)),
    ("gelu", ops.gelu, lambda a: torch.nn.functional.gelu(t(a)).numpy(), (-5, 5)),
    ("gelu_tanh", lambda x: ops.gelu(x, True),
     lambda a: torch.nn.functional.gelu(t(a), approximate="tanh").numpy(), (-5, 5)),
    ("softplus", ops.softplus, lambda a: torch.nn.functional.softplus(t(a)).numpy(), (-20, 20)),
    ("elu", ops.elu, lambda a: torch.nn.functional.elu(t(a)).numpy(), (-4, 4)),
    ("selu", ops.selu, lambda a: torch.nn.functional.selu(t(a)).numpy(), (-4, 4)),
    ("hard_swish", ops.hard_swish, lambda a: torch.nn.functional.hardswish(t(a)).numpy(), (-5, 5)),
    ("hard_sigmoid", lambda x: ops.hard_sigmoid(x, 1 / 6, 0.5),
     lambda a: torch.nn.functional.hardsigmoid(t(a)).numpy(), (-5, 5)),
    ("leaky_relu", lambda x: ops.leaky_relu(x, 0.2), lambda a: np.where(a < 0, 0.2 * a, a), (-3, 3)),
    ("round", ops.round, np.round, (-5, 5)),
    ("sign", ops.sign, np.sign, (-3, 3)),
    ("sin", ops.sin, np.sin, (-50, 50)),
    ("cos", ops.cos, np.cos, (-50, 50)),
    ("abs", ops.abs, np.abs, (-3, 3)),
    ("negative", ops.negative, np.negative, (-3, 3)),
    ("reciprocal", ops.reciprocal, np.reciprocal, (0.1, 5)),
    ("clip", lambda x: ops.clip(x, -0.5, 1.25), lambda a: np.clip(a, -0.5, 1.25), (-3, 3)),
]


@pytest.mark.parametrize("name,op,ref,bounds", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_reference(name: str, op: Callable, ref: Callable, bounds) -> None:
    x = te.placeholder((3, 41), "float32", name="x")
    a = rand((3, 41), low=bounds[0], high=bounds[1], seed=len(name))
    (out,) = run(op(x), [x], [a])
    np.testing.assert_allclose(out, ref(a.astype(np.float64)), rtol=3e-6, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("sa,sb", [((3, 1, 17), (5, 1)), ((1,), (4, 33)), ((2, 3, 4), (2, 3, 4))])
def test_broadcast_arithmetic_matches_numpy(sa, sb) -> None:
    a_t = te.placeholder(sa, "float32", name="a")
    b_t = te.placeholder(sb, "float32", name="b")
    a, b = rand(sa, seed=1), rand(sb, low=0.5, high=2.0, seed=2)
    outs = run([ops.add(a_t, b_t), ops.subtract(a_t, b_t), ops.multiply(a_t, b_t), ops.divide(a_t, b_t),
                ops.maximum(a_t, b_t), ops.power(ops.abs(a_t), b_t), ops.less(a_t, b_t)], [a_t, b_t], [a, b])
    expected = [a + b, a - b, a * b, a / b, np.maximum(a, b), np.power(np.abs(a), b), a < b]
    for out, ref in zip(outs, expected):
        np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-6)


def test_integer_division_and_scalars() -> None:
    a_t = te.placeholder((4, 29), "int32", name="a")
    b_t = te.placeholder((29,), "int32", name="b")
    a = rand((4, 29), -50, 50, seed=3, dtype="int32")
    b = rand((29,), 1, 9, seed=4, dtype="int32") * np.where(np.arange(29) % 2 == 0, 1, -1).astype(np.int32)
    div, fdiv, mod, scaled = run([ops.divide(a_t, b_t), ops.floor_divide(a_t, b_t), ops.floor_mod(a_t, b_t),
                                  ops.add(ops.multiply(a_t, 3), 1)], [a_t, b_t], [a, b])
    np.testing.assert_array_equal(div, np.trunc(a / b).astype(np.int32))  # ONNX Div: toward zero
    np.testing.assert_array_equal(fdiv, a // b)
    np.testing.assert_array_equal(mod, a % b)
    np.testing.assert_array_equal(scaled, a * 3 + 1)


def test_where_and_logical() -> None:
    c_t = te.placeholder((4, 1), "bool", name="c")
    x_t = te.placeholder((4, 19), "float32", name="x")
    c, x = rand((4, 1), seed=5, dtype="bool"), rand((4, 19), seed=6)
    w, n = run([ops.where(c_t, x_t, -1.0), ops.logical_xor(c_t, ops.greater(x_t, 0.0))], [c_t, x_t], [c, x])
    np.testing.assert_array_equal(w, np.where(c, x, np.float32(-1.0)))
    np.testing.assert_array_equal(n, np.logical_xor(c, x > 0))


@pytest.mark.parametrize("shape,axis,keepdims", [((5, 77), 1, False), ((37, 19), 0, True), ((2, 5, 3, 7), (1, 3), False),
                                                  ((3, 17, 5), None, False), ((6, 64), -1, True)])
def test_reductions_match_numpy(shape, axis, keepdims) -> None:
    x = te.placeholder(shape, "float32", name="x")
    a = rand(shape, low=0.9, high=1.1, seed=7)
    outs = run([ops.sum(x, axis, keepdims), ops.mean(x, axis, keepdims), ops.max(x, axis, keepdims),
                ops.min(x, axis, keepdims), ops.prod(x, axis, keepdims)], [x], [a])
    a64 = a.astype(np.float64)
    for out, fn in zip(outs, [np.sum, np.mean, np.max, np.min, np.prod]):
        ref = np.asarray(fn(a64, axis=axis, keepdims=keepdims))
        np.testing.assert_allclose(out.reshape(ref.shape), ref, rtol=2e-5, err_msg=fn.__name__)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_argmax_argmin_first_occurrence(axis: int) -> None:
    x = te.placeholder((6, 7, 5), "float32", name="x")
    a = np.round(rand((6, 7, 5), low=-3, high=3, seed=8))  # many ties
    amax, amin = run([ops.argmax(x, axis), ops.argmin(x, axis, dtype="int64")], [x], [a])
    np.testing.assert_array_equal(amax, np.argmax(a, axis=axis))
    np.testing.assert_array_equal(amin, np.argmin(a, axis=axis))
    assert amin.dtype == np.int64


@pytest.mark.parametrize("shape,axis", [((7, 77), -1), ((4, 33, 6), 1), ((19, 3), 0)])
def test_softmax_and_log_softmax_match_torch(shape, axis: int) -> None:
    x = te.placeholder(shape, "float32", name="x")
    a = rand(shape, low=-8, high=8, seed=9)
    sm, lsm = run([ops.softmax(x, axis)], [x], [a])[0], run([ops.log_softmax(x, axis)], [x], [a])[0]
    np.testing.assert_allclose(sm, torch.softmax(t(a), axis).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lsm, torch.log_softmax(t(a), axis).numpy(), rtol=1e-5, atol=1e-5)


def test_layer_and_instance_norm_match_torch() -> None:
    x = te.placeholder((4, 3, 11), "float32", name="x")
    g = te.placeholder((3, 11), "float32", name="g")
    b = te.placeholder((3, 11), "float32", name="b")
    a, ga, ba = rand((4, 3, 11), seed=10), rand((3, 11), 0.5, 1.5, seed=11), rand((3, 11), seed=12)
    (ln,) = run(ops.layer_norm(x, g, b, axis=[1, 2], epsilon=1e-5), [x, g, b], [a, ga, ba])
    ref = torch.nn.functional.layer_norm(t(a), (3, 11), t(ga), t(ba), 1e-5).numpy()
    np.testing.assert_allclose(ln, ref, rtol=1e-5, atol=2e-5)

    xi = te.placeholder((2, 3, 5, 7), "float32", name="xi")
    gi = te.placeholder((3,), "float32", name="gi")
    bi = te.placeholder((3,), "float32", name="bi")
    ai, gai, bai = rand((2, 3, 5, 7), seed=13), rand((3,), 0.5, 1.5, seed=14), rand((3,), seed=15)
    (inorm,) = run(ops.instance_norm(xi, gi, bi, 1e-5), [xi, gi, bi], [ai, gai, bai])
    ref = torch.nn.functional.instance_norm(t(ai), weight=t(gai), bias=t(bai), eps=1e-5).numpy()
    np.testing.assert_allclose(inorm, ref, rtol=1e-5, atol=2e-5)


def test_batch_norm_matches_torch() -> None:
    x = te.placeholder((2, 6, 3, 5), "float32", name="x")
    params = [te.placeholder((6,), "float32", name=n) for n in ("gamma", "beta", "mean", "var")]
    a = rand((2, 6, 3, 5), seed=16)
    g, b, m, v = rand((6,), 0.5, 1.5, seed=17), rand((6,), seed=18), rand((6,), seed=19), rand((6,), 0.1, 2, seed=20)
    (out,) = run(ops.batch_norm(x, *params, 1e-3), [x, *params], [a, g, b, m, v])
    ref = torch.nn.functional.batch_norm(t(a), t(m), t(v), t(g), t(b), training=False, eps=1e-3).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_injective_transforms_match_numpy() -> None:
    x = te.placeholder((4, 6, 5), "float32", name="x")
    a = rand((4, 6, 5), seed=21)
    idx_t = te.placeholder((2, 3), "int64", name="idx")
    idx = np.array([[0, -1, 3], [5, -6, 2]], dtype=np.int64)
    outs = run([ops.reshape(x, [8, -1]), ops.transpose(x, [2, 0, 1]), ops.concatenate([x, x], 1),
                ops.pad(x, [1, 0, 2], [0, 3, 1], "reflect"), ops.strided_slice(x, [3, -1], [0, -7], [-2, -2]),
                ops.take(x, idx_t, 1), ops.tile(x, [2, 1, 1, 2]), ops.broadcast_to(ops.max(x, 1, True), (4, 6, 5))],
               [x, idx_t], [a, idx])
    expected = [a.reshape(8, -1), a.transpose(2, 0, 1), np.concatenate([a, a], 1),
                np.pad(a, [(1, 0), (0, 3), (2, 1)], mode="reflect"), a[3:0:-2, -1:-7:-2], np.take(a, idx, 1),
                np.tile(a, (2, 1, 1, 2)), np.broadcast_to(a.max(1, keepdims=True), (4, 6, 5))]
    for n, (out, ref) in enumerate(zip(outs, expected)):
        np.testing.assert_array_equal(out, ref, err_msg=str(n))
    parts = ops.split(x, [1, 4], axis=1)
    outs = run(parts, [x], [a])
    for out, ref in zip(outs, np.split(a, [1, 4], axis=1)):
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("mode,align", [("linear", False), ("linear", True), ("nearest", None)])
def test_resize2d_matches_torch(mode: str, align) -> None:
    x = te.placeholder((2, 3, 5, 7), "float32", name="x")
    a = rand((2, 3, 5, 7), seed=22)
    if mode == "nearest":
        y = ops.resize2d(x, (11, 9), "nearest", "asymmetric", "floor")
        ref = torch.nn.functional.interpolate(t(a), size=(11, 9), mode="nearest").numpy()
    else:
        coord = "align_corners" if align else "half_pixel"
        y = ops.resize2d(x, (11, 16), "linear", coord)
        ref = torch.nn.functional.interpolate(t(a), size=(11, 16), mode="bilinear", align_corners=align).numpy()
    (out,) = run(y, [x], [a])
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_layout_transform_round_trip() -> None:
    x = te.placeholder((1, 20, 3, 2), "float32", name="x")
    a = rand((1, 20, 3, 2), seed=23)
    packed_t = ops.layout_transform(x, "NCHW", "NCHW16c")
    (packed,) = run(packed_t, [x], [a])
    ref = np.zeros((1, 32, 3, 2), np.float32)
    ref[:, :20] = a
    np.testing.assert_array_equal(packed, ref.reshape(1, 2, 16, 3, 2).transpose(0, 1, 3, 4, 2))


def test_errors_are_tessel_errors() -> None:
    x = te.placeholder((3, 4), "float32", name="x")
    with pytest.raises(tessel.TesselError, match="broadcast"):
        ops.add(x, te.placeholder((5,), "float32", name="y"))
    with pytest.raises(tessel.TesselError):
        ops.pad(x, [1], mode="wrap")
    with pytest.raises(ValueError):
        ops.sigmoid(te.placeholder((3,), "int32", name="i"))
