"""Tessel: a two-level deep-learning compiler (graph IR -> tensor expressions -> loop IR -> LLVM).

This package is the user-facing API. The native core is the ``_tessel`` extension module,
built by ``scripts/setup.sh`` into this folder.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional

__version__ = "0.1.0"

__all__ = [
    "__version__", "TesselError", "InternalError", "host_target", "num_threads", "native_available",
    "lower", "build", "te", "ops", "relay", "compile", "Target",
]

try:
    _tessel: Any = importlib.import_module(f"{__name__}._tessel")
    _IMPORT_ERROR: Optional[Exception] = None
except ImportError as error:  # not built yet, or built for another interpreter
    _tessel = None
    _IMPORT_ERROR = error

if _tessel is not None:
    # The native library raises these: C++ CompileError -> TesselError, InternalError -> InternalError.
    TesselError = _tessel.TesselError
    InternalError = _tessel.InternalError
else:

    class TesselError(ValueError):  # type: ignore[no-redef]
        """A user error: bad input, unsupported operation, missing build artefact.

        Subclasses ``ValueError`` so that callers catching ``ValueError`` see Tessel's errors too.
        """

    class InternalError(RuntimeError):  # type: ignore[no-redef]
        """A broken invariant inside Tessel (a bug), never the user's fault."""

TesselError.__module__ = __name__
InternalError.__module__ = __name__
TesselError.__doc__ = (
    "A user error: bad input, unsupported operation, missing build artefact. Subclasses "
    "ValueError so that callers catching ValueError see Tessel's errors too."
)
InternalError.__doc__ = "A broken invariant inside Tessel (a bug), never the user's fault."


def native_available() -> bool:
    """Returns True when the native extension ``tessel._tessel`` is built and importable."""
    return _tessel is not None


def _native() -> Any:
    if _tessel is None:
        raise TesselError(
            f"the native extension tessel._tessel is not available ({_IMPORT_ERROR}); "
            "build it with `bash scripts/setup.sh`"
        )
    return _tessel


def host_target() -> Dict[str, Any]:
    """Describes the host CPU as the LLVM backend sees it.

    Returns a dict with ``triple`` (e.g. ``"x86_64-pc-linux-gnu"``), ``cpu`` (e.g.
    ``"znver5"``), ``features`` (list of enabled features such as ``"avx512f"``) and
    ``vector_bits`` (widest native float vector register).
    """
    try:
        return dict(_native().host_target())
    except RuntimeError as error:
        raise TesselError(str(error)) from None


def num_threads() -> int:
    """Number of threads in the runtime's pool (``TESSEL_NUM_THREADS``, else usable CPUs)."""
    return int(_native().num_threads())


from tessel.target import Target  # noqa: E402  (needs TesselError and _native above)
from tessel.build_module import build, lower  # noqa: E402
from tessel import relay  # noqa: E402
from tessel.compiler import compile  # noqa: E402,A001

if _tessel is not None:
    from tessel import ops, te  # noqa: E402,F401

# Submodules that pull in more (numpy-heavy or optional) dependencies load on first use, so that
# `tessel.frontend.from_onnx(...)` and `tessel.runtime.load(...)` work after a plain `import tessel`.
_LAZY_SUBMODULES = ("frontend", "runtime", "autotune", "ops", "te")


def __getattr__(name: str) -> Any:
    """Imports the submodules listed in ``_LAZY_SUBMODULES`` on first attribute access."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
