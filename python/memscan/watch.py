"""Who writes this address? Hardware watchpoints that record every access, with the instruction
behind it, without stopping the target.

``proc.watch("game+0x4140")`` arms the CPU's debug registers (through ``perf_event_open``) on
every thread of the process, including threads it starts later, and records each hit in the
background: time, thread, the instruction (address, bytes, disassembly, module+offset, symbol),
the value it stored (from the sampled registers) and the value read right after. The kernel
removes the watchpoints when the watch ends or this process dies, however it dies.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _native
from ._convert import native_process
from ._lazy import pl
from .display import count
from .table import Table

if TYPE_CHECKING:
    import pandas
    import polars

    from .history import History

__all__ = ["Watch", "WatchHits"]

On = Literal["write", "access", "execute"]


class WatchHits:
    """The hits of a watch: one row per hit (``to_polars()``, Arrow, Parquet), and
    ``summary()``: one row per instruction, Cheat Engine's "what writes here" window."""

    def __init__(
        self,
        table: Table,
        *,
        lost: int,
        throttled: int,
        ended: str | None,
        marks: Sequence[tuple[int, str]] = (),
    ) -> None:
        self.table = table
        #: Hits the kernel dropped (ring buffer full) or that came after ``max_hits``.
        self.lost = lost
        #: Times the kernel throttled a watchpoint (hits are dropped while throttled).
        self.throttled = throttled
        #: Why the watch ended, or None if it still runs.
        self.ended = ended
        self.marks = list(marks)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        extra = f", {count(self.lost, 'lost hit')}" if self.lost else ""
        return f"WatchHits({count(len(self), 'hit')}{extra}, ended={self.ended!r})"

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)

    def to_polars(self) -> polars.DataFrame:
        """One row per hit: time, tid, watch, address, ip, instruction_address, module,
        module_offset, symbol, location, bytes, disassembly, value, stored_value,
        accessed_address and access_size (execute watches: the memory the instruction
        touched), and label (the last ``mark()`` at or before the hit)."""
        df = self.table.to_polars()
        labels = pl.DataFrame(
            {
                "time": pl.Series([t for t, _ in self.marks], dtype=pl.Int64).cast(
                    pl.Datetime("ns")
                ),
                "label": pl.Series([lbl for _, lbl in self.marks], dtype=pl.String),
            }
        ).sort("time")
        return df.sort("time").join_asof(labels, on="time", strategy="backward")

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_polars().to_pandas()

    def summary(self) -> polars.DataFrame:
        """One row per instruction that hit, most frequent first: location, disassembly,
        instruction_address, hits, threads, first and last time, and the last value stored."""
        return (
            self.to_polars()
            .group_by("watch", "address", "instruction_address", "location", "disassembly")
            .agg(
                pl.len().alias("hits"),
                pl.col("tid").n_unique().alias("threads"),
                pl.col("time").min().alias("first"),
                pl.col("time").max().alias("last"),
                pl.col("stored_value").last().alias("last_stored"),
                pl.col("value").last().alias("last_value"),
            )
            .sort("hits", "first", descending=[True, False])
        )

    def accessed(self) -> polars.DataFrame:
        """For an ``on="execute"`` watch of an instruction: every address it touched, Cheat
        Engine's "find out what addresses this instruction accesses". One row per instruction
        and address (computed from the registers sampled before the instruction ran): hits,
        access_size, threads, first and last time; most hit first. Empty for data watches or
        without registers."""
        return (
            self.to_polars()
            .filter(pl.col("accessed_address").is_not_null())
            .group_by("instruction_address", "disassembly", "accessed_address", "access_size")
            .agg(
                pl.len().alias("hits"),
                pl.col("tid").n_unique().alias("threads"),
                pl.col("time").min().alias("first"),
                pl.col("time").max().alias("last"),
            )
            .sort(["hits", "accessed_address"], descending=[True, False])
        )

    def labelled(self, history: History) -> polars.DataFrame:
        """The hits labelled with a recorder's ``mark()`` labels: each hit gets the label of
        the last labelled sample at or before it."""
        marks = [
            (int(t), lbl)
            for t, lbl in zip(history.timestamps_ns.tolist(), history.labels, strict=True)
            if lbl is not None
        ]
        return WatchHits(
            self.table,
            lost=self.lost,
            throttled=self.throttled,
            ended=self.ended,
            marks=sorted([*self.marks, *marks]),
        ).to_polars()

    def to_parquet(self, path: str, **metadata: str) -> None:
        """Writes the hits (with labels) to Parquet, with memscan's metadata and the lost and
        throttled counts in the file's key-value metadata; atomically, with mode 0600 (the
        values are the target's memory)."""
        from pathlib import Path

        import pyarrow.parquet as pq

        from .io import write_private

        t = self.to_polars().to_arrow()
        meta = {
            **(t.schema.metadata or {}),
            b"memscan.kind": b"watch",
            b"memscan.lost": str(self.lost).encode(),
            b"memscan.throttled": str(self.throttled).encode(),
            **{f"memscan.{k}".encode(): v.encode() for k, v in metadata.items()},
        }
        table = t.replace_schema_metadata(meta)
        write_private(Path(path), lambda tmp: pq.write_table(table, tmp))


class Watch:
    """Up to four hardware watchpoints recording in the background (see the module doc).

    Use it as a context manager, or ``start``/``stop`` by hand, or ``run(seconds)``; iterate it
    to get hits as they arrive. ``mark(label)`` labels the hits that follow.
    ``registers=False`` skips sampling the registers: about 10% more hits per second, but no
    ``stored_value`` and a less certain choice of instruction (see the docs).
    """

    def __init__(
        self,
        process: Any,
        address: int | str | Sequence[int | str] | np.ndarray,
        *,
        size: int = 4,
        on: On = "write",
        value_type: str | None = None,
        duration: float | None = None,
        max_hits: int | None = None,
        registers: bool = True,
    ) -> None:
        items: list[Any] = (
            list(address) if isinstance(address, list | tuple | np.ndarray) else [address]
        )
        self._addresses = [
            process.address(a) if isinstance(a, str) else operator.index(a) for a in items
        ]
        self._process = process
        if value_type is None and on != "execute":
            value_type = f"u{8 * size}" if size in (1, 2, 4, 8) else None
        self._options: dict[str, Any] = dict(
            size=size,
            on=on,
            duration=duration,
            max_hits=max_hits,
            value_type_name=value_type,
            registers=registers,
        )
        self._native: _native.Watch | None = None
        self._marks: list[tuple[int, str]] = []
        self.start()

    def start(self) -> Watch:
        """Arms the watchpoints (again, after ``stop``: earlier hits are dropped)."""
        if self._native is not None and self._native.is_running():
            return self
        self._marks = []
        self._native = _native.Watch(
            native_process(self._process), self._addresses, **self._options
        )
        return self

    @property
    def _w(self) -> _native.Watch:
        assert self._native is not None
        return self._native

    def stop(self) -> WatchHits:
        """Disarms the watchpoints and returns every hit."""
        self._w.stop()
        return self.hits()

    def run(self, seconds: float) -> WatchHits:
        """Records for ``seconds`` (or until ``duration``/``max_hits`` end it; Ctrl-C stops it)
        and returns the hits."""
        self._w.wait(seconds)
        return self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the watch to end by itself (``duration``, ``max_hits``, the process
        exiting); True if it ended. Ctrl-C stops it."""
        return self._w.wait(timeout)

    def mark(self, label: str) -> None:
        """Labels the hits from now on (until the next mark)."""
        self._marks.append((time.time_ns(), label))

    def hits(self, start: int = 0) -> WatchHits:
        """The hits so far (from index ``start``), with their instructions resolved."""
        return WatchHits(
            Table(self._w.hits(start)),
            lost=self._w.lost,
            throttled=self._w.throttled,
            ended=self._w.ended,
            marks=self._marks,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yields each hit (a dict of its row) as it arrives, until the watch ends."""
        seen = 0
        while True:
            running = self._w.is_running()
            if self._w.hit_count > seen:
                new = self.hits(seen).to_polars()
                seen += new.height
                yield from new.iter_rows(named=True)
            if not running:
                return
            time.sleep(0.02)

    @property
    def hit_count(self) -> int:
        return self._w.hit_count

    @property
    def lost(self) -> int:
        return self._w.lost

    @property
    def threads(self) -> int:
        """Threads watched so far (threads started after the watch are counted when they
        are attached directly, not when they inherit the watchpoints)."""
        return self._w.threads

    @property
    def ended(self) -> str | None:
        return self._w.ended

    @property
    def addresses(self) -> list[int]:
        return list(self._addresses)

    def is_running(self) -> bool:
        return self._w.is_running()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._w.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"ended: {self.ended}"
        where = ", ".join(hex(a) for a in self._addresses)
        return (
            f"Watch({self._options['on']} {self._options['size']} bytes at {where}, "
            f"{count(self.hit_count, 'hit')}, {state})"
        )
