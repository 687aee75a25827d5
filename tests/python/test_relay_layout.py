"""Layout alteration and dense weight pre-packing from Python: a ResNet-style CNN goes to the
blocked NCHW{c}c layout (packed weights folded to constants, few layout transforms, the residual
conv's bias + add + relu in one kernel) and still matches PyTorch; dense weights are pre-packed."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tessel
from tessel import relay
from relay_testing import assert_close, run_compiled

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not tessel.native_available() or not hasattr(tessel._native(), "relay"), reason="needs the graph compiler"
)
F = torch.nn.functional


def test_alter_layout_is_in_the_pipeline():
    assert "alter_layout" in relay.pipeline()


def test_resnet_style_cnn_runs_blocked_and_matches_torch(tmp_path):
    rng = np.random.default_rng(11)
    f = np.float32
    w0 = rng.standard_normal((16, 3, 3, 3)).astype(f) * 0.4
    gamma, beta, mean = (rng.standard_normal(16).astype(f) for _ in range(3))
    var = rng.uniform(0.5, 2.0, 16).astype(f)
    w1 = rng.standard_normal((16, 16, 3, 3)).astype(f) * 0.15
    b1 = rng.standard_normal(16).astype(f)
    w2 = rng.standard_normal((16, 16, 3, 3)).astype(f) * 0.15
    b2 = rng.standard_normal(16).astype(f)
    w3 = rng.standard_normal((32, 16, 3, 3)).astype(f) * 0.15
    wf = rng.standard_normal((5, 32)).astype(f)
    bf = rng.standard_normal(5).astype(f)

    g = relay.GraphBuilder()
    x = g.input("input", (1, 3, 13, 11))
    y = g.call("conv2d", [x, g.param("w0", w0)], padding=[1, 1, 1, 1])
    y = g.call("batch_norm", [y, g.param("gamma", gamma), g.param("beta", beta), g.param("mean", mean),
                              g.param("var", var)], epsilon=1e-5)
    stem = g.call("relu", [y])
    y = g.call("relu", [g.call("conv2d", [stem, g.param("w1", w1), g.param("b1", b1)], padding=[1, 1, 1, 1])])
    y = g.call("conv2d", [y, g.param("w2", w2)], padding=[1, 1, 1, 1])
    y = g.call("add", [y, g.param("b2", b2.reshape(16, 1, 1))])
    block = g.call("relu", [g.call("add", [y, stem])])
    y = g.call("relu", [g.call("conv2d", [block, g.param("w3", w3)], strides=[2, 2], padding=[1, 1, 1, 1])])
    y = g.call("max_pool2d", [y], kernel=[3, 3], strides=[2, 2], padding=[1, 1, 1, 1])
    y = g.call("reshape", [g.call("global_avg_pool2d", [y])], shape=[1, 32])
    g.output(g.call("dense", [y, g.param("wf", wf), g.param("bf", bf)]))
    graph, params = g.finish()

    optimized = str(relay.optimize(graph))
    # Every conv is blocked (NCHW{c}c), weights are packed constants (no weight transform left).
    convs = re.findall(r"conv2d\(.*", optimized)
    assert len(convs) == 4 and all(re.search(r'data_layout="NCHW\d+c"', c) for c in convs), optimized
    assert "OIHW" not in optimized
    # Only the boundaries convert: into the stem, and out after the global average pool (both
    # pools run on the blocked data).
    assert optimized.count("layout_transform(") == 2, optimized
    assert re.search(r"max_pool2d\(.*\) : float32\[1, \d+, \d+, \d+, \d+\]", optimized), optimized
    assert re.search(r"layout_transform\(.*dst_layout=\"NCHW\"\) : float32\[1, 32, 1, 1\]", optimized), optimized
    assert "dense_packed(" in optimized and "pack_dense_weight" not in optimized

    xi = rng.standard_normal((1, 3, 13, 11)).astype(f)
    lib, (out,) = run_compiled(graph, params, tmp_path, input=xi)
    assert any(k.startswith("fused_conv2d_add_add_relu") for k in lib.kernel_calls), lib.fusion

    t = F.conv2d(torch.from_numpy(xi), torch.from_numpy(w0), padding=1)
    t = F.batch_norm(t, torch.from_numpy(mean), torch.from_numpy(var), torch.from_numpy(gamma), torch.from_numpy(beta),
                     eps=1e-5)
    s = torch.relu(t)
    t = torch.relu(F.conv2d(s, torch.from_numpy(w1), torch.from_numpy(b1), padding=1))
    t = torch.relu(F.conv2d(t, torch.from_numpy(w2), torch.from_numpy(b2), padding=1) + s)
    t = torch.relu(F.conv2d(t, torch.from_numpy(w3), stride=2, padding=1))
    t = F.adaptive_avg_pool2d(F.max_pool2d(t, 3, 2, 1), 1).reshape(1, 32)
    assert_close(out, F.linear(t, torch.from_numpy(wf), torch.from_numpy(bf)).numpy())


def test_dense_weight_is_packed_at_compile_time(tmp_path):
    rng = np.random.default_rng(12)
    w = rng.standard_normal((33, 19)).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("x", (5, 19))
    g.output(g.call("tanh", [g.call("dense", [x, g.param("w", w)])]))
    graph, params = g.finish()
    optimized = str(relay.optimize(graph))
    assert "dense_packed(" in optimized and "pack_dense_weight" not in optimized, optimized
    assert "float32[3, 19, 16]" in optimized  # the folded panels
    xi = rng.standard_normal((5, 19)).astype(np.float32)
    lib, (out,) = run_compiled(graph, params, tmp_path, x=xi)
    assert lib.num_kernel_calls == 1
    assert_close(out, np.tanh(xi @ w.T))
