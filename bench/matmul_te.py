#!/usr/bin/env python3
"""fp32 matmul 1024^3 with a manual tensor-expression schedule, against OpenBLAS, in one run.

The schedule is the classic CPU GEMM recipe written with Tessel's Python TE API:
  * B is packed into column panels Bp[N / nc, K, nc] (computed in the same kernel, timed);
  * C is tiled into (mr x nc) register tiles; the tile is accumulated in a `local` cache
    (cache_write) computed at the tile loop, with its rows unrolled and columns vectorised,
    so the k loop keeps mr * nc / 16 zmm accumulators in registers;
  * the outer tile loops are fused into one parallel loop.

Run with OpenBLAS at full speed (the machine's environment forces a slower kernel otherwise):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 bench/matmul_te.py
Prints a table: workload, Tessel, OpenBLAS (numpy), ratio (medians of >= 20 runs after warm-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tessel  # noqa: E402
from tessel import te  # noqa: E402


def matmul_schedule(m: int, n: int, k: int, mr: int, nc: int, kr: int):
    """Returns (schedule, [A, B, C]) for the packed, register-tiled, parallel matmul."""
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    packed = te.compute((n // nc, k, nc), lambda x, y, z: B[y, x * nc + z], name="Bp")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * packed[j // nc, r, j % nc], axis=r), name="C")

    s = te.create_schedule(C)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(s[C].op.axis[0], s[C].op.axis[1], mr, nc)
    s[C].reorder(jo, io, ii, ji)  # one B panel stays in cache while the rows stream past
    fused = s[C].fuse(jo, io)
    s[C].parallel(fused)
    s[C].vectorize(ji)

    s[CC].compute_at(s[C], fused)
    ci, cj = s[CC].op.axis
    (ck,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(ck, factor=kr)
    s[CC].reorder(ko, ki, ci, cj)
    s[CC].unroll(ki)
    s[CC].unroll(ci)
    s[CC].vectorize(cj)

    px, py, pz = s[packed].op.axis
    s[packed].parallel(px)
    s[packed].vectorize(pz)
    return s, [A, B, C]


def median_ms(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=[1024, 1024, 1024], metavar=("M", "N", "K"))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--mr", type=int, default=8)
    parser.add_argument("--nc", type=int, default=32)
    parser.add_argument("--kr", type=int, default=4)
    args = parser.parse_args()
    m, n, k = args.size

    s, tensors = matmul_schedule(m, n, k, args.mr, args.nc, args.kr)
    f = tessel.build(s, tensors, target="llvm", name="matmul")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = tessel.empty((m, n), "float32") if hasattr(tessel, "empty") else np.empty((m, n), np.float32)
    f(a, b, c)
    reference = a @ b
    error = float(np.max(np.abs(c - reference)) / np.max(np.abs(reference)))
    if error > 1e-4:
        print(f"wrong result: max relative error {error:.2e}", file=sys.stderr)
        return 1

    flops = 2.0 * m * n * k
    tessel_ms = median_ms(lambda: f(a, b, c), args.repeat)
    out = np.empty((m, n), np.float32)
    blas_ms = median_ms(lambda: np.matmul(a, b, out=out), args.repeat)
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    print(f"{'workload':<28}{'Tessel ms':>11}{'GFLOP/s':>9}{'OpenBLAS ms':>13}{'GFLOP/s':>9}{'ratio':>8}")
    print(f"{f'sgemm {m}x{n}x{k}, TE manual':<28}{tessel_ms:>11.3f}{flops / tessel_ms / 1e6:>9.1f}"
          f"{blas_ms:>13.3f}{flops / blas_ms / 1e6:>9.1f}{blas_ms / tessel_ms:>7.2f}x")
    print(f"threads: Tessel {tessel.num_threads()}, OpenBLAS {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}"
          + (f"; note: OPENBLAS_CORETYPE={coretype} slows OpenBLAS (see the docstring)" if coretype else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
