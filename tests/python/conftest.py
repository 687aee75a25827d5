"""pytest set-up: import the tessel package from this checkout's python/ folder."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO_ROOT / "python"

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def pytest_configure(config) -> None:
    """Registers the `slow` marker: long tests (deselect with `-m "not slow"`)."""
    config.addinivalue_line("markers", "slow: a long-running test (deselect with -m 'not slow')")
