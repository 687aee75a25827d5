"""Read-only properties that forward to a field of the wrapped native object (``self._native``),
for the thin Python classes over the C++ values (Target, Task, CompiledModule)."""
from __future__ import annotations

from typing import Any, Callable


def native_field(name: str, convert: Callable[[Any], Any], doc: str) -> property:
    """A property returning ``convert(self._native.<name>)``."""
    return property(lambda self: convert(getattr(self._native, name)), doc=doc)
