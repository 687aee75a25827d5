"""Whole models through the ONNX frontend: PyTorch -> torch.onnx.export (opset 13) -> Tessel.

Each model (random weights, fixed seed) is compiled, exported, loaded and run with the deployment
runtime, and compared with PyTorch: the error must be at most 1e-4 of the output's norm. The number
of fused kernels is printed. ResNet-18 runs by default; the larger models are marked slow.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import tessel  # noqa: E402
import tessel.frontend  # noqa: E402
import tessel.runtime  # noqa: E402


def _export(model: "torch.nn.Module", example: "torch.Tensor") -> bytes:
    buffer = io.BytesIO()
    # Exported with gradients enabled: in no_grad mode an eval TransformerEncoderLayer takes its
    # fused fast path (aten::_transformer_encoder_layer_fwd), which has no ONNX export.
    torch.onnx.export(model, (example,), buffer, opset_version=13, input_names=["input"],
                      output_names=["output"], do_constant_folding=True)
    return buffer.getvalue()


def _compare(name: str, model: "torch.nn.Module", example: "torch.Tensor", tmp_path: Path) -> None:
    model.eval()
    with torch.no_grad():
        expected = model(example).numpy()
    graph, params = tessel.frontend.from_onnx(_export(model, example))
    compiled = tessel.compile(graph, params, target="llvm")
    library = tmp_path / f"{name}.so"
    compiled.export_library(str(library))
    (actual,) = tessel.runtime.load(str(library)).run(input=example.numpy())
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    error = float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))
    print(f"\n{name}: {compiled.num_kernels} fused kernels ({compiled.num_kernel_calls} calls), "
          f"relative error {error:.2e}; {compiled.summary}")
    assert error <= 1e-4, f"{name}: relative error {error:.3e}"


def _image(seed: int) -> "torch.Tensor":
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, 224, 224, generator=generator)


def test_resnet18(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    _compare("resnet18", torchvision.models.resnet18(), _image(1), tmp_path)


@pytest.mark.slow
def test_resnet50(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    _compare("resnet50", torchvision.models.resnet50(), _image(2), tmp_path)


@pytest.mark.slow
def test_mobilenet_v2(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    _compare("mobilenet_v2", torchvision.models.mobilenet_v2(), _image(3), tmp_path)


@pytest.mark.slow
def test_bert_like_encoder(tmp_path):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=768, nhead=12, dim_feedforward=3072, dropout=0.1,
                                             activation="gelu", batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, num_layers=12, enable_nested_tensor=False)
    tokens = torch.randn(1, 128, 768, generator=torch.Generator().manual_seed(4))
    _compare("bert_like_encoder", encoder, tokens, tmp_path)
