"""Region snapshots and change maps: which pages and bytes of a process changed between two
moments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from . import _native
from ._progress import ProgressArg, progress_callback
from .options import SnapshotOptions
from .table import Table

if TYPE_CHECKING:
    import polars

__all__ = ["ChangeMap", "Snapshot"]


class Snapshot:
    """The bytes of chosen regions (default: every writable one) at one moment; N bytes of
    memory cost about N bytes. ``later.diff(earlier)`` gives a :class:`ChangeMap`."""

    def __init__(
        self,
        process: _native.Process,
        progress: ProgressArg = "auto",
        **regions: Unpack[SnapshotOptions],
    ) -> None:
        cb = progress_callback(progress, "snapshot")
        self._native = _native.MemorySnapshot(process, progress=cb, **regions)

    @property
    def pid(self) -> int:
        return self._native.pid

    @property
    def taken_ns(self) -> int:
        return self._native.taken_ns

    @property
    def nbytes(self) -> int:
        return self._native.nbytes

    def regions(self) -> list[_native.Region]:
        return self._native.region_list()

    def diff(self, before: Snapshot, *, gap: int = 8) -> ChangeMap:
        """What changed from ``before`` to this snapshot (runs closer than ``gap`` merged)."""
        return ChangeMap(Table(self._native.diff_from(before._native, gap=gap)), before, self)

    def __repr__(self) -> str:
        return f"Snapshot(pid={self.pid}, {len(self.regions())} regions, {self.nbytes:,} bytes)"


class ChangeMap:
    """The changed byte ranges between two snapshots (region, start, end, length,
    changed_bytes), with summaries per page and per region."""

    def __init__(self, table: Table, before: Snapshot, after: Snapshot) -> None:
        self.table = table
        self.before, self.after = before, after

    def __len__(self) -> int:
        return len(self.table)

    def to_polars(self) -> polars.DataFrame:
        return self.table.to_polars()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)

    def by_page(self, page_size: int = 4096) -> polars.DataFrame:
        """Changed bytes per page."""
        import polars as pl

        return (
            self.to_polars()
            .with_columns((pl.col("start") // page_size * page_size).alias("page"))
            .group_by("region_start", "region_kind", "path", "page")
            .agg(pl.col("changed_bytes").sum(), pl.len().alias("ranges"))
            .sort("page")
        )

    def by_region(self) -> polars.DataFrame:
        """Per region: ranges, changed bytes, and the first and last changed address."""
        import polars as pl

        return (
            self.to_polars()
            .group_by("region_start", "region_end", "region_kind", "path")
            .agg(
                pl.len().alias("ranges"),
                pl.col("changed_bytes").sum(),
                pl.col("start").min().alias("first_change"),
                pl.col("end").max().alias("last_change"),
            )
            .sort("region_start")
        )

    def to_parquet(self, path: str, **metadata: str) -> None:
        from .io import write_parquet

        meta = {
            **metadata,
            "kind": "change_map",
            "pid": str(self.after.pid),
            "before_ns": str(self.before.taken_ns),
            "after_ns": str(self.after.taken_ns),
        }
        write_parquet(self.to_polars(), path, meta)

    def __repr__(self) -> str:
        return f"ChangeMap({len(self)} ranges)"
