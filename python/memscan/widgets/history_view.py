"""`HistoryView`: values of chosen addresses over time, with event labels and a slider."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from ..history import History
from ._base import MemscanWidget, esm, html_table


class HistoryView(MemscanWidget):
    """Plots a :class:`~memscan.History`: one line per address (at most ``max_series``), event
    labels marked, and a slider (``position``) that reads out every value at that sample."""

    _esm = esm("history_view")

    series = traitlets.List(traitlets.Dict()).tag(sync=True)
    labels = traitlets.List(traitlets.Dict()).tag(sync=True)
    samples = traitlets.Int(0).tag(sync=True)
    position = traitlets.Int(0).tag(sync=True)
    readout = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        history: History,
        addresses: list[int] | None = None,
        *,
        max_series: int = 8,
        **kwargs: Any,
    ) -> None:
        self.history = history
        if addresses is None:
            changing = history.change_stats().sort("changes", descending=True)["address"]
            addresses = changing.head(max_series).to_list()
        index = {a: j for j, a in enumerate(history.addresses.tolist())}
        self._columns = [(a, index[a]) for a in addresses]
        series = [
            {"address": hex(a), "values": history.values[:, j].astype(np.float64).tolist()}
            for a, j in self._columns
        ]
        labels = [{"sample": i, "label": lab} for i, lab in enumerate(history.labels) if lab]
        super().__init__(series=series, labels=labels, samples=history.samples, **kwargs)
        self.observe(lambda _: self._read_out(), names="position")
        self._read_out()

    def _read_out(self) -> None:
        i = min(max(self.position, 0), max(self.samples - 1, 0))
        self.readout = {
            "sample": i,
            "label": self.history.labels[i] if self.samples else None,
            "values": {hex(a): self.history.values[i, j].item() for a, j in self._columns}
            if self.samples
            else {},
        }

    def to_html(self) -> str:
        rows = [
            {
                "address": s["address"],
                "first": s["values"][0] if s["values"] else "",
                "last": s["values"][-1] if s["values"] else "",
            }
            for s in self.series
        ]
        return html_table(rows, ["address", "first", "last"], f"{self.samples} samples")

    def __repr__(self) -> str:
        n_series, n_labels = len(self.series), len(self.labels)
        return f"HistoryView({n_series} series, {self.samples} samples, {n_labels} labels)"
