"""Unit tests of the ONNX importer: opset-dependent semantics, constant folding, error messages.

Small models are written with onnx.helper, imported, compiled, run and compared with numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tessel  # noqa: E402
import tessel.frontend  # noqa: E402
import tessel.runtime  # noqa: E402

RNG = np.random.default_rng(20240611)


def _model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _info(name: str, shape: Sequence[int], elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, list(shape))


def _run(model, feeds: Dict[str, np.ndarray], tmp_path: Path, **kwargs) -> List[np.ndarray]:
    graph, params = tessel.frontend.from_onnx(model, **kwargs)
    library = tmp_path / "model.so"
    tessel.compile(graph, params, target="llvm").export_library(str(library))
    return [np.asarray(o) for o in tessel.runtime.load(str(library)).run(**feeds)]


def test_shape_arithmetic_folds_into_a_constant_reshape(tmp_path):
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape: flatten all but the batch axis.
    x = RNG.standard_normal((3, 5, 7)).astype(np.float32)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Relu", ["flat"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    model = _model(nodes, [_info("x", x.shape)], [_info("y", (3, 35))], inits)
    graph, _ = tessel.frontend.from_onnx(model)
    text = str(graph)
    assert "reshape(%x, shape=[3, 35])" in text, text  # the target shape folded to a constant
    for folded in ("take(", "concatenate(", "strided_slice("):
        assert folded not in text, text
    (y,) = _run(model, {"x": x}, tmp_path)
    np.testing.assert_allclose(y, np.maximum(x.reshape(3, 35), 0), rtol=1e-6)


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_axes_attribute_or_input(opset, tmp_path):
    x = RNG.standard_normal((4, 1, 3)).astype(np.float32)
    if opset < 13:
        nodes = [helper.make_node("Squeeze", ["x"], ["s"], axes=[1]),
                 helper.make_node("Unsqueeze", ["s"], ["y"], axes=[0, -1])]
        inits = []
    else:
        nodes = [helper.make_node("Squeeze", ["x", "a1"], ["s"]),
                 helper.make_node("Unsqueeze", ["s", "a2"], ["y"])]
        inits = [numpy_helper.from_array(np.array([1], np.int64), "a1"),
                 numpy_helper.from_array(np.array([0, -1], np.int64), "a2")]
    model = _model(nodes, [_info("x", x.shape)], [_info("y", (1, 4, 3, 1))], inits, opset=opset)
    (y,) = _run(model, {"x": x}, tmp_path)
    np.testing.assert_array_equal(y, x.reshape(1, 4, 3, 1))


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics_by_opset(opset, tmp_path):
    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    model = _model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [_info("x", x.shape)],
                   [_info("y", x.shape)], opset=opset)
    (y,) = _run(model, {"x": x}, tmp_path)
    if opset < 13:  # flattened to [2, 15], normalised over the 15
        flat = x.reshape(2, 15)
        expected = (np.exp(flat) / np.exp(flat).sum(axis=1, keepdims=True)).reshape(x.shape)
    else:
        expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [11, 13])
def test_reduce_sum_and_split_axes_by_opset(opset, tmp_path):
    x = RNG.standard_normal((5, 6, 7)).astype(np.float32)
    if opset < 13:
        nodes = [helper.make_node("ReduceSum", ["x"], ["r"], axes=[0, 2], keepdims=0),
                 helper.make_node("Split", ["r"], ["a", "b"], axis=0, split=[2, 4])]
        inits = []
    else:
        nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["r"], keepdims=0),
                 helper.make_node("Split", ["r", "sizes"], ["a", "b"], axis=0)]
        inits = [numpy_helper.from_array(np.array([0, 2], np.int64), "axes"),
                 numpy_helper.from_array(np.array([2, 4], np.int64), "sizes")]
    model = _model(nodes, [_info("x", x.shape)], [_info("a", (2,)), _info("b", (4,))], inits, opset=opset)
    a, b = _run(model, {"x": x}, tmp_path)
    total = x.sum(axis=(0, 2))
    np.testing.assert_allclose(a, total[:2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, total[2:], rtol=1e-5, atol=1e-5)


def test_clip_bounds_as_inputs_and_gemm_alpha_beta(tmp_path):
    a = RNG.standard_normal((3, 5)).astype(np.float32)
    b = RNG.standard_normal((7, 5)).astype(np.float32)
    c = RNG.standard_normal((1, 7)).astype(np.float32)
    low = np.array(-0.5, np.float32)
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], alpha=0.5, beta=2.0, transB=1),
             helper.make_node("Clip", ["g", "low", ""], ["y"])]
    model = _model(nodes, [_info("a", a.shape), _info("low", ())], [_info("y", (3, 7))],
                   [numpy_helper.from_array(b, "b"), numpy_helper.from_array(c, "c")])
    # `low` stays a run-time input (a [1] tensor): min/max go through the graph.
    (y,) = _run(model, {"a": a, "low": low.reshape(1)}, tmp_path)
    np.testing.assert_allclose(y, np.maximum(0.5 * a @ b.T + 2.0 * c, low), rtol=1e-5, atol=1e-5)


def test_conv_same_upper_with_bias_and_pool(tmp_path):
    x = RNG.standard_normal((1, 3, 11, 13)).astype(np.float32)
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "bias"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c"], ["y"])]
    model = _model(nodes, [_info("x", x.shape)], [_info("y", (1, 4, 1, 1))],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")])
    (y,) = _run(model, {"x": x}, tmp_path)
    torch = pytest.importorskip("torch")
    # SAME_UPPER with stride 2 on 11 x 13: total pad 2 and 2 -> 1 before, 1 after on each axis.
    conv = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias),
                                      stride=2, padding=1)
    np.testing.assert_allclose(y, conv.mean(dim=(2, 3), keepdim=True).numpy(), rtol=1e-4, atol=1e-5)


def test_dynamic_dimension_needs_a_shape_override(tmp_path):
    x = RNG.standard_normal((2, 9)).astype(np.float32)
    model = _model([helper.make_node("Tanh", ["x"], ["y"])], [_info("x", ("batch", 9))], [_info("y", ("batch", 9))])
    with pytest.raises(tessel.TesselError, match="'x' has a dynamic dimension 0 .*shape_overrides"):
        tessel.frontend.from_onnx(model)
    (y,) = _run(model, {"x": x}, tmp_path, shape_overrides={"x": (2, 9)})
    np.testing.assert_allclose(y, np.tanh(x), rtol=1e-5, atol=1e-6)


def test_unsupported_op_and_attribute_name_the_node():
    model = _model([helper.make_node("Einsum", ["x"], ["y"], name="Einsum_7", equation="ii->i")],
                   [_info("x", (3, 3))], [_info("y", (3,))], opset=13)
    with pytest.raises(tessel.frontend.UnsupportedError, match=r"ONNX node 'Einsum_7' \(Einsum\): operator"):
        tessel.frontend.from_onnx(model)
    resize = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="Resize_2", mode="cubic")
    model = _model([resize], [_info("x", (1, 1, 4, 4))], [_info("y", (1, 1, 8, 8))],
                   [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    with pytest.raises(tessel.frontend.UnsupportedError,
                       match=r"ONNX node 'Resize_2' \(Resize\): attribute mode='cubic' is not supported"):
        tessel.frontend.from_onnx(model)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="Conv_3", strides=[1, 1, 1])
    model = _model([conv], [_info("x", (1, 1, 4, 4, 4))], [_info("y", (1, 1, 4, 4, 4))],
                   [numpy_helper.from_array(np.ones((1, 1, 1, 1, 1), np.float32), "w")])
    with pytest.raises(tessel.frontend.UnsupportedError, match=r"'Conv_3' \(Conv\): 3-D windows"):
        tessel.frontend.from_onnx(model)
    assert issubclass(tessel.frontend.UnsupportedError, tessel.TesselError)


def test_opset_outside_the_supported_range():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_info("x", (2,))], [_info("y", (2,))], opset=18)
    with pytest.raises(tessel.frontend.UnsupportedError, match="opset 18"):
        tessel.frontend.from_onnx(model)
    # Below 11, an op whose definition changed since (Clip-6 had min/max attributes) is rejected.
    clip = helper.make_node("Clip", ["x"], ["y"], min=0.0, max=1.0)
    model = _model([clip], [_info("x", (2,))], [_info("y", (2,))], opset=6)
    with pytest.raises(tessel.frontend.UnsupportedError, match="version 6 of the operator"):
        tessel.frontend.from_onnx(model)


def test_shape_input_computed_at_run_time_is_reported():
    model = _model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")],
                   [_info("x", (2, 3)), _info("shape", (2,), TensorProto.INT64)], [_info("y", (3, 2))])
    with pytest.raises(tessel.frontend.NeedsConstantError, match="'shape'.*constant known at import") as info:
        tessel.frontend.from_onnx(model)
    assert info.value.value_name == "shape"
    result = tessel.frontend.import_onnx(model, input_values={"shape": np.array([3, 2], np.int64)})
    assert result.input_names == ["x"] and result.frozen_inputs == ["shape"]


def test_matmul_batch_broadcast_slice_backwards_and_expand(tmp_path):
    a = RNG.standard_normal((2, 1, 5, 3)).astype(np.float32)
    b = RNG.standard_normal((4, 3, 7)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["a", "b"], ["m"]),
             helper.make_node("Slice", ["m", "starts", "ends", "axes", "steps"], ["s"]),
             helper.make_node("Expand", ["s", "shape"], ["y"])]
    inits = [numpy_helper.from_array(np.array([-1, 6], np.int64), "starts"),
             numpy_helper.from_array(np.array([-100, 0], np.int64), "ends"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
             numpy_helper.from_array(np.array([-2, -3], np.int64), "steps"),
             numpy_helper.from_array(np.array([3, 1, 1, 1, 1], np.int64), "shape")]
    model = _model(nodes, [_info("a", a.shape), _info("b", b.shape)], [_info("y", (3, 2, 4, 3, 2))], inits)
    (y,) = _run(model, {"a": a, "b": b}, tmp_path)
    expected = np.broadcast_to(np.matmul(a, b)[:, :, ::-2, 6:0:-3], (3, 2, 4, 3, 2))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_matmul_with_a_constant_weight_is_a_packed_linear_layer(batch, tmp_path):
    """MatMul of N-D activations by a constant [K, N] weight (a linear layer, as in every
    transformer) folds the batch dimensions into rows and runs the packed dense kernel; a bias
    Add after it still matches numpy."""
    x = RNG.standard_normal(batch + (5, 24)).astype(np.float32)
    w = RNG.standard_normal((24, 37)).astype(np.float32)
    bias = RNG.standard_normal((37,)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "bias"], ["y"])]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")]
    model = _model(nodes, [_info("x", x.shape)], [_info("y", batch + (5, 37))], inits)
    graph, params = tessel.frontend.from_onnx(model)
    compiled = tessel.compile(graph, params, verbose=False)
    assert any("dense_packed" in kernel for kernel in compiled.kernel_calls), compiled.kernel_calls
    assert not any("matmul" in kernel for kernel in compiled.kernel_calls), compiled.kernel_calls
    (y,) = _run(model, {"x": x}, tmp_path)
    np.testing.assert_allclose(y, x.astype(np.float64) @ w + bias, rtol=1e-4, atol=1e-4)


def test_integer_ops_stay_exact(tmp_path):
    x = RNG.integers(-50, 50, size=(3, 7)).astype(np.int64)
    d = RNG.integers(1, 9, size=(7,)).astype(np.int64) * np.where(RNG.random(7) < 0.5, -1, 1)
    nodes = [helper.make_node("Div", ["x", "d"], ["q"]),
             helper.make_node("ArgMax", ["q"], ["i"], axis=1, keepdims=0),
             helper.make_node("Greater", ["q", "zero"], ["g"])]
    model = _model(nodes, [_info("x", x.shape, TensorProto.INT64)],
                   [_info("i", (3,), TensorProto.INT64), _info("g", (3, 7), TensorProto.BOOL)],
                   [numpy_helper.from_array(d, "d"), numpy_helper.from_array(np.array(0, np.int64), "zero")])
    i, g = _run(model, {"x": x}, tmp_path)
    quotient = np.trunc(x / d).astype(np.int64)  # ONNX integer Div truncates toward zero
    assert i.dtype == np.int64 and g.dtype == np.bool_
    np.testing.assert_array_equal(i, np.argmax(quotient, axis=1))
    np.testing.assert_array_equal(g, quotient > 0)
