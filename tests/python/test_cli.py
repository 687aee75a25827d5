"""The `tessel` command line end to end on a small ONNX model made with onnx.helper (conv + relu +
matmul): tune into a database, the tuning curve, db list/best/export/import, compile with the
database and run against numpy, Ctrl-C, and one-line error exits (missing, malformed or
unsupported model, corrupt database left unchanged, unknown target, missing matplotlib)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

import tessel
from tessel import cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO_ROOT / "python"
HAVE_AUTOTUNE = tessel.native_available() and hasattr(tessel._tessel, "autotune") and hasattr(
    tessel._tessel.autotune, "Database")
needs_autotune = pytest.mark.skipif(not HAVE_AUTOTUNE, reason="this build has no auto-scheduler/database")

# The small model: x (1, 3, 7, 7) -> Conv 3x3 pad 1 to 5 channels + bias -> Relu -> Flatten -> MatMul (245, 11).
RNG = np.random.default_rng(7)
WEIGHT = (RNG.standard_normal((5, 3, 3, 3)) * 0.3).astype(np.float32)
BIAS = RNG.standard_normal(5).astype(np.float32)
MATRIX = (RNG.standard_normal((5 * 7 * 7, 11)) * 0.1).astype(np.float32)
INPUT = RNG.standard_normal((1, 3, 7, 7)).astype(np.float32)


def run_cli(args: List[str], cwd: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), **env)
    environment.pop("TESSEL_DEBUG", None)
    return subprocess.run(
        ["/usr/bin/python3", "-m", "tessel", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """Asserts a user-error exit: the status, no traceback, exactly one stderr line starting
    `tessel: error:`; returns that line."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tessel: error:"), lines[0]
    return lines[0]


def reference(x: np.ndarray) -> np.ndarray:
    """The small model in numpy (float64)."""
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((1, 5, 7, 7))
    for o in range(5):
        for i in range(7):
            for j in range(7):
                conv[0, o, i, j] = np.sum(padded[0, :, i:i + 3, j:j + 3] * WEIGHT[o]) + BIAS[o]
    return np.maximum(conv, 0).reshape(1, -1) @ MATRIX.astype(np.float64)


def write_model(path: Path, op: str = "MatMul") -> Path:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "m"], ["y"]) if op == "MatMul"
        else helper.make_node("Einsum", ["f", "m"], ["y"], equation="ij,jk->ik"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 11])],
        [numpy_helper.from_array(WEIGHT, "w"), numpy_helper.from_array(BIAS, "b"), numpy_helper.from_array(MATRIX, "m")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    write_model(folder / "small.onnx")
    np.savez(folder / "in.npz", x=INPUT)
    return folder


@pytest.fixture(scope="module")
def tuned(work: Path) -> Tuple[Path, subprocess.CompletedProcess]:
    """`tessel tune` with 6 trials (batches of 3) and a plot, into a fresh database."""
    db = work / "tuning.db"
    result = run_cli(["tune", "small.onnx", "--db", str(db), "--trials", "6", "--batch-size", "3",
                      "--plot", "curve.png"], work)
    assert result.returncode == 0, result.stdout + result.stderr
    return db, result


# ---- the basics -------------------------------------------------------------------------------

def test_version(tmp_path: Path) -> None:
    result = run_cli(["--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tessel {tessel.__version__}"


@pytest.mark.parametrize("args", [["frobnicate"], [], ["--bogus"], ["info", "--bogus"], ["db"],
                                  ["tune", "m.onnx", "--trials", "many"]])
def test_usage_errors_are_one_line(args: List[str], tmp_path: Path) -> None:
    one_line_error(run_cli(args, tmp_path), status=2)


def test_info_lists_the_cpu(tmp_path: Path) -> None:
    result = run_cli(["info"], tmp_path, TESSEL_NUM_THREADS="2")
    assert result.returncode == 0, result.stderr
    target = tessel.host_target()
    assert f"cpu:         {target['cpu']}" in result.stdout
    assert target["triple"] in result.stdout
    assert "threads:     2" in result.stdout


def test_missing_matmul_demo_is_one_line_and_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli, "demo_path", lambda: tmp_path / "no_such_demo")
    assert cli.main(["demo", "matmul"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("tessel: error: demo program not found")


def test_matmul_demo_passes_arguments_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake_demo"
    record = tmp_path / "args.txt"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setattr(cli, "demo_path", lambda: fake)
    assert cli.main(["demo", "matmul", "--size", "8", "-v"]) == 3
    assert record.read_text().split() == ["--size", "8", "-v"]


def test_matmul_demo_runs(tmp_path: Path) -> None:
    if not cli.demo_path().is_file():
        pytest.skip(f"{cli.demo_path()} is not built")
    result = run_cli(["demo", "matmul"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_demo_help_and_bad_model(tmp_path: Path) -> None:
    result = run_cli(["demo", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--model", "--trials", "--time-budget", "--db", "--quick"):
        assert option in result.stdout
    assert "invalid choice" in one_line_error(run_cli(["demo", "--model", "vgg99"], tmp_path), status=2)


def test_installed_launcher(tmp_path: Path) -> None:
    launcher = shutil.which("tessel")
    if launcher is None:
        pytest.skip("the tessel launcher is not installed (run scripts/setup.sh)")
    if f"'{PYTHON_DIR}'" not in Path(launcher).read_text(errors="replace"):
        pytest.skip(f"{launcher} was installed for another checkout")
    result = subprocess.run(
        [launcher, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tessel {tessel.__version__}"


# ---- tune, db, compile, run -----------------------------------------------------------------

@needs_autotune
def test_tune_stores_records_and_resumes(work: Path, tuned: Tuple[Path, subprocess.CompletedProcess]) -> None:
    from tessel.database import Database
    db, result = tuned
    assert "task(s) for llvm" in result.stdout  # the task table
    assert "estimated model latency" in result.stdout  # the per-task summary
    count = Database(str(db)).count()
    # 6 trials, then each task's best (up to 3) schedules and its default measured again.
    graph, params = tessel.frontend.from_onnx(str(work / "small.onnx"))
    from tessel import autotune
    assert 1 <= count <= 6 + 4 * len(autotune.extract_tasks(graph, params))
    assert f"{count} new record(s)" in result.stdout
    # Running again with the same budget resumes: the stored trials count, nothing is measured.
    again = run_cli(["tune", "small.onnx", "--db", str(db), "--trials", "6", "--batch-size", "3"], work)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 new record(s)" in again.stdout
    assert Database(str(db)).count() == count


@needs_autotune
def test_plot_is_a_png_of_the_tuning_curve(work: Path, tuned: Tuple[Path, subprocess.CompletedProcess]) -> None:
    from tessel import autotune
    from tessel.database import Database
    db, _ = tuned
    png = (work / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # The curve it draws: per-task best-so-far from the records in order, and their weighted sum.
    graph, params = tessel.frontend.from_onnx(str(work / "small.onnx"))
    tasks = autotune.extract_tasks(graph, params)
    curve = autotune.tuning_curve(tasks, str(db))
    records = Database(str(db)).records()
    assert curve["trials"] == list(range(1, len(records) + 1))
    for task, values in zip(tasks, curve["per_task"]):
        # Best so far only rises where a record re-measures a schedule of the task stored earlier.
        for t in range(1, len(values)):
            if values[t] > values[t - 1]:
                earlier = [r["steps"] for r in records[:t] if r["workload_key"] == task.workload_key]
                assert records[t]["workload_key"] == task.workload_key and records[t]["steps"] in earlier
        best = Database(str(db)).best(task.workload_key, "llvm")
        assert values[-1] == (best["mean_seconds"] if best else math.inf)
    finals = [v[-1] for v in curve["per_task"]]
    expected = sum(t.weight * b for t, b in zip(tasks, finals) if math.isfinite(b))
    assert curve["partial"][-1] == pytest.approx(expected)
    assert curve["covered"][-1] == sum(math.isfinite(b) for b in finals)


@needs_autotune
def test_db_list_and_best(work: Path, tuned: Tuple[Path, subprocess.CompletedProcess]) -> None:
    from tessel.database import Database
    db, _ = tuned
    database = Database(str(db))
    listing = run_cli(["db", "list", "--db", str(db)], work)
    assert listing.returncode == 0, listing.stderr
    assert f"{len(database.workloads())} workload(s), {database.count()} record(s)" in listing.stdout
    for w in database.workloads():
        row = next(line for line in listing.stdout.splitlines() if line.startswith(w["workload_key"][:16]))
        assert row.split()[2:4] == [str(w["records"]), str(w["valid"])]
    assert tessel.autotune.canonical_target("llvm") in listing.stdout
    best = run_cli(["db", "best", "--db", str(db)], work)
    assert best.returncode == 0, best.stderr
    expected = database.best_records("llvm")
    assert f"{len(expected)} workload(s)" in best.stdout
    for record in expected:
        assert record["workload_key"][:16] in best.stdout
    # Through $TESSEL_DB instead of --db.
    via_env = run_cli(["db", "list"], work, TESSEL_DB=str(db))
    assert via_env.returncode == 0 and via_env.stdout == listing.stdout


@needs_autotune
def test_db_export_and_import_with_corrupt_lines(work: Path, tuned: Tuple[Path, subprocess.CompletedProcess],
                                                 tmp_path: Path) -> None:
    from tessel.database import Database
    db, _ = tuned
    count = Database(str(db)).count()
    exported = tmp_path / "records.jsonl"
    result = run_cli(["db", "export", str(exported), "--db", str(db)], work)
    assert result.returncode == 0, result.stderr
    assert f"exported {count} record(s)" in result.stdout
    lines = exported.read_text().splitlines()
    assert len(lines) == count and all(json.loads(line)["version"] >= 1 for line in lines)
    # A shared file with a truncated line and a garbage line: both skipped and counted.
    shared = tmp_path / "shared.jsonl"
    shared.write_text("\n".join(lines[:1] + ["{\"version\": 1, \"workload_key\": \"ab"] + lines[1:]
                                + ["not json at all"]) + "\n")
    other = tmp_path / "other.db"
    first = run_cli(["db", "import", str(shared), "--db", str(other)], work)
    assert first.returncode == 0, first.stderr
    assert f"imported {count} record(s)" in first.stdout and "(0 already stored)" in first.stdout
    assert "tessel: warning: skipped 2 corrupt line(s)" in first.stderr
    second = run_cli(["db", "import", str(exported), "--db", str(other)], work)
    assert second.returncode == 0, second.stderr
    assert "imported 0 record(s)" in second.stdout and f"({count} already stored)" in second.stdout
    assert "warning" not in second.stderr
    assert Database(str(other)).count() == count
    assert [r["steps"] for r in Database(str(other)).records()] == [r["steps"] for r in Database(str(db)).records()]


@needs_autotune
def test_compile_with_db_and_run_matches_numpy(work: Path, tuned: Tuple[Path, subprocess.CompletedProcess],
                                               tmp_path: Path) -> None:
    from tessel import autotune
    from tessel.database import Database
    db, _ = tuned
    graph, params = tessel.frontend.from_onnx(str(work / "small.onnx"))
    tasks = autotune.extract_tasks(graph, params)
    with_record = sum(Database(str(db)).best(t.workload_key, "llvm") is not None for t in tasks)
    assert with_record >= 1
    library = tmp_path / "small.so"
    result = run_cli(["compile", str(work / "small.onnx"), "-o", str(library), "--db", str(db)], work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"{with_record} of {len(tasks)} workloads tuned, {len(tasks) - with_record} used default schedules"
            in result.stdout)
    out = tmp_path / "out.npz"
    ran = run_cli(["run", str(library), "--inputs", str(work / "in.npz"), "--outputs", str(out), "--repeat", "3"], work)
    assert ran.returncode == 0, ran.stderr
    assert "latency: median" in ran.stdout
    with np.load(out) as outputs:
        (y,) = [outputs[name] for name in outputs.files]
    np.testing.assert_allclose(y, reference(INPUT), rtol=1e-4, atol=1e-4)
    # Without the database every workload uses its default schedule.
    plain = run_cli(["compile", str(work / "small.onnx"), "-o", str(tmp_path / "plain.so"), "--no-db"], work)
    assert plain.returncode == 0, plain.stderr
    assert f"0 of {len(tasks)} workloads tuned" in plain.stdout


@needs_autotune
def test_ctrl_c_keeps_the_records(work: Path, tmp_path: Path) -> None:
    from tessel.database import Database
    db = tmp_path / "interrupted.db"
    environment = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    process = subprocess.Popen(
        ["/usr/bin/python3", "-m", "tessel", "tune", str(work / "small.onnx"), "--db", str(db), "--trials", "400",
         "--batch-size", "2"], cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        seen = 0
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                seen = Database(str(db), read_only=True).count()
                if seen >= 2:
                    break
            time.sleep(0.2)
        assert process.poll() is None, "tuning ended before it could be interrupted"
        assert seen >= 2, "no records were stored in time"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    match = re.search(r"tessel: interrupted; (\d+) records kept in (\S+)", stderr)
    assert match, stderr
    kept = int(match.group(1))
    assert kept == Database(str(db)).count() >= seen


# ---- user errors: one line, non-zero, nothing overwritten --------------------------------------

@needs_autotune
def test_missing_malformed_and_unsupported_models(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    line = one_line_error(run_cli(["tune", "missing.onnx", "--db", db], tmp_path))
    assert "missing.onnx" in line and "no such file" in line
    (tmp_path / "garbage.onnx").write_bytes(np.random.default_rng(3).bytes(700))
    assert "cannot read ONNX model 'garbage.onnx'" in one_line_error(
        run_cli(["compile", "garbage.onnx", "-o", "g.so"], tmp_path))
    write_model(tmp_path / "einsum.onnx", op="Einsum")
    assert "Einsum" in one_line_error(run_cli(["tune", "einsum.onnx", "--db", db, "--trials", "2"], tmp_path))


@needs_autotune
def test_corrupt_database_is_an_error_and_left_unchanged(work: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(np.random.default_rng(11).bytes(4096))
    before = digest(corrupt)
    exported = tmp_path / "e.jsonl"
    exported.write_text("")
    for args in (["tune", str(work / "small.onnx"), "--db", str(corrupt), "--trials", "2"],
                 ["compile", str(work / "small.onnx"), "-o", str(tmp_path / "x.so"), "--db", str(corrupt)],
                 ["db", "list", "--db", str(corrupt)],
                 ["db", "best", "--db", str(corrupt)],
                 ["db", "export", str(tmp_path / "out.jsonl"), "--db", str(corrupt)],
                 ["db", "import", str(exported), "--db", str(corrupt)]):
        line = one_line_error(run_cli(args, tmp_path))
        assert "corrupt.db" in line, (args, line)
        assert digest(corrupt) == before, args
    assert not (tmp_path / "x.so").exists()
    assert "no tuning database" in one_line_error(run_cli(["db", "list", "--db", str(tmp_path / "none.db")], tmp_path))


@needs_autotune
@pytest.mark.parametrize("command", ["tune", "compile"])
def test_unknown_target(work: Path, tmp_path: Path, command: str) -> None:
    args = [command, str(work / "small.onnx"), "--target", "sparc-unknown", "--db", str(tmp_path / "t.db")]
    if command == "compile":
        args += ["-o", str(tmp_path / "x.so")]
    assert "sparc-unknown" in one_line_error(run_cli(args, tmp_path))
    assert not (tmp_path / "t.db").exists()


@needs_autotune
def test_plot_without_matplotlib(work: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    environment = dict(os.environ, PYTHONPATH=f"{tmp_path / 'blocked'}:{PYTHON_DIR}")
    result = subprocess.run(
        ["/usr/bin/python3", "-m", "tessel", "tune", str(work / "small.onnx"), "--db", str(tmp_path / "t.db"),
         "--plot", "c.png"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    assert "needs matplotlib" in one_line_error(result, status=2)
    assert not (tmp_path / "t.db").exists() and not (tmp_path / "c.png").exists()


@needs_autotune
def test_tune_opens_its_record_store_once(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One `tessel tune` run opens and validates its database once: the counts before and after
    tuning, the task table, the tuner's resume, every appended batch and the cost-model snapshot
    all go through that one open store."""
    from tessel import autotune, cli

    db = tmp_path / "once.db"
    opened = tessel._tessel.autotune.RecordStore.opened_count
    before = opened()
    status = cli.main(["tune", str(work / "small.onnx"), "--db", str(db), "--trials", "4", "--batch-size", "2"])
    assert status == 0, capsys.readouterr()
    assert opened() - before == 1
    assert autotune.open_records(str(db), read_only=True).count() >= 4


@needs_autotune
@pytest.mark.parametrize("kind", ["cnn", "encoder"])
def test_a_tuned_model_compiles_with_every_workload_tuned(kind: str, work: Path, tmp_path: Path) -> None:
    """`tessel tune` with enough trials for every task to get a batch, then `tessel compile`
    with that database: "N of N workloads tuned" (a task whose measured default schedule won
    still counts as tuned)."""
    from tessel import autotune

    if kind == "cnn":
        model = work / "small.onnx"
    else:
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0,
                                                 activation="gelu", batch_first=True)
        encoder = torch.nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False).eval()
        model = tmp_path / "encoder.onnx"
        torch.onnx.export(encoder, (torch.randn(1, 4, 16),), str(model), opset_version=13,
                          input_names=["input"], output_names=["output"])
    graph, params = tessel.frontend.from_onnx(str(model))
    tasks = autotune.extract_tasks(graph, params)
    db = tmp_path / "all.db"
    batch = 2
    tuned = run_cli(["tune", str(model), "--db", str(db), "--trials", str(batch * len(tasks)),
                     "--batch-size", str(batch)], tmp_path, timeout=600)
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    compiled = run_cli(["compile", str(model), "-o", str(tmp_path / "m.so"), "--db", str(db)], tmp_path)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    n = len(tasks)
    assert f"{n} of {n} workloads tuned, 0 used default schedules" in compiled.stdout
