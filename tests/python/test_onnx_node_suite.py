"""ONNX backend node tests (package libonnx-testdata): import, compile, run, compare.

Every case whose import succeeds must match ONNX's expected outputs (rtol 1e-4, atol 1e-5; exact
for integers and bools); cases the importer rejects as unsupported are skipped with its reason.
A summary line gives the pass / fail / unsupported counts. Each case compiles one small module
(about 0.1 s), so all ~930 cases run by default.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

import tessel  # noqa: E402
import tessel.frontend  # noqa: E402
import tessel.runtime  # noqa: E402

NODE_DIR = Path("/usr/include/onnx/backend/test/data/node")
ALL_CASES = sorted(p.name for p in NODE_DIR.glob("test_*") if (p / "model.onnx").exists()) if NODE_DIR.exists() else []

_COUNTS: Dict[str, int] = {"pass": 0, "fail": 0, "unsupported": 0}
_UNSUPPORTED_REASONS: Dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    start = time.perf_counter()
    yield
    total = sum(_COUNTS.values())
    if total == 0:
        return
    line = (f"ONNX node tests: {_COUNTS['pass']} passed, {_COUNTS['fail']} failed, "
            f"{_COUNTS['unsupported']} unsupported of {total} cases ({time.perf_counter() - start:.0f} s)")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # past pytest's output capture
        reporter.write_line("")
        reporter.write_line(line)


def _read_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def _data_sets(case_dir: Path) -> List[Tuple[List[np.ndarray], List[np.ndarray]]]:
    sets = []
    for data_dir in sorted(case_dir.glob("test_data_set_*")):
        inputs = [_read_tensor(p) for p in sorted(data_dir.glob("input_*.pb"), key=lambda p: int(p.stem[6:]))]
        outputs = [_read_tensor(p) for p in sorted(data_dir.glob("output_*.pb"), key=lambda p: int(p.stem[7:]))]
        sets.append((inputs, outputs))
    return sets


def _import(model, feeds: Dict[str, np.ndarray]):
    """Imports the model with the test data's input shapes; inputs that set shapes (a Reshape's
    shape, Slice's starts...) are bound to their test values and folded, the rest stay inputs."""
    # An empty input can only be a shape-like operand (tensors have positive extents): bind it.
    bound: Dict[str, np.ndarray] = {name: array for name, array in feeds.items() if array.size == 0}
    shapes = {name: array.shape for name, array in feeds.items() if array.ndim > 0}
    while True:
        try:
            return tessel.frontend.import_onnx(model, shape_overrides=shapes, input_values=bound)
        except tessel.frontend.NeedsConstantError as error:
            if error.value_name not in feeds or error.value_name in bound:
                raise
            bound[error.value_name] = feeds[error.value_name]


def _check_output(name: str, actual: np.ndarray, expected: np.ndarray) -> None:
    if expected.ndim == 0 and actual.shape == (1,):
        actual = actual.reshape(())  # graph tensors have rank >= 1: an ONNX scalar is shape [1]
    assert actual.shape == expected.shape, f"output {name}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"output {name}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=f"output {name}")
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5, err_msg=f"output {name}")


def run_case(case: str, tmp_path: Path) -> None:
    case_dir = NODE_DIR / case
    model = onnx.load(str(case_dir / "model.onnx"))
    initializers = {i.name for i in model.graph.initializer}
    input_names = [v.name for v in model.graph.input if v.name not in initializers]
    try:
        data_sets = _data_sets(case_dir)
    except (ValueError, TypeError):  # sequences or optionals as data: the import must reject them
        data_sets = None
    for set_index, (inputs, expected) in enumerate(data_sets or [([], [])]):
        feeds = dict(zip(input_names, inputs))
        try:
            result = _import(model, feeds)
        except tessel.frontend.UnsupportedError as error:
            _COUNTS["unsupported"] += 1
            _UNSUPPORTED_REASONS[case] = str(error)
            pytest.skip(f"unsupported: {error}")
        if data_sets is None:
            _COUNTS["fail"] += 1
            pytest.fail("the test data is not tensors, yet the import accepted the model")
        try:
            module = tessel.compile(result.graph, result.params, target="llvm")
            library = tmp_path / f"{case}_{set_index}.so"
            module.export_library(str(library))
            runtime_module = tessel.runtime.load(str(library))
            run_inputs = {name: np.ascontiguousarray(feeds[name].reshape(result.input_shapes[name]))
                          for name in result.input_names}
            if run_inputs:
                actual = runtime_module.run(**run_inputs)
            else:  # everything folded to constants: no inputs to set
                runtime_module.run()
                actual = [runtime_module.get_output(i) for i in range(len(runtime_module.outputs))]
            assert len(actual) == len(expected), f"{len(actual)} outputs, expected {len(expected)}"
            for name, got, want in zip(result.output_names, actual, expected):
                _check_output(name, np.asarray(got), want)
        except BaseException:
            _COUNTS["fail"] += 1
            raise
    _COUNTS["pass"] += 1


@pytest.mark.skipif(not ALL_CASES, reason="ONNX node test data (libonnx-testdata) is not installed")
@pytest.mark.parametrize("case", ALL_CASES)
def test_node(case: str, tmp_path: Path) -> None:
    run_case(case, tmp_path)


def test_required_ops_are_covered() -> None:
    """Every required op has a converter (whether each case passes is test_node's business)."""
    required = ("Abs Add And ArgMax AveragePool BatchNormalization Cast Ceil Clip Concat Constant "
                "ConstantOfShape Conv ConvTranspose Cos Div Dropout Elu Equal Erf Exp Expand Flatten Floor "
                "Gather Gemm GlobalAveragePool GlobalMaxPool Greater HardSigmoid HardSwish Identity "
                "InstanceNormalization LayerNormalization LeakyRelu Less Log LogSoftmax MatMul Max MaxPool "
                "Mean Min Mul Neg Not Pad Pow PRelu Range Reciprocal ReduceMax ReduceMean ReduceMin "
                "ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Selu Shape Sigmoid Sign Sin Slice "
                "Softmax Softplus Softsign Split Sqrt Squeeze Sub Sum Tanh Tile Transpose Unsqueeze Where").split()
    missing = sorted(set(required) - set(tessel.frontend.supported_ops()))
    assert not missing, f"ops without a converter: {missing}"
