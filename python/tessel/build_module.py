"""Lowering and building schedules: ``tessel.lower`` gives the readable loop IR,
``tessel.build`` a JIT-compiled callable that takes numpy arrays (or, for ``target="cuda"``,
a module holding CUDA C++ and PTX).

    f = tessel.build(s, [A, B, C], target="llvm")
    f(a, b, c)          # a, b read; c written in place

The compiled code needs each buffer 64-byte aligned; numpy arrays that are not are copied into
aligned temporaries (and outputs copied back), so any C-contiguous array works. Use
:func:`empty` for aligned arrays that avoid the copies.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from tessel import TesselError, _native
from tessel.target import Target, TargetLike

__all__ = ["lower", "build", "Module", "CudaModule", "ArgSpec", "BenchmarkResult", "empty", "ALIGNMENT"]

ALIGNMENT = 64  # bytes; the alignment the generated code requires of every buffer


class ArgSpec(NamedTuple):
    """What a built function expects of one argument."""

    name: str
    shape: Tuple[int, ...]
    dtype: str
    is_output: bool  # written by the function (a computed tensor), else only read


class BenchmarkResult(NamedTuple):
    """Seconds per call: one entry per repeat (each the mean over ``number`` calls)."""

    results: Tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean seconds per call over the repeats."""
        return statistics.fmean(self.results)

    @property
    def median(self) -> float:
        """Median seconds per call over the repeats."""
        return statistics.median(self.results)

    @property
    def min(self) -> float:
        """Fastest repeat, seconds per call."""
        return min(self.results)


def empty(shape: Sequence[int], dtype: Union[str, np.dtype] = "float32") -> np.ndarray:
    """An uninitialised C-contiguous numpy array whose data is 64-byte aligned."""
    dtype = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def _tensors(args: Any) -> List[Any]:
    te = _native().te
    if isinstance(args, (te.Tensor, te.Operation)):
        return [args]
    return list(args)


def lower(schedule: Any, args: Sequence[Any], name: str = "main", simple_mode: bool = False) -> Any:
    """Lowers a schedule to a loop-IR function with ``args`` (inputs and outputs, in order) as its
    parameters, after the loop-IR pass pipeline; ``str()`` of the result is the readable IR.
    ``simple_mode=True`` skips the pass pipeline (the raw loop nest)."""
    return _native().te.lower_schedule(schedule, _tensors(args), name, not simple_mode)


def _numpy_dtype(dtype: str, name: str) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TesselError(f"argument {name}: dtype {dtype} has no numpy equivalent") from None


def _arg_specs(args: Sequence[Any], function_name: str) -> List[ArgSpec]:
    specs = []
    for tensor in args:
        shape = tensor.shape
        if not all(isinstance(d, int) for d in shape):
            raise TesselError(
                f"build {function_name}: argument {tensor.name} has a symbolic shape {shape}; "
                "only constant shapes can be built"
            )
        specs.append(ArgSpec(tensor.name, tuple(shape), tensor.dtype, not tensor.op.is_placeholder))
    return specs


class Module:
    """A built function: call it with numpy arrays, one per argument, in the order given to
    ``build``. Outputs are written in place."""

    def __init__(self, funcs: List[Any], target: Any, specs: List[ArgSpec], entry_name: str) -> None:
        self._funcs = funcs  # lowered loop IR
        self._target = target
        self._specs = specs
        self.entry_name = entry_name
        self._jit: Optional[Any] = None
        self._function: Optional[Any] = None
        if target.runs_on_host():
            codegen = _native().codegen
            self._jit = codegen.JitModule.compile(funcs, target, entry_name)
            self._function = self._jit.get_function(entry_name)

    @property
    def target(self) -> str:
        """The target string the code was compiled for."""
        return str(self._target)

    @property
    def arg_specs(self) -> List[ArgSpec]:
        """Name, shape, dtype and direction of each argument."""
        return list(self._specs)

    def get_source(self, fmt: str = "ll") -> str:
        """The generated code: ``"ll"`` (optimised LLVM IR), ``"asm"`` (assembly) or ``"tir"``
        (the loop IR that was compiled)."""
        codegen = _native().codegen
        if fmt in ("ll", "llvm"):
            return self._jit.llvm_ir() if self._jit else codegen.emit_llvm_ir(self._funcs, self._target, self.entry_name)
        if fmt in ("asm", "s"):
            return self._jit.assembly() if self._jit else codegen.emit_assembly(self._funcs, self._target, self.entry_name)
        if fmt == "tir":
            funcs = self._jit.lowered_functions if self._jit else self._funcs
            return "\n".join(str(f) for f in funcs)
        raise TesselError(f"get_source: unknown format {fmt!r} (expected 'll', 'asm' or 'tir')")

    def _check(self, index: int, spec: ArgSpec, array: Any) -> np.ndarray:
        label = f"argument {index} ({spec.name})"
        if not isinstance(array, np.ndarray):
            raise TesselError(f"{label}: expected a numpy array, got {type(array).__name__}")
        expected = _numpy_dtype(spec.dtype, spec.name)
        if array.dtype != expected:
            raise TesselError(f"{label}: expected dtype {spec.dtype}, got {array.dtype}")
        if array.shape != spec.shape:
            raise TesselError(f"{label}: expected shape {spec.shape}, got {array.shape}")
        if not array.flags.c_contiguous:
            raise TesselError(
                f"{label}: the array must be C-contiguous (row-major, no strides); "
                "use np.ascontiguousarray"
            )
        if spec.is_output and not array.flags.writeable:
            raise TesselError(f"{label}: the function writes this output but the array is read-only")
        return array

    def __call__(self, *arrays: np.ndarray) -> None:
        """Runs the function on the arrays (checked for count, dtype, shape, layout)."""
        if self._function is None:
            raise TesselError(
                f"{self.entry_name} was compiled for {self.target}, which cannot run in this process; "
                "use get_source() for its code"
            )
        if len(arrays) != len(self._specs):
            names = ", ".join(spec.name for spec in self._specs)
            raise TesselError(
                f"{self.entry_name} takes {len(self._specs)} arguments ({names}), got {len(arrays)}"
            )
        checked = [self._check(i, spec, a) for i, (spec, a) in enumerate(zip(self._specs, arrays))]
        for i, spec in enumerate(self._specs):
            if not spec.is_output:
                continue
            for j, other in enumerate(checked):
                if j != i and np.may_share_memory(checked[i], other):
                    raise TesselError(
                        f"argument {i} ({spec.name}) overlaps argument {j} ({self._specs[j].name}); "
                        "outputs must not share memory with other arguments"
                    )
        addresses = []
        temporaries = []  # aligned copies: kept alive until the call returns
        for spec, array in zip(self._specs, checked):
            if array.ctypes.data % ALIGNMENT:
                aligned = empty(array.shape, array.dtype)
                np.copyto(aligned, array)
                temporaries.append((spec, array, aligned))
                array = aligned
            addresses.append(array.ctypes.data)
        self._function.call(addresses)
        for spec, original, aligned in temporaries:
            if spec.is_output:
                np.copyto(original, aligned)

    def time_evaluator(self, number: int = 10, repeat: int = 3) -> Callable[..., BenchmarkResult]:
        """A function that runs this one ``number`` times per repeat on the given arrays and
        returns the seconds per call of each repeat (after one warm-up call)."""
        if number < 1 or repeat < 1:
            raise TesselError("time_evaluator: number and repeat must be at least 1")

        def evaluate(*arrays: np.ndarray) -> BenchmarkResult:
            self(*arrays)
            results = []
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(number):
                    self(*arrays)
                results.append((time.perf_counter() - start) / number)
            return BenchmarkResult(tuple(results))

        return evaluate

    def __repr__(self) -> str:
        return f"Module({self.entry_name}, target={self.target!r})"


class CudaModule:
    """A function compiled for a CUDA GPU: CUDA C++ (``source("cuda")``), PTX (``source("ptx")``,
    through NVRTC, which needs the CUDA toolkit but no GPU), the lowered loop IR (``"tir"``) and
    the host launch code (``"host"``). Each function becomes one or more ``__global__`` kernels;
    ``launch_info`` gives their grid and block dimensions."""

    def __init__(self, func: Any, target: Any, specs: List[ArgSpec], entry_name: str) -> None:
        cuda = _native().cuda
        self._func = func
        self._target = target
        self._specs = specs
        self.entry_name = entry_name
        self._generated = cuda.generate([func], target)
        self._binary: Optional[dict] = None
        self._device: Optional[Any] = None  # the code loaded into the GPU, on first call
        available, _ = cuda.nvrtc_available()
        if available:  # compile now, so that errors surface at build time (and TESSEL_DUMP_CODE has the .ptx)
            self._compile()

    def _compile(self) -> dict:
        if self._binary is None:
            cuda = _native().cuda
            available, why = cuda.nvrtc_available()
            if not available:
                raise TesselError(f"cannot produce PTX for {self.entry_name}: {why}")
            self._binary = cuda.compile(self._generated["source"], self._target, False, self.entry_name)
        return self._binary

    @property
    def target(self) -> str:
        """The target string the code was generated for."""
        return str(self._target)

    @property
    def arg_specs(self) -> List[ArgSpec]:
        """Name, shape, dtype and direction of each argument."""
        return list(self._specs)

    @property
    def launch_info(self) -> List[dict]:
        """Per kernel, in launch order: name, grid and block (x, y, z) and static shared bytes."""
        return [dict(k) for f in self._generated["functions"] for k in f["kernels"]]

    def source(self, fmt: str = "cuda") -> str:
        """``"cuda"`` (CUDA C++), ``"ptx"``, ``"host"`` (driver-API launch code) or ``"tir"``."""
        if fmt in ("cuda", "cu"):
            return self._generated["source"]
        if fmt == "ptx":
            return self._compile()["ptx"]
        if fmt == "host":
            return self._generated["host_source"]
        if fmt == "tir":
            return str(self._func)
        raise TesselError(f"source: unknown format {fmt!r} (expected 'cuda', 'ptx', 'host' or 'tir')")

    def get_source(self, fmt: str = "cuda") -> str:
        """Same as :meth:`source`."""
        return self.source(fmt)

    def __call__(self, *arrays: np.ndarray) -> None:
        """Runs the function on the GPU: the arrays (checked like :class:`Module`'s) are copied to
        the device, the kernels launched, and the outputs copied back. Raises TesselError when
        there is no GPU or driver."""
        cuda = _native().cuda
        available, why = cuda.device_available()
        if not available:
            raise TesselError(f"{self.entry_name} was compiled for {self.target} but cannot run here: {why}")
        if len(arrays) != len(self._specs):
            raise TesselError(f"{self.entry_name} takes {len(self._specs)} arguments, got {len(arrays)}")
        for index, (spec, array) in enumerate(zip(self._specs, arrays)):
            label = f"argument {index} ({spec.name})"
            if not isinstance(array, np.ndarray) or array.dtype != _numpy_dtype(spec.dtype, spec.name):
                raise TesselError(f"{label}: expected a numpy array of dtype {spec.dtype}")
            if array.shape != spec.shape or not array.flags.c_contiguous:
                raise TesselError(f"{label}: expected a C-contiguous array of shape {spec.shape}")
        if self._device is None:
            self._device = cuda.DeviceModule([self._func], self._target, self._compile()["ptx"])
        self._device.run(self.entry_name, list(arrays), [spec.is_output for spec in self._specs])

    def __repr__(self) -> str:
        return f"CudaModule({self.entry_name}, target={self.target!r})"


def _build_cuda(schedule: Any, tensors: List[Any], target: Target, name: str) -> CudaModule:
    specs = _arg_specs(tensors, name)
    func = lower(schedule, tensors, name)
    if not _native().cuda.has_thread_binding(func):
        raise TesselError(
            f"build {name} for {target}: no loop is bound to blockIdx/threadIdx, so the whole computation "
            "would run in one GPU thread; bind loops (stage.bind(axis, 'threadIdx.x')) or use the "
            "GPU default schedule"
        )
    return CudaModule(func, target.native.cuda, specs, name)


def build(
    schedule: Any, args: Sequence[Any], target: TargetLike = "llvm", name: str = "default_function"
) -> Union[Module, CudaModule]:
    """Lowers the schedule and compiles it for target (``"llvm"`` = the host CPU;
    ``"llvm -mcpu=..."``, ``"llvm -mtriple=..."`` as in ``codegen.Target.parse``). For a target
    that runs here the result is callable; for another one only ``get_source`` works.

    ``name`` becomes the C symbol of the entry point, so it must be a C identifier that is not a
    C library or runtime name (``main``, ``exp``, ``tessel_*`` are reserved); the default is
    TVM's ``default_function``.

    ``target="cuda"`` (``"cuda -arch=sm_90"``, ``-fast-math``) gives a :class:`CudaModule` whose
    ``source("cuda")`` is CUDA C++ and ``source("ptx")`` PTX; it needs loops bound to GPU thread
    axes and no GPU."""
    parsed = Target.of(target)
    tensors = _tensors(args)
    if parsed.is_cuda:
        return _build_cuda(schedule, tensors, parsed, name)
    specs = _arg_specs(tensors, name)
    func = lower(schedule, tensors, name)
    return Module([func], parsed.native, specs, name)
