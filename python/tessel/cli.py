"""The ``tessel`` command line (like ``tvmc``): ``tune``, ``compile`` and ``run`` a model, inspect
and share the tuning database (``db list|best|export|import``), ``demo`` (the main job: tune,
compile and benchmark a built-in model; ``demo matmul`` is the loop-IR matmul demo program),
``info`` and ``config``. User errors print one line on stderr and exit non-zero; set
``TESSEL_DEBUG=1`` to see the Python traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, NoReturn, Optional, Sequence

import tessel
from tessel import TesselError

PROG = "tessel"

# python/tessel/cli.py -> repository root
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class _CommandError(TesselError):
    """A user error with its own exit status (2: something the command needs is missing)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see `{PROG} --help`)\n")


def demo_path() -> Path:
    """Where the loop-IR matmul demo executable is built: ``<repo>/build/bin/tessel_demo``."""
    return REPO_ROOT / "build" / "bin" / "tessel_demo"


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def _database_path(path: Optional[str]) -> str:
    from tessel import autotune
    return autotune.resolve_records_path(db=path)


def _open_database(path: Optional[str], must_exist: bool = True) -> Any:
    """The tuning database at ``path`` (default: the default database), opened read-only."""
    from tessel.database import Database
    resolved = _database_path(path)
    if must_exist and not Path(resolved).exists():
        raise TesselError(f"no tuning database at {resolved} (`{PROG} tune MODEL.onnx --db {resolved}` creates it)")
    if Path(resolved).is_dir():
        raise TesselError(f"{resolved} is a directory, not a tuning database")
    return Database(resolved, read_only=True)


# ---- info, config, the matmul demo ---------------------------------------------------------------

def _command_info(args: argparse.Namespace) -> int:
    host = tessel.host_target()
    target = tessel.Target.host()
    features = sorted(host.get("features", []))
    l1, l2, l3 = target.cache_bytes
    print(f"tessel {tessel.__version__}")
    print(f"target:      {target}")
    print(f"triple:      {target.triple}")
    print(f"cpu:         {target.cpu}")
    print(f"vector bits: {target.vector_bits} ({target.vector_registers} vector registers)")
    print(f"caches:      L1d {l1 // 1024} KiB, L2 {l2 // 1024} KiB, L3 {l3 // (1024 * 1024)} MiB")
    print(f"features:    {' '.join(features) if features else '(none)'}")
    print(f"threads:     {tessel.num_threads()}")
    return 0


def _run_matmul_demo(extra: List[str]) -> int:
    program = demo_path()
    if not program.is_file() or not os.access(program, os.X_OK):
        raise _CommandError(
            f"demo program not found at {program}; build it with `bash scripts/setup.sh`", 2
        )
    if extra and extra[0] == "--":
        extra = extra[1:]
    completed = subprocess.run([str(program), *extra], check=False)
    if completed.returncode < 0:
        raise TesselError(f"demo program killed by signal {-completed.returncode}")
    return completed.returncode


def _command_demo(args: argparse.Namespace) -> int:
    arguments: List[str] = list(args.demo_args)
    if arguments and arguments[0] == "matmul":
        return _run_matmul_demo(arguments[1:])
    from tessel import main_job
    options = main_job.build_parser(_ArgumentParser).parse_args(arguments)
    return main_job.run(options)


def _command_config(args: argparse.Namespace) -> int:
    from tessel import runtime

    library = Path(runtime.library_path())
    if not library.is_file():
        raise _CommandError(
            f"the runtime library libtessel_runtime.so is not built (looked in {library}); "
            "build it with `bash scripts/setup.sh` or set TESSEL_RUNTIME_LIBRARY", 2
        )
    library_dir = library.resolve().parent
    flags: List[str] = []
    if args.cflags:
        flags.append(f"-I{REPO_ROOT / 'include'}")
    if args.libs:
        flags += [f"-L{library_dir}", "-ltessel_runtime", f"-Wl,-rpath,{library_dir}"]
    if not flags:
        raise _CommandError("say what to print: --cflags and/or --libs", 2)
    print(" ".join(flags))
    return 0


# ---- run, compile, tune ----------------------------------------------------------------------

def _command_run(args: argparse.Namespace) -> int:
    import numpy as np

    from tessel import runtime

    if args.repeat < 1:
        raise TesselError(f"--repeat must be at least 1, got {args.repeat}")
    module = runtime.load(args.library)
    inputs = {}
    if args.inputs:
        with np.load(args.inputs) as data:
            inputs = {name: data[name] for name in data.files}
    missing = [name for name in module.input_names if name not in inputs]
    if missing:
        raise TesselError(
            f"no value for input(s) {', '.join(missing)}"
            + ("" if args.inputs else "; pass them with --inputs in.npz")
        )
    unknown = [name for name in inputs if name not in module.input_names]
    if unknown:
        raise TesselError(
            f"{args.inputs} has array(s) {', '.join(unknown)}, but the module's inputs are "
            f"{', '.join(module.input_names)}"
        )
    outputs = module.run(**inputs)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        module.run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    half = len(times) // 2
    median = times[half] if len(times) % 2 else 0.5 * (times[half - 1] + times[half])
    print(f"latency: median {median:.3f} ms, min {times[0]:.3f} ms, max {times[-1]:.3f} ms over {args.repeat} runs")
    if args.outputs:
        np.savez(args.outputs, **dict(zip(module.output_names, outputs or [])))
        print(f"wrote {len(module.output_names)} output(s) to {args.outputs}")
    return 0


def _load_model(path: str) -> Any:
    from tessel.frontend import from_onnx  # the ONNX frontend is imported only when needed

    if not Path(path).is_file():
        raise TesselError(f"cannot read ONNX model '{path}': no such file")
    return from_onnx(path)


def _command_compile(args: argparse.Namespace) -> int:
    from tessel import autotune

    target = tessel.Target(args.target)  # parsed once; a bad target is reported before the model is read
    # Opened once, before the model is read: a corrupt database is reported first.
    store = None if args.no_db else autotune.open_records(db=_database_path(args.db), read_only=True)
    graph, params = _load_model(args.model)
    if store is None:
        module = tessel.compile(graph, params, target=target, verbose=False)
    else:
        module = autotune.compile(graph, params, target=target, db=store, verbose=False)
    module.export_library(args.output)
    source = "default schedules only (--no-db)" if store is None else f"records: {store.path}"
    print(f"{module.summary} ({source})")
    print(f"wrote {args.output}: {module.num_kernel_calls} kernel calls, {module.num_kernels} distinct kernels")
    return 0


def _check_plot_available() -> None:
    try:
        import matplotlib  # noqa: F401  (only whether it imports)
    except ImportError as error:
        raise _CommandError(f"--plot needs matplotlib ({error}); install python3-matplotlib", 2) from None


def _command_tune(args: argparse.Namespace) -> int:
    from tessel import autotune

    if args.trials < 1:
        raise TesselError(f"--trials must be at least 1, got {args.trials}")
    if args.time_budget is not None and args.time_budget <= 0:
        raise TesselError(f"--time-budget must be a positive number of seconds, got {args.time_budget:g}")
    if args.batch_size < 1:
        raise TesselError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.plot:
        _check_plot_available()
    target = tessel.Target(args.target)
    # The record store is opened and validated once (a corrupt one is reported now and left
    # untouched), then handed to everything below.
    store = autotune.open_records(db=_database_path(args.db))
    db_path = store.path
    graph, params = _load_model(args.model)
    tasks = autotune.extract_tasks(graph, params, target=target)
    keys = [t.workload_key for t in tasks]
    before = autotune.count_records(store, keys, target)
    print(f"tuning {args.model} for {target}")
    print(f"database: {db_path} ({before} record(s) of these tasks already stored; they count toward --trials)",
          flush=True)
    start = time.perf_counter()
    try:
        autotune.tune(tasks, trials=args.trials, db=store, seed=args.seed, batch_size=args.batch_size,
                      time_budget_seconds=args.time_budget or 0.0, verbose=True)
    except KeyboardInterrupt:
        kept = autotune.count_records(store, keys, target) - before
        print(f"{PROG}: interrupted; {kept} records kept in {db_path}", file=sys.stderr)
        return 130
    after = autotune.count_records(store, keys, target)
    print(f"{after - before} new record(s) in {time.perf_counter() - start:.1f} s; {after} stored for this model's "
          f"tasks in {db_path}")
    if args.plot:
        curve = autotune.plot_tuning_curve(tasks, args.plot, records=store,
                                           title=f"Tessel tuning curve: {Path(args.model).name}")
        print(f"wrote the tuning curve ({len(curve['trials'])} trials) to {args.plot}")
    print(f"next: {PROG} compile {args.model} -o {Path(args.model).stem}.so --db {db_path}")
    return 0


# ---- db list | best | export | import ----------------------------------------------------------

def _short_key(key: str) -> str:
    return key[:16]


def _command_db_list(args: argparse.Namespace) -> int:
    database = _open_database(args.db)
    workloads = database.workloads()
    print(f"{database.path}: {len(workloads)} workload(s), {database.count()} record(s)")
    if not workloads:
        return 0
    targets: List[str] = []
    for w in workloads:
        for t in w["targets"]:
            if t not in targets:
                targets.append(t)
    header = f"{'workload':<16}  {'task':<30} {'records':>8} {'valid':>6} {'best':>11}  targets"
    print(header)
    print("-" * len(header))
    for w in workloads:
        used = ",".join(f"[{targets.index(t)}]" for t in w["targets"]) or "-"
        print(f"{_short_key(w['workload_key']):<16}  {w['task_name'][:30]:<30} {w['records']:>8} {w['valid']:>6} "
              f"{_format_seconds(w['best_seconds']):>11}  {used}")
    for i, t in enumerate(targets):
        print(f"[{i}] {t}")
    return 0


def _command_db_best(args: argparse.Namespace) -> int:
    target = str(tessel.Target(args.target))
    database = _open_database(args.db)
    best = database.best_records(target)
    print(f"{database.path}: best records for {target}: {len(best)} workload(s)")
    if not best:
        return 0
    header = f"{'workload':<16}  {'task':<30} {'best':>11} {'records':>8} {'steps':>6}  measured"
    print(header)
    print("-" * len(header))
    for r in best:
        steps = json.loads(r["steps"]).get("steps", []) if r["steps"] else []
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["timestamp"])) if r["timestamp"] else "-"
        print(f"{_short_key(r['workload_key']):<16}  {r['task_name'][:30]:<30} {_format_seconds(r['mean_seconds']):>11} "
              f"{database.count(r['workload_key'], target):>8} {len(steps):>6}  {when}")
    return 0


def _command_db_export(args: argparse.Namespace) -> int:
    target = str(tessel.Target(args.target)) if args.target else None
    database = _open_database(args.db)
    written = database.export_jsonl(args.file, workload_key=args.workload, target=target)
    print(f"exported {written} record(s) from {database.path} to {args.file}")
    return 0


def _command_db_import(args: argparse.Namespace) -> int:
    from tessel.database import Database

    if not Path(args.file).is_file():
        raise TesselError(f"cannot import '{args.file}': no such file")
    path = _database_path(args.db)
    stats = Database(path).import_jsonl(args.file)
    print(f"imported {stats['imported']} record(s) from {args.file} into {path} "
          f"({stats['duplicates']} already stored)")
    if stats["corrupt"]:
        print(f"{PROG}: warning: skipped {stats['corrupt']} corrupt line(s) in {args.file}", file=sys.stderr)
    return 0


# ---- the parser ------------------------------------------------------------------------------

def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="the tuning database (default: $TESSEL_DB, else ~/.cache/tessel/tuning.db)")


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser for the ``tessel`` command."""
    parser = _ArgumentParser(
        prog=PROG,
        description="Tessel: a TVM-style deep-learning compiler.",
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {tessel.__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)

    info = commands.add_parser("info", help="show the host target and the thread pool size")
    info.set_defaults(handler=_command_info)

    demo = commands.add_parser(
        "demo",
        help="tune, compile and benchmark a built-in model (`demo --help`); `demo matmul` runs the loop-IR demo",
        prefix_chars="\0",  # every argument goes to the main job's parser or the matmul program
        add_help=False,
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help="arguments (see `tessel demo --help`)")
    demo.set_defaults(handler=_command_demo)

    config = commands.add_parser(
        "config", help="print compiler flags that build a C/C++ program against the runtime"
    )
    config.add_argument("--cflags", action="store_true", help="include flags")
    config.add_argument("--libs", action="store_true", help="linker flags (with an rpath)")
    config.set_defaults(handler=_command_config)

    tune = commands.add_parser("tune", help="tune an ONNX model's workloads into the tuning database")
    tune.add_argument("model", help="the ONNX model (.onnx)")
    _add_db_option(tune)
    tune.add_argument("--trials", type=int, default=200,
                      help="measurements over all tasks, those already in the database included (default 200)")
    tune.add_argument("--target", default="llvm", help="LLVM target string (default: llvm, the host)")
    tune.add_argument("--time-budget", type=float, metavar="SECONDS",
                      help="start no new batch of measurements after this many seconds")
    tune.add_argument("--seed", type=int, default=0, help="random seed of the search (default 0)")
    tune.add_argument("--batch-size", type=int, default=16, help="candidates measured per round (default 16)")
    tune.add_argument("--plot", metavar="CURVE.png", help="draw the tuning curve into this PNG file")
    tune.set_defaults(handler=_command_tune)

    compile_ = commands.add_parser("compile", help="compile an ONNX model into a deployable module library")
    compile_.add_argument("model", help="the ONNX model (.onnx)")
    compile_.add_argument("-o", "--output", required=True, help="the module library to write (.so)")
    compile_.add_argument("--target", default="llvm", help="LLVM target string (default: llvm, the host)")
    _add_db_option(compile_)
    compile_.add_argument("--no-db", action="store_true", help="use default schedules only, no tuning records")
    compile_.set_defaults(handler=_command_compile)

    run = commands.add_parser("run", help="run an exported module library and print its latency")
    run.add_argument("library", help="the exported module (.so)")
    run.add_argument("--inputs", help=".npz file with one array per input name")
    run.add_argument("--outputs", help="write the outputs to this .npz file")
    run.add_argument("--repeat", type=int, default=10, help="timed runs (default 10)")
    run.set_defaults(handler=_command_run)

    db = commands.add_parser("db", help="inspect and share the tuning database (list, best, export, import)")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_ArgumentParser)
    db_list = db_commands.add_parser("list", help="workloads with record counts, best latency and targets")
    _add_db_option(db_list)
    db_list.set_defaults(handler=_command_db_list)
    db_best = db_commands.add_parser("best", help="the best record of every workload for a target")
    _add_db_option(db_best)
    db_best.add_argument("--target", default="llvm", help="target (default: llvm, the host)")
    db_best.set_defaults(handler=_command_db_best)
    db_export = db_commands.add_parser("export", help="write records as JSON lines")
    db_export.add_argument("file", help="the JSON-lines file to write")
    _add_db_option(db_export)
    db_export.add_argument("--workload", help="only this workload key")
    db_export.add_argument("--target", help="only records of this target")
    db_export.set_defaults(handler=_command_db_export)
    db_import = db_commands.add_parser("import", help="add the records of a JSON-lines file")
    db_import.add_argument("file", help="the JSON-lines file to read")
    _add_db_option(db_import)
    db_import.set_defaults(handler=_command_db_import)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line and returns the process exit status.

    User errors (``TesselError``/``ValueError``, missing files) become one line on stderr and
    status 1 (2 for usage errors and a missing build artefact); Ctrl-C is status 130; an
    unexpected exception is reported as an internal error, with the traceback only when
    ``TESSEL_DEBUG`` is set.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("missing COMMAND (one of: tune, compile, run, db, demo, info, config)")
    if args.command == "db" and getattr(args, "db_command", None) is None:
        parser.error("missing ACTION after `db` (one of: list, best, export, import)")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (TesselError, ValueError, OSError) as error:
        if os.environ.get("TESSEL_DEBUG"):
            raise
        message = str(error).strip().splitlines()
        print(f"{PROG}: error: {message[0] if message else type(error).__name__}", file=sys.stderr)
        return error.status if isinstance(error, _CommandError) else 1
    except Exception as error:  # an internal error: say so, still in one line
        if os.environ.get("TESSEL_DEBUG"):
            raise
        first_line = (str(error).strip().splitlines() or [""])[0]
        print(
            f"{PROG}: internal error: {type(error).__name__}: {first_line} "
            "(this is a bug; run with TESSEL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
