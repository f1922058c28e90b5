"""Region snapshots and change maps: which pages and bytes of a process changed between two
moments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from . import _native, plots
from ._convert import native_process, region_list
from ._lazy import pl
from ._progress import ProgressArg, progress_callback
from .display import card, count, esc, hex_strings, human_bytes, mono, table
from .options import SnapshotOptions
from .table import Table

if TYPE_CHECKING:
    import altair
    import polars

    from .process import Process

__all__ = ["ChangeMap", "Snapshot"]


class Snapshot:
    """The bytes of chosen regions (default: every writable one) at one moment; N bytes of
    memory cost about N bytes. ``later.diff(earlier)`` gives a :class:`ChangeMap`."""

    def __init__(
        self,
        process: Process | _native.Process,
        progress: ProgressArg = "auto",
        **regions: Unpack[SnapshotOptions],
    ) -> None:
        cb = progress_callback(progress, "snapshot")
        opts: dict[str, Any] = dict(regions)
        opts["regions"] = region_list(process, opts.get("regions"))
        self._native = _native.MemorySnapshot(native_process(process), progress=cb, **opts)

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

    def _taken(self) -> str:
        return str(np.datetime64(self.taken_ns, "ns").astype("datetime64[ms]")) + " UTC"

    def __repr__(self) -> str:
        return (
            f"Snapshot(pid={self.pid}, {count(len(self.regions()), 'region')}, "
            f"{human_bytes(self.nbytes)}, taken {self._taken()})"
        )

    def _repr_html_(self) -> str:
        regions = self.regions()
        kinds: dict[str, list[int]] = {}
        for r in regions:
            k = kinds.setdefault(r.kind, [0, 0])
            k[0] += 1
            k[1] += r.size
        rows = [(kind, n, human_bytes(size)) for kind, (n, size) in sorted(kinds.items())]
        facts = [
            ("process", mono(self.pid)),
            ("taken", esc(self._taken())),
            ("copied", esc(f"{human_bytes(self.nbytes)} of {count(len(regions), 'region')}")),
        ]
        kinds_table = table(["kind", "regions", "size"], rows, numeric=[1, 2])
        return card("Snapshot", human_bytes(self.nbytes), facts, kinds_table)


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
        return (
            self.to_polars()
            .with_columns((pl.col("start") // page_size * page_size).alias("page"))
            .group_by("region_start", "region_kind", "path", "page")
            .agg(pl.col("changed_bytes").sum(), pl.len().alias("ranges"))
            .sort("page")
        )

    def by_region(self) -> polars.DataFrame:
        """Per region: ranges, changed bytes, and the first and last changed address."""
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

    def heatmap(self, bins: int = 64, max_regions: int = 24) -> polars.DataFrame:
        """Changed bytes over address x region: each changed region (the ``max_regions`` with
        most changed bytes) cut into ``bins`` equal slices, one row per slice that changed:
        region (``kind name 0x...``), bin, first/last address of the slice, changed bytes,
        ranges. :meth:`plot` draws it."""
        df = self.to_polars()
        top = (
            df.group_by("region_start")
            .agg(pl.col("changed_bytes").sum().alias("total"))
            .sort("total", "region_start", descending=[True, False])
            .head(max_regions)["region_start"]
        )
        size = pl.col("region_end") - pl.col("region_start")
        slice_of = (pl.col("start") - pl.col("region_start")) * bins // size
        path = pl.col("path").cast(pl.String).fill_null("")
        # The file name of a file mapping; nothing for pseudo paths ([heap]) and anonymous memory.
        name = pl.when(path.str.starts_with("/")).then(path.str.split("/").list.last())
        return (
            df.filter(pl.col("region_start").is_in(top.implode()))
            .with_columns(slice_of.alias("bin"))
            .group_by("region_start", "region_end", "region_kind", "bin")
            .agg(
                pl.col("changed_bytes").sum(),
                pl.len().alias("ranges"),
                name.first().alias("name"),
            )
            .with_columns(
                pl.concat_str(
                    pl.col("region_kind").cast(pl.String),
                    pl.col("name"),
                    pl.col("region_start").map_batches(_hex, return_dtype=pl.String),
                    separator=" ",
                    ignore_nulls=True,
                ).alias("region"),
                (pl.col("region_start") + size * pl.col("bin") // bins).alias("from"),
                (pl.col("region_start") + size * (pl.col("bin") + 1) // bins - 1).alias("to"),
            )
            .sort("region_start", "bin")
            .select("region", "bin", "from", "to", "changed_bytes", "ranges")
        )

    def plot(
        self, *, bins: int = 64, max_regions: int = 24, mark: dict[str, int] | None = None
    ) -> altair.LayerChart:
        """A change heatmap, address x region: one row per changed region, its address range
        cut into ``bins`` slices coloured by changed bytes (log scale); ``mark`` names
        addresses to point at (``{"gold": addr}``: a pin on its slice when that slice
        changed). An Altair (Vega-Lite) chart, shown as an SVG drawn here (no network:
        :mod:`memscan.plots`)."""
        import altair as alt

        data = self.heatmap(bins, max_regions).with_columns(
            pl.col("from").map_batches(_hex, return_dtype=pl.String).alias("from_hex"),
            pl.col("to").map_batches(_hex, return_dtype=pl.String).alias("to_hex"),
        )
        order = data["region"].unique(maintain_order=True).to_list()
        y = alt.Y("region:N", sort=order, title=None)
        x = alt.X(
            "bin:O",
            title=f"position in the region ({bins} slices)",
            scale=alt.Scale(domain=list(range(bins))),
            axis=alt.Axis(labels=False, ticks=False),
        )
        cells = (
            alt.Chart(data)
            .mark_rect()
            .encode(
                x,
                y,
                alt.Color(
                    "changed_bytes:Q",
                    title="changed bytes",
                    scale=alt.Scale(type="log", scheme="viridis"),
                ),
                tooltip=[
                    "region",
                    alt.Tooltip("from_hex:N", title="from"),
                    alt.Tooltip("to_hex:N", title="to"),
                    "changed_bytes",
                    "ranges",
                ],
            )
        )
        points = pl.DataFrame(
            [
                (label, row["region"], row["bin"])
                for label, address in (mark or {}).items()
                for row in data.filter(
                    (pl.col("from") <= address) & (pl.col("to") >= address)
                ).iter_rows(named=True)
            ],
            schema={"label": pl.String, "region": pl.String, "bin": pl.Int64},
            orient="row",
        )
        pins = (
            alt.Chart(points)
            .mark_point(shape="triangle-down", size=140, filled=True, color="#e4572e")
            .encode(x, y)
        )
        names = (
            alt.Chart(points)
            .mark_text(align="left", dx=8, fontWeight="bold")
            .encode(x, y, text="label:N")
        )
        return plots.layer(cells, pins, names).properties(
            width=560, title=f"{self._changed()}, {self._seconds():.3g} s apart"
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

    #: Regions a change map's HTML repr lists.
    PREVIEW = 8

    def _seconds(self) -> float:
        return (self.after.taken_ns - self.before.taken_ns) / 1e9

    def _changed(self) -> str:
        """Ranges, bytes and regions changed, in words (ranges only without polars)."""
        try:
            df = self.to_polars()
        except ImportError:
            return count(len(self), "range")
        return (
            f"{human_bytes(int(df['changed_bytes'].sum()))} in {count(len(self), 'range')}, "
            f"{count(df['region_start'].n_unique(), 'region')}"
        )

    def __repr__(self) -> str:
        return f"ChangeMap({self._changed()}, {self._seconds():.3g} s apart)"

    def _repr_html_(self) -> str:
        facts = [
            ("process", mono(self.after.pid)),
            ("between", esc(f"{self.before._taken()} and {self._seconds():.3g} s later")),
            ("changed", esc(self._changed())),
        ]
        parts = []
        try:
            regions = self.by_region().sort("changed_bytes", descending=True)
        except ImportError:
            regions = None
        if regions is not None and regions.height:
            rows = [
                (
                    f"{r['region_start']:#x}",
                    r["region_kind"],
                    _short_path(r["path"]),
                    r["ranges"],
                    r["changed_bytes"],
                    f"{r['first_change']:#x}",
                )
                for r in regions.head(self.PREVIEW).iter_rows(named=True)
            ]
            more = f"the first {self.PREVIEW} of {regions.height:,} by changed bytes"
            cols = ["region", "kind", "path", "ranges", "changed bytes", "first change"]
            parts.append(
                table(
                    cols,
                    rows,
                    numeric=[0, 3, 4, 5],
                    caption=more if len(rows) < regions.height else "",
                )
            )
        return card("ChangeMap", f"{self._seconds():.3g} s apart", facts, *parts)


def _hex(s: polars.Series) -> polars.Series:
    return pl.Series(s.name, hex_strings(s.to_numpy()), dtype=pl.String)


def _short_path(path: str | None) -> str:
    """The file name of a mapping's path; pseudo paths (``[heap]``) as they are."""
    return (path or "").rsplit("/", 1)[-1]
