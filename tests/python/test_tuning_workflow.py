"""The tuning workflow across builds and models: records tuned while extracting from ResNet-18 are
reused when compiling ResNet-34 (they share workloads), records of another target are never
applied, and the main job (`tessel demo --quick`) runs end to end and checks itself against
PyTorch. Models are torchvision's with random weights at a small input (1x3x64x64)."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import pytest

import tessel

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("onnx")

HAVE_AUTOTUNE = tessel.native_available() and hasattr(tessel._tessel, "autotune") and hasattr(
    tessel._tessel.autotune, "Database")
pytestmark = pytest.mark.skipif(not HAVE_AUTOTUNE, reason="this build has no auto-scheduler/database")

from tessel import autotune, main_job  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL_INPUT = (1, 3, 64, 64)


class Model:
    """A torchvision model at SMALL_INPUT: its ONNX import, tasks and PyTorch reference output."""

    def __init__(self, name: str, folder: Path) -> None:
        model, self.x = main_job.build_torch_model(name, SMALL_INPUT)
        with torch.no_grad():
            self.reference = model(torch.from_numpy(self.x)).numpy().astype(np.float64)
        path = str(folder / f"{name}.onnx")
        main_job.export_onnx(model, self.x, path)
        self.graph, self.params = tessel.frontend.from_onnx(path)
        self.tasks = autotune.extract_tasks(self.graph, self.params)

    def compile_and_check(self, db: str, folder: Path, target: str = "llvm") -> Any:
        """Compiles with ``db``, runs the exported library and compares with PyTorch."""
        module = autotune.compile(self.graph, self.params, target=target, db=db, verbose=False)
        library = folder / f"model_{abs(hash((db, target)))}.so"
        module.export_library(str(library))
        (out,) = tessel.runtime.load(str(library)).run(input=self.x)
        max_abs, max_rel = main_job.compare(out, self.reference, "tessel")
        assert max_rel < 1e-4
        return module


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Model]:
    folder = tmp_path_factory.mktemp("models")
    return {name: Model(name, folder) for name in ("resnet18", "resnet34")}


@pytest.fixture(scope="module")
def tuned_db(models: Dict[str, Model], tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, Any]:
    """A database with a few records of one workload ResNet-18 shares with ResNet-34 (the
    cheapest shared convolution), tuned from ResNet-18's task."""
    from tessel.database import Database
    shared = {t.workload_key for t in models["resnet34"].tasks}
    convs = [t for t in models["resnet18"].tasks if t.workload_key in shared and "conv2d" in t.name]
    assert convs, "ResNet-18 and ResNet-34 share no convolution workload"
    task = min(convs, key=lambda t: t.flop_count)
    db = str(tmp_path_factory.mktemp("db") / "tuning.db")
    best = autotune.tune([task], trials=4, db=db, seed=3, batch_size=4, repeat=2, min_repeat_seconds=0.005,
                         verbose=False, confirm_top=0)
    assert math.isfinite(best[0]), "no candidate of the shared task was valid"
    assert Database(db).count(task.workload_key, "llvm") == 4
    return db, task


def test_records_are_reused_across_models(models: Dict[str, Model], tuned_db: Tuple[str, Any],
                                          tmp_path: Path) -> None:
    db, task = tuned_db
    resnet34 = models["resnet34"]
    total = len(resnet34.tasks)
    module = resnet34.compile_and_check(db, tmp_path)
    assert module.summary == f"1 of {total} workloads tuned, {total - 1} used default schedules"
    # The record applies through the task API too: the ResNet-34 task of that workload finds it.
    (same,) = [t for t in resnet34.tasks if t.workload_key == task.workload_key]
    assert same.best(db) is not None and same.best(db)[1] == pytest.approx(task.best(db)[1])


def test_records_of_another_target_are_never_applied(models: Dict[str, Model], tuned_db: Tuple[str, Any],
                                                     tmp_path: Path) -> None:
    from tessel.database import Database
    db, task = tuned_db
    host = autotune.canonical_target("llvm")
    records = Database(db).records()
    assert records and all(r["target"] == host for r in records)
    other = Database(str(tmp_path / "other_targets.db"))
    for target in ("llvm -mcpu=x86-64", "llvm -mtriple=aarch64-linux-gnu -mcpu=neoverse-v1"):
        canonical = autotune.canonical_target(target)
        assert canonical != host
        other.add_records([dict(r, target=canonical) for r in records])
    assert other.count() == 2 * len(records)
    assert other.count(task.workload_key, "llvm") == 0
    assert task.best(other.path) is None
    resnet34 = models["resnet34"]
    total = len(resnet34.tasks)
    module = resnet34.compile_and_check(other.path, tmp_path)
    assert module.summary == f"0 of {total} workloads tuned, {total} used default schedules"


def test_curve_and_task_table_read_the_database(models: Dict[str, Model], tuned_db: Tuple[str, Any]) -> None:
    from tessel.database import Database
    db, task = tuned_db
    curve = autotune.tuning_curve([task], db)
    costs = [r["mean_seconds"] for r in Database(db).records(task.workload_key)]
    assert curve["per_task"][0] == list(np.minimum.accumulate(costs))
    assert curve["estimate"][-1] == pytest.approx(task.weight * min(costs))
    table = autotune.task_table(models["resnet18"].tasks, db)
    row = next(line for line in table.splitlines() if task.workload_key[:12] in line)
    assert row.split()[-3] == "4"  # stored records of that task


def test_main_job_helpers() -> None:
    reference = np.linspace(-2, 3, 30).reshape(3, 10)
    assert main_job.compare(reference + 1e-6, reference, "x")[1] < 1e-5
    with pytest.raises(tessel.TesselError, match="WRONG OUTPUT"):
        main_job.compare(reference * 1.01, reference, "x")
    with pytest.raises(tessel.TesselError, match="shape"):
        main_job.compare(reference.T, reference, "x")
    with pytest.raises(tessel.TesselError, match="WRONG OUTPUT"):
        main_job.compare(reference * np.nan, reference, "x")
    folder, reason = main_job.find_onnxruntime_node("/nonexistent/ort")
    assert folder is None and reason
    medians = main_job.time_engines({"a": lambda n: [1.0] * n, "b": lambda n: [2.0, 4.0] * n}, runs=4, settle=0)
    assert medians == {"a": 1.0, "b": 3.0}


def test_main_job_selects_the_heavy_tasks(models: Dict[str, Model]) -> None:
    tasks = models["resnet18"].tasks
    chosen = main_job.select_tasks(tasks, quick=False)
    work = [t.weight * t.flop_count for t in chosen]
    assert work == sorted(work, reverse=True)
    total = sum(t.weight * t.flop_count for t in tasks)
    assert {t.workload_key for t in chosen} == {t.workload_key for t in tasks
                                               if t.weight * t.flop_count >= 0.01 * total}
    assert [t.workload_key for t in main_job.select_tasks(tasks, quick=True)] == [t.workload_key for t in chosen[-2:]]


@pytest.mark.slow
def test_main_job_quick(tmp_path: Path) -> None:
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "python"), TESSEL_DB=str(tmp_path / "t.db"))
    result = subprocess.run(
        ["/usr/bin/python3", "-m", "tessel", "demo", "--quick", "--out-dir", str(tmp_path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Tessel untuned vs PyTorch" in out and "Tessel tuned   vs PyTorch" in out
    for row in ("Tessel, untuned", "Tessel, tuned", "PyTorch", "ONNX Runtime"):
        assert row in out
    assert (tmp_path / "resnet18.so").is_file() and (tmp_path / "resnet18.onnx").is_file()
    from tessel.database import Database
    stored = Database(str(tmp_path / "t.db")).count()
    assert stored >= 1
    # Again with a trial count the database already holds: it resumes, with nothing left to tune.
    again = subprocess.run(
        ["/usr/bin/python3", "-m", "tessel", "demo", "--quick", "--out-dir", str(tmp_path), "--runs", "2",
         "--trials", str(stored)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to tune" in again.stdout
