"""`Table`: an Arrow table from memscan, readable by polars, pandas, pyarrow and DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._lazy import pl
from .display import count, frame_html, hex_strings

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

__all__ = ["Table", "hex_addresses"]

#: Columns holding addresses (u64): shown in ``0x`` hex by :func:`hex_addresses`.
ADDRESS_COLUMNS = frozenset(
    (
        "address",
        "start",
        "end",
        "region_start",
        "region_end",
        "base",
        "module_base",
        "page",
        "first_change",
        "last_change",
        "ip",
        "instruction_address",
    )
)

#: Rows a table's repr shows: the first and the last half of these.
DISPLAY_ROWS = 10


def hex_addresses(df: Any) -> Any:
    """A copy of a polars or pandas frame for display: u64 address columns (``address``,
    ``start``, ``end``, ``region_start``, ...) as ``0x`` hex strings, and ``module`` with
    ``module_offset`` joined into one ``module+offset`` column (``libc.so.6+0x1f40``, null
    where no module is known). memscan's frames keep u64 addresses; this is only for showing
    them, e.g. ``hex_addresses(h.correlate(shown).head())``."""
    if hasattr(df, "iloc"):
        return _hex_pandas(df)
    out = df.with_columns(
        _hex_series(df[c]) for c in df.columns if c in ADDRESS_COLUMNS and df[c].dtype == pl.UInt64
    )
    if "module" in df.columns and "module_offset" in df.columns:
        joined = pl.col("module") + "+" + _hex_series(df["module_offset"])
        out = (
            out.with_columns(joined.alias("module"))
            .drop("module_offset")
            .rename({"module": "module+offset"})
        )
    return out


def _hex_series(s: polars.Series) -> polars.Series:
    text = pl.Series(s.name, hex_strings(s.fill_null(0).to_numpy()), dtype=pl.String)
    return text.set(s.is_null(), None) if s.null_count() else text


def _hex_pandas(df: pandas.DataFrame) -> pandas.DataFrame:
    out = df.copy()
    for c in df.columns:
        if c in ADDRESS_COLUMNS and df[c].dtype.kind in "uif":
            valid = df[c].notna().to_numpy()
            text = hex_strings(df[c].fillna(0).to_numpy().astype(np.uint64)).astype(object)
            text[~valid] = None
            out[c] = text
    if "module" in df.columns and "module_offset" in df.columns:
        offsets = _hex_pandas(df[["module_offset"]].rename(columns={"module_offset": "start"}))
        joined = df["module"] + "+" + offsets["start"]
        out = out.drop(columns="module_offset").rename(columns={"module": "module+offset"})
        out["module+offset"] = joined.where(df["module"].notna() & offsets["start"].notna(), None)
    return out


class Table:
    """A table produced in Rust, exported without copies through the Arrow PyCapsule interface.

    ``polars.DataFrame(t)``, ``pyarrow.table(t)`` and ``duckdb.sql("select * from t")`` all read
    it directly; :meth:`to_polars` and :meth:`to_pandas` are shortcuts. Shown in a notebook,
    its first and last rows appear with addresses in ``0x`` hex (the columns stay u64).
    """

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._native.__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> object:
        return self._native.__arrow_c_schema__()

    def __len__(self) -> int:
        return int(self._native.num_rows)

    @property
    def columns(self) -> list[str]:
        """Column names."""
        return list(self._native.column_names)

    def to_polars(self) -> polars.DataFrame:
        """The table as a polars DataFrame (no copy of the column buffers)."""
        return pl.DataFrame(self._native)

    def to_pyarrow(self) -> pyarrow.Table:
        """The table as a pyarrow Table (no copy)."""
        import pyarrow as pa

        return pa.table(self._native)

    def to_pandas(self) -> pandas.DataFrame:
        """The table as a pandas DataFrame (through pyarrow when installed, else NumPy columns)."""
        import pandas as pd

        try:
            return self.to_pyarrow().to_pandas()
        except ImportError:
            df = self.to_polars()
            return pd.DataFrame({c: df[c].to_numpy() for c in df.columns})

    def to_dicts(self) -> list[dict[str, Any]]:
        """Rows as dicts (for small tables)."""
        return self.to_polars().to_dicts()

    def _shown(self) -> tuple[polars.DataFrame, int | None, polars.Schema]:
        """The rows a repr shows, formatted (only those: a repr of millions of rows formats
        ten), how many of them are the head when rows were left out, and the types before
        formatting."""
        df = self.to_polars()
        if df.height <= DISPLAY_ROWS:
            return hex_addresses(df), None, df.schema
        half = DISPLAY_ROWS // 2
        return hex_addresses(pl.concat([df.head(half), df.tail(half)])), half, df.schema

    def __repr__(self) -> str:
        try:
            shown, head, _ = self._shown()
        except ImportError:
            return f"memscan.Table({count(len(self), 'row')}: {', '.join(self.columns)})"
        cut = f" (the first and last {head} shown)" if head else ""
        body = repr(shown)
        if body.startswith("shape:"):  # polars' table without its shape line
            body = body.split("\n", 1)[1]
        return f"memscan.Table: {count(len(self), 'row')}{cut}\n{body}"

    def _repr_html_(self) -> str | None:
        try:
            shown, head, schema = self._shown()
        except ImportError:
            return None
        dtypes = [str(schema.get(c, shown.schema[c])) for c in shown.columns]
        return frame_html(shown, dtypes=dtypes, total=len(self), head=head)
