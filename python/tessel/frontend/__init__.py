"""Model frontends: turn a model file from another framework into a Tessel graph and its weights.

    graph, params = tessel.frontend.from_onnx("model.onnx")
    module = tessel.compile(graph, params, target="llvm")
"""

from tessel.frontend.onnx_importer import (ImportResult, NeedsConstantError, UnsupportedError, from_onnx, import_onnx,
                                           supported_ops)

__all__ = ["from_onnx", "import_onnx", "ImportResult", "UnsupportedError", "NeedsConstantError", "supported_ops"]
