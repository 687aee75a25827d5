"""The tuning-record database: every measurement the auto-scheduler made, kept in one SQLite file
(``$TESSEL_DB`` if set, else ``~/.cache/tessel/tuning.db``) that several tuning processes may
write at the same time, and shared between machines as JSON-lines files.

    from tessel.database import Database
    db = Database()                                  # the default database
    for w in db.workloads():
        print(w["task_name"], w["records"], w["best_seconds"])
    best = db.best(w["workload_key"], "llvm")        # "llvm": the host CPU
    db.export_jsonl("mine.jsonl")
    Database("other.db").import_jsonl("mine.jsonl")

Records are dicts with the keys ``workload_key``, ``task_name``, ``target`` (the full target
string), ``hardware`` (dict), ``steps`` (the schedule's step list as a JSON string), ``costs``
(seconds per repeat), ``mean_seconds`` (``inf`` for a failed measurement), ``error`` (0: valid),
``error_name``, ``timestamp`` (Unix seconds) and ``version`` (record format). A ``target``
argument may be short (``"llvm"``, ``"llvm -mcpu=..."``); it is matched in its full form, the way
tuning stores it. Errors (a file that is not a Tessel database, a corrupt one, a locked one after
a long wait) raise :class:`tessel.TesselError`; such a file is never modified.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional

from tessel import TesselError
from tessel.target import canonical_target, record_key

__all__ = ["Database", "default_database_path", "canonical_target"]


def _native() -> Any:
    from tessel import _tessel
    if _tessel is None:
        raise TesselError("the native extension tessel._tessel is not built; run `bash scripts/setup.sh`")
    return _tessel.autotune


def default_database_path() -> str:
    """``$TESSEL_DB`` if set, else ``~/.cache/tessel/tuning.db``."""
    return _native().default_database_path()


def _hardware_of(target: str) -> Dict[str, Any]:
    """The hardware parameters a record of ``target`` gets when it names none: the target's own."""
    from tessel.target import Target
    return json.loads(_native().hardware_json(Target(target).native))


def _record_line(record: Dict[str, Any]) -> str:
    """A record dict as a line of the JSON-lines format (autotune/README.md)."""
    steps = record["steps"]
    target = record_key(record["target"])
    hardware = record.get("hardware") or _hardware_of(target)
    return json.dumps({
        "version": int(record.get("version", 1)),
        "workload_key": record["workload_key"],
        "task": record.get("task_name", ""),
        "target": target,
        "hardware": hardware,  # when not given: the target's own parameters
        "steps": json.loads(steps) if isinstance(steps, str) else steps,
        "costs": [float(c) for c in record.get("costs", [])],
        "error": int(record.get("error", 0)),
        "timestamp": float(record.get("timestamp", 0.0)),
    })


class Database:
    """An open tuning-record database.

    ``path``: the SQLite file; None means :func:`default_database_path`. A missing file (and its
    directories) is created, unless ``read_only``: then nothing is ever created or written, and a
    missing file reads as an empty database. Paths ending in ``.jsonl`` / ``.json`` are JSON-lines
    files, not databases: use :meth:`import_jsonl` / :meth:`export_jsonl` for those.
    """

    def __init__(self, path: Optional[str] = None, read_only: bool = False) -> None:
        native = _native()
        self._path = str(path) if path is not None else native.default_database_path()
        # A record store (opened and validated once); what only a database has (workload
        # summaries, export and import, cost models) goes to the SQLite database behind it.
        self._store = native.RecordStore.open_database(self._path, read_only)
        self._native = self._store.database

    @property
    def store(self) -> Any:
        """The open record store, to hand to ``autotune.tune`` / ``autotune.compile``."""
        return self._store

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """True when opened with ``read_only=True``."""
        return bool(self._native.read_only)

    def count(self, workload_key: Optional[str] = None, target: Optional[str] = None) -> int:
        """Number of records (valid or not), optionally of one workload and/or one target."""
        return int(self._store.count(workload_key or "", record_key(target)))

    def workloads(self) -> List[Dict[str, Any]]:
        """One dict per workload, in the order they were first stored: ``workload_key``,
        ``task_name``, ``dag_text``, ``records`` (all), ``valid`` (without error),
        ``best_seconds`` (the best record's mean cost, lowest over all targets; a re-measured
        schedule counts with its latest timing, as for compiling; ``inf`` when none)
        and ``targets`` (those with records)."""
        return list(self._native.workloads())

    def records(self, workload_key: Optional[str] = None, target: Optional[str] = None,
                limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Records in the order they were stored, optionally of one workload and/or target, at
        most ``limit`` of them."""
        if limit is not None and limit < 0:
            raise TesselError(f"records: limit must be >= 0, got {limit}")
        return list(self._store.records(workload_key or "", record_key(target),
                                         -1 if limit is None else int(limit)))

    def best(self, workload_key: str, target: str) -> Optional[Dict[str, Any]]:
        """The valid record with the lowest mean cost for (workload, target), or None. Records of
        other targets never count."""
        top = self._store.top_k(workload_key, record_key(target), 1)
        return top[0] if top else None

    def top_k(self, workload_key: str, target: str, k: int) -> List[Dict[str, Any]]:
        """The ``k`` valid records with the lowest mean costs for (workload, target), best first."""
        return list(self._store.top_k(workload_key, record_key(target), int(k)))

    def best_records(self, target: Optional[str] = None) -> List[Dict[str, Any]]:
        """The best valid record of every (workload, target) pair, of one target if given."""
        return list(self._store.best_records(record_key(target)))

    def add_records(self, records: Iterable[Dict[str, Any]]) -> None:
        """Stores records (dicts as :meth:`records` returns them; ``mean_seconds`` and
        ``error_name`` are derived and ignored) in one transaction."""
        self._store.add_jsonl_lines([_record_line(r) for r in records])

    def add_workload(self, workload_key: str, task_name: str, dag_text: str) -> None:
        """Stores a workload's name and DAG text (the first non-empty ones are kept)."""
        self._native.add_workload(workload_key, task_name, dag_text)

    def export_jsonl(self, path: str, workload_key: Optional[str] = None, target: Optional[str] = None) -> int:
        """Writes the records (optionally of one workload and/or target) to ``path`` as JSON
        lines, replacing the file; returns the number of records written."""
        return int(self._native.export_jsonl(str(path), workload_key or "", record_key(target)))

    def import_jsonl(self, path: str) -> Dict[str, int]:
        """Adds the records of a JSON-lines file in one transaction. Returns counts:
        ``imported`` (new records), ``duplicates`` (already stored: same workload, target, steps
        and costs) and ``corrupt`` (unreadable, truncated or newer-version lines, skipped)."""
        return dict(self._native.import_jsonl(str(path)))

    def put_cost_model(self, target: str, model_name: str, blob: bytes) -> None:
        """Stores a cost-model snapshot, replacing older ones of the same target and name."""
        self._native.put_cost_model(record_key(target), model_name, bytes(blob))

    def latest_cost_model(self, target: str, model_name: str) -> Optional[bytes]:
        """The newest cost-model snapshot of (target, model name), or None."""
        return self._native.latest_cost_model(record_key(target), model_name)

    def __repr__(self) -> str:
        return f"Database({self._path!r}{', read_only=True' if self.read_only else ''})"
