"""The auto-scheduler for CUDA targets from Python: CUDA search tasks (records keyed by
"cuda -arch=..."), GPU tasks extracted from a graph with the GPU pipeline, tuning that fails at once
with one clear error without a GPU (or, with one, tunes a matmul whose best schedule matches numpy),
and a graph compiled for cuda with a stored GPU record (the tuned kernel compiles with NVRTC)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tessel
from tessel import autotune, te

native = tessel._native() if tessel.native_available() else None
pytestmark = pytest.mark.skipif(
    native is None or not hasattr(native, "autotune") or not hasattr(native, "cuda")
    or not hasattr(native.autotune, "sample_candidates"),
    reason="needs the auto-scheduler with CUDA tasks and the CUDA code generator",
)


def gpu_available():
    """(available, reason), asked without initialising the CUDA driver in this process (tuning
    forks children that must be able to)."""
    return native.autotune.cuda_measurement_available()


def requires_nvrtc():
    available, why = native.cuda.nvrtc_available()
    if not available:
        pytest.skip(f"NVRTC is not available: {why}")


def matmul(m, n, k):
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    return te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")


def small_graph(rng, channels=(3, 4, 5), size=(9, 7)):
    """x (1, c0, h, w) -> conv 3x3 pad 1 + bias + relu -> conv 3x3 (c0 -> c1 -> c2 channels)."""
    from tessel import relay
    c0, c1, c2 = channels
    w1 = (rng.standard_normal((c1, c0, 3, 3)) * 0.3).astype(np.float32)
    b1 = rng.standard_normal(c1).astype(np.float32)
    w2 = (rng.standard_normal((c2, c1, 3, 3)) * 0.3).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("x", (1, c0) + tuple(size))
    y = g.call("relu", [g.call("conv2d", [x, g.param("w1", w1), g.param("b1", b1)], padding=[1, 1, 1, 1])])
    g.output(g.call("conv2d", [y, g.param("w2", w2)]))
    return g.finish()


def test_task_from_compute_for_cuda():
    C = matmul(13, 29, 7)
    task = autotune.Task.from_compute(C, target="cuda")
    cpu = autotune.Task.from_compute(C, target="llvm")
    assert task.is_cuda and not cpu.is_cuda
    assert task.target == "cuda -arch=sm_90" == autotune.canonical_target("cuda")
    assert autotune.Task.from_compute(C, target="cuda -arch=sm_80").target == "cuda -arch=sm_80"
    assert task.workload_key == cpu.workload_key
    assert cpu.target.startswith("llvm")
    with pytest.raises(tessel.TesselError):
        autotune.Task.from_compute(C, target="cuda -arch=banana")
    # The search hands out GPU schedules: thread-bound CUDA, the default schedule first.
    steps = native.autotune.sample_candidates(task._native, 4, 1)
    assert len(steps) == 4 and len(set(steps)) == 4
    for s in steps:
        schedule = task._native.replay(s)
        module = tessel.build(schedule, task.args, target="cuda")
        assert "threadIdx.x" in module.source("cuda")


def test_extract_tasks_for_cuda():
    # Channels the CPU pipeline blocks (NCHW16c) for its vector registers.
    graph, params = small_graph(np.random.default_rng(0), channels=(16, 32, 32), size=(12, 12))
    tasks = autotune.extract_tasks(graph, params, target="cuda")
    cpu_tasks = autotune.extract_tasks(graph, params, target="llvm")
    assert tasks and all(t.is_cuda and t.target == "cuda -arch=sm_90" for t in tasks)
    assert all(t.weight >= 1 for t in tasks)
    # The GPU pipeline keeps NCHW: the CPU layout alteration (blocked NCHWc) is not applied, so
    # the workloads differ from the CPU ones.
    assert {t.workload_key for t in tasks} != {t.workload_key for t in cpu_tasks}
    assert "task(s) for cuda -arch=sm_90" in autotune.task_table(tasks)


def test_tune_for_cuda_without_gpu_is_one_clear_error(tmp_path):
    available, why = gpu_available()
    if available:
        pytest.skip("a GPU is present")
    task = autotune.Task.from_compute(matmul(8, 8, 8), target="cuda")
    records = tmp_path / "cuda.jsonl"
    with pytest.raises(tessel.TesselError) as error:
        autotune.tune([task], trials=4, records=str(records), verbose=True, cost_model="random")
    message = str(error.value)
    assert message.startswith("tuning for cuda needs an NVIDIA GPU and its driver: "), message
    assert "\n" not in message and why in message
    assert not records.exists()
    # The native entry point says the same.
    with pytest.raises(tessel.TesselError, match="needs an NVIDIA GPU"):
        native.autotune.tune([task._native], 4, str(records), cost_model="random", verbose=False)
    assert not records.exists()


def cuda_record(task, steps_json, seconds):
    return {"version": 1, "workload_key": task.workload_key, "task": task.name, "target": task.target,
            "hardware": {"num_cores": 1, "vector_bits": 512, "gpu": True}, "steps": json.loads(steps_json),
            "costs": [seconds], "error": 0, "error_name": "none", "timestamp": 0}


def test_compile_for_cuda_with_a_stored_record(tmp_path):
    graph, params = small_graph(np.random.default_rng(1))
    tasks = autotune.extract_tasks(graph, params, target="cuda")
    task = max(tasks, key=lambda t: t.flop_count)  # a conv
    steps = native.autotune.sample_candidates(task._native, 3, 2)
    chosen = steps[1]  # a searched candidate, not the default schedule
    records = tmp_path / "cuda.jsonl"
    records.write_text(json.dumps(cuda_record(task, chosen, 1e-5)) + "\n")
    assert task.best(str(records))[1] == 1e-5

    tuned = autotune.compile(graph, params, target="cuda", records=str(records), verbose=False)
    assert tuned.summary.startswith("1 of "), tuned.summary
    assert tuned.target == "cuda"
    # The record is for cuda only: an LLVM compile and an sm_80 compile do not use it.
    assert autotune.compile(graph, params, target="llvm", records=str(records), verbose=False).summary.startswith("0 of ")
    assert autotune.compile(graph, params, target="cuda -arch=sm_80", records=str(records),
                            verbose=False).summary.startswith("0 of ")
    requires_nvrtc()
    tuned.export_library(tmp_path / "tuned_cuda.so")  # NVRTC compiles every kernel, the tuned one too
    assert (tmp_path / "tuned_cuda.so").stat().st_size > 0


def test_tune_matmul_on_gpu(tmp_path):
    available, why = gpu_available()
    if not available:
        pytest.skip(f"no GPU: {why}")
    m, n, k = 37, 29, 19
    task = autotune.Task.from_compute(matmul(m, n, k), target="cuda")
    records = str(tmp_path / "gpu.jsonl")
    best = autotune.tune([task], trials=8, records=records, seed=1, batch_size=8, repeat=1,
                         min_repeat_seconds=0.001, verbose=False, cost_model="random")
    assert math.isfinite(best[0]) and best[0] > 0
    schedule, args = task.apply_best(records)
    f = tessel.build(schedule, args, target="cuda")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype("float32")
    b = rng.standard_normal((k, n)).astype("float32")
    c = np.zeros((m, n), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
