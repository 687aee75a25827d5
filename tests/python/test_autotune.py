"""The auto-scheduler from Python: tune a small matmul, apply the best record, check against numpy."""
import numpy as np
import pytest

import tessel
from tessel import te, autotune


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
