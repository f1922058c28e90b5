"""`Table`: an Arrow table from memscan, readable by polars, pandas, pyarrow and DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

__all__ = ["Table"]

#: Columns holding addresses: shown in hex when a table is printed.
ADDRESS_COLUMNS = ("address", "start", "end", "region_start")


class Table:
    """A table produced in Rust, exported without copies through the Arrow PyCapsule interface.

    ``polars.DataFrame(t)``, ``pyarrow.table(t)`` and ``duckdb.sql("select * from t")`` all read
    it directly; :meth:`to_polars` and :meth:`to_pandas` are shortcuts.
    """

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._native.__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> object:
        return self._native.__arrow_c_schema__()

    def __len__(self) -> int:
        return self._native.num_rows

    @property
    def columns(self) -> list[str]:
        """Column names."""
        return list(self._native.column_names)

    def to_polars(self) -> polars.DataFrame:
        """The table as a polars DataFrame (no copy of the column buffers)."""
        import polars as pl

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

    def _display_frame(self) -> polars.DataFrame:
        import polars as pl

        df = self.to_polars()
        hex_cols = [
            pl.col(c).map_elements(hex, return_dtype=pl.String)
            for c in ADDRESS_COLUMNS
            if c in df.columns and df.schema[c] == pl.UInt64
        ]
        return df.with_columns(hex_cols) if hex_cols else df

    def __repr__(self) -> str:
        try:
            return f"memscan.Table\n{self._display_frame()!r}"
        except ImportError:
            return f"memscan.Table({len(self)} rows, columns={self.columns})"

    def _repr_html_(self) -> str | None:
        try:
            return self._display_frame()._repr_html_()
        except ImportError:
            return None
