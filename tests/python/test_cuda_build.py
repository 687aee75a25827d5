"""tessel.build(..., target="cuda"): CUDA C++ from thread-bound schedules, PTX through NVRTC
(skipped when the CUDA toolkit is missing), and a clear error when the module is called without
a GPU. (The GPU default schedules are checked numerically in tests/ops/test_cuda_ops.cc, where the
loop-IR interpreter runs their thread-bound loops one after another.)"""

import os

import numpy as np
import pytest

import tessel
from tessel import te

native = tessel._native()
pytestmark = pytest.mark.skipif(not hasattr(native, "cuda"), reason="this build has no CUDA code generator")


def nvrtc_missing():
    available, why = native.cuda.nvrtc_available()
    return None if available else why


def requires_nvrtc():
    why = nvrtc_missing()
    if why:
        pytest.skip(f"NVRTC is not available: {why}")


def bound_vector_add(n):
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=64)
    s[C].bind(bx, "blockIdx.x")
    s[C].bind(tx, "threadIdx.x")
    return s, [A, B, C]


def test_build_cuda_source_and_ptx():
    s, args = bound_vector_add(1000)
    mod = tessel.build(s, args, target="cuda -arch=sm_90", name="vadd")
    source = mod.source("cuda")
    assert 'extern "C" __global__' in source
    assert "blockIdx.x" in source and "threadIdx.x" in source
    assert mod.get_source("cuda") == source
    assert "cuLaunchKernel" in mod.source("host")
    (kernel,) = mod.launch_info
    assert kernel["grid"] == [16, 1, 1] and kernel["block"] == [64, 1, 1]
    if nvrtc_missing():
        with pytest.raises(tessel.TesselError, match="NVRTC|nvrtc"):
            mod.source("ptx")
    else:
        ptx = mod.source("ptx")
        assert ".entry vadd_kernel" in ptx
        assert ".target sm_90" in ptx or "compute_90" in ptx


def test_calling_a_cuda_module_without_gpu_is_a_clear_error():
    s, args = bound_vector_add(17)
    mod = tessel.build(s, args, target="cuda")
    a = np.ones(17, np.float32)
    with pytest.raises(tessel.TesselError, match="cuda"):
        mod(a, a, np.zeros(17, np.float32))


def test_unbound_schedule_is_rejected_for_cuda():
    A = te.placeholder((8,), name="A")
    C = te.compute((8,), lambda i: A[i] * 2.0, name="C")
    with pytest.raises(tessel.TesselError, match="blockIdx"):
        tessel.build(te.create_schedule(C.op), [A, C], target="cuda")
    with pytest.raises(tessel.TesselError):
        tessel.build(te.create_schedule(C.op), [A, C], target="cuda -arch=bogus")


def test_dump_code_writes_cu_and_ptx(tmp_path):
    requires_nvrtc()
    import subprocess
    import sys

    script = (
        "import tessel\nfrom tessel import te\n"
        "A = te.placeholder((64,), name='A')\n"
        "C = te.compute((64,), lambda i: te.exp(A[i]), name='C')\n"
        "s = te.create_schedule(C.op)\n"
        "s[C].bind(C.op.axis[0], 'threadIdx.x')\n"
        "tessel.build(s, [A, C], target='cuda', name='dumped')\n"
    )
    env = dict(os.environ, TESSEL_DUMP_CODE=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=os.path.dirname(tessel.__file__) + "/..")
    assert "__global__" in (tmp_path / "dumped.cu").read_text()
    assert ".entry dumped_kernel" in (tmp_path / "dumped.ptx").read_text()


@pytest.mark.parametrize("shape", [(33, 70), (4, 256)])
def test_gpu_default_schedule_softmax(shape):
    x = te.placeholder(shape, name="x")
    y = tessel.ops.softmax(x)
    s = te.default_schedule([y], "cuda")
    mod = tessel.build(s, [x, y], target="cuda", name="softmax_gpu")
    src = mod.source("cuda")
    assert "tessel_block_allreduce" in src and "expf(" in src
    (kernel,) = mod.launch_info
    assert kernel["grid"][0] == shape[0]
    if not nvrtc_missing():
        assert ".entry softmax_gpu_kernel" in mod.source("ptx")


def test_gpu_default_schedule_dense_compiles():
    requires_nvrtc()
    x = te.placeholder((7, 19), name="x")
    w = te.placeholder((13, 19), name="w")
    y = tessel.ops.relu(tessel.ops.dense(x, w))
    s = te.default_schedule([y], "cuda")
    mod = tessel.build(s, [x, w, y], target="cuda -arch=sm_90")
    src = mod.source("cuda")
    assert "__shared__" in src and "__syncthreads()" in src
    assert ".entry" in mod.source("ptx")


def test_gpu_matmul_matches_numpy():
    available, why = native.cuda.device_available()
    if not available:
        pytest.skip(f"no CUDA device: {why}")
    rng = np.random.default_rng(1)
    A = te.placeholder((67, 45), name="A")
    B = te.placeholder((45, 81), name="B")
    C = tessel.ops.matmul(A, B)
    mod = tessel.build(te.default_schedule([C], "cuda"), [A, B, C], target="cuda")
    a = rng.standard_normal((67, 45)).astype(np.float32)
    b = rng.standard_normal((45, 81)).astype(np.float32)
    c = np.zeros((67, 81), np.float32)
    mod(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_virtual_threads_are_loops_inside_each_thread():
    n = 203
    A = te.placeholder((n,), name="A")
    C = te.compute((n,), lambda i: A[i] * 3.0 + 1.0, name="C")
    s = te.create_schedule(C.op)
    bx, rest = s[C].split(C.op.axis[0], factor=64)
    vx, tx = s[C].split(rest, nparts=4)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(vx, te.thread_axis("vthread"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    mod = tessel.build(s, [A, C], target="cuda", name="virtual")
    (kernel,) = mod.launch_info
    assert kernel["grid"] == [4, 1, 1] and kernel["block"] == [16, 1, 1]  # 4 virtual threads each
    assert "vthread" not in mod.source("cuda")
    if not nvrtc_missing():
        assert ".entry virtual_kernel" in mod.source("ptx")
    # On the CPU a virtual-thread loop is an ordinary loop: the same schedule minus the GPU axes runs.
    s2 = te.create_schedule(C.op)
    outer, inner = s2[C].split(C.op.axis[0], nparts=4)
    s2[C].bind(outer, te.thread_axis("vthread"))
    f = tessel.build(s2, [A, C], target="llvm")
    a = np.random.default_rng(3).standard_normal(n).astype(np.float32)
    c = np.zeros(n, np.float32)
    f(a, c)
    np.testing.assert_allclose(c, a * 3 + 1, rtol=1e-5, atol=1e-6)  # FMA contraction
