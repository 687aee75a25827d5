"""Task extraction and compile split a graph into the same workloads (relay::partition_workloads):
for every model of the test suite (at small sizes), each task that ``extract_tasks`` returns is
looked up by ``compile`` under its key, and a record stored for it is applied. A record of one
task's DAG must not change the output either: the stored schedule is a real schedule of that
DAG (its default one here, so the test needs no tuning), and the model still matches PyTorch.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("onnx")

import tessel  # noqa: E402
from tessel import autotune  # noqa: E402


def _encoder(causal: bool) -> Callable[[], Any]:
    def build() -> Any:
        layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                                 activation="gelu", batch_first=True, norm_first=causal)
        encoder = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        if not causal:
            return encoder
        mask = torch.triu(torch.full((8, 8), float("-inf")), diagonal=1)

        class Causal(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder

            def forward(self, x: Any) -> Any:
                return self.encoder(x, mask=mask)

        return Causal()
    return build


# The models the suite compiles elsewhere (test_onnx_models, test_tuning_workflow), made small.
MODELS: Dict[str, Any] = {
    "resnet18": (lambda: torchvision.models.resnet18(), (1, 3, 32, 32)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), (1, 3, 32, 32)),
    "encoder": (_encoder(causal=False), (1, 8, 32)),
    "causal_decoder": (_encoder(causal=True), (1, 8, 32)),
}


def _import(name: str) -> Any:
    torch.manual_seed(0)
    build, shape = MODELS[name]
    model = build().eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, opset_version=13, input_names=["input"], output_names=["output"])
    graph, params = tessel.frontend.from_onnx(buffer.getvalue())
    return graph, params, x.numpy(), expected


def _default_schedule_record(task: autotune.Task, index: int) -> Dict[str, Any]:
    """A valid record of ``task``: its default schedule (the first candidate the search offers)."""
    steps = tessel._tessel.autotune.sample_candidates(task._native, 1)[0]
    return {"workload_key": task.workload_key, "task_name": task.name, "target": task.target, "steps": steps,
            "costs": [1e-3 * (index + 1)], "error": 0, "timestamp": time.time()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_extracted_task_is_applied_by_compile(name: str, tmp_path: Path) -> None:
    from tessel.database import Database

    graph, params, x, expected = _import(name)
    tasks = autotune.extract_tasks(graph, params, target="llvm")
    assert tasks
    assert len({t.workload_key for t in tasks}) == len(tasks)
    untuned = tessel.compile(graph, params, verbose=False)
    assert untuned.num_kernels == len(tasks), "compile builds one kernel per extracted task"

    db = Database(str(tmp_path / "records.db"))
    db.add_records([_default_schedule_record(t, i) for i, t in enumerate(tasks)])
    module = autotune.compile(graph, params, db=db.path, verbose=False)
    assert module.summary == f"{len(tasks)} of {len(tasks)} workloads tuned, 0 used default schedules"
    assert module.num_tuned_to_default == len(tasks)

    library = tmp_path / f"{name}.so"
    module.export_library(str(library))
    (actual,) = tessel.runtime.load(str(library)).run(input=x)
    error = float(np.linalg.norm(np.asarray(actual) - expected) / np.linalg.norm(expected))
    assert error <= 1e-4, f"{name}: relative error {error:.3e}"


def test_a_record_of_one_task_changes_only_that_kernel(tmp_path: Path) -> None:
    from tessel.database import Database

    graph, params, _, _ = _import("encoder")
    tasks = autotune.extract_tasks(graph, params)
    db = Database(str(tmp_path / "one.db"))
    db.add_records([_default_schedule_record(tasks[0], 0)])
    module = autotune.compile(graph, params, db=db.path, verbose=False)
    assert module.summary == f"1 of {len(tasks)} workloads tuned, {len(tasks) - 1} used default schedules"


def test_weights_from_onnx_are_not_copied_back(tmp_path: Path) -> None:
    """``from_onnx``'s params are views of the graph's own weights: compiling with them sets
    nothing again, and a different array still replaces a weight."""
    graph, params, x, expected = _import("encoder")
    assert params and all(not value.flags.writeable for value in params.values())
    assert all(graph.holds_param(key, value) for key, value in params.items())
    name, weight = next(iter(params.items()))
    replaced = np.ascontiguousarray(weight) + 1.0
    assert not graph.holds_param(name, replaced)
    from tessel.compiler import with_params
    assert with_params(graph, params) is getattr(graph, "_native", graph)
    changed = with_params(graph, {name: replaced})
    assert changed.holds_param(name, replaced) is False  # the copy holds its own converted array
    assert not np.array_equal(changed.params()[name], weight)
    assert graph.holds_param(name, params[name]), "the caller's graph is left alone"
    module_path = tmp_path / "m.so"
    tessel.compile(graph, params, verbose=False).export_library(str(module_path))
    (actual,) = tessel.runtime.load(str(module_path)).run(input=x)
    assert np.linalg.norm(np.asarray(actual) - expected) <= 1e-4 * np.linalg.norm(expected)

