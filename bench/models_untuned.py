#!/usr/bin/env python3
"""End-to-end latency of whole models: Tessel (default schedules, or with --db a tuning database,
optionally tuned first for --tune-seconds) vs PyTorch vs ONNX Runtime.

For ResNet-18, ResNet-50, MobileNetV2 (torchvision, random weights, fixed seed) and a BERT-like
torch.nn.TransformerEncoder, exports ONNX (opset 13), imports it with tessel.frontend.from_onnx,
compiles with default schedules, checks the output against PyTorch and times
  - Tessel:       the exported library through tessel.runtime, TESSEL_NUM_THREADS threads;
  - PyTorch:      torch.jit.freeze'd TorchScript (traced), torch.set_num_threads(threads);
  - ONNX Runtime: the CPU build shipped in the onnxruntime-node package, driven by a node.js
                  script timing session.run with intra-op threads = threads.
Each figure is the median of --runs runs after --warmup runs; the engines' runs are interleaved
in short rounds so that all see the same machine load, with a pause (--settle seconds) and one
untimed run at every switch, because ONNX Runtime's and PyTorch's worker threads keep spinning
for a while after a run and would otherwise be timed against the next engine. Prints a table and
the ratios.

    python3 bench/models_untuned.py [--models resnet18,resnet50,mobilenet_v2,bert]
                                    [--layers 12] [--threads 2] [--runs 20] [--ort-dir DIR]

ONNX Runtime: --ort-dir (or TESSEL_ORT_DIR, else where `tessel demo` looks) names a folder holding node_modules/onnxruntime-node,
e.g. one made with `npm install --ignore-scripts onnxruntime-node`. Without it, ONNX Runtime
is reported unavailable and the PyTorch ratio stays.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,bert")
    p.add_argument("--layers", type=int, default=12, help="encoder layers of the BERT-like model")
    p.add_argument("--seq", type=int, default=128, help="sequence length of the BERT-like model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--settle", type=float, default=0.2,
                   help="seconds to pause at every switch between engines (lets spinning threads park)")
    p.add_argument("--ort-dir", default=os.environ.get("TESSEL_ORT_DIR", ""))
    p.add_argument("--db", help="compile Tessel from this tuning database (tuned figures) instead of default schedules")
    p.add_argument("--tune-seconds", type=float, default=0.0,
                   help="with --db: first tune the model's tasks into it for this many seconds")
    return p.parse_args()


ARGS = parse_args()
# The compiler sizes its parallel loops and the runtime its pool from this; set before import.
os.environ["TESSEL_NUM_THREADS"] = str(ARGS.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import torch  # noqa: E402

import tessel  # noqa: E402
import tessel.runtime  # noqa: E402
from tessel.frontend import from_onnx  # noqa: E402
from tessel.main_job import OrtWorker, find_onnxruntime_node, time_engines, timed  # noqa: E402


def build_model(name: str) -> Tuple[torch.nn.Module, np.ndarray]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if name == "bert":
        layer = torch.nn.TransformerEncoderLayer(d_model=768, nhead=12, dim_feedforward=3072, dropout=0.1,
                                                 activation="gelu", batch_first=True)
        model = torch.nn.TransformerEncoder(layer, num_layers=ARGS.layers, enable_nested_tensor=False)
        x = rng.standard_normal((1, ARGS.seq, 768)).astype(np.float32)
    else:
        import torchvision
        model = getattr(torchvision.models, name)(weights=None)
        x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    return model.eval(), x


# A persistent ONNX Runtime worker: "run K" on stdin answers one JSON line with K timings (ms);
# "out" writes the first output next to the input file. Rounds of each engine are interleaved so
# that all three see the same load on a shared machine.
def bench_model(name: str, work: str, ort_reason: Optional[str]) -> Dict[str, object]:
    row: Dict[str, object] = {"model": name if name != "bert" else f"bert-like ({ARGS.layers} layers)"}
    model, x = build_model(name)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    onnx_path = os.path.join(work, f"{name}.onnx")
    # Export and trace with autograd on: under no_grad the encoder layers take PyTorch's fused
    # inference path (aten::_transformer_encoder_layer_fwd), which has no ONNX export.
    torch.onnx.export(model, (torch.from_numpy(x),), onnx_path, opset_version=13, input_names=["input"],
                      output_names=["output"])
    # PyTorch: frozen TorchScript.
    torch.set_num_threads(ARGS.threads)
    frozen = torch.jit.freeze(torch.jit.trace(model, (torch.from_numpy(x),), check_trace=False).eval())
    tx = torch.from_numpy(x)
    engines: Dict[str, Callable[[int], List[float]]] = {}

    def torch_runs(count: int) -> List[float]:
        with torch.no_grad():
            return timed(lambda: frozen(tx), count)

    engines["torch"] = torch_runs
    # ONNX Runtime.
    ort: Optional[OrtWorker] = None
    if ort_reason is None:
        try:
            ort = OrtWorker(ARGS.ort_dir, onnx_path, x, ARGS.threads, work)
            engines["ort"] = ort.run
        except Exception as e:  # noqa: BLE001 - reported, the other columns stay
            row["ort_note"] = f"ONNX Runtime: unavailable ({e})"
    try:
        # Tessel.
        try:
            graph, params = from_onnx(onnx_path)
        except tessel.TesselError as e:
            row["unsupported"] = str(e).splitlines()[0]
            graph = None
        if graph is not None:
            if ARGS.db and ARGS.tune_seconds > 0:
                from tessel import autotune
                tasks = autotune.extract_tasks(graph, params, target="llvm")
                autotune.tune(tasks, trials=1_000_000, db=ARGS.db, time_budget_seconds=ARGS.tune_seconds)
            start = time.perf_counter()
            lib = tessel.compile(graph, params, target="llvm", verbose=False, db=ARGS.db)
            row["compile_s"] = time.perf_counter() - start
            row["summary"] = lib.summary
            row["kernels"] = lib.num_kernel_calls
            lib_path = os.path.join(work, f"{name}.so")
            lib.export_library(lib_path)
            module = tessel.runtime.load(lib_path)
            input_name = module.inputs[0][0]
            (out,) = module.run(**{input_name: x})
            row["err"] = float(np.linalg.norm(np.asarray(out) - reference) / np.linalg.norm(reference))
            module.set_input(input_name, x)
            engines["tessel"] = lambda count: timed(lambda: module.run(), count)
        for key, run in engines.items():
            run(ARGS.warmup)
        for key, median in time_engines(engines, ARGS.runs, settle=ARGS.settle).items():
            row[f"{key}_ms"] = median
        if ort is not None:
            ort_out = ort.output()
            row["ort_err"] = float(np.linalg.norm(ort_out - reference.ravel()) / np.linalg.norm(reference))
    finally:
        if ort is not None:
            ort.close()
    return row


def fmt(value: object, spec: str = ".2f") -> str:
    return format(value, spec) if isinstance(value, float) else "-"


def main() -> None:
    ort_dir, why = find_onnxruntime_node(ARGS.ort_dir)
    ort_reason = None if ort_dir is not None else why
    ARGS.ort_dir = ort_dir or ""
    print(f"threads: {ARGS.threads}, median of {ARGS.runs} interleaved runs after {ARGS.warmup} warm-up runs, "
          f"Tessel default schedules (untuned)")
    if ort_reason is not None:
        print(f"ONNX Runtime: unavailable ({ort_reason})")
    rows: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory() as work:
        for name in [m.strip() for m in ARGS.models.split(",") if m.strip()]:
            try:
                row = bench_model(name, work, ort_reason)
            except Exception as e:  # noqa: BLE001 - one model failing does not hide the others
                row = {"model": name, "unsupported": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            rows.append(row)
            if "unsupported" in row:
                print(f"{row['model']}: unsupported: {row['unsupported']}")
            else:
                print(f"{row['model']}: {row['kernels']} kernel calls, compiled in {row['compile_s']:.1f} s, "
                      f"rel. error vs PyTorch {row['err']:.2e}"
                      + (f" (ONNX Runtime {row['ort_err']:.2e})" if "ort_err" in row else "")
                      + (f"; {row['summary']}" if ARGS.db else ""))
            if "ort_note" in row:
                print(f"{row['model']}: {row['ort_note']}")
            sys.stdout.flush()
    print()
    header = f"{'model':<26} {'Tessel ms':>10} {'PyTorch ms':>11} {'ORT ms':>9} {'Tessel/PyTorch':>15} {'Tessel/ORT':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        t, p, o = row.get("tessel_ms"), row.get("torch_ms"), row.get("ort_ms")
        ratio_p = t / p if isinstance(t, float) and isinstance(p, float) else None
        ratio_o = t / o if isinstance(t, float) and isinstance(o, float) else None
        print(f"{row['model']:<26} {fmt(t):>10} {fmt(p):>11} {fmt(o):>9} {fmt(ratio_p):>15} {fmt(ratio_o):>11}"
              + ("   (unsupported)" if "unsupported" in row else ""))


if __name__ == "__main__":
    main()
