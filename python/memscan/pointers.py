"""Pointer scans: chains of pointers from static bases (module memory, whose offsets survive a
restart) to a value, found once and narrowed after restarts, as Cheat Engine's pointer scanner
does.

>>> chains = proc.pointer_scan(health_address)          # every chain, shortest first
>>> # ... the game restarts; the value is found again at a new address ...
>>> chains = chains.rescan(memscan.Process(new_pid), new_address)
>>> chains.expressions()[0]                              # '[[game+4140]+10]+18'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import _native, value_types
from ._convert import native_process
from ._lazy import pl
from .errors import InvalidAddress, InvalidArgument, ProcessExited
from .table import Table

if TYPE_CHECKING:
    import pandas
    import polars

    from .process import Process

__all__ = ["PointerChains", "PointerMap"]

PointerMap = _native.PointerMap


class PointerChains:
    """Pointer chains as a table: module, base_offset, offsets (outermost first), depth and the
    chain as an address expression (``memscan.Address.parse`` or ``proc.address`` take it).

    Chains a scan wrote to a file (``pointer_scan(..., output=path)``) stay there until they
    are used: ``path`` names the file, read in full on first use; ``polars.scan_ipc(path)``
    reads it lazily, for more chains than fit in memory."""

    def __init__(self, table: Table | polars.DataFrame | Path) -> None:
        #: The Arrow IPC file the chains were written to, if they were.
        self.path: Path | None = table if isinstance(table, Path) else None
        self._frame: polars.DataFrame | None = None
        if isinstance(table, Table):
            self._frame = table.to_polars()
        elif not isinstance(table, Path):
            self._frame = table

    @property
    def frame(self) -> polars.DataFrame:
        """The chains as a polars DataFrame."""
        if self._frame is None:
            assert self.path is not None
            self._frame = pl.read_ipc(self.path)
        return self._frame

    def __len__(self) -> int:
        if self._frame is None:
            assert self.path is not None
            return int(pl.scan_ipc(self.path).select(pl.len()).collect().item())
        return self._frame.height

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

    def resolve(self, source: Process | _native.Process | PointerMap) -> polars.DataFrame:
        """Every chain with the address it reaches (column ``address``): in a process now, or in
        a pointer map as its process was at the capture (a saved map answers for an earlier
        run). Null where a pointer on the way is unreadable (in a map: held no pointer) or its
        module is not loaded."""
        f = self.frame
        native = source if isinstance(source, _native.PointerMap) else native_process(source)
        reached = _native.resolve_chains(
            native,
            f["module"].to_list(),
            f["base_offset"].to_list(),
            f["offsets"].to_list(),
        )
        return f.with_columns(pl.Series("address", reached, dtype=pl.UInt64))

    def rescan(
        self,
        process: Process | _native.Process,
        address: int | None = None,
        *,
        value: int | float | None = None,
        value_type: str | None = None,
    ) -> PointerChains:
        """The chains that still work in ``process``: those reaching ``address`` (e.g. after a
        restart, with the value found again), or those whose end holds ``value`` of
        ``value_type`` now (no scan for the value needed). Chains through unreadable pointers
        are dropped, not errors."""
        if (address is None) == (value is None):
            raise InvalidArgument("rescan takes either an address or a value")
        if value is None:
            kept = self.resolve(process).filter(pl.col("address") == address)
            return PointerChains(kept.drop("address"))
        if value_type is None:
            raise InvalidArgument("rescan by value needs its value_type (e.g. 'i32')")
        value_type = value_types.value_type(value_type).name
        reached = self.resolve(process)
        ends = reached["address"].to_list()
        live = native_process(process)
        holds = [a is not None and _holds(live, a, value_type, value) for a in ends]
        kept = reached.filter(pl.Series(holds, dtype=pl.Boolean)).drop("address")
        return PointerChains(kept)

    def valid_in(self, pointer_map: PointerMap, target: int) -> PointerChains:
        """The chains that reached ``target`` in the run ``pointer_map`` was captured from."""
        kept = self.resolve(pointer_map).filter(pl.col("address") == target)
        return PointerChains(kept.drop("address"))

    def intersect(self, *runs: tuple[PointerMap, int]) -> PointerChains:
        """The chains valid in every run, each run given as ``(pointer_map, target)``: its map
        (captured then, or saved and loaded) and where the value was in it. Cheat Engine's
        pointer-map compare: chains that held across restarts are the ones to keep."""
        kept = self
        for pointer_map, target in runs:
            kept = kept.valid_in(pointer_map, target)
        return kept


def _holds(process: _native.Process, address: int, value_type: str, value: int | float) -> bool:
    """True if ``address`` holds ``value`` of ``value_type`` (False where it cannot be read)."""
    try:
        return process.read_value(address, value_type) == value
    except (InvalidAddress, ProcessExited):
        return False
