"""The `tessel` command line: version, info, demo, and one-line errors without tracebacks."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

import tessel
from tessel import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO_ROOT / "python"


def run_cli(args: List[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), **env)
    return subprocess.run(
        ["/usr/bin/python3", "-m", "tessel", *args],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_version(tmp_path: Path) -> None:
    result = run_cli(["--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tessel {tessel.__version__}"


@pytest.mark.parametrize("args", [["frobnicate"], [], ["--bogus"], ["info", "--bogus"]])
def test_usage_errors_are_one_line(args: List[str], tmp_path: Path) -> None:
    result = run_cli(args, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tessel: error:")


def test_info_lists_the_cpu(tmp_path: Path) -> None:
    result = run_cli(["info"], tmp_path, TESSEL_NUM_THREADS="2")
    assert result.returncode == 0, result.stderr
    target = tessel.host_target()
    assert f"cpu:         {target['cpu']}" in result.stdout
    assert target["triple"] in result.stdout
    assert "threads:     2" in result.stdout


def test_missing_demo_is_one_line_and_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli, "demo_path", lambda: tmp_path / "no_such_demo")
    assert cli.main(["demo"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("tessel: error: demo program not found")


def test_demo_passes_arguments_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake_demo"
    record = tmp_path / "args.txt"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setattr(cli, "demo_path", lambda: fake)
    assert cli.main(["demo", "--size", "8", "-v"]) == 3
    assert record.read_text().split() == ["--size", "8", "-v"]


def test_demo_runs(tmp_path: Path) -> None:
    if not cli.demo_path().is_file():
        pytest.skip(f"{cli.demo_path()} is not built")
    result = run_cli(["demo"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_installed_launcher(tmp_path: Path) -> None:
    launcher = shutil.which("tessel")
    if launcher is None:
        pytest.skip("the tessel launcher is not installed (run scripts/setup.sh)")
    result = subprocess.run(
        [launcher, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tessel {tessel.__version__}"
