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

from . import _native
from ._convert import native_process
from ._lazy import pl
from .table import Table

if TYPE_CHECKING:
    import pandas
    import polars

    from .process import Process

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

    def to_pandas(self) -> pandas.DataFrame:
        return self.frame.to_pandas()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The chains as an Arrow stream: ``pl.DataFrame(chains)``, ``pa.table(chains)``,
        DuckDB, as every other result object."""
        return self.frame.__arrow_c_stream__(requested_schema)

    def expressions(self) -> list[str]:
        """Every chain as an address expression, shortest first."""
        return self.frame["expression"].to_list()

    def resolve(self, process: Process | _native.Process) -> polars.DataFrame:
        """Every chain with the address it reaches in ``process`` now (null where a pointer on
        the way is unreadable or its module is not loaded)."""
        f = self.frame
        reached = _native.resolve_chains(
            native_process(process),
            f["module"].to_list(),
            f["base_offset"].to_list(),
            f["offsets"].to_list(),
        )
        return f.with_columns(pl.Series("address", reached, dtype=pl.UInt64))

    def rescan(self, process: Process | _native.Process, address: int) -> PointerChains:
        """The chains that reach ``address`` in ``process`` (e.g. after a restart, with the value
        found again); chains through unreadable pointers are dropped, not errors."""
        kept = self.resolve(process).filter(pl.col("address") == address).drop("address")
        return PointerChains(kept)
