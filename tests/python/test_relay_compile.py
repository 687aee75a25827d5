"""Graph IR from Python: GraphBuilder, types and errors, and graphs compiled with tessel.compile,
exported, loaded with tessel.runtime and compared against PyTorch / numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tessel
from tessel import relay
from relay_testing import assert_close, run_compiled

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not tessel.native_available() or not hasattr(tessel._native(), "relay"), reason="needs the graph compiler"
)


def test_builder_types_printer_and_multi_output():
    g = relay.GraphBuilder()
    x = g.input("x", (2, 6, 5), "float32")
    a, b, c = g.call("split", [x], sections=3, axis=1)
    assert g.type_of(b) == ((2, 2, 5), "float32")
    s = g.call("add", [b, g.constant(np.ones(5, np.float32))])
    g.output(a)
    g.output(s)
    graph, params = g.finish()
    text = str(graph)
    assert "split(%x, sections=3, axis=1)" in text
    assert "return (%1.0, %3)" in text
    assert params == {}


def test_errors_name_op_and_node():
    g = relay.GraphBuilder()
    x = g.input("x", (1, 3, 8, 8))
    w = g.param("w", np.zeros((4, 5, 3, 3), np.float32))
    with pytest.raises(tessel.TesselError, match=r"conv2d \(node %2\).*3 channels"):
        g.call("conv2d", [x, w])
    with pytest.raises(tessel.TesselError, match=r"dense \(node %2\)"):
        g.call("dense", [x, w])
    with pytest.raises(tessel.TesselError, match="unknown attribute 'bogus'"):
        g.call("relu", [x], bogus=1)


def test_resnet_block_fuses_conv_bias_residual_relu(tmp_path):
    rng = np.random.default_rng(0)
    c, h, w_ = 8, 7, 9
    w1 = rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.2
    b1 = rng.standard_normal(c).astype(np.float32)
    w2 = rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.2
    b2 = rng.standard_normal(c).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("input", (1, c, h, w_))
    stem = g.call("relu", [x])
    y = g.call("relu", [g.call("conv2d", [stem, g.param("w1", w1), g.param("b1", b1)], padding=[1, 1, 1, 1])])
    y = g.call("conv2d", [y, g.param("w2", w2)], padding=[1, 1, 1, 1])
    y = g.call("add", [y, g.param("b2", b2.reshape(c, 1, 1))])
    y = g.call("relu", [g.call("add", [y, stem])])
    g.output(y)
    graph, params = g.finish()
    xi = rng.standard_normal((1, c, h, w_)).astype(np.float32)
    lib, (out,) = run_compiled(graph, params, tmp_path, input=xi)
    # relu stem, conv+bias+relu, conv+bias+residual add+relu: three kernels.
    assert lib.num_kernel_calls == 3, lib.fusion
    assert lib.kernel_calls[-1].startswith("fused_conv2d_add_add_relu")
    t = torch.relu(torch.from_numpy(xi))
    r = torch.relu(torch.nn.functional.conv2d(t, torch.from_numpy(w1), torch.from_numpy(b1), padding=1))
    r = torch.nn.functional.conv2d(r, torch.from_numpy(w2), torch.from_numpy(b2), padding=1)
    assert_close(out, torch.relu(r + t).numpy())


def test_batch_norm_folds_into_conv(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    gamma, beta, mean = (rng.standard_normal(6).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("input", (2, 3, 11, 5))
    y = g.call("conv2d", [x, g.param("w", w)], strides=[2, 1], padding=[1, 1, 1, 1])
    y = g.call("batch_norm", [y] + [g.param(n, v) for n, v in
                                    [("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)]], epsilon=1e-5)
    g.output(g.call("relu", [g.call("dropout", [y])]))
    graph, params = g.finish()
    optimized = relay.optimize(graph)
    assert "batch_norm" not in str(optimized) and "dropout" not in str(optimized)
    xi = rng.standard_normal((2, 3, 11, 5)).astype(np.float32)
    lib, (out,) = run_compiled(graph, params, tmp_path, input=xi)
    assert lib.num_kernel_calls == 1
    ref = torch.nn.functional.conv2d(torch.from_numpy(xi), torch.from_numpy(w), stride=(2, 1), padding=1)
    ref = torch.nn.functional.batch_norm(ref, torch.from_numpy(mean), torch.from_numpy(var), torch.from_numpy(gamma),
                                         torch.from_numpy(beta), eps=1e-5)
    assert_close(out, torch.relu(ref).numpy())


def test_dense_gelu(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((17, 13)).astype(np.float32)
    b = rng.standard_normal(17).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("x", (7, 13))
    g.output(g.call("gelu", [g.call("dense", [x, g.param("w", w), g.param("b", b)])]))
    graph, params = g.finish()
    xi = rng.standard_normal((7, 13)).astype(np.float32)
    lib, (out,) = run_compiled(graph, params, tmp_path, x=xi)
    assert lib.num_kernel_calls == 1
    ref = torch.nn.functional.gelu(torch.nn.functional.linear(torch.from_numpy(xi), torch.from_numpy(w), torch.from_numpy(b)))
    assert_close(out, ref.numpy())


def test_softmax_and_reshape_transpose_chain(tmp_path):
    rng = np.random.default_rng(3)
    g = relay.GraphBuilder()
    x = g.input("x", (3, 5, 7))
    y = g.call("reshape", [x], shape=[15, -1])
    y = g.call("transpose", [y], axes=[1, 0])
    y = g.call("multiply", [y, g.constant(np.float32(2.0).reshape(1))])
    s = g.call("softmax", [y], axis=-1)
    g.output(s)
    g.output(y)
    graph, params = g.finish()
    xi = rng.standard_normal((3, 5, 7)).astype(np.float32)
    lib, (out, chain) = run_compiled(graph, params, tmp_path, x=xi)
    ref = xi.reshape(15, 7).T * 2.0
    assert_close(chain, ref)
    assert_close(out, torch.softmax(torch.from_numpy(ref), dim=-1).numpy())


def test_matmul_broadcast_and_constant_folding(tmp_path):
    rng = np.random.default_rng(4)
    b = rng.standard_normal((6, 5)).astype(np.float32)
    g = relay.GraphBuilder()
    a = g.input("a", (2, 3, 4, 5))
    bt = g.call("transpose", [g.param("b", b)])  # constant subgraph: folded at compile time
    g.output(g.call("matmul", [a, bt]))
    graph, params = g.finish()
    assert "transpose" not in str(relay.optimize(graph))
    ai = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    _, (out,) = run_compiled(graph, params, tmp_path, a=ai)
    assert_close(out, ai @ b.T)


def test_identical_workloads_compile_once_and_outputs_copy(tmp_path):
    rng = np.random.default_rng(5)
    g = relay.GraphBuilder()
    x = g.input("x", (4, 9))
    y = g.call("tanh", [x])
    z = g.call("tanh", [g.call("exp", [y])])  # exp+tanh differs from tanh
    u = g.call("tanh", [g.call("sigmoid", [x])])
    v = g.call("tanh", [g.call("sigmoid", [y])])  # same workload as u
    g.output(z)
    g.output(u)
    g.output(v)
    g.output(x)  # an input returned as is: copied
    graph, params = g.finish()
    xi = rng.standard_normal((4, 9)).astype(np.float32)
    lib, (oz, ou, ov, ox) = run_compiled(graph, params, tmp_path, x=xi)
    assert lib.num_kernels < lib.num_kernel_calls
    assert_close(oz, np.tanh(np.exp(np.tanh(xi))))
    s = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    assert_close(ou, np.tanh(s(xi)))
    assert_close(ov, np.tanh(s(np.tanh(xi))))
    np.testing.assert_array_equal(ox, xi)


def test_cli_compile_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    try:
        import tessel.frontend  # noqa: F401
    except ImportError:
        pytest.skip("no ONNX frontend in this tree")
    node = helper.make_node("Relu", ["x"], ["y"])
    model = helper.make_model(
        helper.make_graph([node], "relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 5])]),
        opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "relu.onnx"
    onnx.save(model, str(path))
    from tessel import cli, runtime

    out = tmp_path / "relu.so"
    assert cli.main(["compile", str(path), "-o", str(out)]) == 0
    module = runtime.load(str(out))
    xi = np.random.default_rng(6).standard_normal((3, 5)).astype(np.float32)
    (y,) = module.run(x=xi)
    np.testing.assert_array_equal(np.array(y), np.maximum(xi, 0))


def test_small_cnn_depthwise_pool_dense(tmp_path):
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3
    wd = rng.standard_normal((6, 1, 3, 3)).astype(np.float32) * 0.3
    wf = rng.standard_normal((10, 6)).astype(np.float32)
    bf = rng.standard_normal(10).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("input", (2, 3, 13, 13))
    y = g.call("relu", [g.call("conv2d", [x, g.param("w1", w1)], strides=[2, 2], padding=[1, 1, 1, 1])])
    y = g.call("clip", [g.call("conv2d", [y, g.param("wd", wd)], padding=[1, 1, 1, 1], groups=6)],
               min_value=0.0, max_value=6.0)
    y = g.call("max_pool2d", [y], kernel=[3, 3], strides=[2, 2], padding=[1, 1, 1, 1])
    y = g.call("reshape", [g.call("global_avg_pool2d", [y])], shape=[2, 6])
    g.output(g.call("log_softmax", [g.call("dense", [y, g.param("wf", wf), g.param("bf", bf)])], axis=1))
    graph, params = g.finish()
    xi = rng.standard_normal((2, 3, 13, 13)).astype(np.float32)
    _, (out,) = run_compiled(graph, params, tmp_path, input=xi)
    F = torch.nn.functional
    t = F.relu(F.conv2d(torch.from_numpy(xi), torch.from_numpy(w1), stride=2, padding=1))
    t = torch.clamp(F.conv2d(t, torch.from_numpy(wd), padding=1, groups=6), 0, 6)
    t = F.adaptive_avg_pool2d(F.max_pool2d(t, 3, 2, 1), 1).reshape(2, 6)
    assert_close(out, F.log_softmax(F.linear(t, torch.from_numpy(wf), torch.from_numpy(bf)), dim=1).numpy())
