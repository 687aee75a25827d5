"""Shared pieces of the auto-scheduler benchmarks (tune_matmul.py, tune_conv_resnet50.py,
search_curves.py): thread and OpenBLAS environment set-up before numpy loads, interleaved median
timing of several engines, plain-text tables and best-so-far curves read from records files.

Import this module first, before numpy, torch or tessel: `setup_environment` may re-execute the
script with a corrected environment, which only works while no BLAS library is loaded yet.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# OpenBLAS reads these once at load time; the machine's defaults force its slower AVX2 kernels.
_OPENBLAS_SLOW_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def setup_environment(threads: int) -> None:
    """Makes every engine use `threads` threads and lets OpenBLAS pick its native kernels.

    Sets TESSEL_NUM_THREADS (the tuner sizes parallel loops and the runtime its pool from it) and
    OPENBLAS_NUM_THREADS / OMP_NUM_THREADS; when OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set, the
    process re-executes itself without them (they are only removed for this benchmark process and
    its children). Puts the source tree's python/ first on sys.path so `import tessel` finds the
    built package without installation.
    """
    wanted = {"TESSEL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
              "OMP_NUM_THREADS": str(threads)}
    needs_exec = any(v in os.environ for v in _OPENBLAS_SLOW_VARS) or any(
        os.environ.get(k) != v for k, v in wanted.items() if k != "TESSEL_NUM_THREADS")
    if needs_exec and "numpy" not in sys.modules and os.environ.get("TESSEL_BENCH_REEXEC") != "1":
        env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_SLOW_VARS}
        env.update(wanted)
        env["TESSEL_BENCH_REEXEC"] = "1"
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    os.environ.update(wanted)
    python_dir = os.path.join(BENCH_DIR, "..", "python")
    if python_dir not in sys.path:
        sys.path.insert(0, python_dir)


def environment_note() -> str:
    """One line saying which threads and OpenBLAS settings were in effect."""
    slow = [v for v in _OPENBLAS_SLOW_VARS if v in os.environ]
    return (f"threads: TESSEL_NUM_THREADS={os.environ.get('TESSEL_NUM_THREADS')}, "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
            + (f"; WARNING: {', '.join(slow)} set, OpenBLAS runs its slower kernels" if slow else ""))


def interleaved_median_ms(engines: Dict[str, Callable[[], object]], runs: int = 30, warmup: int = 3,
                          per_round: int = 5, settle: float = 0.2, rewarm: float = 0.03) -> Dict[str, float]:
    """Median milliseconds per call of each engine. Engines are timed in interleaved rounds of
    `per_round` calls so that all see the same machine load; at every switch a pause lets the
    previous engine's spinning worker threads park (OpenBLAS's threads busy-wait for about a
    tenth of a second after a call: with a 50 ms pause, a 0.5 ms matmul timed right after
    OpenBLAS's round ran at 1.2 ms, and at 0.5 ms with a 300 ms pause), and untimed calls for
    `rewarm` seconds bring this engine's threads and the cores' clocks back up (after the pause,
    the first milliseconds of a short kernel run measurably slower)."""
    times: Dict[str, List[float]] = {name: [] for name in engines}
    for fn in engines.values():
        for _ in range(warmup):
            fn()
    while min(len(t) for t in times.values()) < runs:
        for name, fn in engines.items():
            time.sleep(settle)
            warm_until = time.perf_counter() + rewarm
            fn()
            while time.perf_counter() < warm_until:
                fn()
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A right-aligned text table (first column left-aligned); floats get 3 significant decimals."""

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            if not math.isfinite(value):
                return "-"
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in text:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def read_records(path: str, workload_key: Optional[str] = None) -> List[dict]:
    """The records of `path` in file order (the order they were measured), optionally only those
    of one workload key. Lines that do not parse are skipped, like the tuner does."""
    out: List[dict] = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if workload_key is None or record.get("workload_key") == workload_key:
                out.append(record)
    return out


def record_seconds(record: dict) -> float:
    """Mean seconds of a record; +inf for a failed one."""
    costs = record.get("costs") or []
    if record.get("error", 0) != 0 or not costs:
        return math.inf
    return statistics.fmean(costs)


def best_so_far_gflops(records: Sequence[dict], flops: float) -> List[float]:
    """Best throughput (GFLOP/s) after each measured trial, in measurement order (0 until the
    first valid record)."""
    best = math.inf
    curve = []
    for record in records:
        best = min(best, record_seconds(record))
        curve.append(flops / best * 1e-9 if math.isfinite(best) else 0.0)
    return curve


def trial_checkpoints(total: int) -> List[int]:
    """16, 32, 64, ... up to and including `total`."""
    points = []
    n = 16
    while n < total:
        points.append(n)
        n *= 2
    points.append(total)
    return points


def layer_label(layer: dict) -> str:
    """"in->out kxk/stride pPAD HxW" of a conv layer dict (cin, cout, k, stride, pad, h, w)."""
    return (f"{layer['cin']}->{layer['cout']} {layer['k']}x{layer['k']}/{layer['stride']} p{layer['pad']} "
            f"{layer['h']}x{layer['w']}")


def layer_gflops(layer: dict) -> float:
    """Multiply-adds x 2 of a batch-1 conv layer, in GFLOP (padding taps included, as every
    library counts them)."""
    ho = (layer["h"] + 2 * layer["pad"] - layer["k"]) // layer["stride"] + 1
    wo = (layer["w"] + 2 * layer["pad"] - layer["k"]) // layer["stride"] + 1
    return 2.0 * layer["cin"] * layer["cout"] * layer["k"] ** 2 * ho * wo * 1e-9


def conv_graph(layer: dict, weight):
    """A one-conv graph (NCHW input, the OIHW `weight` as a param) and its params."""
    from tessel import relay
    g = relay.GraphBuilder()
    x = g.input("input", (1, layer["cin"], layer["h"], layer["w"]), "float32")
    w = g.param("weight", weight)
    p = layer["pad"]
    g.output(g.call("conv2d", [x, w], strides=[layer["stride"]] * 2, padding=[p, p, p, p]))
    return g.finish()


def conv_task(layer: dict, weight):
    """(the conv2d search task as the graph compiler builds it, graph, params) of a one-conv
    graph: extract_tasks also returns the layout transforms around it, which are left out."""
    from tessel import autotune
    graph, params = conv_graph(layer, weight)
    tasks = [t for t in autotune.extract_tasks(graph, params, "llvm") if "conv2d" in t.name]
    if len(tasks) != 1:
        raise SystemExit(f"{layer_label(layer)}: expected one conv2d task, got {tasks}")
    return tasks[0], graph, params
