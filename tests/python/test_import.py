"""`import tessel` works from any directory, and the native extension loads."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tessel

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO_ROOT / "python"
DEBIAN_PYTHON = "/usr/bin/python3"
PROBE = "import tessel; print(tessel.__version__); print(tessel.__file__)"


def _env_without_pythonpath() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_import_from_another_directory(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    version, location = result.stdout.split()
    assert version == tessel.__version__
    assert Path(location).resolve().is_relative_to(PYTHON_DIR.resolve())


def _installed_import(python: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-c", PROBE], cwd=tmp_path, env=_env_without_pythonpath(),
        capture_output=True, text=True,
    )


def test_installed_for_debian_python(tmp_path: Path) -> None:
    """After scripts/setup.sh, Debian's python3 imports tessel without PYTHONPATH."""
    result = _installed_import(DEBIAN_PYTHON, tmp_path)
    if result.returncode != 0 and "No module named 'tessel'" in result.stderr:
        pytest.skip("tessel is not installed for /usr/bin/python3 (run scripts/setup.sh)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == tessel.__version__


def test_installed_for_default_python(tmp_path: Path) -> None:
    """The first python3 on PATH (e.g. pyenv) imports tessel too when its version matches."""
    default = shutil.which("python3")
    if default is None:
        pytest.skip("no python3 on PATH")
    version = subprocess.run(
        [default, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True,
    ).stdout.strip()
    if version != "%d.%d" % sys.version_info[:2]:
        pytest.skip(f"default python3 is {version}; setup.sh supports only Debian's version")
    result = _installed_import(default, tmp_path)
    if result.returncode != 0 and "No module named 'tessel'" in result.stderr:
        pytest.skip(f"tessel is not installed for {default} (run scripts/setup.sh)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == tessel.__version__


def test_native_extension_loads() -> None:
    assert tessel.native_available(), "python/tessel/_tessel*.so is missing: run scripts/setup.sh"
    from tessel import _tessel

    assert _tessel.version() == tessel.__version__


def test_host_target_describes_the_cpu() -> None:
    target = tessel.host_target()
    assert set(target) >= {"triple", "cpu", "features", "vector_bits"}
    assert target["triple"] and target["cpu"]
    assert all(isinstance(feature, str) for feature in target["features"])
    assert target["vector_bits"] in (64, 128, 256, 512, 1024, 2048)


def test_num_threads_follows_the_environment(tmp_path: Path) -> None:
    assert tessel.num_threads() >= 1
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), TESSEL_NUM_THREADS="3")
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import tessel; print(tessel.num_threads())"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


def test_tessel_error_is_a_value_error() -> None:
    assert issubclass(tessel.TesselError, ValueError)
