"""tessel.compile(graph, params, target="cuda"): a small graph (conv + bias + relu, dense,
softmax) compiles with the GPU default schedules, the exported library embeds PTX with an entry
per kernel and records the CUDA target, and loading it is a clear error without a GPU (or, with
one, it runs and matches numpy). Export tests skip without NVRTC (the CUDA toolkit)."""

from __future__ import annotations

import ctypes
import json
import re

import numpy as np
import pytest

import tessel
from tessel import relay, runtime

native = tessel._native() if tessel.native_available() else None
pytestmark = pytest.mark.skipif(
    native is None or not hasattr(native, "relay") or not hasattr(native, "cuda"),
    reason="needs the graph compiler and the CUDA code generator",
)


def requires_nvrtc():
    available, why = native.cuda.nvrtc_available()
    if not available:
        pytest.skip(f"NVRTC is not available: {why}")


def small_graph(rng):
    """x (1, 3, 10, 7) -> conv 3x3 pad 1 + bias + relu -> reshape -> dense + bias -> softmax."""
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(4).astype(np.float32)
    w2 = rng.standard_normal((11, 4 * 10 * 7)).astype(np.float32) * 0.05
    b2 = rng.standard_normal(11).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("x", (1, 3, 10, 7))
    y = g.call("relu", [g.call("conv2d", [x, g.param("w", w), g.param("b", b)], padding=[1, 1, 1, 1])])
    y = g.call("reshape", [y], shape=[1, 4 * 10 * 7])
    y = g.call("softmax", [g.call("dense", [y, g.param("w2", w2), g.param("b2", b2)])])
    g.output(y)
    graph, params = g.finish()
    return graph, params, (w, b, w2, b2)


def reference(x, w, b, w2, b2):
    n, c, h, wd = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, w.shape[0], h, wd), np.float64)
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("nchw,oc->nohw", padded[:, :, dy:dy + h, dx:dx + wd], w[:, :, dy, dx])
    y = np.maximum(conv + b.reshape(1, -1, 1, 1), 0).reshape(1, -1)
    z = y @ w2.T.astype(np.float64) + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def embedded(path, symbol):
    lib = ctypes.CDLL(str(path))
    size = ctypes.c_uint64.in_dll(lib, symbol + "_size").value
    return bytes((ctypes.c_char * size).in_dll(lib, symbol))


def test_compile_for_cuda_uses_gpu_schedules():
    graph, params, _ = small_graph(np.random.default_rng(0))
    lib = tessel.compile(graph, params, target="cuda", verbose=False)
    assert lib.target == "cuda"
    assert lib.num_kernel_calls >= 2
    assert "0 of" in lib.summary


def test_exported_cuda_library_embeds_ptx_and_fails_clearly_without_gpu(tmp_path):
    requires_nvrtc()
    rng = np.random.default_rng(1)
    graph, params, weights = small_graph(rng)
    lib = tessel.compile(graph, params, target="cuda -arch=sm_90", verbose=False)
    path = tmp_path / "small_cuda.so"
    lib.export_library(path)

    metadata = json.loads(embedded(path, "__tessel_module_metadata"))
    assert metadata["target"]["kind"] == "cuda" and metadata["target"]["arch"] == "sm_90"
    assert [t["name"] for t in metadata["inputs"]] == ["x"]
    ptx = embedded(path, "__tessel_cuda_ptx").decode()
    assert ".target sm_90" in ptx
    launches = json.loads(embedded(path, "__tessel_cuda_launches"))
    assert {f["name"] for f in launches["functions"]} == set(lib.kernel_calls)
    for function in launches["functions"]:
        assert function["kernels"], function["name"]
        for kernel in function["kernels"]:
            assert re.search(r"\.visible \.entry " + re.escape(kernel["name"]) + r"\(", ptx), kernel["name"]
            assert all(d >= 1 for d in kernel["grid"] + kernel["block"])
    assert embedded(path, "__tessel_cuda_cubin")[:4] == b"\x7fELF"

    x = rng.standard_normal((1, 3, 10, 7)).astype(np.float32)
    available, why = runtime.cuda_available()
    if not available:
        assert "libcuda.so.1" in why or "cuInit" in why
        with pytest.raises(runtime.TesselRuntimeError) as error:
            runtime.load(path)
        assert error.value.status == "TESSEL_ERROR_NO_DEVICE"
        assert str(error.value) == why
        assert isinstance(error.value, tessel.TesselError)
    else:
        module = runtime.load(path)
        (out,) = module.run(x=x)
        np.testing.assert_allclose(out, reference(x, *weights), rtol=1e-4, atol=1e-5)
        module.set_input("x", x[:, :, ::-1, :])  # strided input: copied to the device
        module.run()
        np.testing.assert_allclose(module.get_output(0), reference(np.ascontiguousarray(x[:, :, ::-1, :]), *weights),
                                   rtol=1e-4, atol=1e-5)


def test_cuda_compile_rejects_bad_targets():
    graph, params, _ = small_graph(np.random.default_rng(2))
    with pytest.raises(tessel.TesselError, match="architecture"):
        tessel.compile(graph, params, target="cuda -arch=90", verbose=False)
