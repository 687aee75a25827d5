#!/usr/bin/env python3
"""Search efficiency of the auto-scheduler: best throughput found against measured trials, with the
XGBoost cost model and with random search (cost_model="random"), on an fp32 matmul and on one
ResNet-50 conv2d layer (as the graph compiler builds it: NCHW{b}c, packed weight).

    python3 bench/search_curves.py [--trials 300] [--matmul 512x512x512] [--conv 256,256,3,1,1,14,14]
                                   [--seed 0] [--plot curves.png] [--out-dir curves_records]

Both searches of a workload get the same seed and trial budget, and each run starts from a fresh
records file (--out-dir/<workload>_<model>.jsonl, removed first), so no search learns from the
other. The curve is read back from the records file: records are appended in measurement order,
so the best-so-far throughput after each line is the curve. Prints a table (trials 16, 32, 64,
..., N: best GFLOP/s of each search) and the trials each search needed to reach 90% of the best
throughput either found; saves both curves as a PNG (--plot).
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
    p.add_argument("--trials", type=int, default=300, help="trial budget of every search")
    p.add_argument("--matmul", default="512x512x512", help="MxNxK of the matmul (C[M,N] = A[M,K] @ B[K,N]); "
                   "empty to skip")
    p.add_argument("--conv", default="256,256,3,1,1,14,14",
                   help="cin,cout,k,stride,pad,h,w of the conv layer (default: ResNet-50 layer3.x.conv2); "
                   "empty to skip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plot", default="curves.png", help="PNG path; empty for none")
    p.add_argument("--out-dir", default="search_curves_records", help="where the fresh records files go")
    p.add_argument("--quiet", action="store_true", help="no per-round tuning progress lines")
    return p.parse_args()


ARGS = parse_args()
bench_common.setup_environment(ARGS.threads)

import numpy as np  # noqa: E402

from tessel import autotune, te  # noqa: E402

MODELS = ("xgboost", "random")


def matmul_workload(text: str):
    m, n, k = (int(v) for v in text.lower().split("x"))
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    task = autotune.Task.from_compute(C, target="llvm", args=[A, B, C], name=f"matmul_{m}x{n}x{k}")
    return f"matmul {m}x{n}x{k}", f"matmul_{m}x{n}x{k}", task, 2.0 * m * n * k


def conv_workload(text: str):
    cin, cout, k, stride, pad, h, w = (int(v) for v in text.split(","))
    layer = {"cin": cin, "cout": cout, "k": k, "stride": stride, "pad": pad, "h": h, "w": w}
    weight = np.random.default_rng(0).standard_normal((cout, cin, k, k)).astype(np.float32)
    task, _, _ = bench_common.conv_task(layer, weight)
    label = bench_common.layer_label(layer)
    return f"conv {label}", "conv_" + "_".join(str(v) for v in (cin, cout, k, stride, pad, h, w)), task, \
        bench_common.layer_gflops(layer) * 1e9


def run_search(task, flops: float, path: str, model: str):
    if os.path.exists(path):
        os.remove(path)
    start = time.time()
    autotune.tune([task], trials=ARGS.trials, records=path, seed=ARGS.seed, cost_model=model, verbose=not ARGS.quiet)
    seconds = time.time() - start
    curve = bench_common.best_so_far_gflops(bench_common.read_records(path, task.workload_key), flops)
    return curve, seconds


def value_at(curve, n: int) -> float:
    """Best-so-far after n trials (the last point when the search stopped earlier)."""
    return curve[min(n, len(curve)) - 1] if curve else 0.0


def trials_to_reach(curve, target: float):
    for i, v in enumerate(curve):
        if v >= target:
            return i + 1
    return None


def main() -> int:
    os.makedirs(ARGS.out_dir, exist_ok=True)
    print(bench_common.environment_note())
    workloads = []
    if ARGS.matmul:
        workloads.append(matmul_workload(ARGS.matmul))
    if ARGS.conv:
        workloads.append(conv_workload(ARGS.conv))
    results = []  # (label, {model: curve}, {model: seconds})
    for label, slug, task, flops in workloads:
        curves, seconds = {}, {}
        for model in MODELS:
            print(f"{label}: {model}, {ARGS.trials} trials, seed {ARGS.seed}")
            sys.stdout.flush()
            curves[model], seconds[model] = run_search(task, flops, os.path.join(ARGS.out_dir, f"{slug}_{model}.jsonl"),
                                                       model)
        results.append((label, curves, seconds))

    print()
    print(f"best GFLOP/s found after N trials (seed {ARGS.seed}; curves from the records files, measurement order)")
    header = ["trials"]
    for label, _, _ in results:
        header += [f"{label} xgb", "random"]
    rows = []
    for n in bench_common.trial_checkpoints(ARGS.trials):
        row = [n]
        for _, curves, _ in results:
            row += [value_at(curves[m], n) for m in MODELS]
        rows.append(row)
    print(bench_common.format_table(header, rows))
    for label, curves, seconds in results:
        best = max(max(c) if c else 0.0 for c in curves.values())
        target = 0.9 * best
        reach = {m: trials_to_reach(curves[m], target) for m in MODELS}
        speedup = (f"random search needed {reach['random'] / reach['xgboost']:.2f}x the trials of XGBoost"
                   if reach["xgboost"] and reach["random"] else
                   "random search never reached it" if reach["xgboost"] else "XGBoost search never reached it")
        print(f"{label}: best {best:.1f} GFLOP/s; 90% of it ({target:.1f}) reached after "
              f"{reach['xgboost'] or '-'} trials (XGBoost) vs {reach['random'] or '-'} (random): {speedup}; "
              f"search time {seconds['xgboost']:.0f} s vs {seconds['random']:.0f} s")
    if ARGS.plot:
        save_plot(results, ARGS.plot)
        print(f"plot: {os.path.abspath(ARGS.plot)}")
    return 0


def save_plot(results, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, (label, curves, _) in zip(axes[0], results):
        for model, style in zip(MODELS, ("-", "--")):
            curve = curves[model]
            ax.plot(range(1, len(curve) + 1), curve, style, label="XGBoost cost model" if model == "xgboost"
                    else "random search")
        ax.set_title(label)
        ax.set_xlabel("measured trials")
        ax.set_ylabel("best GFLOP/s so far")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(f"Tessel auto-scheduler search efficiency (seed {ARGS.seed}, "
                 f"{os.environ.get('TESSEL_NUM_THREADS')} threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
