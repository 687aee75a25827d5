"""How long compiling a model from a tuned database takes (the target: ResNet-50 in <= 20 s).

Builds the model (torchvision, random weights), exports it to ONNX, extracts its tasks and writes
a database holding one record per task: a schedule the search samples for it (not the default
schedule, so that every workload replays a tuned step list, as after a real tuning run). Then it
times `tessel compile`'s work from that database (compile, then export_library, which runs LLVM),
`--runs` times in this process, and prints the medians. The model, database and ONNX file are written to --work (default: a temporary folder).

    python3 bench/compile_from_database.py --model resnet50 --runs 3

Run it under two builds (PYTHONPATH pointing at each checkout's python/ folder) to compare them;
it uses only API that both old and new releases have.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
os.environ.setdefault("TESSEL_NUM_THREADS", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50", help="torchvision model name (default resnet50)")
    parser.add_argument("--runs", type=int, default=3, help="timed compiles (default 3)")
    parser.add_argument("--work", help="folder for the ONNX file and the database")
    args = parser.parse_args()

    import tessel
    from tessel import autotune, main_job
    from tessel.database import Database

    work = args.work or tempfile.mkdtemp(prefix="tessel_compile_bench_")
    onnx_path = os.path.join(work, f"{args.model}.onnx")
    if not os.path.exists(onnx_path):
        import torch
        import torchvision
        torch.manual_seed(0)
        model = getattr(torchvision.models, args.model)().eval()
        main_job.export_onnx(model, torch.randn(1, 3, 224, 224).numpy(), onnx_path)
    graph, params = tessel.frontend.from_onnx(onnx_path)
    tasks = autotune.extract_tasks(graph, params, target="llvm")
    db_path = os.path.join(work, f"{args.model}.db")
    if not os.path.exists(db_path):
        records = []
        for i, task in enumerate(tasks):
            candidates = tessel._tessel.autotune.sample_candidates(task._native, 2, 7)
            records.append({"workload_key": task.workload_key, "task_name": task.name, "target": task.target,
                            "steps": candidates[-1], "costs": [1e-3], "error": 0, "timestamp": time.time(),
                            "hardware": {"num_cores": 2, "vector_bits": 512}})
        Database(db_path).add_records(records)

    compile_seconds, total_seconds = [], []
    summary = ""
    for run in range(args.runs):
        start = time.perf_counter()
        module = autotune.compile(graph, params, target="llvm", db=db_path, verbose=False)
        compile_seconds.append(time.perf_counter() - start)
        module.export_library(os.path.join(work, f"{args.model}_{run}.so"))  # LLVM code generation
        total_seconds.append(time.perf_counter() - start)
        summary = module.summary
    print(f"{args.model}: {len(tasks)} tasks; {summary}")
    for label, seconds in (("schedule + lower (compile)", compile_seconds),
                           ("compile + export_library (LLVM)", total_seconds)):
        print(f"{label:<32} median {statistics.median(seconds):6.2f} s over {args.runs} runs "
              f"({', '.join(f'{s:.2f}' for s in seconds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
