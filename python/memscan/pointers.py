"""Pointer scans: chains of pointers from static bases (module memory, whose offsets survive a
restart) to a value, found once and narrowed after restarts, as Cheat Engine's pointer scanner
does.

>>> chains = proc.pointer_scan(health_address)          # every chain, shortest first
>>> # ... the game restarts; the value is found again at a new address ...
>>> chains = chains.rescan(memscan.Process(new_pid), new_address)
>>> chains.expressions()[0]                              # '[[game+4140]+10]+18'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _native
from .table import Table

if TYPE_CHECKING:
    import polars

__all__ = ["PointerChains", "PointerMap"]

PointerMap = _native.PointerMap


class PointerChains:
    """Pointer chains as a table: module, base_offset, offsets (outermost first), depth and the
    chain as an address expression (``memscan.Address.parse`` or ``proc.address`` take it)."""

    def __init__(self, table: Table | polars.DataFrame) -> None:
        self.frame: polars.DataFrame = table.to_polars() if isinstance(table, Table) else table

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return f"PointerChains({len(self):,} chains)"

    def to_polars(self) -> polars.DataFrame:
        return self.frame

    def expressions(self) -> list[str]:
        """Every chain as an address expression, shortest first."""
        return self.frame["expression"].to_list()

    def resolve(self, process: _native.Process) -> polars.DataFrame:
        """Every chain with the address it reaches in ``process`` now (null where a pointer on
        the way is unreadable or its module is not loaded)."""
        import polars as pl

        f = self.frame
        reached = _native.resolve_chains(
            process, f["module"].to_list(), f["base_offset"].to_list(), f["offsets"].to_list()
        )
        return f.with_columns(pl.Series("address", reached, dtype=pl.UInt64))

    def rescan(self, process: _native.Process, address: int) -> PointerChains:
        """The chains that reach ``address`` in ``process`` (e.g. after a restart, with the value
        found again); chains through unreadable pointers are dropped, not errors."""
        import polars as pl

        kept = self.resolve(process).filter(pl.col("address") == address).drop("address")
        return PointerChains(kept)


def pointer_scan(
    process: _native.Process,
    targets: int | list[int] | np.ndarray,
    *,
    max_depth: int = 5,
    max_offset: int = 4096,
    max_negative_offset: int = 0,
    max_chains: int = 100_000,
    modules: list[str] | None = None,
    pointer_map: PointerMap | None = None,
    progress: object = None,
) -> PointerChains:
    """Chains from static bases to ``targets`` (one address, or several, e.g. a scanner's
    candidates). ``pointer_map`` reuses a captured map; otherwise one is captured now."""
    pm = pointer_map if pointer_map is not None else PointerMap(process, progress=progress)
    wanted = np.ascontiguousarray(np.atleast_1d(np.asarray(targets, dtype=np.uint64)))
    table = pm.chains(
        wanted,
        max_depth=max_depth,
        max_offset=max_offset,
        max_negative_offset=max_negative_offset,
        max_chains=max_chains,
        modules=modules,
    )
    return PointerChains(Table(table))
