#!/usr/bin/env python3
"""Tunes fp32 matmuls with the auto-scheduler and compares the best schedule with OpenBLAS (numpy)
and PyTorch in the same run, on the same number of threads.

Shapes are M x N x K: C[M, N] = A[M, K] @ B[K, N] (row-major). Defaults: 1024x1024x1024,
128x768x3072 (a BERT-base FFN down-projection: 128 tokens, 3072 -> 768) and 127x255x1023.

    python3 bench/tune_matmul.py [--shapes 1024x1024x1024,128x768x3072,127x255x1023]
                                 [--trials 1000] [--records tune_matmul.jsonl] [--threads 2]

For each shape: tunes with --trials measured candidates (records already in --records for that
shape count, so an interrupted run resumes), rebuilds the best record, checks it against numpy on
random inputs, then times it, numpy's sgemm (OpenBLAS) and torch.matmul, interleaved, median of
--runs runs each. The script re-executes itself without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (the
machine's defaults slow OpenBLAS down) and sets every engine to --threads threads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common  # noqa: E402  (before numpy: it may re-execute the script)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="1024x1024x1024,128x768x3072,127x255x1023",
                   help="comma-separated MxNxK (C[M,N] = A[M,K] @ B[K,N])")
    p.add_argument("--trials", type=int, default=1000, help="measured candidates per shape")
    p.add_argument("--records", default="tune_matmul.jsonl", help="JSON-lines records file (resumed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost-model", default="xgboost", choices=["xgboost", "random"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30, help="timed runs per engine (median)")
    p.add_argument("--quiet", action="store_true", help="no per-round tuning progress lines")
    return p.parse_args()


ARGS = parse_args()
bench_common.setup_environment(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tessel  # noqa: E402
from tessel import autotune, te  # noqa: E402
from tessel.build_module import empty  # noqa: E402  (64-byte aligned arrays: no copies per call)


def parse_shape(text: str):
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise SystemExit(f"bad shape {text!r}: expected MxNxK, e.g. 1024x1024x1024")
    return tuple(int(p) for p in parts)


def matmul_task(m: int, n: int, k: int):
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    return autotune.Task.from_compute(C, target="llvm", args=[A, B, C], name=f"matmul_{m}x{n}x{k}")


def bench_shape(m: int, n: int, k: int) -> list:
    task = matmul_task(m, n, k)
    start = time.time()
    autotune.tune([task], trials=ARGS.trials, records=ARGS.records, seed=ARGS.seed, cost_model=ARGS.cost_model,
                  verbose=not ARGS.quiet)
    tuning_s = time.time() - start
    trials = sum(1 for _ in bench_common.read_records(ARGS.records, task.workload_key))
    schedule, args = task.apply_best(ARGS.records)
    f = tessel.build(schedule, args, target="llvm", name="matmul")

    rng = np.random.default_rng(0)
    a, b, c = empty((m, k)), empty((k, n)), empty((m, n))
    a[...] = rng.standard_normal((m, k), dtype=np.float32)
    b[...] = rng.standard_normal((k, n), dtype=np.float32)
    c.fill(np.nan)
    f(a, b, c)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    error = float(np.max(np.abs(c - reference)) / np.max(np.abs(reference)))
    if not error < 1e-4:
        raise SystemExit(f"matmul {m}x{n}x{k}: the tuned kernel is wrong (max relative error {error:.2e})")

    out = np.empty((m, n), np.float32)
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((m, n))
    with torch.no_grad():
        ms = bench_common.interleaved_median_ms({
            "tessel": lambda: f(a, b, c),
            "openblas": lambda: np.matmul(a, b, out=out),
            "torch": lambda: torch.matmul(ta, tb, out=tc),
        }, runs=ARGS.runs)
    gflops = 2.0 * m * n * k / (ms["tessel"] * 1e-3) * 1e-9
    return [f"{m}x{n}x{k}", trials, tuning_s, ms["tessel"], gflops, ms["openblas"], ms["openblas"] / ms["tessel"],
            ms["torch"], ms["torch"] / ms["tessel"]]


def main() -> int:
    torch.set_num_threads(ARGS.threads)
    shapes = [parse_shape(s) for s in ARGS.shapes.split(",") if s.strip()]
    print(bench_common.environment_note())
    print(f"records: {os.path.abspath(ARGS.records)}; cost model {ARGS.cost_model}, seed {ARGS.seed}")
    rows = []
    for m, n, k in shapes:
        rows.append(bench_shape(m, n, k))
        sys.stdout.flush()
    print()
    print("fp32 matmul, M x N x K (C[M,N] = A[M,K] @ B[K,N]); ratio = peer ms / Tessel ms (> 1: Tessel faster); "
          f"medians of {ARGS.runs} interleaved runs")
    print(bench_common.format_table(
        ["shape", "trials", "tuning s", "Tessel ms", "GFLOP/s", "OpenBLAS ms", "ratio", "torch ms", "ratio"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
