"""Address expressions: ``Address.parse("[[game+4140]+10]+8")``, resolved in a process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _native
from ._convert import native_process

if TYPE_CHECKING:
    from .process import Process

__all__ = ["Address"]


class Address:
    """A parsed address expression: ``module+offset`` (hex), ``[...]`` to read a pointer,
    ``+``/``-`` offsets, ``module!symbol``. Parse once, resolve in any process (after a
    restart too). A malformed expression is :class:`~memscan.InvalidArgument`."""

    __slots__ = ("_native",)

    def __init__(self, expression: str) -> None:
        self._native = _native.Address.parse(expression)

    @classmethod
    def parse(cls, expression: str) -> Address:
        """Parses ``expression`` (at most ``ADDRESS_MAX_LEN`` characters and
        ``ADDRESS_MAX_DEPTH`` pointer levels)."""
        return cls(expression)

    def resolve(self, process: Process | _native.Process) -> int:
        """The address the expression names in ``process`` now."""
        return self._native.resolve(native_process(process))

    @property
    def depth(self) -> int:
        """Pointer levels (bracket nesting)."""
        return self._native.depth

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and self._native == other._native

    def __hash__(self) -> int:
        return hash(str(self))

    def __str__(self) -> str:
        return str(self._native)

    def __repr__(self) -> str:
        return repr(self._native)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Address, (str(self),))
