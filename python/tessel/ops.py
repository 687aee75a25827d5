"""The operator library (TVM's topi): functions from tensors to tensors such as ``dense``,
``conv2d_nchw``, pooling, softmax and element-wise/broadcast operators. Each returns a tensor
whose op carries a tag naming the operator; ``te.default_schedule`` picks its default schedule.

This module re-exports the native ``_tessel.ops`` functions; ``help(tessel.ops.<name>)`` shows
each signature.
"""

from __future__ import annotations

from typing import Any, List

from tessel import _native

_ops: Any = _native().ops

__all__: List[str] = sorted(name for name in dir(_ops) if not name.startswith("_"))
globals().update({name: getattr(_ops, name) for name in __all__})
