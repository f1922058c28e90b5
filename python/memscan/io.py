"""Parquet export and import with metadata, and hive-partitioned datasets for long recordings.

Files are written under a temporary name and renamed into place, so an interrupted write
never leaves a half-written file under its final name.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgument

if TYPE_CHECKING:
    import polars

    from .history import History

__all__ = ["Dataset", "Loaded", "load", "write_parquet"]

#: Prefix of memscan's keys in a Parquet file's key-value metadata.
PREFIX = "memscan."


def write_parquet(
    df: polars.DataFrame, path: str | os.PathLike[str], metadata: dict[str, Any]
) -> Path:
    """Writes ``df`` to ``path`` with ``metadata`` (plus memscan's version and the time),
    atomically. Returns the path."""
    from . import __version__

    meta = {"version": __version__, "written_ns": str(time.time_ns()), **metadata}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        df.write_parquet(tmp, metadata={PREFIX + k: str(v) for k, v in meta.items()})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class Loaded:
    """A Parquet file written by memscan: its frame and memscan's metadata."""

    frame: polars.DataFrame
    metadata: dict[str, str]

    @property
    def kind(self) -> str:
        return self.metadata.get("kind", "")

    def history(self) -> History:
        """The file as a :class:`History` (for files written by ``History.to_parquet``)."""
        import numpy as np
        import polars as pl

        from .history import History

        if self.kind != "history":
            raise InvalidArgument(f"this file holds a {self.kind or 'table'}, not a history")
        df = self.frame.sort("sample", "address")
        addresses = df["address"].unique(maintain_order=True).to_numpy()
        per_sample = df.group_by("sample", maintain_order=True).agg(
            pl.col("timestamp").first(), pl.col("label").first()
        )
        n, m = per_sample.height, len(addresses)
        return History(
            value_type=self.metadata["value_type"],
            addresses=addresses,
            timestamps_ns=per_sample["timestamp"].cast(pl.Int64).to_numpy(),
            labels=per_sample["label"].to_list(),
            values=df["value"].to_numpy().reshape(n, m),
            unreadable=np.zeros(n, dtype=np.uint32),
            metadata=self.metadata,
        )


def load(path: str | os.PathLike[str]) -> Loaded:
    """Reads a Parquet file written by memscan (a scan, a history or a change map)."""
    import polars as pl

    raw = pl.read_parquet_metadata(path)
    meta = {k[len(PREFIX) :]: v for k, v in raw.items() if k.startswith(PREFIX)}
    return Loaded(pl.read_parquet(path), meta)


class Dataset:
    """A folder of Parquet files partitioned hive-style (``session=a/snapshot=3/part-....parquet``)
    that grows as a recording goes on. polars, DuckDB and Spark read it without memscan::

        pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True)
        duckdb.sql(f"select * from read_parquet('{root}/**/*.parquet', hive_partitioning=true)")
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def append(
        self, df: polars.DataFrame, metadata: dict[str, Any] | None = None, **partition: Any
    ) -> Path:
        """Writes ``df`` as a new file in the partition given by the keyword arguments."""
        if not partition:
            raise InvalidArgument("a dataset part needs partition keys, e.g. session='run1'")
        for k, v in partition.items():
            if not k.isidentifier() or "/" in str(v) or str(v) in ("", ".", ".."):
                raise InvalidArgument(f"bad partition {k}={v!r}")
        folder = self.root.joinpath(*(f"{k}={v}" for k, v in partition.items()))
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        return write_parquet(df, folder / name, {**(metadata or {}), **partition})

    def files(self) -> list[Path]:
        """The finished files (temporary ones are not listed)."""
        return sorted(p for p in self.root.rglob("*.parquet") if not p.name.startswith("."))

    def scan(self) -> polars.LazyFrame:
        """A lazy polars frame over every file, with the partition keys as columns."""
        import polars as pl

        return pl.scan_parquet(f"{self.root}/**/*.parquet", hive_partitioning=True)
