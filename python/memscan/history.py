"""Histories: values of chosen addresses sampled over time, with event labels, and the
analyses that find which address tracks what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _native, plots
from ._convert import native_process
from ._lazy import pl
from .display import Locator, card, count, esc, table
from .errors import InvalidArgument

if TYPE_CHECKING:
    import altair
    import polars

    from .process import Process

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
    #: Per address, the module holding it and the offset from the module's load base (None
    #: outside modules); empty when not known.
    places: list[tuple[str, int] | None] = field(default_factory=list)

    @classmethod
    def _from_native(
        cls,
        h: _native.History,
        metadata: dict[str, str],
        places: list[tuple[str, int] | None] | None = None,
    ) -> History:
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
            places=places or [],
        )

    @property
    def samples(self) -> int:
        return len(self.timestamps_ns)

    def __len__(self) -> int:
        return self.samples

    #: Addresses a history's HTML repr lists.
    PREVIEW = 8

    def _shape(self) -> str:
        return (
            f"{count(self.samples, 'sample')} x "
            f"{count(len(self.addresses), 'address', 'addresses')} of {self.value_type}"
        )

    def _seconds(self) -> float:
        t = self.timestamps_ns
        return float(t[-1] - t[0]) / 1e9 if len(t) > 1 else 0.0

    def _label_counts(self) -> str:
        counts: dict[str, int] = {}
        for lab in self.labels:
            if lab is not None:
                counts[lab] = counts.get(lab, 0) + 1
        return ", ".join(f"{lab} x{n:,}" for lab, n in counts.items())

    def __repr__(self) -> str:
        labels = self._label_counts()
        return f"History({self._shape()} over {self._seconds():.3g} s" + (
            f"; labels: {labels})" if labels else ")"
        )

    def _repr_html_(self) -> str:
        facts = [("time", esc(f"{self._seconds():.3g} s"))]
        if self.samples:
            start = np.datetime64(int(self.timestamps_ns[0]), "ns").astype("datetime64[ms]")
            facts[0] = ("time", esc(f"{self._seconds():.3g} s from {start} UTC"))
        labels = self._label_counts()
        if labels:
            facts.append(("labels", esc(labels)))
        if len(self.unreadable) and self.unreadable.any():
            facts.append(("unreadable", esc(count(int(self.unreadable.sum()), "failed read"))))
        parts = []
        m = min(len(self.addresses), self.PREVIEW)
        if self.samples and m and self.values.shape == (self.samples, len(self.addresses)):
            v = self.values[:, :m]
            changes = self._changes()[:, :m].sum(axis=0) if self.samples > 1 else np.zeros(m)
            rows = [
                (
                    f"{a:#x}",
                    v[0, j].item(),
                    v[-1, j].item(),
                    v[:, j].min().item(),
                    v[:, j].max().item(),
                    int(changes[j]),
                )
                for j, a in enumerate(self.addresses[:m].tolist())
            ]
            more = f"the first {m} of {len(self.addresses):,}" if len(self.addresses) > m else ""
            cols = ["address", "first", "last", "min", "max", "changes"]
            parts.append(table(cols, rows, numeric=range(6), caption=more))
        return card("History", self._shape(), facts, *parts)

    # -- frames -----------------------------------------------------------------------------

    def to_wide(self) -> polars.DataFrame:
        """One row per sample: sample, timestamp, label, unreadable, then a column per address
        (hex name)."""
        per_sample = self._per_sample()
        cols: dict[str, Any] = {}
        for j, a in enumerate(self.addresses.tolist()):
            cols[hex(a)] = self.values[:, j]
        return per_sample.hstack(pl.DataFrame(cols))

    def to_long(self) -> polars.DataFrame:
        """One row per (sample, address): sample, timestamp, label, unreadable, address,
        module, module_offset (null outside modules or when not known), value.

        ``unreadable`` is the sample's count of addresses that could not be read (their value
        is 0); it is null on every row when the count is not known."""
        n, m = self.values.shape
        per_sample = self._per_sample()
        places = self.places if len(self.places) == m else [None] * m
        modules = pl.Series([p[0] if p else None for p in places], dtype=pl.String)
        offsets = pl.Series([p[1] if p else None for p in places], dtype=pl.UInt64)
        return per_sample[np.repeat(np.arange(n), m)].with_columns(
            pl.Series("address", np.tile(self.addresses, n)),
            modules.gather(np.tile(np.arange(m), n)).alias("module"),
            offsets.gather(np.tile(np.arange(m), n)).alias("module_offset"),
            pl.Series("value", self.values.reshape(-1)),
        )

    def _check_shape(self) -> None:
        n, m = self.samples, len(self.addresses)
        if self.values.shape != (n, m):
            raise InvalidArgument(
                f"values have shape {self.values.shape}, not {n} samples x {m} addresses"
            )
        if len(self.labels) != n:
            raise InvalidArgument(f"{len(self.labels)} labels for {n} samples")
        if len(self.unreadable) not in (0, n):
            raise InvalidArgument(f"{len(self.unreadable)} unreadable counts for {n} samples")

    def _per_sample(self) -> polars.DataFrame:
        self._check_shape()
        known = len(self.unreadable) == self.samples
        return pl.DataFrame(
            {
                "sample": np.arange(self.samples, dtype=np.uint32),
                "timestamp": pl.Series(self.timestamps_ns, dtype=pl.Int64).cast(pl.Datetime("ns")),
                "label": pl.Series(self.labels, dtype=pl.String),
                "unreadable": pl.Series(
                    self.unreadable if known else [None] * self.samples, dtype=pl.UInt32
                ),
            }
        )

    # -- analyses ---------------------------------------------------------------------------

    def _changes(self) -> np.ndarray:
        """(samples-1 x addresses) booleans: value at sample i+1 differs from sample i."""
        v = self.values
        changed: np.ndarray
        if v.dtype.kind == "f":
            changed = ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
        else:
            changed = v[1:] != v[:-1]
        return changed

    def change_stats(self) -> polars.DataFrame:
        """Per address: changes, first/last change sample, monotonic increase/decrease, and the
        constant step when every change is the same (counters, timers).

        Integer values are compared and subtracted exactly, so 64-bit values are exact at any
        magnitude (a u64 counter near 2**64 stepping by 1 has ``constant_step`` 1).
        ``constant_step`` is Int64 for integer types: null when the address never changed or
        its changes differ, and also when the one step does not fit in Int64 (a step of 2**63
        or more either way, possible only for i64/u64 values; two such steps in one direction
        would leave the type's range, so the address then changed exactly once and the step
        is ``last - first``). For f32/f64 it is Float64, the difference in float64 arithmetic
        (rounded as floats round), and null when a change involves NaN or infinities."""
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
        if v.dtype.kind in "iu":
            step = pl.Series("constant_step", self._integer_step(ch, any_ch), dtype=pl.Int64)
        else:
            step = pl.Series("constant_step", self._float_step(ch, any_ch)).fill_nan(None)
        return pl.DataFrame(
            {
                "address": self.addresses,
                "changes": count.astype(np.uint32),
                "first_change": pl.Series(first).cast(pl.Int64).replace(-1, None),
                "last_change": pl.Series(last).cast(pl.Int64).replace(-1, None),
                "increasing": up,
                "decreasing": down,
                "constant_step": step,
                "first": v[0],
                "last": v[-1],
            }
        )

    def _integer_step(self, ch: np.ndarray, any_ch: np.ndarray) -> list[int | None]:
        """The common step of integer columns, exact: differences are taken modulo 2**64
        (wrapping, never overflowing) together with their direction; two differences are equal
        exactly when both agree, since a true difference lies in (-2**64, 2**64)."""
        v = self.values
        wide = v.astype(np.int64 if v.dtype.kind == "i" else np.uint64, copy=False)
        bits = wide.view(np.uint64)
        residue = bits[1:] - bits[:-1]  # modulo 2**64
        rising = v[1:] > v[:-1]
        full = np.uint64(2**64 - 1)
        lo = np.where(ch, residue, full).min(axis=0)
        hi = np.where(ch, residue, np.uint64(0)).max(axis=0)
        all_up = (rising | ~ch).all(axis=0)
        all_down = (~rising | ~ch).all(axis=0)
        constant = any_ch & (lo == hi) & (all_up | all_down)
        # As int64, the residue is the true step exactly when its sign is the direction.
        as_i64 = lo.view(np.int64)
        fits = np.where(all_up, as_i64 > 0, as_i64 < 0)
        return [int(x) if ok else None for x, ok in zip(as_i64, constant & fits, strict=True)]

    def _float_step(self, ch: np.ndarray, any_ch: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            diffs = np.diff(self.values.astype(np.float64), axis=0)
            finite = np.isfinite(diffs) | ~ch
            lo = np.where(ch, diffs, np.inf).min(axis=0)
            hi = np.where(ch, diffs, -np.inf).max(axis=0)
        ok = any_ch & finite.all(axis=0) & (lo == hi)
        return np.where(ok, lo, np.nan)

    def correlate(self, series: Sequence[float] | np.ndarray) -> polars.DataFrame:
        """Pearson correlation of each address's values with ``series`` (one number per sample,
        e.g. the health shown on screen), best first. Integer values are first shifted by their
        column's minimum in exact integer arithmetic, so 64-bit values near the ends of their
        range (u64 counters near 2**64) keep their differences; r is null for a constant
        address or series."""
        y = np.asarray(series, dtype=np.float64)
        if y.shape != (self.samples,):
            raise InvalidArgument(f"series has {y.size} values, the history {self.samples} samples")
        x = self._shifted()
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

    def _shifted(self) -> np.ndarray:
        """The values as float64, integer columns minus their minimum (computed modulo 2**64,
        exact since the result lies in [0, 2**64))."""
        v = self.values
        if v.dtype.kind not in "iu" or v.shape[0] == 0:
            return v.astype(np.float64)
        wide = v.astype(np.int64 if v.dtype.kind == "i" else np.uint64, copy=False)
        low = wide.min(axis=0)
        out: np.ndarray = (wide.view(np.uint64) - low.view(np.uint64)).astype(np.float64)
        return out

    def changed_with(self, label: str, window: int = 0) -> polars.DataFrame:
        """Addresses that changed at every sample labelled ``label`` and at no other sample (a
        change at sample i is a difference from sample i-1). ``window`` (an int >= 0) allows a
        change up to that many samples before or after the label, for free-running recordings
        where a sample can fall between the event and its mark; a window longer than the
        recording reaches no further than its ends. Columns: address, changes (Int64)."""
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 0:
            raise InvalidArgument(f"window is a number of samples (an int >= 0), not {window!r}")
        marked = np.array([lab == label for lab in self.labels[1:]], dtype=bool)
        if not marked.any():
            raise InvalidArgument(f"no sample (after the first) is labelled {label!r}")
        ch = self._changes()  # row i: the change at sample i + 1, as marked[i]
        steps = ch.shape[0]
        w = min(int(window), steps)
        # near[i]: a labelled sample lies within w of change i (a running count of the labels).
        labelled = np.concatenate(([0], np.cumsum(marked, dtype=np.int64)))
        rows = np.arange(steps)
        hi, lo = np.minimum(rows + w + 1, steps), np.maximum(rows - w, 0)
        near = labelled[hi] > labelled[lo]
        exact = ~(ch & ~near[:, None]).any(axis=0)
        # Of those, the addresses with a change within w of every labelled sample: a running
        # count of each column's changes, read at both ends of every label's window, a block
        # of columns at a time (so the counts stay within about 100 MiB).
        at = np.flatnonzero(marked)
        first, last = np.maximum(at - w, 0), np.minimum(at + w + 1, steps)
        columns = np.flatnonzero(exact)
        kind = np.int32 if steps < 2**31 else np.int64
        block = max(1, (8 << 20) // max(steps + 1, len(at), 1))
        for k in range(0, len(columns), block):
            cols = columns[k : k + block]
            counts = np.zeros((steps + 1, len(cols)), dtype=kind)
            np.cumsum(ch[:, cols], axis=0, dtype=kind, out=counts[1:])
            exact[cols] = (counts[last] > counts[first]).all(axis=0)
        return pl.DataFrame({"address": self.addresses[exact], "changes": ch[:, exact].sum(axis=0)})

    # -- plots ------------------------------------------------------------------------------

    def plot(
        self,
        addresses: Sequence[int] | None = None,
        *,
        names: dict[int, str] | None = None,
        process: Process | _native.Process | None = None,
        x: str = "time",
        max_series: int = 10,
        max_rows: int = 5000,
    ) -> altair.LayerChart:
        """Value over time, one line per address, with labelled samples (``rec.mark``) as
        dashed rules: an Altair (Vega-Lite) chart, shown by Jupyter as an SVG drawn here (no
        network: :mod:`memscan.plots`), saved by ``.save()``.

        ``addresses`` defaults to the ``max_series`` that changed most. Lines are named by
        ``names`` (address -> name), else ``module+0x...`` when ``process`` is given and the
        address lies in a module, else hex. ``x`` is ``"time"`` (seconds from the first
        sample) or ``"sample"``. Long recordings are thinned evenly to ``max_rows`` points
        (labelled samples are kept)."""
        import altair as alt

        from .display import Locator

        if x not in ("time", "sample"):
            raise InvalidArgument(f"x is 'time' or 'sample', not {x!r}")
        self._check_shape()
        columns = self._plotted(addresses, max_series)
        where = Locator(process.region_list()) if process is not None else None
        names = names or {}
        series = [
            names.get(a) or (where(a) if where is not None else f"{a:#x}")
            for a in self.addresses[columns].tolist()
        ]
        rows = self._thinned(max(1, max_rows // max(1, len(columns))))
        seconds = (self.timestamps_ns[rows] - self.timestamps_ns[0]) / 1e9 if len(rows) else rows
        labels = [self.labels[i] for i in rows.tolist()]
        frame = pl.DataFrame(
            {
                "sample": np.repeat(rows, len(columns)),
                "seconds": np.repeat(seconds, len(columns)),
                "series": np.tile(np.array(series, dtype=object), len(rows)).tolist(),
                "value": self.values[np.ix_(rows, columns)].astype(np.float64).reshape(-1),
                "label": np.repeat(np.array(labels, dtype=object), len(columns)).tolist(),
            },
            schema_overrides={"series": pl.String, "label": pl.String},
        )
        field = "seconds" if x == "time" else "sample"
        axis = alt.X(f"{field}:Q", title="time (s)" if x == "time" else "sample")
        lines = (
            alt.Chart(frame)
            .mark_line(point=len(rows) <= 200)
            .encode(
                axis,
                alt.Y("value:Q", title=self.value_type, scale=alt.Scale(zero=False)),
                alt.Color("series:N", title="address", sort=series),
                tooltip=["series", "sample", "seconds", "value", "label"],
            )
        )
        marks = frame.filter(pl.col("label").is_not_null()).unique("sample", maintain_order=True)
        rules = (
            alt.Chart(marks)
            .mark_rule(strokeDash=[4, 3], opacity=0.6)
            .encode(axis, tooltip=["label", "sample", "seconds"])
        )
        text = (
            alt.Chart(marks)
            .mark_text(angle=270, align="right", baseline="bottom", dy=-2, fontSize=10)
            .encode(axis, y=alt.value(4), text="label:N")
        )
        return plots.layer(lines, rules, text).properties(
            width=560, height=260, title=self._shape()
        )

    def _plotted(self, addresses: Sequence[int] | None, max_series: int) -> np.ndarray:
        """Column indices to plot: the given addresses, else those that changed most."""
        if addresses is not None:
            index = {a: j for j, a in enumerate(self.addresses.tolist())}
            missing = [a for a in addresses if a not in index]
            if missing:
                raise InvalidArgument(f"{missing[0]:#x} is not an address of this history")
            return np.array([index[a] for a in addresses], dtype=np.intp)
        changes = self._changes().sum(axis=0) if self.samples > 1 else np.zeros(0)
        if len(changes) == 0:
            changes = np.zeros(len(self.addresses))
        order = np.argsort(-changes, kind="stable")[:max_series]
        return np.sort(order)

    def _thinned(self, most: int) -> np.ndarray:
        """At most about ``most`` sample indices, evenly spaced, plus every labelled sample."""
        n = self.samples
        if n <= most:
            return np.arange(n)
        keep = np.zeros(n, dtype=bool)
        keep[np.linspace(0, n - 1, most).astype(np.intp)] = True
        keep[[i for i, lab in enumerate(self.labels) if lab is not None]] = True
        return np.flatnonzero(keep)

    # -- persistence ------------------------------------------------------------------------

    def to_parquet(self, path: str, **metadata: str) -> None:
        """Writes the long form with metadata (pid, value type, shape, ...); ``memscan.load(path)
        .history()`` gives back this history exactly, ``unreadable`` counts included (a history
        with no samples or no addresses comes back empty)."""
        from .io import write_parquet
        from .value_types import stored_value_type

        vt = stored_value_type(self.value_type)
        if vt is None:
            raise InvalidArgument(f"unknown value type {self.value_type!r}")
        self._check_shape()
        meta = {
            **self.metadata,
            **metadata,
            "kind": "history",
            "value_type": vt,
            "samples": str(self.samples),
            "addresses": str(len(self.addresses)),
        }
        write_parquet(self.to_long(), path, meta)


class Recorder:
    """Samples values at addresses in the background: ``rec.mark("took damage")`` labels the
    next sample, ``rec.wait()`` or ``rec.stop()`` ends it, ``rec.history()`` gives the data.
    With ``interval=None`` it samples only when told: ``rec.sample("took damage")``."""

    def __init__(
        self,
        process: Process | _native.Process,
        addresses: np.ndarray | Sequence[int],
        value_type: str,
        *,
        interval: float | None = 0.0,
        count: int | None = None,
        duration: float | None = None,
    ) -> None:
        addrs = np.ascontiguousarray(np.asarray(addresses, dtype=np.uint64))
        self._native = _native.Recorder(
            native_process(process),
            addrs,
            value_type,
            interval=interval,
            count=count,
            duration=duration,
        )
        # Module and offset of each address, found once: the addresses never change.
        where = Locator(process.region_list())
        self._places = [where.module(int(a)) for a in np.unique(addrs)]
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
        return History._from_native(self._native.history(), dict(self._metadata), self._places)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._native.stop()
