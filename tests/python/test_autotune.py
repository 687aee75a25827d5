"""The auto-scheduler from Python: tune a small matmul and apply the best record (numpy reference);
Ctrl-C during tuning keeps whole batches and a second run resumes; the time budget; and a small
graph's tasks extracted, tuned and compiled with the records (PyTorch reference)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tessel
from tessel import te, autotune

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def _native_tune(*args, **kwargs):
    """The binding itself: tune(tasks, trials, records, seed=0, cost_model="xgboost", batch_size=16,
    verbose=True, repeat=3, min_repeat_seconds=0.02, run_timeout_seconds=10.0,
    check_correctness=True, time_budget_seconds=0.0, confirm_top=3, build_timeout_seconds=4.0)."""
    from tessel import _tessel
    return _tessel.autotune.tune(*args, **kwargs)


def test_tune_apply_best_matches_numpy(tmp_path):
    m, n, k = 19, 37, 23
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    task = autotune.Task.from_compute(C, target="llvm")
    records = str(tmp_path / "tune.jsonl")
    best = autotune.tune([task], trials=8, records=records, seed=1, batch_size=8, repeat=1,
                         min_repeat_seconds=0.001, verbose=False)
    assert np.isfinite(best[0]) and best[0] > 0
    s, args = task.apply_best(records)
    f = tessel.build(s, args)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype("float32")
    b = rng.standard_normal((k, n)).astype("float32")
    c = np.zeros((m, n), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    # Another task has no record.
    other = autotune.Task.from_compute(te.compute((m, n), lambda i, j: A[i, j % k] * 2.0, name="D"))
    with pytest.raises(tessel.TesselError):
        other.apply_best(records)


def _matmul_task(m, n, k, name="C"):
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name=name)
    return autotune.Task.from_compute(C, target="llvm")


def _read_records(path):
    """Every line of a records file, parsed; fails on an incomplete or invalid line."""
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "the last line is incomplete"
    records = [json.loads(line) for line in text.splitlines()]
    for r in records:
        assert r["version"] == 1 and r["workload_key"] and r["steps"]["steps"] is not None
    return records


def test_ctrl_c_keeps_records_and_a_second_run_resumes(tmp_path):
    records = tmp_path / "ctrl_c.jsonl"
    batch = 4
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(PYTHON_DIR)!r})
        from tessel import _tessel, te, autotune
        m, n, k = 31, 45, 17
        A = te.placeholder((m, k), "float32", name="A")
        B = te.placeholder((k, n), "float32", name="B")
        r = te.reduce_axis((0, k), name="k")
        C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
        task = autotune.Task.from_compute(C, target="llvm")
        _tessel.autotune.tune([task._native], 400, {str(records)!r}, seed=2, cost_model="random",
                                batch_size={batch}, verbose=False, repeat=1, min_repeat_seconds=0.02,
                                build_timeout_seconds=60)
        print("finished")
    """)
    # A session of its own: the interrupt goes to the whole process group, measuring children
    # included, as a Ctrl-C at a terminal does.
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if records.exists() and records.read_text().count("\n") >= batch:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.3)  # into the next batch
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err, err
    assert "finished" not in out
    stored = _read_records(records)
    # Whole batches only, every one a real measurement: the batch in flight was dropped, not
    # recorded as runtime errors of children killed by the signal.
    assert len(stored) >= batch and len(stored) % batch == 0 and len(stored) < 400
    assert all(r["error"] == 0 and len(r["costs"]) == 1 for r in stored), [r["error_name"] for r in stored]

    # A second run continues: the stored trials count toward the budget, nothing is measured twice.
    task = _matmul_task(31, 45, 17)
    best = _native_tune([task._native], len(stored) + batch, str(records), seed=3, cost_model="random",
                                   batch_size=batch, verbose=False, repeat=1, min_repeat_seconds=0.001,
                                   confirm_top=0)  # no re-measurement: every record a new schedule
    assert np.isfinite(best[0])
    resumed = _read_records(records)
    assert len(resumed) == len(stored) + batch
    assert resumed[:len(stored)] == stored
    steps = [json.dumps(r["steps"], sort_keys=True) for r in resumed]
    assert len(set(steps)) == len(steps)
    assert best[0] <= min(np.mean(r["costs"]) for r in stored)


def test_time_budget_and_signature(tmp_path):
    task = _matmul_task(9, 14, 6)
    records = str(tmp_path / "budget.jsonl")
    best = _native_tune([task._native], 100000, records, seed=0, cost_model="random", batch_size=2,
                                   verbose=False, repeat=1, min_repeat_seconds=0.001, run_timeout_seconds=5.0,
                                   check_correctness=True, time_budget_seconds=0.5)
    assert len(best) == 1 and np.isfinite(best[0])
    assert 2 <= len(_read_records(records)) < 100000
    with pytest.raises(tessel.TesselError, match="build_timeout_seconds"):
        autotune.tune(task, trials=1, records=records, verbose=False, build_timeout_seconds=0)


@pytest.mark.parametrize("bad", [{"confirm_top": -1}, {"build_timeout_seconds": 0}, {"trials": -1}])
def test_bad_tuning_arguments_fail_before_anything_is_printed(tmp_path, capsys, bad):
    task = _matmul_task(9, 14, 6)
    records = tmp_path / "sub" / "never.jsonl"
    with pytest.raises(tessel.TesselError, match=next(iter(bad))):
        autotune.tune(task, **{"trials": 1, "records": str(records), "verbose": True, **bad})
    assert capsys.readouterr().out == ""
    assert not records.parent.exists()


def test_extract_tune_and_compile_a_graph_with_records(tmp_path):
    torch = pytest.importorskip("torch")
    from tessel import relay
    from relay_testing import assert_close, run_compiled

    rng = np.random.default_rng(4)
    w1 = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((5, 4, 3, 3)) * 0.3).astype(np.float32)
    g = relay.GraphBuilder()
    x = g.input("x", (1, 3, 9, 7))
    y = g.call("relu", [g.call("conv2d", [x, g.param("w1", w1)], padding=[1, 1, 1, 1])])
    g.output(g.call("conv2d", [y, g.param("w2", w2)]))
    graph, params = g.finish()

    tasks = autotune.extract_tasks(graph, params, target="llvm")
    assert 1 <= len(tasks) <= 3, tasks
    assert all(t.weight >= 1 for t in tasks)
    records = str(tmp_path / "graph.jsonl")
    best = _native_tune([t._native for t in tasks], 2 * len(tasks), records, seed=1, cost_model="random",
                                   batch_size=2, verbose=False, repeat=1, min_repeat_seconds=0.001)
    assert len(best) == len(tasks) and any(np.isfinite(b) for b in best)

    xi = rng.standard_normal((1, 3, 9, 7)).astype(np.float32)
    tuned = autotune.compile(graph, params, records=records, verbose=False)
    tuned_count = int(tuned.summary.split(" of ")[0])
    assert tuned_count >= 1, tuned.summary
    path = tmp_path / "tuned.so"
    tuned.export_library(path)
    from tessel import runtime
    (out,) = [np.array(o) for o in runtime.load(str(path)).run(x=xi)]
    untuned_lib, (untuned,) = run_compiled(graph, params, tmp_path, x=xi)
    assert untuned_lib.summary.startswith("0 of ")
    ref = torch.nn.functional.conv2d(torch.relu(torch.nn.functional.conv2d(torch.from_numpy(xi), torch.from_numpy(w1),
                                                                           padding=1)), torch.from_numpy(w2)).numpy()
    assert_close(untuned, ref)
    assert_close(out, ref)
