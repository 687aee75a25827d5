"""Tunes an fp32 matmul (default 1024^3) with the auto-scheduler and compares the best schedule
with numpy's OpenBLAS sgemm in the same run (both on the same threads).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/tune_matmul.py --trials 200
"""
import argparse
import os
import tempfile
import time

import numpy as np

import tessel
from tessel import te, autotune


def best_time(fn, repeat=10):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--k", type=int, default=1024)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--records", default="")
    p.add_argument("--cost-model", default="xgboost")
    args = p.parse_args()
    m, n, k = args.m, args.n, args.k
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    task = autotune.Task.from_compute(C, target="llvm")
    records = args.records or os.path.join(tempfile.mkdtemp(), "tune_matmul.jsonl")
    t0 = time.time()
    autotune.tune([task], trials=args.trials, records=records, seed=args.seed, cost_model=args.cost_model)
    print(f"tuning took {time.time() - t0:.1f} s; records in {records}")
    s, targs = task.apply_best(records)
    f = tessel.build(s, targs)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype("float32")
    b = rng.standard_normal((k, n)).astype("float32")
    c = np.zeros((m, n), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-3)
    flops = 2.0 * m * n * k
    ours = best_time(lambda: f(a, b, c))
    blas = best_time(lambda: np.matmul(a, b, out=c))
    print(f"matmul {m}x{n}x{k}: tuned {flops / ours * 1e-9:.1f} GFLOP/s ({ours * 1e3:.2f} ms), "
          f"OpenBLAS {flops / blas * 1e-9:.1f} GFLOP/s ({blas * 1e3:.2f} ms), ratio {blas / ours:.3f}x")


if __name__ == "__main__":
    main()
