"""The target a model or kernel is compiled and tuned for: ``tessel.Target("llvm")``.

One typed value, parsed once where the user hands it over (the CLI, ``tessel.build``,
``tessel.compile``, ``autotune.*``, the tuning database) and passed on as such. It says which code
generator runs (``kind``: ``"llvm"`` for a CPU, ``"cuda"`` for an NVIDIA GPU), for which machine
(``triple``, ``cpu``, ``features``), and the hardware parameters that default schedules and the
auto-scheduler read (``vector_bits``, ``vector_registers``, ``num_cores``, cache sizes, GPU
limits). ``str(target)`` is its canonical text, the key of every tuning record.

    Target("llvm")                       # the host CPU, features detected
    Target("llvm -mcpu=znver4")          # another x86 CPU (its features from LLVM's tables)
    Target("llvm -mtriple=aarch64-linux-gnu -mcpu=neoverse-v1")   # cross compilation
    Target("cuda -arch=sm_80")           # an NVIDIA GPU (default arch sm_90)

A target compares equal to another Target, or to a string that parses to the same target
(``Target("cuda") == "cuda -arch=sm_90"``).
"""
from __future__ import annotations

from typing import Any, Optional, Union

from tessel import TesselError
from tessel._fields import native_field

__all__ = ["Target", "TargetLike", "canonical_target", "record_key"]


def _native_codegen() -> Any:
    from tessel import _native
    codegen = getattr(_native(), "codegen", None)
    if codegen is None:
        raise TesselError("this build of tessel has no code generator (tessel_codegen)")
    return codegen


class Target:
    """A parsed target (see the module documentation)."""

    __slots__ = ("_native",)

    def __init__(self, text: Union[str, "Target"] = "llvm") -> None:
        self._native = None
        if isinstance(text, Target):
            self._native = text._native
            return
        if not isinstance(text, str):
            raise TesselError(f"target must be a string such as 'llvm' or 'cuda', or a tessel.Target; "
                              f"got {type(text).__name__}")
        self._native = _native_codegen().Target.parse(text)

    @staticmethod
    def of(value: "TargetLike") -> "Target":
        """``value`` itself when it is a Target, else the Target it parses to."""
        return value if isinstance(value, Target) else Target(value)

    @staticmethod
    def host() -> "Target":
        """The machine this process runs on (same as ``Target("llvm")``)."""
        target = Target.__new__(Target)
        target._native = _native_codegen().Target.host()
        return target

    @staticmethod
    def _wrap(native: Any) -> "Target":
        target = Target.__new__(Target)
        target._native = native
        return target

    @property
    def native(self) -> Any:
        """The C++ value (``_tessel.codegen.Target``) the bindings take."""
        return self._native

    kind = native_field("kind", str, '``"llvm"`` (a CPU) or ``"cuda"`` (an NVIDIA GPU).')
    is_cuda = native_field("is_cuda", bool, "Whether code for this target is CUDA.")
    triple = native_field("triple", str, "The CPU's LLVM triple (for a CUDA target: the host that launches the kernels).")
    cpu = native_field("cpu", str, 'The CPU name, e.g. ``"znver5"``.')
    features = native_field("features", str, 'LLVM features relative to the CPU\'s defaults (``"+avx2,-avx512f"``; often empty).')
    vector_bits = native_field("vector_bits", int, "Widest native float vector, in bits.")
    vector_registers = native_field("vector_registers", int, "Architectural vector registers (32 with AVX-512, 16 with AVX2).")
    num_cores = native_field("num_cores", int, "Threads parallel loops run on.")

    @property
    def cache_bytes(self) -> tuple:
        """(L1 data, L2, L3) in bytes."""
        return (int(self._native.l1_bytes), int(self._native.l2_bytes), int(self._native.l3_bytes))

    @property
    def cuda_arch(self) -> Optional[str]:
        """``"sm_90"`` for a CUDA target, else None."""
        return self._native.cuda_arch

    def runs_on_host(self) -> bool:
        """Whether code for this target's CPU runs in this process."""
        return bool(self._native.runs_on_host())

    def has_feature(self, name: str) -> bool:
        return bool(self._native.has_feature(name))

    def __str__(self) -> str:
        return str(self._native)

    def __repr__(self) -> str:
        return f"Target({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Target(other)
            except TesselError:
                return False
        return isinstance(other, Target) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


TargetLike = Union[str, Target]


def canonical_target(target: Optional[TargetLike]) -> str:
    """The canonical text of a target (the tuning-record key); "" for None or "". TesselError for
    anything that is not a target."""
    if target is None or (isinstance(target, str) and not target):
        return ""
    return str(Target.of(target))


def record_key(target: Optional[TargetLike]) -> str:
    """The record key a query about ``target`` matches: its canonical text when it parses, else
    the text itself, so that records written elsewhere (another machine's or LLVM's target
    strings, which this build may not parse) can still be listed, exported and queried."""
    try:
        return canonical_target(target)
    except TesselError:
        if isinstance(target, str):
            return target
        raise
