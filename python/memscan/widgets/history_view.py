"""`HistoryView`: values of chosen addresses over time as a uPlot chart (vendored ES module):
time and value axes, a legend keyed to names, hover readout, zoom and pan, event labels, and
live streaming from a running recorder. Long histories reach the browser min/max decimated
(:func:`min_max_points`); zooming re-reads the window's samples."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import traitlets

from ..address_list import AddressList
from ..display import Locator, count
from ..history import History, Recorder
from ..process import Process
from ._base import STATIC, MemscanWidget, css, esm, html_table, locator

#: The vendored uPlot ES module (MIT, static/vendor/uPlot.LICENSE), imported by the view.
UPLOT = "const UPLOT_SOURCE = " + json.dumps((STATIC / "vendor" / "uPlot.esm.js").read_text())


class HistoryView(MemscanWidget):
    """``HistoryView(history_or_recorder, addresses=None, names=None)``: one line per address
    (by default the ``max_series`` that changed most), named from ``names`` (a dict of
    address to name, or an :class:`~memscan.AddressList`), else ``module+0x…`` (given
    ``process``, or from a running recorder's process), else ``0x…``.

    ``scale`` is ``"shared"`` (one value axis) or ``"per-series"`` (each line fills the
    height); ``x_range`` is the zoomed time window in seconds (empty: everything);
    ``position`` (a sample) gives ``readout``, every value at that sample, exact. Given a
    running :class:`~memscan.Recorder`, the view streams its samples (``live``) until it stops.

    A window holding more than ``max_points`` samples is sent as each series' min and max per
    time bucket (``sample_index`` maps plotted points to samples); zooming in sends the exact
    samples once the window holds ``max_points`` or fewer.
    """

    _esm = esm("history_view").replace("// @vendor uPlot", UPLOT, 1)
    _css = css("vendor/uPlot.min.css")

    series = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: Plotted points of the shown window: seconds since the first sample (float64), values
    #: series after series (float64), and the sample each point is (uint32).
    times = traitlets.Bytes(b"").tag(sync=True)
    values = traitlets.Bytes(b"").tag(sync=True)
    sample_index = traitlets.Bytes(b"").tag(sync=True)
    #: The most points plotted per series; a window with more samples is decimated.
    max_points = traitlets.Int(4000).tag(sync=True)
    labels = traitlets.List(traitlets.Dict()).tag(sync=True)
    samples = traitlets.Int(0).tag(sync=True)
    duration = traitlets.Float(0.0).tag(sync=True)
    value_type = traitlets.Unicode("").tag(sync=True)
    scale = traitlets.Unicode("shared").tag(sync=True)
    x_range = traitlets.List(traitlets.Float()).tag(sync=True)
    position = traitlets.Int(0).tag(sync=True)
    readout = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        source: History | Recorder,
        addresses: list[int] | None = None,
        *,
        names: dict[int, str] | AddressList | None = None,
        process: Process | None = None,
        max_series: int = 8,
        **kwargs: Any,
    ) -> None:
        self.recorder = source if isinstance(source, Recorder) else None
        self.history = source.history() if isinstance(source, Recorder) else source
        self._chosen = addresses
        self._max_series = max_series
        self._names = _names(names)
        if process is None and self.recorder is not None and self.recorder.is_running():
            process = Process(int(self.recorder._metadata["pid"]))
        self._columns: list[tuple[int, int]] = []
        self._seconds = np.zeros(0)
        if self.recorder is not None:
            kwargs.setdefault("live", self.recorder.is_running())
            kwargs.setdefault("interval", 0.5)
        super().__init__(value_type=self.history.value_type, **kwargs)
        self._where = locator(process) if process is not None else Locator(())
        self._show(self.history)
        self.observe(lambda _: self._read_out(), names="position")
        self.observe(lambda _: self._plot(), names=["x_range", "max_points"])

    def refresh(self) -> None:
        """Takes the recorder's samples so far (a History given once does not change); stops
        the live stream once the recorder has stopped."""
        if self.recorder is None:
            return
        running = self.recorder.is_running()
        h = self.recorder.history()
        if h.samples != self.samples:
            self.history = h
            self._show(h)
        if not running:
            self.live = False
            error = self.recorder.error()
            if error:
                self.say(f"recording stopped: {error}", "error")
            else:
                self.say(f"recording finished: {count(h.samples, 'sample')}", "ok")

    def _pick(self, h: History) -> list[int]:
        if self._chosen is not None:
            return list(self._chosen)
        if h.samples < 2:
            return [int(a) for a in h.addresses[: self._max_series]]
        changing = h.change_stats().sort("changes", descending=True, maintain_order=True)
        return changing["address"].head(self._max_series).to_list()

    def _name(self, a: int) -> str:
        if a in self._names:
            return self._names[a]
        return self._where(a)

    def _show(self, h: History) -> None:
        index = {a: j for j, a in enumerate(h.addresses.tolist())}
        try:
            self._columns = [(a, index[a]) for a in self._pick(h)]
        except KeyError as e:
            raise ValueError(f"{int(e.args[0]):#x} is not in the history") from None
        t = h.timestamps_ns.astype(np.int64)
        self._seconds = (t - t[0]) / 1e9 if len(t) else np.zeros(0)
        with self.hold_sync():
            self.series = [{"address": f"{a:#x}", "name": self._name(a)} for a, _ in self._columns]
            self.labels = [
                {"sample": i, "time": float(self._seconds[i]), "label": lab}
                for i, lab in enumerate(h.labels)
                if lab
            ]
            self.samples = h.samples
            self.duration = float(self._seconds[-1]) if h.samples else 0.0
            self._plot()
            self._read_out()

    def _plot(self) -> None:
        """Sends the points of the window ``x_range`` (empty: every sample), decimated to
        ``max_points``; the window takes one sample more on each side so lines reach its edges."""
        seconds = self._seconds
        first, end = 0, len(seconds)
        if len(self.x_range) == 2:
            first = max(int(np.searchsorted(seconds, self.x_range[0], "right")) - 1, 0)
            end = min(int(np.searchsorted(seconds, self.x_range[1], "left")) + 1, end)
        cols = [j for _, j in self._columns]
        index, values = min_max_points(
            seconds[first:end], self.history.values[first:end, cols], self.max_points
        )
        index += first
        with self.hold_sync():
            self.times = np.ascontiguousarray(seconds[index], dtype="<f8").tobytes()
            # One series after another (column-major), so each is one contiguous Float64Array.
            self.values = np.ascontiguousarray(values.T, dtype="<f8").tobytes()
            self.sample_index = index.astype("<u4").tobytes()

    def _read_out(self) -> None:
        h = self.history
        if not h.samples:
            self.readout = {}
            return
        i = min(max(self.position, 0), h.samples - 1)
        t = h.timestamps_ns
        self.readout = {
            "sample": i,
            "seconds": float((int(t[i]) - int(t[0])) / 1e9),
            "label": h.labels[i],
            "values": {f"{a:#x}": h.values[i, j].item() for a, j in self._columns},
        }

    def zoom(self, start: float | None = None, end: float | None = None) -> None:
        """Shows seconds ``start`` to ``end`` since the first sample (no arguments: all)."""
        self.x_range = [] if start is None or end is None else [float(start), float(end)]

    def to_html(self) -> str:
        h = self.history
        rows = [
            {
                "series": s["name"],
                "first": h.values[0, j].item() if h.samples else "",
                "last": h.values[-1, j].item() if h.samples else "",
            }
            for s, (_, j) in zip(self.series, self._columns, strict=True)
        ]
        return html_table(rows, ["series", "first", "last"], count(self.samples, "sample"))

    def __repr__(self) -> str:
        return (
            f"HistoryView({count(len(self.series), 'series', 'series')}, "
            f"{count(self.samples, 'sample')}, {count(len(self.labels), 'label')})"
        )


def _names(names: dict[int, str] | AddressList | None) -> dict[int, str]:
    if names is None:
        return {}
    if isinstance(names, AddressList):
        df = names.to_polars()
        return {
            int(a): d
            for a, d in zip(df["address"].to_list(), df["description"].to_list(), strict=True)
            if a is not None
        }
    return {int(a): str(n) for a, n in names.items()}


#: Values per block of spans :func:`min_max_points` decimates at once: its temporaries stay
#: small, twice as fast on 10 million values as all at once.
_BLOCK = 1 << 18


def min_max_points(
    seconds: np.ndarray, values: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """The points to plot of samples at ``seconds`` (ascending) with ``values`` (samples x
    series): the sample index of each point and the (points x series) values to draw.

    Up to ``max_points`` samples are every sample. More are cut into ``max_points // 2`` equal
    spans of time; each span with samples gives two points, at its first and its last sample,
    that hold each series' min and max (NaN ignored) in the order they occur, so no spike is
    lost and no more than ``max_points`` points are drawn."""
    n = len(seconds)
    if n <= max_points:
        return np.arange(n), values
    edges = np.linspace(seconds[0], seconds[-1], max(max_points // 2, 1) + 1)[:-1]
    starts = np.unique(np.searchsorted(seconds, edges))
    ends = np.append(starts[1:], n)
    pairs = np.empty((len(starts), 2, values.shape[1]), values.dtype)
    rows = max(_BLOCK // max(values.shape[1], 1), 1)
    b = 0
    while b < len(starts):
        e = max(int(np.searchsorted(starts, starts[b] + rows)), b + 1)
        pairs[b:e] = _low_high_in_order(values[starts[b] : ends[e - 1]], starts[b:e] - starts[b])
        b = e
    index = np.stack([starts, ends - 1], axis=1)
    # A span of one sample is one point.
    keep = np.stack([np.ones(len(starts), bool), ends - starts > 1], axis=1)
    return index[keep], pairs[keep]


def _low_high_in_order(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per span of rows (from each of ``starts`` to the next): each series' min and max, NaN
    ignored, in the order they first occur, as (spans x 2 x series)."""
    n = len(values)
    sizes = np.diff(starts, append=n)
    low = np.fmin.reduceat(values, starts, axis=0)
    high = np.fmax.reduceat(values, starts, axis=0)
    is_low = values == low.repeat(sizes, axis=0)
    is_extreme = is_low | (values == high.repeat(sizes, axis=0))
    # The first extreme row of each span (n where a series is all NaN there: low is high).
    first = np.minimum.reduceat(np.where(is_extreme, np.arange(n)[:, None], n), starts, axis=0)
    low_first = is_low[np.minimum(first, n - 1), np.arange(values.shape[1])]
    return np.stack([np.where(low_first, low, high), np.where(low_first, high, low)], axis=1)
