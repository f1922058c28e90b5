"""polars, imported on first use: ``from ._lazy import pl``.

polars is a required dependency, but importing it costs about as much as importing the rest of
memscan (~90 ms), and ``import memscan`` should stay quick for scripts and the CLI that never
build a frame. Type checkers see the real module; at run time ``pl`` imports polars when an
attribute is first looked up.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["pl"]


class _Lazy:
    """A module imported at its first attribute lookup."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            try:
                self._module = importlib.import_module(self._name)
            except ImportError as e:  # a broken install: polars is a dependency of memscan
                raise ImportError(
                    f"memscan needs {self._name} (a dependency): pip install {self._name}"
                ) from e
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


if TYPE_CHECKING:
    import polars as pl
else:
    pl = _Lazy("polars")
