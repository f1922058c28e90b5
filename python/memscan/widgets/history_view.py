"""`HistoryView`: values of chosen addresses over time as a uPlot chart (vendored ES module):
time and value axes, a legend keyed to names, hover readout, zoom and pan, event labels, and
live streaming from a running recorder."""

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
    """

    _esm = esm("history_view").replace("// @vendor uPlot", UPLOT, 1)
    _css = css("vendor/uPlot.min.css")

    series = traitlets.List(traitlets.Dict()).tag(sync=True)
    times = traitlets.Bytes(b"").tag(sync=True)
    values = traitlets.Bytes(b"").tag(sync=True)
    labels = traitlets.List(traitlets.Dict()).tag(sync=True)
    samples = traitlets.Int(0).tag(sync=True)
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
        if self.recorder is not None:
            kwargs.setdefault("live", self.recorder.is_running())
            kwargs.setdefault("interval", 0.5)
        super().__init__(value_type=self.history.value_type, **kwargs)
        self._where = locator(process) if process is not None else Locator(())
        self._show(self.history)
        self.observe(lambda _: self._read_out(), names="position")

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
            return h.addresses[: self._max_series].tolist()
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
        cols = [j for _, j in self._columns]
        t = h.timestamps_ns.astype(np.int64)
        seconds = (t - t[0]) / 1e9 if len(t) else np.zeros(0)
        with self.hold_sync():
            self.series = [{"address": f"{a:#x}", "name": self._name(a)} for a, _ in self._columns]
            self.times = np.ascontiguousarray(seconds, dtype="<f8").tobytes()
            # One series after another (column-major), so each is one contiguous Float64Array.
            self.values = np.ascontiguousarray(h.values[:, cols].T, dtype="<f8").tobytes()
            self.labels = [
                {"sample": i, "time": float(seconds[i]), "label": lab}
                for i, lab in enumerate(h.labels)
                if lab
            ]
            self.samples = h.samples
            self._read_out()

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
