"""The auto-scheduler: search tasks, tuning into a JSON-lines records file, and using the best
records when building a single operator (``Task.apply_best``) or a whole graph (``compile``).

    task = autotune.Task.from_compute(C, target="llvm")
    autotune.tune([task], trials=200, records="tuning.jsonl", seed=0)
    s, args = task.apply_best("tuning.jsonl")
    f = tessel.build(s, args)
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from tessel import TesselError


def _native() -> Any:
    from tessel import _tessel
    if not hasattr(_tessel, "autotune"):
        raise TesselError("this build of tessel has no auto-scheduler (tessel_autotune was not built)")
    return _tessel.autotune


class Task:
    """A search task: a compute DAG (its outputs and kernel arguments) for one target."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @staticmethod
    def from_compute(outputs: Any, target: str = "llvm", args: Optional[Sequence[Any]] = None,
                     name: str = "") -> "Task":
        """The task for the DAG ending in ``outputs``; ``args`` defaults to its placeholders
        (producer-first order) followed by the outputs."""
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return Task(_native().SearchTask(outs, list(args or []), target, name, 1.0))

    @property
    def workload_key(self) -> str:
        return self._native.workload_key

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def weight(self) -> float:
        """How many fused groups of the graph use this workload."""
        return self._native.weight

    @property
    def flop_count(self) -> float:
        return self._native.flop_count

    @property
    def args(self) -> List[Any]:
        return list(self._native.args)

    def best(self, records: str) -> Optional[Tuple[str, float]]:
        """(steps JSON, mean seconds) of the best valid record, or None."""
        return self._native.best_steps_json(records)

    def apply_best(self, records: str) -> Tuple[Any, List[Any]]:
        """The schedule of the best record (replayed onto this task's DAG) and the kernel arguments."""
        best = self.best(records)
        if best is None:
            raise TesselError(f"no valid tuning record for task {self.name} ({self.workload_key}) in {records}")
        return self._native.replay(best[0]), self.args

    def __repr__(self) -> str:
        return f"Task({self.name}, key={self.workload_key[:8]}, weight={self.weight:g})"


def extract_tasks(graph: Any, params: Optional[Mapping[str, Any]] = None, target: str = "llvm") -> List[Task]:
    """The distinct workloads of ``graph`` as the compiler will build them, weighted by use."""
    if params:
        graph = graph.copy()
        for key, value in params.items():
            graph.set_param(key, np.ascontiguousarray(value))
    native_graph = getattr(graph, "_native", graph)
    return [Task(t) for t in _native().extract_tasks(native_graph, target)]


def tune(tasks: Union[Task, Sequence[Task]], trials: int = 200, records: str = "tuning.jsonl",
         db: Optional[str] = None, seed: int = 0, cost_model: str = "xgboost", batch_size: int = 16,
         verbose: bool = True, repeat: int = 3, min_repeat_seconds: float = 0.02,
         run_timeout_seconds: float = 10.0, check_correctness: bool = True) -> List[float]:
    """Tunes ``tasks`` with a total budget of ``trials`` measurements (records already in the file
    count, so running again resumes). Prints one progress line per round. Returns the best mean
    seconds per task (inf where nothing valid was found)."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    path = db if db is not None else records
    return _native().tune([t._native for t in tasks], int(trials), path, int(seed), cost_model, int(batch_size),
                          bool(verbose), int(repeat), float(min_repeat_seconds), float(run_timeout_seconds),
                          bool(check_correctness))


def compile(graph: Any, params: Optional[Mapping[str, Any]] = None, target: str = "llvm",  # noqa: A001
            records: Optional[str] = None, db: Optional[str] = None, name: str = "tessel_module",
            verbose: bool = True) -> Any:
    """``tessel.compile`` with the best tuning records of ``records`` (or ``db``) applied."""
    from tessel.compiler import CompiledModule, compile as plain_compile
    path = db if db is not None else records
    if path is None:
        return plain_compile(graph, params, target=target, name=name, verbose=verbose)
    if params:
        graph = graph.copy()
        for key, value in params.items():
            graph.set_param(key, np.ascontiguousarray(value))
    native_graph = getattr(graph, "_native", graph)
    return CompiledModule(_native().compile_with_records(native_graph, path, target, name, verbose))
