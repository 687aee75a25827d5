"""The Tessel deployment runtime from Python: load an exported module library and run it.

Works without the compiler: it talks to ``libtessel_runtime.so`` through its C ABI (ctypes),
so deploying needs only this file, numpy and the runtime library. The library is found, in order,
through ``TESSEL_RUNTIME_LIBRARY`` (a path to the .so), ``<repo>/build/runtime/`` of a source
checkout, then the system's library search path.

    m = tessel.runtime.load("model.so")
    outs = m.run(x=x)                       # list of numpy arrays, one per output
    m.set_input("x", x); m.run(); y = m.get_output(0)

Inputs may be numpy arrays or anything with ``__dlpack__`` (e.g. PyTorch CPU tensors); a compact,
64-byte-aligned input is used in place, anything else is copied once.

A module exported for target ``cuda`` runs its kernels on the GPU (the runtime opens the CUDA
driver, libcuda.so.1, with dlopen); numpy inputs and outputs are copied to and from the device.
Without a GPU or driver, ``load`` raises :class:`TesselRuntimeError` with status
``TESSEL_ERROR_NO_DEVICE`` and the reason; :func:`cuda_available` says so up front.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Module", "TesselRuntimeError", "load", "library_path", "cuda_available"]

_REPO_ROOT = Path(__file__).resolve().parent.parent.parent
_ALIGNMENT = 64


try:  # a TesselError when the full package is importable; plain ValueError in a standalone copy
    from tessel import TesselError as _ErrorBase
except ImportError:  # pragma: no cover
    _ErrorBase = ValueError  # type: ignore[misc,assignment]


class TesselRuntimeError(_ErrorBase):  # type: ignore[valid-type,misc]
    """A runtime failure with the C API's status name (e.g. ``TESSEL_ERROR_SHAPE_MISMATCH``)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


# ---- DLPack structs (v0.8 ABI) ----
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("dtype", _DLDataType),
    ]


_K_DL_CPU = 1
_CODE_TO_KIND = {0: "int", 1: "uint", 2: "float", 4: "bfloat", 6: "bool"}
_NUMPY_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}


def _dtype_name(dtype: _DLDataType) -> str:
    kind = _CODE_TO_KIND.get(dtype.code, f"code{dtype.code}_")
    return "bool" if kind == "bool" else f"{kind}{dtype.bits}"


def library_path() -> str:
    """Where ``libtessel_runtime.so`` is loaded from (see the module docstring for the order)."""
    explicit = os.environ.get("TESSEL_RUNTIME_LIBRARY")
    if explicit:
        if not Path(explicit).is_file():
            raise TesselRuntimeError(
                f"TESSEL_RUNTIME_LIBRARY={explicit} does not exist", "TESSEL_ERROR_FILE_NOT_FOUND"
            )
        return explicit
    in_checkout = _REPO_ROOT / "build" / "runtime" / "libtessel_runtime.so"
    if in_checkout.is_file():
        return str(in_checkout)
    return "libtessel_runtime.so"


_LIB: Optional[ctypes.CDLL] = None


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is not None:
        return _LIB
    path = library_path()
    if not os.environ.get("TESSEL_RUNTIME_LIBRARY"):
        # When the compiler is loaded, the runtime it links against is already in the process:
        # use that one, so that modules it exports are read by the runtime of the same build.
        try:
            lib = ctypes.CDLL("libtessel_runtime.so", mode=ctypes.RTLD_GLOBAL | os.RTLD_NOLOAD)
            path = "libtessel_runtime.so"
        except OSError:
            pass
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as error:
        raise TesselRuntimeError(
            f"cannot load the Tessel runtime library ({error}); set TESSEL_RUNTIME_LIBRARY",
            "TESSEL_ERROR_FILE_NOT_FOUND",
        ) from None
    handle = ctypes.c_void_p
    i32, p_i32 = ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)
    signatures = {
        "tessel_get_last_error": ([], ctypes.c_char_p),
        "tessel_status_name": ([i32], ctypes.c_char_p),
        "tessel_runtime_format_version": ([], i32),
        "tessel_module_load": ([ctypes.c_char_p, ctypes.POINTER(handle)], i32),
        "tessel_module_free": ([handle], None),
        "tessel_module_num_inputs": ([handle, p_i32], i32),
        "tessel_module_num_outputs": ([handle, p_i32], i32),
        "tessel_module_input_info": ([handle, i32, ctypes.POINTER(_TensorInfo)], i32),
        "tessel_module_output_info": ([handle, i32, ctypes.POINTER(_TensorInfo)], i32),
        "tessel_module_input_index": ([handle, ctypes.c_char_p, p_i32], i32),
        "tessel_module_output_index": ([handle, ctypes.c_char_p, p_i32], i32),
        "tessel_module_metadata_json": ([handle, ctypes.POINTER(ctypes.c_char_p)], i32),
        "tessel_module_set_input_index": ([handle, i32, ctypes.POINTER(_DLTensor)], i32),
        "tessel_module_set_input_zero_copy": ([handle, i32, ctypes.POINTER(_DLTensor)], i32),
        "tessel_module_set_output_zero_copy": ([handle, i32, ctypes.POINTER(_DLTensor)], i32),
        "tessel_module_run": ([handle], i32),
        "tessel_module_get_output": ([handle, i32, ctypes.POINTER(_DLTensor)], i32),
        "tessel_module_run_profile": ([handle, i32, ctypes.POINTER(ctypes.c_char_p)], i32),
        "tessel_cuda_available": ([], i32),
    }
    for name, (arguments, result) in signatures.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise TesselRuntimeError(
                f"the runtime library {path} has no {name} (built from older sources?); rebuild it",
                "TESSEL_ERROR_NOT_A_MODULE",
            ) from None
        function.argtypes = arguments
        function.restype = result
    _LIB = lib
    return lib


def _check(status: int) -> None:
    if status != 0:
        lib = _lib()
        message = lib.tessel_get_last_error().decode("utf-8", "replace")
        raise TesselRuntimeError(message, lib.tessel_status_name(status).decode())


class _View:
    """A DLTensor describing an array, plus whatever keeps the memory alive."""

    def __init__(self, tensor: _DLTensor, keep: Tuple[Any, ...]) -> None:
        self.tensor = tensor
        self.keep = keep

    @property
    def address(self) -> int:
        return int(self.tensor.data or 0) + int(self.tensor.byte_offset)

    def compact_and_aligned(self) -> bool:
        if self.address % _ALIGNMENT:
            return False
        if not self.tensor.strides:
            return True
        expected = 1
        for d in reversed(range(self.tensor.ndim)):
            if self.tensor.shape[d] != 1 and self.tensor.strides[d] != expected:
                return False
            expected *= self.tensor.shape[d]
        return True


def _numpy_view(array: np.ndarray) -> _View:
    kind = array.dtype.kind
    if kind not in _NUMPY_CODES:
        raise TesselRuntimeError(
            f"unsupported array dtype {array.dtype}", "TESSEL_ERROR_DTYPE_MISMATCH"
        )
    bits = 8 if kind == "b" else array.dtype.itemsize * 8
    shape = (ctypes.c_int64 * max(array.ndim, 1))(*array.shape)
    itemsize = array.dtype.itemsize
    if any(s % itemsize for s in array.strides):
        array = np.ascontiguousarray(array)
    strides = (ctypes.c_int64 * max(array.ndim, 1))(*(s // itemsize for s in array.strides))
    tensor = _DLTensor(
        data=array.ctypes.data if array.size else None,
        device=_DLDevice(_K_DL_CPU, 0),
        ndim=array.ndim,
        dtype=_DLDataType(_NUMPY_CODES[kind], bits, 1),
        shape=ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
        strides=ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)),
        byte_offset=0,
    )
    return _View(tensor, (array, shape, strides))


def _dlpack_view(value: Any) -> _View:
    """Imports anything with ``__dlpack__`` (e.g. a torch tensor) without copying."""
    capsule = value.__dlpack__()
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, b"dltensor")
    managed = _DLManagedTensor.from_address(address)
    if managed.dl_tensor.device.device_type != _K_DL_CPU:
        raise TesselRuntimeError("only CPU tensors can be passed to the runtime", "TESSEL_ERROR_INVALID_ARGUMENT")
    # The capsule stays unconsumed and alive in the view; its destructor frees the tensor.
    return _View(managed.dl_tensor, (value, capsule))


def _as_view(value: Any) -> _View:
    if isinstance(value, np.ndarray):
        return _numpy_view(value)
    if hasattr(value, "__dlpack__") and not isinstance(value, np.generic):
        return _dlpack_view(value)
    return _numpy_view(np.asarray(value))


def _aligned_empty(shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data is 64-byte aligned."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


class Module:
    """A loaded module library. Not for concurrent use from several threads."""

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        lib = _lib()
        self._lib = lib
        self._handle = ctypes.c_void_p()
        _check(lib.tessel_module_load(os.fsencode(os.fspath(path)), ctypes.byref(self._handle)))
        self.path = os.fspath(path)
        self.input_names: List[str] = []
        self.output_names: List[str] = []
        self._inputs: List[Tuple[str, Tuple[int, ...], str]] = []
        self._outputs: List[Tuple[str, Tuple[int, ...], str]] = []
        for count_fn, info_fn, into in (
            (lib.tessel_module_num_inputs, lib.tessel_module_input_info, self._inputs),
            (lib.tessel_module_num_outputs, lib.tessel_module_output_info, self._outputs),
        ):
            count = ctypes.c_int32()
            _check(count_fn(self._handle, ctypes.byref(count)))
            for index in range(count.value):
                info = _TensorInfo()
                _check(info_fn(self._handle, index, ctypes.byref(info)))
                shape = tuple(info.shape[d] for d in range(info.ndim))
                into.append((info.name.decode(), shape, _dtype_name(info.dtype)))
        self.input_names = [name for name, _, _ in self._inputs]
        self.output_names = [name for name, _, _ in self._outputs]
        self._bound: Dict[int, _View] = {}

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            self._lib.tessel_module_free(handle)
            self._handle = None

    @property
    def inputs(self) -> List[Tuple[str, Tuple[int, ...], str]]:
        """(name, shape, dtype) of each input."""
        return list(self._inputs)

    @property
    def outputs(self) -> List[Tuple[str, Tuple[int, ...], str]]:
        """(name, shape, dtype) of each output."""
        return list(self._outputs)

    @property
    def metadata(self) -> Dict[str, Any]:
        """The module's metadata (format version, target, inputs, outputs) as a dict."""
        import json

        text = ctypes.c_char_p()
        _check(self._lib.tessel_module_metadata_json(self._handle, ctypes.byref(text)))
        return json.loads(text.value.decode())

    def _input_index(self, key: Union[str, int]) -> int:
        if isinstance(key, str):
            index = ctypes.c_int32()
            _check(self._lib.tessel_module_input_index(self._handle, key.encode(), ctypes.byref(index)))
            return index.value
        return int(key)

    def _output_index(self, key: Union[str, int]) -> int:
        if isinstance(key, str):
            index = ctypes.c_int32()
            _check(self._lib.tessel_module_output_index(self._handle, key.encode(), ctypes.byref(index)))
            return index.value
        return int(key)

    def set_input(self, key: Union[str, int], value: Any) -> None:
        """Sets an input by name or index from a numpy array or DLPack tensor.

        A compact, 64-byte-aligned value is used in place (kept alive by the module until the next
        ``set_input`` of that input); any other value is copied.
        """
        index = self._input_index(key)
        view = _as_view(value)
        if view.compact_and_aligned():
            _check(self._lib.tessel_module_set_input_zero_copy(self._handle, index, ctypes.byref(view.tensor)))
            self._bound[index] = view
        else:
            _check(self._lib.tessel_module_set_input_index(self._handle, index, ctypes.byref(view.tensor)))
            self._bound.pop(index, None)

    def run(self, **inputs: Any) -> Optional[List[np.ndarray]]:
        """Runs the module. With keyword inputs, sets them and returns the outputs (numpy arrays,
        written in place by the kernels, no copy); without, leaves outputs for ``get_output``."""
        for name, value in inputs.items():
            self.set_input(name, value)
        if not inputs:
            _check(self._lib.tessel_module_run(self._handle))
            return None
        results = []
        views = []
        for index, (_, shape, dtype) in enumerate(self._outputs):
            array = _aligned_empty(shape, np.dtype(dtype))
            view = _numpy_view(array)
            _check(self._lib.tessel_module_set_output_zero_copy(self._handle, index, ctypes.byref(view.tensor)))
            results.append(array)
            views.append(view)
        try:
            _check(self._lib.tessel_module_run(self._handle))
        finally:
            for index in range(len(self._outputs)):
                self._lib.tessel_module_set_output_zero_copy(self._handle, index, None)
        return results

    def get_output(self, key: Union[str, int]) -> np.ndarray:
        """A copy of an output (by name or index) as a numpy array."""
        index = self._output_index(key)
        if not 0 <= index < len(self._outputs):
            _check(self._lib.tessel_module_get_output(self._handle, index, None))
        _, shape, dtype = self._outputs[index]
        array = _aligned_empty(shape, np.dtype(dtype))
        view = _numpy_view(array)
        _check(self._lib.tessel_module_get_output(self._handle, index, ctypes.byref(view.tensor)))
        return array

    def run_profile(self, repeat: int = 10) -> str:
        """Runs ``repeat`` times and returns the per-kernel timing table (text)."""
        table = ctypes.c_char_p()
        _check(self._lib.tessel_module_run_profile(self._handle, int(repeat), ctypes.byref(table)))
        return table.value.decode()


def load(path: Union[str, os.PathLike]) -> Module:
    """Loads an exported module library (see ``tessel.deploy`` / ``export_library``). A CUDA
    module needs a GPU and its driver; without them this raises TesselRuntimeError with status
    ``TESSEL_ERROR_NO_DEVICE``."""
    return Module(path)


def cuda_available() -> Tuple[bool, str]:
    """``(True, "")`` when a CUDA GPU can run modules here, else ``(False, reason)`` (no driver:
    libcuda.so.1 not found, or cuInit's error)."""
    lib = _lib()
    if lib.tessel_cuda_available() == 0:
        return True, ""
    return False, lib.tessel_get_last_error().decode("utf-8", "replace")
