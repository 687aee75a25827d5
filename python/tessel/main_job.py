"""The main job, ``tessel demo``: the whole workflow on a built-in model. Builds a torchvision
model (random weights, fixed seed, batch 1, 3x224x224), exports it to ONNX, imports it, extracts
its tasks, tunes them into the tuning database (a trial count and a time budget; records already
stored count, so running again resumes), compiles with the database, exports and loads the
library, checks the output against PyTorch and prints a latency table: Tessel untuned and tuned,
PyTorch (frozen TorchScript) and ONNX Runtime (onnxruntime-node driven by node.js, when found).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

import tessel
from tessel import TesselError

MODELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "mobilenet_v2": "MobileNetV2"}
# The default budget fits 10 minutes on 2 cores with everything else (export, two compiles, the
# benchmark): no new batch of measurements starts after TIME_BUDGET seconds, and a batch in flight
# is small enough to end soon after.
DEFAULT_TRIALS = 400
DEFAULT_TIME_BUDGET = 330.0
DEFAULT_BATCH_SIZE = 8
QUICK_TRIALS = 8
QUICK_TIME_BUDGET = 20.0
QUICK_BATCH_SIZE = 4
MIN_FLOP_SHARE = 0.01  # tasks with less than this share of the model's work are not tuned
MAX_RELATIVE_ERROR = 1e-3  # max |tessel - torch| / max |torch|


def build_parser(parser_class: Type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``tessel demo``."""
    parser = parser_class(
        prog="tessel demo",
        description="Tune, compile, export, run and benchmark a built-in model (torchvision, random weights, "
                    "seed 0). `tessel demo matmul [ARGS]` runs the loop-IR matmul demo program instead.")
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18", help="the model (default resnet18)")
    parser.add_argument("--trials", type=int, help=f"measurements in the database for the model's tuned tasks, "
                        f"earlier runs' included (default {DEFAULT_TRIALS}; --quick: {QUICK_TRIALS})")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help=f"start no new batch of measurements after this long (default {DEFAULT_TIME_BUDGET:g}; "
                             f"--quick: {QUICK_TIME_BUDGET:g})")
    parser.add_argument("--db", help="the tuning database (default: $TESSEL_DB, else ~/.cache/tessel/tuning.db)")
    parser.add_argument("--quick", action="store_true", help="a tiny budget (two small tasks, a few trials, few runs)")
    parser.add_argument("--runs", type=int, help="timed runs per engine (default 30; --quick: 5)")
    parser.add_argument("--out-dir", help="where the .onnx and .so files go (default ~/.cache/tessel/demo)")
    parser.add_argument("--ort-dir", default=os.environ.get("TESSEL_ORT_DIR", ""),
                        help="a folder with node_modules/onnxruntime-node (default: $TESSEL_ORT_DIR, "
                             "~/.cache/tessel/ort, the global npm folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    parser.add_argument("--no-ort-install", action="store_true",
                        help="do not install onnxruntime-node with npm when it is not found (the ONNX Runtime "
                             "column then reads n/a)")
    return parser


def _say(step: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {step}", flush=True)


# ---- the model and the reference ---------------------------------------------------------------

def build_torch_model(name: str, input_shape: Sequence[int] = (1, 3, 224, 224)) -> Tuple[Any, np.ndarray]:
    """A torchvision model with random weights (torch seed 0) in eval mode, and an input (numpy seed 0)."""
    import torch
    import torchvision
    if name not in MODELS:
        raise TesselError(f"unknown model '{name}' (expected one of {', '.join(sorted(MODELS))})")
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = np.random.default_rng(0).standard_normal(tuple(input_shape)).astype(np.float32)
    return model, x


def export_onnx(model: Any, x: np.ndarray, path: str) -> None:
    """Exports ``model`` at input ``x`` (named "input", output "output", opset 13)."""
    import torch
    torch.onnx.export(model, (torch.from_numpy(x),), path, opset_version=13, input_names=["input"],
                      output_names=["output"])


def compare(output: np.ndarray, reference: np.ndarray, label: str) -> Tuple[float, float]:
    """(max abs error, max abs error / max |reference|); TesselError when the relative error is
    above MAX_RELATIVE_ERROR or the shapes differ."""
    output = np.asarray(output)
    if output.shape != reference.shape:
        raise TesselError(f"{label}: output shape {output.shape} differs from PyTorch's {reference.shape}")
    max_abs = float(np.max(np.abs(output.astype(np.float64) - reference)))
    max_rel = max_abs / max(float(np.max(np.abs(reference))), 1e-30)
    if not math.isfinite(max_abs) or max_rel > MAX_RELATIVE_ERROR:
        raise TesselError(f"{label}: WRONG OUTPUT: max abs error {max_abs:.3e}, max rel error {max_rel:.3e} "
                          f"against PyTorch (allowed {MAX_RELATIVE_ERROR:g})")
    return max_abs, max_rel


def select_tasks(tasks: Sequence[Any], quick: bool) -> List[Any]:
    """The tasks worth tuning: those with at least MIN_FLOP_SHARE of the model's work (weight x
    flops), heaviest first so that a time budget goes where it counts. --quick: the two lightest
    of them, which measure fastest."""
    total = sum(t.weight * t.flop_count for t in tasks) or 1.0
    chosen = [t for t in tasks if t.weight * t.flop_count >= MIN_FLOP_SHARE * total]
    chosen.sort(key=lambda t: -t.weight * t.flop_count)
    return chosen[-2:] if quick else chosen


# ---- ONNX Runtime through node.js --------------------------------------------------------------

ORT_SCRIPT = r"""
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const ort = require(path.join(process.argv[2], 'node_modules', 'onnxruntime-node'));
(async () => {
  const [, , , model, inputFile, shapeText, threads] = process.argv;
  const buffer = fs.readFileSync(inputFile);
  const data = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionProviders: ['cpu'],
    graphOptimizationLevel: 'all'});
  const feeds = {}; feeds[session.inputNames[0]] = new ort.Tensor('float32', data, JSON.parse(shapeText));
  let out = await session.run(feeds);
  console.log(JSON.stringify({ready: true}));
  for await (const line of readline.createInterface({input: process.stdin})) {
    const [command, count] = line.trim().split(' ');
    if (command === 'run') {
      const times = [];
      for (let i = 0; i < Number(count); ++i) {
        const t0 = process.hrtime.bigint();
        out = await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      console.log(JSON.stringify({times}));
    } else if (command === 'out') {
      const first = out[session.outputNames[0]];
      fs.writeFileSync(inputFile + '.out', Buffer.from(first.data.buffer, first.data.byteOffset, first.data.byteLength));
      console.log(JSON.stringify({written: true}));
    } else {
      break;
    }
  }
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


ORT_HOME = Path.home() / ".cache" / "tessel" / "ort"  # where the demo installs onnxruntime-node


def find_onnxruntime_node(explicit: str = "") -> Tuple[Optional[str], str]:
    """(folder holding node_modules/onnxruntime-node, "") or (None, why not)."""
    if shutil.which("node") is None:
        return None, "node.js is not installed"
    if explicit:
        candidates = [explicit]
    else:
        candidates = [str(ORT_HOME)]
        npm = shutil.which("npm")
        if npm is not None:
            try:
                root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=20).stdout.strip()
                if root:
                    candidates.append(str(Path(root).parent))
            except (OSError, subprocess.SubprocessError):
                pass
    for folder in candidates:
        if (Path(folder) / "node_modules" / "onnxruntime-node").is_dir():
            return os.path.abspath(folder), ""
    where = explicit or " or ".join(candidates)
    return None, (f"onnxruntime-node not found in {where}; install it with "
                  "`npm install --prefix ~/.cache/tessel/ort --ignore-scripts onnxruntime-node` or pass --ort-dir")


def install_onnxruntime_node(timeout_s: float = 180.0) -> Tuple[Optional[str], str]:
    """Installs the ONNX Runtime peer (the npm package onnxruntime-node, its prebuilt CPU library
    inside; install scripts skipped) into ~/.cache/tessel/ort. (folder, "") or (None, why not)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None, "node.js and npm are not installed"
    print(f"  installing onnxruntime-node with npm into {ORT_HOME} (the ONNX Runtime peer; --no-ort-install "
          "skips this)", flush=True)
    try:
        ORT_HOME.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--prefix", str(ORT_HOME), "--ignore-scripts", "--no-audit",
                               "--no-fund", "onnxruntime-node"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"npm install onnxruntime-node failed: {error}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
        return None, f"npm install onnxruntime-node failed: {last}"
    return find_onnxruntime_node(str(ORT_HOME))


class OrtWorker:
    """A node.js process holding an ONNX Runtime session: ``run(k)`` times k runs (ms)."""

    def __init__(self, ort_dir: str, model_path: str, x: np.ndarray, threads: int, work: str) -> None:
        script = os.path.join(work, "ort_worker.js")
        Path(script).write_text(ORT_SCRIPT)
        self.data = os.path.join(work, "ort_input.bin")
        x.astype(np.float32).tofile(self.data)
        self.proc = subprocess.Popen(["node", script, ort_dir, model_path, self.data, json.dumps(list(x.shape)),
                                      str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._reply()

    def _reply(self) -> Dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            error = (self.proc.stderr.read() if self.proc.stderr else "").strip().splitlines()
            raise RuntimeError(error[-1] if error else "the node.js worker exited")
        return json.loads(line)

    def _ask(self, command: str) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def run(self, count: int) -> List[float]:
        return list(self._ask(f"run {count}")["times"])

    def output(self) -> np.ndarray:
        self._ask("out")
        return np.fromfile(self.data + ".out", dtype=np.float32)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


# ---- timing ------------------------------------------------------------------------------------

def timed(fn: Callable[[], object], count: int) -> List[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def time_engines(engines: Dict[str, Callable[[int], List[float]]], runs: int, settle: float = 0.2) -> Dict[str, float]:
    """Median milliseconds per engine: a warm-up, then short interleaved rounds (so that every
    engine sees the same machine load), each after a pause and an untimed run, because other
    engines' worker threads keep spinning for a while after they finish."""
    times: Dict[str, List[float]] = {key: [] for key in engines}
    for run in engines.values():
        run(2)
    per_round = max(1, min(5, runs // 4))
    while min(len(t) for t in times.values()) < runs:
        for key, run in engines.items():
            time.sleep(settle)
            run(1)
            times[key].extend(run(per_round))
    return {key: statistics.median(values) for key, values in times.items()}


# ---- the job -----------------------------------------------------------------------------------

def _records_of(store: Any, tasks: Sequence[Any]) -> int:
    from tessel import autotune
    if not tasks:
        return 0
    return autotune.count_records(store, [t.workload_key for t in tasks], tasks[0].target)


def run(options: argparse.Namespace) -> int:
    """Runs the main job; returns the exit status (0: the outputs match PyTorch)."""
    from tessel import autotune, runtime
    from tessel.frontend import from_onnx

    started = time.perf_counter()
    trials = options.trials if options.trials is not None else (QUICK_TRIALS if options.quick else DEFAULT_TRIALS)
    budget = options.time_budget if options.time_budget is not None else (
        QUICK_TIME_BUDGET if options.quick else DEFAULT_TIME_BUDGET)
    runs = options.runs if options.runs is not None else (5 if options.quick else 30)
    if trials < 0 or budget < 0 or runs < 1:
        raise TesselError("--trials and --time-budget must be at least 0, --runs at least 1")
    # Opened once (created when missing; a corrupt database is reported now and left untouched).
    store = autotune.open_records(db=options.db)
    db_path = store.path
    out_dir = Path(options.out_dir) if options.out_dir else Path.home() / ".cache" / "tessel" / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = tessel.num_threads()
    title = MODELS.get(options.model, options.model)
    print(f"Tessel {tessel.__version__} main job: {title}, batch 1, 3x224x224, fp32, {threads} thread(s)")
    print(f"tuning database: {db_path}")

    import torch
    _say(f"building {title} (torchvision, random weights, seed 0)", started)
    model, x = build_torch_model(options.model)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy().astype(np.float64)
    onnx_path = str(out_dir / f"{options.model}.onnx")
    export_onnx(model, x, onnx_path)
    _say(f"exported {onnx_path}", started)

    graph, params = from_onnx(onnx_path)
    target = tessel.Target("llvm")
    all_tasks = autotune.extract_tasks(graph, params, target=target)
    tasks = select_tasks(all_tasks, options.quick)
    _say(f"imported; {len(all_tasks)} distinct workloads, tuning the {len(tasks)} that do "
         f"{'the least work (--quick)' if options.quick else 'at least 1% of the work'}", started)

    untuned = tessel.compile(graph, params, target=target, verbose=False)
    untuned_path = str(out_dir / f"{options.model}_untuned.so")
    untuned.export_library(untuned_path)
    _say(f"compiled with default schedules: {untuned_path}", started)

    stored = _records_of(store, tasks)
    if stored >= trials:
        _say(f"the database already holds {stored} trials of these tasks (>= {trials}); nothing to tune", started)
    else:
        # The scheduler gives every task one batch first, in order: tasks that earlier runs did
        # not reach go first, so that running the job again carries on where it stopped.
        counts = {t.workload_key: _records_of(store, [t]) for t in tasks}
        tasks = sorted(tasks, key=lambda t: counts[t.workload_key] > 0)
        _say(f"tuning: up to {trials} trials in all ({stored} already stored), time budget {budget:g} s", started)
        try:
            autotune.tune(tasks, trials=trials, db=store, seed=options.seed,
                          batch_size=QUICK_BATCH_SIZE if options.quick else DEFAULT_BATCH_SIZE,
                          time_budget_seconds=budget, verbose=True)
        except KeyboardInterrupt:
            kept = _records_of(store, tasks) - stored
            print(f"tessel: interrupted; {kept} records kept in {db_path}", file=sys.stderr)
            return 130
        _say(f"tuned: {_records_of(store, tasks) - stored} new record(s)", started)

    tuned_path = str(out_dir / f"{options.model}.so")
    # The rule of every compile: each workload runs its best measured schedule, the default
    # schedule (which tuning measures first) among the candidates.
    tuned = autotune.compile(graph, params, target=target, db=store, verbose=False)
    tuned.export_library(tuned_path)
    _say(f"compiled with the database: {tuned.summary}; wrote {tuned_path}", started)
    if tuned.num_tuned_to_default:
        print(f"  {tuned.num_tuned_to_default} of the tuned workloads keep their default schedule: tuning measured "
              "it, and nothing the search found was faster")

    modules = {"untuned": runtime.load(untuned_path), "tuned": runtime.load(tuned_path)}
    errors = {}
    for key, module in modules.items():
        (out,) = module.run(input=x)
        errors[key] = compare(out, reference, f"Tessel {key}")
        module.set_input("input", x)
    for key, (max_abs, max_rel) in errors.items():
        print(f"  Tessel {key:<7} vs PyTorch: max abs error {max_abs:.2e}, max rel error {max_rel:.2e}  OK")

    torch.set_num_threads(threads)
    frozen = torch.jit.freeze(torch.jit.trace(model, (torch.from_numpy(x),), check_trace=False).eval())
    tx = torch.from_numpy(x)

    def torch_runs(count: int) -> List[float]:
        with torch.no_grad():
            return timed(lambda: frozen(tx), count)

    engines: Dict[str, Callable[[int], List[float]]] = {
        "untuned": lambda count: timed(modules["untuned"].run, count),
        "tuned": lambda count: timed(modules["tuned"].run, count),
        "torch": torch_runs,
    }
    ort_dir, ort_reason = find_onnxruntime_node(options.ort_dir)
    if ort_dir is None and not options.ort_dir and not options.quick and not options.no_ort_install:
        ort_dir, ort_reason = install_onnxruntime_node()
    worker: Optional[OrtWorker] = None
    work = tempfile.mkdtemp(prefix="tessel_demo_")
    try:
        if ort_dir is not None:
            try:
                worker = OrtWorker(ort_dir, onnx_path, x, threads, work)
                engines["ort"] = worker.run
            except (OSError, RuntimeError, ValueError) as error:
                ort_reason = f"the ONNX Runtime worker failed: {error}"
        _say(f"timing {', '.join(engines)}: median of {runs} interleaved runs each", started)
        medians = time_engines(engines, runs)
        if worker is not None:
            ort_out = worker.output().astype(np.float64)
            if ort_out.size == reference.size:
                ort_abs = float(np.max(np.abs(ort_out.reshape(reference.shape) - reference)))
                print(f"  ONNX Runtime   vs PyTorch: max abs error {ort_abs:.2e}, max rel error "
                      f"{ort_abs / max(float(np.max(np.abs(reference))), 1e-30):.2e}")
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(work, ignore_errors=True)
    _print_table(title, threads, medians, ort_reason, tuned.summary)
    _say("done", started)
    return 0


def _print_table(title: str, threads: int, medians: Dict[str, float], ort_reason: str, summary: str) -> None:
    torch_ms, ort_ms = medians["torch"], medians.get("ort")
    rows = [("Tessel, untuned (default schedules)", "untuned"), (f"Tessel, tuned ({summary.split(',')[0]})", "tuned"),
            ("PyTorch 1.13 (frozen TorchScript)", "torch"), ("ONNX Runtime (onnxruntime-node)", "ort")]
    print()
    print(f"{title}, batch 1, {threads} thread(s): latency, median (ratio = latency / peer latency, lower is better)")
    header = f"{'engine':<44} {'ms':>9} {'/ PyTorch':>10} {'/ ORT':>8}"
    print(header)
    print("-" * len(header))
    for label, key in rows:
        value = medians.get(key)
        if value is None:
            print(f"{label:<44} {'n/a':>9} {'n/a':>10} {'n/a':>8}")
            continue
        ratio_ort = f"{value / ort_ms:.2f}" if ort_ms else "n/a"
        print(f"{label:<44} {value:>9.2f} {value / torch_ms:>10.2f} {ratio_ort:>8}")
    print("-" * len(header))
    print(f"tuning speed-up: untuned / tuned = {medians['untuned'] / medians['tuned']:.2f}x")
    if ort_ms is None:
        print(f"ONNX Runtime: n/a ({ort_reason})")
