"""Histories: values of chosen addresses sampled over time, with event labels, and the
analyses that find which address tracks what."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _native
from .errors import InvalidArgument

if TYPE_CHECKING:
    import polars

__all__ = ["History", "Recorder"]


@dataclass
class History:
    """A (samples x addresses) matrix of one value type, with a timestamp (ns since the epoch)
    and an optional event label per sample. Arrays view Rust's buffers when recorded here."""

    value_type: str
    addresses: np.ndarray
    timestamps_ns: np.ndarray
    labels: list[str | None]
    values: np.ndarray
    unreadable: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def _from_native(cls, h: _native.History, metadata: dict[str, str]) -> History:
        addresses = h.addresses()
        values = h.values().reshape(h.samples, len(addresses))
        return cls(
            value_type=h.value_type,
            addresses=addresses,
            timestamps_ns=h.timestamps_ns(),
            labels=h.labels(),
            values=values,
            unreadable=h.unreadable(),
            metadata=metadata,
        )

    @property
    def samples(self) -> int:
        return len(self.timestamps_ns)

    def __len__(self) -> int:
        return self.samples

    def __repr__(self) -> str:
        return (
            f"History({self.samples} samples x {len(self.addresses)} addresses of "
            f"{self.value_type}, {sum(x is not None for x in self.labels)} labels)"
        )

    # -- frames -----------------------------------------------------------------------------

    def to_wide(self) -> polars.DataFrame:
        """One row per sample: sample, timestamp, label, then a column per address (hex name)."""
        import polars as pl

        per_sample = self._per_sample()
        cols: dict[str, Any] = {}
        for j, a in enumerate(self.addresses.tolist()):
            cols[hex(a)] = self.values[:, j]
        return per_sample.hstack(pl.DataFrame(cols))

    def to_long(self) -> polars.DataFrame:
        """One row per (sample, address): sample, timestamp, label, address, value."""
        import polars as pl

        n, m = self.values.shape
        per_sample = self._per_sample()
        return per_sample[np.repeat(np.arange(n), m)].with_columns(
            pl.Series("address", np.tile(self.addresses, n)),
            pl.Series("value", self.values.reshape(-1)),
        )

    def _per_sample(self) -> polars.DataFrame:
        import polars as pl

        return pl.DataFrame(
            {
                "sample": np.arange(self.samples, dtype=np.uint32),
                "timestamp": pl.Series(self.timestamps_ns, dtype=pl.Int64).cast(pl.Datetime("ns")),
                "label": pl.Series(self.labels, dtype=pl.String),
            }
        )

    # -- analyses ---------------------------------------------------------------------------

    def _changes(self) -> np.ndarray:
        """(samples-1 x addresses) booleans: value at sample i+1 differs from sample i."""
        v = self.values
        if v.dtype.kind == "f":
            return ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
        return v[1:] != v[:-1]

    def change_stats(self) -> polars.DataFrame:
        """Per address: changes, first/last change sample, monotonic increase/decrease, and the
        constant step when every change is the same (counters, timers)."""
        import polars as pl

        if self.samples < 2:
            raise InvalidArgument("change statistics need at least 2 samples")
        ch = self._changes()
        count = ch.sum(axis=0)
        any_ch = count > 0
        first = np.where(any_ch, ch.argmax(axis=0) + 1, -1)
        last = np.where(any_ch, ch.shape[0] - ch[::-1].argmax(axis=0), -1)
        v = self.values
        up = (v[1:] >= v[:-1]).all(axis=0) & any_ch
        down = (v[1:] <= v[:-1]).all(axis=0) & any_ch
        # The step of every change, when all changes are equal (as float64: exact below 2**53).
        diffs = np.where(ch, np.diff(v.astype(np.float64), axis=0), np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(diffs, axis=0), np.nanmax(diffs, axis=0)
        step = np.where(any_ch & (lo == hi), lo, np.nan)
        return pl.DataFrame(
            {
                "address": self.addresses,
                "changes": count.astype(np.uint32),
                "first_change": pl.Series(first).cast(pl.Int64).replace(-1, None),
                "last_change": pl.Series(last).cast(pl.Int64).replace(-1, None),
                "increasing": up,
                "decreasing": down,
                "constant_step": pl.Series(step).fill_nan(None),
                "first": v[0],
                "last": v[-1],
            }
        )

    def correlate(self, series: Sequence[float] | np.ndarray) -> polars.DataFrame:
        """Pearson correlation of each address's values with ``series`` (one number per sample,
        e.g. the health shown on screen), best first."""
        import polars as pl

        y = np.asarray(series, dtype=np.float64)
        if y.shape != (self.samples,):
            raise InvalidArgument(f"series has {y.size} values, the history {self.samples} samples")
        x = self.values.astype(np.float64)
        xc = x - x.mean(axis=0)
        yc = y - y.mean()
        denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(denom > 0, (xc * yc[:, None]).sum(axis=0) / denom, np.nan)
        return (
            pl.DataFrame({"address": self.addresses, "r": r})
            .with_columns(pl.col("r").fill_nan(None))
            .sort("r", descending=True, nulls_last=True)
        )

    def changed_with(self, label: str, window: int = 0) -> polars.DataFrame:
        """Addresses that changed at every sample labelled ``label`` and at no other sample (a
        change at sample i is a difference from sample i-1). ``window`` allows a change up to
        that many samples before or after the label, for free-running recordings where a sample
        can fall between the event and its mark."""
        import polars as pl

        marked = np.array([lab == label for lab in self.labels[1:]], dtype=bool)
        if not marked.any():
            raise InvalidArgument(f"no sample (after the first) is labelled {label!r}")
        ch = self._changes()
        near = marked.copy()
        for k in range(1, window + 1):
            near[k:] |= marked[:-k]
            near[:-k] |= marked[k:]
        hit_each = np.array(
            [ch[max(0, i - window) : i + window + 1].any(axis=0) for i in np.flatnonzero(marked)]
        ).all(axis=0)
        exact = hit_each & ~(ch & ~near[:, None]).any(axis=0)
        return pl.DataFrame({"address": self.addresses[exact], "changes": ch[:, exact].sum(axis=0)})

    # -- persistence ------------------------------------------------------------------------

    def to_parquet(self, path: str, **metadata: str) -> None:
        """Writes the long form with metadata (pid, value type, ...); see :func:`memscan.load`."""
        from .io import write_parquet

        meta = {**self.metadata, **metadata, "kind": "history", "value_type": self.value_type}
        write_parquet(self.to_long(), path, meta)


class Recorder:
    """Samples values at addresses in the background: ``rec.mark("took damage")`` labels the
    next sample, ``rec.wait()`` or ``rec.stop()`` ends it, ``rec.history()`` gives the data.
    With ``interval=None`` it samples only when told: ``rec.sample("took damage")``."""

    def __init__(
        self,
        process: _native.Process,
        addresses: np.ndarray | Sequence[int],
        value_type: str,
        *,
        interval: float | None = 0.0,
        count: int | None = None,
        duration: float | None = None,
    ) -> None:
        addrs = np.ascontiguousarray(np.asarray(addresses, dtype=np.uint64))
        self._native = _native.Recorder(
            process, addrs, value_type, interval=interval, count=count, duration=duration
        )
        self._metadata = {"pid": str(process.pid), "executable": process.exe or ""}

    def mark(self, label: str) -> None:
        """Labels the next sample."""
        self._native.mark(label)

    def sample(self, label: str | None = None) -> None:
        """Takes one sample now (for recorders made with ``interval=None``)."""
        self._native.sample(label)

    @property
    def samples(self) -> int:
        return self._native.samples

    def is_running(self) -> bool:
        return self._native.is_running()

    def wait(self) -> History:
        self._native.wait()
        return self.history()

    def stop(self) -> History:
        self._native.stop()
        return self.history()

    def error(self) -> str | None:
        return self._native.error()

    def history(self) -> History:
        return History._from_native(self._native.history(), dict(self._metadata))

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._native.stop()
