"""The auto-scheduler: search tasks, tuning into the tuning-record database (or a JSON-lines
records file), the tuning curve, and using the best records when building a single operator
(``Task.apply_best``) or a whole graph (``compile``).

    tasks = autotune.extract_tasks(graph, params, target="llvm")
    autotune.tune(tasks, trials=2000, db="tuning.db")   # progress, resumable, Ctrl-C keeps records
    lib = autotune.compile(graph, params, db="tuning.db")

Without ``records`` or ``db`` the default database is used: ``$TESSEL_DB``, else
``~/.cache/tessel/tuning.db``. A path ending in ``.jsonl``/``.json`` is a JSON-lines file, any other
path an SQLite database.

Targets are :class:`tessel.Target` values or their text, LLVM ("llvm", "llvm -mcpu=...") or CUDA
("cuda", "cuda -arch=sm_80"), parsed once here: CUDA tasks search GPU schedules, their records are
keyed by "cuda -arch=..." and never mix with CPU ones, and tuning them needs an NVIDIA GPU and its
driver (without one ``tune`` raises TesselError before it starts).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from tessel import TesselError
from tessel._fields import native_field
from tessel.compiler import with_params
from tessel.target import Target, TargetLike, canonical_target

__all__ = [
    "Task", "extract_tasks", "tune", "compile", "task_table", "tuning_curve", "plot_tuning_curve",
    "stored_records", "count_records", "canonical_target", "resolve_records_path", "default_database_path", "open_records",
]  # and Database (tessel.database.Database, loaded on first use)


def _native() -> Any:
    from tessel import _native as native_module
    return native_module().autotune


def default_database_path() -> str:
    """``$TESSEL_DB`` if set, else ``~/.cache/tessel/tuning.db`` (the native rule)."""
    return str(_native().default_database_path())


def __getattr__(name: str) -> Any:
    """``autotune.Database`` is ``tessel.database.Database`` (loaded on first use)."""
    if name == "Database":
        from tessel import database
        return database.Database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_jsonl_path(path: str) -> bool:
    """Whether ``path`` names a JSON-lines records file rather than a database (the native rule)."""
    return bool(_native().is_jsonl_path(os.fspath(path)))


def resolve_records_path(records: Any = None, db: Any = None) -> str:
    """The records file or database a call works on: ``db``, else ``records``, else the default
    database (an open record store gives its path)."""
    chosen = db if db is not None else records
    chosen = getattr(chosen, "store", chosen)
    if chosen is None:
        return default_database_path()
    if isinstance(chosen, _native().RecordStore):
        return str(chosen.path)
    return os.fspath(chosen)


def open_records(records: Any = None, db: Any = None, read_only: bool = False) -> Any:
    """The record store a call works on, opened and validated once: ``db``, else ``records``
    (each a path, or a store already open, which is returned as it is), else the default
    database. A path ending in ``.jsonl``/``.json`` is a JSON-lines file, any other a database.
    Pass the store on to every call of one command instead of the path, so that it is not opened
    again."""
    chosen = db if db is not None else records
    chosen = getattr(chosen, "store", chosen)  # a tessel.database.Database hands over its store
    if isinstance(chosen, _native().RecordStore):
        return chosen
    path = resolve_records_path(records, db)
    if Path(path).is_dir():
        raise TesselError(f"{path} is a directory, not a tuning database")
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _native().RecordStore.open(path, read_only)


class Task:
    """A search task: a compute DAG (its outputs and kernel arguments) for one target."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @staticmethod
    def from_compute(outputs: Any, target: TargetLike = "llvm", args: Optional[Sequence[Any]] = None,
                     name: str = "") -> "Task":
        """The task for the DAG ending in ``outputs`` on ``target`` (a :class:`tessel.Target` or
        its text, LLVM or CUDA); ``args`` defaults to its placeholders (producer-first order)
        followed by the outputs."""
        parsed = Target.of(target)
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return Task(_native().SearchTask(outs, list(args or []), parsed.native, name, 1.0))

    workload_key = native_field("workload_key", str, "The workload key (structural hash of the DAG).")
    name = native_field("name", str, "The task's name (its fused group's).")
    target = native_field("target", str, "The canonical text of this task's target: the key of its records.")
    is_cuda = native_field("is_cuda", bool, "Whether this task searches GPU schedules (a CUDA target).")
    weight = native_field("weight", float, "How many kernel calls of the graph run this workload.")
    flop_count = native_field("flop_count", float, "Floating-point operations of one run.")
    args = native_field("args", list, "The kernel's arguments (tensors), in order.")

    @property
    def target_value(self) -> Target:
        """This task's target as a :class:`tessel.Target`."""
        return Target._wrap(self._native.target)

    def best(self, records: Any = None) -> Optional[Tuple[str, float]]:
        """(steps JSON, mean seconds) of the best valid record for this task's workload and
        target in ``records`` (a path of a JSON-lines file or a database, or an open store;
        default: the default database), or None."""
        return self._native.best_steps_json(open_records(records, read_only=True))

    def apply_best(self, records: Any = None) -> Tuple[Any, List[Any]]:
        """The schedule of the best record (replayed onto this task's DAG) and the kernel arguments."""
        store = open_records(records, read_only=True)
        best = self.best(store)
        if best is None:
            raise TesselError(f"no valid tuning record for task {self.name} ({self.workload_key}) in {store.path}")
        return self._native.replay(best[0]), self.args

    def __repr__(self) -> str:
        return f"Task({self.name}, key={self.workload_key[:8]}, weight={self.weight:g})"


def extract_tasks(graph: Any, params: Optional[Mapping[str, Any]] = None, target: TargetLike = "llvm",
                  verbose: bool = False) -> List[Task]:
    """The distinct workloads of ``graph`` as the compiler will build them for ``target`` (the
    same workload partition; for CUDA: the GPU graph pipeline, GPU tasks), weighted by use. With
    ``verbose``, prints them as a table (``task_table``)."""
    parsed = Target.of(target)
    tasks = [Task(t) for t in _native().extract_tasks(with_params(graph, params), parsed.native)]
    if verbose:
        print(task_table(tasks), flush=True)
    return tasks


def stored_records(records: Any, workload_keys: Optional[Sequence[str]] = None,
                   target: Optional[TargetLike] = None) -> List[Dict[str, Any]]:
    """The records in ``records`` (a path of a database or a JSON-lines file, or an open store; a
    missing file has none) in insertion order, as dicts with at least ``workload_key``,
    ``target``, ``steps`` (the schedule, as JSON text) and ``mean_seconds`` (inf for a failed
    measurement), optionally only those of ``workload_keys`` and ``target``."""
    keys = set(workload_keys) if workload_keys is not None else None
    store = open_records(records, read_only=True)
    rows = list(store.records("", canonical_target(target)))
    return [r for r in rows if keys is None or r["workload_key"] in keys]


def count_records(records: Any, workload_keys: Sequence[str], target: TargetLike) -> int:
    """How many records (valid or not) ``records`` (a path or an open store) holds of these
    workloads for ``target``, counted by the store."""
    store = open_records(records, read_only=True)
    key = canonical_target(target)
    return sum(int(store.count(k, key)) for k in set(workload_keys))


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def task_table(tasks: Sequence[Task], records: Any = None) -> str:
    """The tasks as a short table: index, name, weight, GFLOP, workload key, and with ``records``
    the stored measurements and best latency per task (what a resumed run starts from)."""
    stored: Dict[str, List[float]] = {}
    if records is not None and tasks:
        for r in stored_records(records, [t.workload_key for t in tasks], tasks[0].target):
            stored.setdefault(r["workload_key"], []).append(r["mean_seconds"])
    header = f"{'#':>3}  {'task':<28} {'weight':>6} {'MFLOP':>9}  {'workload':<12}"
    if records is not None:
        header += f" {'stored':>7} {'best':>11}"
    lines = [f"{len(tasks)} task(s) for {tasks[0].target if tasks else '-'}:", header, "-" * len(header)]
    for i, t in enumerate(tasks):
        line = f"{i:>3}  {t.name[:28]:<28} {t.weight:>6g} {t.flop_count * 1e-6:>9.1f}  {t.workload_key[:12]:<12}"
        if records is not None:
            costs = stored.get(t.workload_key, [])
            line += f" {len(costs):>7} {_format_seconds(min(costs, default=math.inf)):>11}"
        lines.append(line)
    return "\n".join(lines)


def tune(tasks: Union[Task, Sequence[Task]], trials: int = 200, records: Any = None,
         db: Any = None, seed: int = 0, cost_model: str = "xgboost", batch_size: int = 16,
         verbose: bool = True, repeat: int = 3, min_repeat_seconds: float = 0.02,
         run_timeout_seconds: float = 10.0, check_correctness: bool = True,
         time_budget_seconds: float = 0.0, confirm_top: int = 3,
         build_timeout_seconds: float = 4.0) -> List[float]:
    """Tunes ``tasks`` with a total budget of ``trials`` measurements into ``db`` (or ``records``:
    a path or an open store, see :func:`open_records`; default: the default database). Records already stored count, so running again resumes.
    ``time_budget_seconds`` > 0 starts no new batch after that long. A candidate whose compilation
    takes longer than ``build_timeout_seconds``, or whose run takes longer than
    ``run_timeout_seconds``, is recorded as a timeout and costs that one trial. After the search, each task's
    best ``confirm_top`` schedules are measured again side by side and stored again (the newer
    records of a schedule supersede its older ones), so one lucky timing does not make the best
    record; 0 skips this. With ``verbose``, prints the
    task table and progress (a bar on a terminal, plain lines otherwise). Returns the best mean
    seconds per task (inf where nothing valid was found). Ctrl-C stops tuning and raises
    KeyboardInterrupt; every record measured before it is kept. CUDA tasks need an NVIDIA GPU and
    its driver: without one this raises TesselError before anything is printed or stored."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    tasks = list(tasks)
    if not tasks:
        raise TesselError("tune: no tasks")
    if trials < 0:
        raise TesselError(f"tune: trials must be at least 0, got {trials}")
    if time_budget_seconds < 0:
        raise TesselError(f"tune: time_budget_seconds must be at least 0, got {time_budget_seconds}")
    if confirm_top < 0:
        raise TesselError(f"tune: confirm_top must be at least 0, got {confirm_top}")
    if build_timeout_seconds <= 0:
        raise TesselError(f"tune: build_timeout_seconds must be positive, got {build_timeout_seconds}")
    if any(t.is_cuda for t in tasks):
        _native().check_measurable([t._native for t in tasks])
    store = open_records(records, db)
    if verbose:
        print(task_table(tasks, store), flush=True)
    return _native().tune([t._native for t in tasks], int(trials), store, int(seed), cost_model, int(batch_size),
                          bool(verbose), int(repeat), float(min_repeat_seconds), float(run_timeout_seconds),
                          bool(check_correctness), float(time_budget_seconds), int(confirm_top),
                          float(build_timeout_seconds))


def tuning_curve(tasks: Sequence[Task], records: Any = None) -> Dict[str, Any]:
    """How tuning progressed, from the stored records of ``tasks`` (their workloads, their target)
    in insertion order. Returns ``trials`` (1..n); ``per_task`` (each task's best mean seconds so
    far after each trial, inf until it has a valid record; a schedule counts with its latest
    timing, so the value can rise where tuning re-measured its best schedules); ``estimate`` (sum over the tasks of
    weight x best so far: the estimated model latency, nan until every task has a valid record);
    ``partial`` (the same sum over the tasks that have one) and ``covered`` (how many do)."""
    tasks = list(tasks)
    index = {t.workload_key: i for i, t in enumerate(tasks)}
    rows = stored_records(open_records(records, read_only=True), list(index), tasks[0].target if tasks else None)
    best = [math.inf] * len(tasks)
    per_task: List[List[float]] = [[] for _ in tasks]
    estimate: List[float] = []
    partial: List[float] = []
    covered: List[int] = []
    # Each schedule's latest timing counts (a re-measurement supersedes the earlier ones, as in
    # the database's best), so a task's curve can rise where tuning confirmed its best schedules.
    current: List[Dict[str, float]] = [{} for _ in tasks]
    for row in rows:
        i = index[row["workload_key"]]
        schedule, cost = str(row["steps"]), float(row["mean_seconds"])
        superseded = schedule in current[i]
        current[i][schedule] = cost
        best[i] = min(current[i].values()) if superseded else min(best[i], cost)
        for j in range(len(tasks)):
            per_task[j].append(best[j])
        finite = [t.weight * b for t, b in zip(tasks, best) if math.isfinite(b)]
        covered.append(len(finite))
        partial.append(sum(finite) if finite else math.nan)
        estimate.append(partial[-1] if len(finite) == len(tasks) else math.nan)
    return {"trials": list(range(1, len(rows) + 1)), "per_task": per_task, "estimate": estimate,
            "partial": partial, "covered": covered,
            "names": [f"{i}: {t.name}" for i, t in enumerate(tasks)], "weights": [t.weight for t in tasks]}


def plot_tuning_curve(tasks: Sequence[Task], path: Union[str, os.PathLike], records: Any = None,
                      title: str = "Tessel tuning curve") -> Dict[str, Any]:
    """Draws ``tuning_curve`` as a PNG at ``path`` (matplotlib, Agg backend): the estimated model
    latency against trials on top (dashed while only some tasks have a valid record: their sum),
    each task's best latency so far below. Returns the curve."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise TesselError(f"plotting needs matplotlib ({error}); install python3-matplotlib") from None
    curve = tuning_curve(tasks, records)
    trials = curve["trials"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    top.plot(trials, [e * 1e3 for e in curve["estimate"]], color="tab:blue", linewidth=2, drawstyle="steps-post",
             label=f"all {len(curve['names'])} tasks")
    partial = [(x, p * 1e3) for x, p, c in zip(trials, curve["partial"], curve["covered"]) if c < len(curve["names"])]
    if partial:
        xs, ys = zip(*partial)
        top.plot(xs, ys, color="tab:gray", linestyle="--", linewidth=1, drawstyle="steps-post",
                 label=f"tasks with a valid record so far (at the end: {curve['covered'][-1]})")
    top.set_ylabel("estimated model latency (ms)\nsum of weight x best task latency")
    top.set_title(title)
    top.grid(True, alpha=0.3)
    if trials:
        top.legend(fontsize=8, loc="upper right")
    for name, values in zip(curve["names"], curve["per_task"]):
        finite = [(x, v * 1e3) for x, v in zip(trials, values) if math.isfinite(v)]
        if finite:
            xs, ys = zip(*finite)
            bottom.step(xs, ys, where="post", label=name, linewidth=1)
    bottom.set_yscale("log")
    bottom.set_xlabel("trials (measurements stored, in order)")
    bottom.set_ylabel("best task latency so far (ms)")
    bottom.grid(True, which="both", alpha=0.3)
    if len(curve["names"]) <= 24 and any(math.isfinite(v[-1]) for v in curve["per_task"] if v):
        bottom.legend(fontsize=6, ncol=2, loc="upper right")
    figure.tight_layout()
    figure.savefig(os.fspath(path), dpi=100)
    plt.close(figure)
    return curve


def compile(graph: Any, params: Optional[Mapping[str, Any]] = None, target: TargetLike = "llvm",  # noqa: A001
            records: Any = None, db: Any = None, name: str = "tessel_module",
            verbose: bool = True) -> Any:
    """``tessel.compile`` with the best tuning records of ``db`` (or ``records``; default: the
    default database) for ``target`` (LLVM or CUDA) applied; every other workload uses its default
    schedule.
    With ``verbose``, prints "N of M workloads tuned, K used default schedules"."""
    from tessel.compiler import CompiledModule
    parsed = Target.of(target)
    store = open_records(records, db, read_only=True)
    return CompiledModule(_native().compile_with_records(with_params(graph, params), store, parsed.native, name,
                                                         verbose))
