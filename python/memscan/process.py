"""The Pythonic object model: :class:`Process`."""

from __future__ import annotations

from typing import Self

from . import _native
from .table import Table

__all__ = ["Process", "Region"]

Region = _native.Region


class Process(_native.Process):
    """An opened process: ``Process(pid)``, usable as a context manager.

    Reads and writes are exact in every type (``read_value(addr, "u64")``), and writes are all or
    nothing. ``force=True`` writes through ``/proc/PID/mem`` to pages without write permission.
    """

    def regions(self) -> Table:
        """Every mapped region as a table (start, end, size, perms, ..., path, kind)."""
        return Table(self.regions_table())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
