"""ONNX importer: walks an ONNX graph (opsets 11-17) and rebuilds it with ``tessel.relay.GraphBuilder``.

Values known at import time (initializers, Constant nodes, shapes of statically shaped tensors and
everything computed only from those) are kept as numpy arrays and folded with a small numpy
evaluator, so shape arithmetic such as Shape -> Gather -> Concat -> Reshape ends as a constant
attribute. Everything else becomes graph ops. Per-op converters live in ``onnx_ops_*.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from tessel import TesselError

__all__ = ["from_onnx", "import_onnx", "ImportResult", "UnsupportedError", "NeedsConstantError", "supported_ops", "NodeContext"]

MIN_OPSET = 11  # older models import node by node when the op is unchanged since
MAX_OPSET = 17


class UnsupportedError(TesselError):  # type: ignore[valid-type,misc]
    """The model uses an ONNX op, attribute or opset that the importer does not support."""


class NeedsConstantError(UnsupportedError):
    """An operand that sets a shape (target shape, axes, pads, ...) is computed at run time.

    ``value_name`` is the ONNX value; when it is a graph input, binding it with
    ``import_onnx(..., input_values={name: array})`` makes the model importable.
    """

    def __init__(self, message: str, value_name: str) -> None:
        super().__init__(message)
        self.value_name = value_name


# ONNX TensorProto element types -> numpy dtype names (the graph's dtype strings).
_ONNX_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
}
_ONNX_DTYPE_NAMES = {
    0: "UNDEFINED", 8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16",
}
# Element types the graph computes with.
GRAPH_DTYPES = frozenset({"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"})


def onnx_dtype(elem_type: int, where: str) -> str:
    """The numpy dtype name of an ONNX element type; UnsupportedError when the graph lacks it."""
    name = _ONNX_DTYPES.get(elem_type)
    if name is None or name not in GRAPH_DTYPES:
        label = name or _ONNX_DTYPE_NAMES.get(elem_type, str(elem_type))
        raise UnsupportedError(f"{where}: element type {label} is not supported")
    return name


def _load_onnx_module() -> Any:
    try:
        import onnx  # noqa: PLC0415  (optional dependency, imported only when used)
        import onnx.defs  # noqa: PLC0415
        import onnx.numpy_helper  # noqa: PLC0415
    except ImportError as error:
        raise TesselError(
            "the ONNX frontend needs the `onnx` Python package (Debian: python3-onnx)"
        ) from error
    return onnx


class Const:
    """A value known at import time. ``param_name`` is set for initializers (graph weights)."""

    __slots__ = ("array", "param_name", "graph_value")

    def __init__(self, array: np.ndarray, param_name: Optional[str] = None) -> None:
        self.array = np.asarray(array)
        self.param_name = param_name
        self.graph_value: Any = None


Value = Any  # a graph value handle from GraphBuilder, or a Const


class NodeContext:
    """What a converter sees of one ONNX node: its inputs, attributes and the builder."""

    def __init__(self, importer: "OnnxImporter", node: Any, index: int) -> None:
        self.importer = importer
        self.node = node
        self.op_type: str = node.op_type
        self.name: str = node.name or f"{node.op_type}_{index}"
        self.opset: int = importer.opset
        self.g = importer.builder
        self.attrs: Dict[str, Any] = {a.name: _attribute_value(importer.onnx, a) for a in node.attribute}
        self.used_attrs: set = set()

    # ---- errors -------------------------------------------------------------------------------
    def prefix(self) -> str:
        return f"ONNX node '{self.name}' ({self.op_type})"

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(f"{self.prefix()}: {message}")

    def error(self, message: str) -> TesselError:
        return TesselError(f"{self.prefix()}: {message}")

    # ---- attributes ---------------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        self.used_attrs.add(name)
        return self.attrs.get(name, default)

    def has_attr(self, name: str) -> bool:
        return name in self.attrs

    def reject_attr(self, name: str, allowed: Sequence[Any]) -> None:
        """UnsupportedError when attribute `name` is set to a value outside `allowed`."""
        self.used_attrs.add(name)
        if name in self.attrs and self.attrs[name] not in allowed:
            value = self.attrs[name]
            shown = f"'{value}'" if isinstance(value, str) else str(value)
            raise self.unsupported(f"attribute {name}={shown} is not supported")

    # ---- inputs -------------------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.node.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def value(self, i: int) -> Value:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing")
        return self.importer.values[self.node.input[i]]

    def is_const(self, i: int) -> bool:
        return self.has_input(i) and isinstance(self.value(i), Const)

    def const(self, i: int, what: str) -> np.ndarray:
        """The import-time value of input i; UnsupportedError when it is computed at run time."""
        v = self.value(i)
        if not isinstance(v, Const):
            raise NeedsConstantError(
                f"{self.prefix()}: input {i} ('{self.node.input[i]}', {what}) must be a constant "
                "known at import time", self.node.input[i])
        return v.array

    def optional_const(self, i: int, what: str) -> Optional[np.ndarray]:
        if not self.has_input(i):
            return None
        return self.const(i, what)

    def tensor(self, i: int) -> Any:
        """Input i as a graph value (constants become graph constants or params)."""
        return self.importer.materialize(self.value(i))

    def shape(self, i: int) -> Tuple[int, ...]:
        return self.importer.shape_of(self.value(i))

    def dtype(self, i: int) -> str:
        return self.importer.dtype_of(self.value(i))

    def rank(self, i: int) -> int:
        return len(self.shape(i))

    # ---- outputs ------------------------------------------------------------------------------
    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def output_used(self, i: int) -> bool:
        return i < len(self.node.output) and self.node.output[i] != ""

    # ---- building -----------------------------------------------------------------------------
    def call(self, op: str, inputs: Sequence[Any], **attrs: Any) -> Any:
        """Adds a graph op; builder errors are re-raised naming this ONNX node."""
        graph_inputs = [self.importer.materialize(v) for v in inputs]
        try:
            return self.g.call(op, graph_inputs, **attrs)
        except UnsupportedError:
            raise
        except TesselError as error:
            raise TesselError(f"{self.prefix()}: {error}") from error

    def type_of(self, v: Value) -> Tuple[Tuple[int, ...], str]:
        return self.importer.shape_of(v), self.importer.dtype_of(v)

    def scalar(self, value: Union[int, float, bool], dtype: str) -> Const:
        """A one-element constant of `dtype` (graph tensors have rank >= 1)."""
        return Const(np.array([value], dtype=dtype))

    def reshape(self, v: Value, shape: Sequence[int]) -> Value:
        if isinstance(v, Const):
            return Const(v.array.reshape(tuple(int(s) for s in shape)))
        if tuple(self.importer.shape_of(v)) == tuple(shape):
            return v
        return self.call("reshape", [v], shape=[int(s) for s in shape])


Converter = Callable[[NodeContext], Sequence[Optional[Value]]]
# op_type -> converter; filled by the onnx_ops_* modules at import.
CONVERTERS: Dict[str, Converter] = {}
# op_type -> numpy evaluator used when every input is a constant (constant folding).
FOLDERS: Dict[str, Converter] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[op_type] = fn
        return fn

    return register


def folder(*op_types: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            FOLDERS[op_type] = fn
        return fn

    return register


def _attribute_value(onnx: Any, attribute: Any) -> Any:
    kind = attribute.type
    types = onnx.AttributeProto
    if kind == types.FLOAT:
        return float(attribute.f)
    if kind == types.INT:
        return int(attribute.i)
    if kind == types.STRING:
        return attribute.s.decode("utf-8")
    if kind == types.TENSOR:
        return onnx.numpy_helper.to_array(attribute.t)
    if kind == types.FLOATS:
        return [float(f) for f in attribute.floats]
    if kind == types.INTS:
        return [int(i) for i in attribute.ints]
    if kind == types.STRINGS:
        return [s.decode("utf-8") for s in attribute.strings]
    # graphs, sparse tensors, type protos: kept raw; converters that need them reject them.
    return attribute


@dataclass
class ImportResult:
    """A converted model: the graph, its weights, and how ONNX inputs/outputs map onto it."""

    graph: Any
    params: Dict[str, np.ndarray]
    input_names: List[str]  # graph inputs, in ONNX order (frozen ones left out)
    input_shapes: Dict[str, Tuple[int, ...]]
    frozen_inputs: List[str] = field(default_factory=list)  # ONNX inputs bound to given values
    output_names: List[str] = field(default_factory=list)
    opset: int = 0


class OnnxImporter:
    """Converts one ONNX ModelProto. Use :func:`import_onnx` rather than this class directly."""

    def __init__(self, model: Any, shape_overrides: Optional[Mapping[str, Sequence[int]]],
                 input_values: Optional[Mapping[str, np.ndarray]]) -> None:
        from tessel import relay  # noqa: PLC0415  (the graph builder)

        self.onnx = _load_onnx_module()
        self.model = model
        self.builder = relay.GraphBuilder()
        self.values: Dict[str, Value] = {}
        self.shape_overrides = dict(shape_overrides or {})
        self.input_values = {k: np.asarray(v) for k, v in (input_values or {}).items()}
        self.frozen_inputs: List[str] = []
        # Weights transposed for dense, by param name: a weight several nodes share becomes one
        # transposed param.
        self.transposed_weights: Dict[str, "Const"] = {}
        self.opset = self._default_opset()

    def _default_opset(self) -> int:
        opset = None
        for entry in self.model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                opset = int(entry.version)
            elif entry.domain not in ("ai.onnx.ml",):
                raise UnsupportedError(f"ONNX operator set domain '{entry.domain}' is not supported")
        if opset is None:
            raise UnsupportedError("the model imports no default-domain ONNX operator set")
        if opset > MAX_OPSET:
            raise UnsupportedError(
                f"ONNX opset {opset} is not supported (supported: {MIN_OPSET} to {MAX_OPSET})"
            )
        return opset

    def _check_op_version(self, ctx: "NodeContext") -> None:
        """Below opset 11 a node is accepted only when its op's definition is the one of opset 11."""
        if self.opset >= MIN_OPSET:
            return
        defs = self.onnx.defs
        try:
            at_model = defs.get_schema(ctx.op_type, self.opset, "").since_version
            at_minimum = defs.get_schema(ctx.op_type, MIN_OPSET, "").since_version
        except defs.SchemaError:
            raise ctx.unsupported(f"operator is not defined at ONNX opset {self.opset}") from None
        if at_model != at_minimum:
            raise ctx.unsupported(
                f"version {at_model} of the operator (ONNX opset {self.opset}) is not supported; "
                f"supported opsets: {MIN_OPSET} to {MAX_OPSET}"
            )

    # ---- values -------------------------------------------------------------------------------
    def materialize(self, v: Value) -> Any:
        if not isinstance(v, Const):
            return v
        if v.graph_value is None:
            array = v.array
            if array.dtype.name not in GRAPH_DTYPES:
                raise UnsupportedError(f"constant of element type {array.dtype.name} is not supported")
            if array.ndim == 0:  # graph tensors have rank >= 1; an ONNX scalar becomes shape [1]
                array = array.reshape(1)
            if array.size == 0:
                raise UnsupportedError(f"empty tensor of shape {array.shape} is not supported")
            if v.param_name is not None:
                v.graph_value = self.builder.param(v.param_name, np.ascontiguousarray(array))
            else:
                v.graph_value = self.builder.constant(np.ascontiguousarray(array))
        return v.graph_value

    def shape_of(self, v: Value) -> Tuple[int, ...]:
        if isinstance(v, Const):
            return tuple(int(s) for s in v.array.shape)
        return tuple(int(s) for s in self.builder.type_of(v)[0])

    def dtype_of(self, v: Value) -> str:
        if isinstance(v, Const):
            return v.array.dtype.name
        return str(self.builder.type_of(v)[1])

    # ---- graph --------------------------------------------------------------------------------
    def _declared_shape(self, value_info: Any) -> Tuple[int, ...]:
        name = value_info.name
        if name in self.shape_overrides:
            shape = tuple(int(s) for s in self.shape_overrides[name])
            if 0 in shape:
                raise UnsupportedError(f"graph input '{name}' is empty (shape {list(shape)})")
            return shape
        tensor_type = value_info.type.tensor_type
        dims = []
        for i, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value == 0:
                raise UnsupportedError(f"graph input '{name}' is empty (extent 0 on axis {i})")
            if dim.HasField("dim_value") and dim.dim_value > 0:
                dims.append(int(dim.dim_value))
            else:
                label = dim.dim_param or "?"
                raise TesselError(
                    f"graph input '{name}' has a dynamic dimension {i} ('{label}'); "
                    "give its shape in shape_overrides"
                )
        return tuple(dims)

    def run(self) -> ImportResult:
        graph = self.model.graph
        numpy_helper = self.onnx.numpy_helper
        for initializer in graph.initializer:
            self.values[initializer.name] = Const(numpy_helper.to_array(initializer), initializer.name)
        input_names: List[str] = []
        input_shapes: Dict[str, Tuple[int, ...]] = {}
        for value_info in graph.input:
            name = value_info.name
            if name in self.values:  # an initializer also listed as an input (older exporters)
                continue
            if not value_info.type.HasField("tensor_type"):
                kind = value_info.type.WhichOneof("value") or "unknown"
                raise UnsupportedError(f"graph input '{name}' is a {kind}, not a tensor (not supported)")
            if name in self.input_values:
                self.values[name] = Const(self.input_values[name])
                self.frozen_inputs.append(name)
                continue
            dtype = onnx_dtype(value_info.type.tensor_type.elem_type, f"graph input '{name}'")
            shape = self._declared_shape(value_info)
            graph_shape = shape if shape else (1,)  # a scalar input is fed as shape [1]
            self.values[name] = self.builder.input(name, graph_shape, dtype)
            input_names.append(name)
            input_shapes[name] = graph_shape
        for index, node in enumerate(graph.node):
            self._convert_node(node, index)
        output_names = []
        for value_info in graph.output:
            name = value_info.name
            if not value_info.type.HasField("tensor_type"):
                kind = value_info.type.WhichOneof("value") or "unknown"
                raise UnsupportedError(f"graph output '{name}' is a {kind}, not a tensor (not supported)")
            if name not in self.values:
                raise TesselError(f"graph output '{name}' is not produced by any node")
            self.builder.output(self.materialize(self.values[name]))
            output_names.append(name)
        built, params = self.builder.finish()
        return ImportResult(built, dict(params), input_names, input_shapes, list(self.frozen_inputs),
                            output_names, self.opset)

    def _convert_node(self, node: Any, index: int) -> None:
        ctx = NodeContext(self, node, index)
        if node.domain not in ("", "ai.onnx"):
            raise ctx.unsupported(f"operator domain '{node.domain}' is not supported")
        self._check_op_version(ctx)
        present = [name for name in node.input if name != ""]
        for name in present:
            if name not in self.values:
                raise ctx.error(f"input '{name}' is not defined before its use")
        all_const = all(isinstance(self.values[name], Const) for name in present)
        fold = FOLDERS.get(node.op_type)
        outputs = fold(ctx) if all_const and fold is not None else None  # None: not foldable
        if outputs is None:
            convert = CONVERTERS.get(node.op_type)
            if convert is None:
                raise ctx.unsupported("operator is not supported")
            outputs = convert(ctx)
        unknown = sorted(set(ctx.attrs) - ctx.used_attrs)
        if unknown:
            raise ctx.unsupported(f"attribute {unknown[0]} is not supported")
        for i, name in enumerate(node.output):
            if name == "":
                continue
            if i >= len(outputs) or outputs[i] is None:
                raise ctx.unsupported(f"output {i} ('{name}') is not supported")
            out = outputs[i]
            if isinstance(out, np.ndarray) or np.isscalar(out):
                out = Const(np.asarray(out))
            self.values[name] = out


def _as_model(path_or_model: Any) -> Any:
    onnx = _load_onnx_module()
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    if isinstance(path_or_model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(path_or_model))
    from google.protobuf.message import DecodeError  # noqa: PLC0415  (onnx depends on protobuf)

    try:
        return onnx.load(str(path_or_model))
    except (OSError, DecodeError) as error:
        raise TesselError(f"cannot read ONNX model '{path_or_model}': {error}") from error


def import_onnx(path_or_model: Any, shape_overrides: Optional[Mapping[str, Sequence[int]]] = None,
                input_values: Optional[Mapping[str, np.ndarray]] = None) -> ImportResult:
    """Converts an ONNX model, with the details :func:`from_onnx` leaves out.

    ``input_values`` binds graph inputs to fixed arrays: they become constants (folded at import)
    instead of graph inputs, e.g. a Reshape's target shape fed as an input.
    """
    _register_converters()
    model = _as_model(path_or_model)
    return OnnxImporter(model, shape_overrides, input_values).run()


def from_onnx(path_or_model: Any,
              shape_overrides: Optional[Mapping[str, Sequence[int]]] = None) -> Tuple[Any, Dict[str, np.ndarray]]:
    """Converts an ONNX model (a path, serialized bytes or a ModelProto) to ``(graph, params)``.

    ``shape_overrides`` maps input names to static shapes for inputs with dynamic dimensions.
    Raises :class:`UnsupportedError` (a :class:`tessel.TesselError`) naming the node, its op type
    and the missing feature when the model uses something the importer cannot express.
    """
    result = import_onnx(path_or_model, shape_overrides)
    return result.graph, result.params


def supported_ops() -> List[str]:
    """The ONNX op types with a converter (each may still reject some attribute combinations)."""
    _register_converters()
    return sorted(CONVERTERS)


def _register_converters() -> None:
    # The op modules register themselves with @converter / @folder when first imported.
    from tessel.frontend import onnx_ops_elementwise, onnx_ops_nn, onnx_ops_tensor  # noqa: F401,PLC0415
