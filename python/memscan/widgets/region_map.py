"""`RegionMap`: the process's regions drawn by kind and size, coloured by change activity."""

from __future__ import annotations

from typing import Any

import traitlets

from .._native import Process
from ..snapshots import ChangeMap
from ._base import MemscanWidget, esm, html_table


class RegionMap(MemscanWidget):
    """``RegionMap(proc, change_map=None)``: one block per region (width by log size, colour by
    kind); with a change map, blocks glow by the bytes that changed in them."""

    _esm = esm("region_map")

    regions = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self, process: Process, change_map: ChangeMap | None = None, **kwargs: Any
    ) -> None:
        self.process = process
        self.change_map = change_map
        super().__init__(**kwargs)
        self.refresh()

    def refresh(self) -> None:
        changed: dict[int, int] = {}
        if self.change_map is not None and len(self.change_map):
            by = self.change_map.by_region()
            changed = dict(
                zip(by["region_start"].to_list(), by["changed_bytes"].to_list(), strict=True)
            )
        self.regions = [
            {
                "start": hex(r.start),
                "size": r.size,
                "perms": r.perms,
                "kind": r.kind,
                "path": r.path,
                "changed": int(changed.get(r.start, 0)),
            }
            for r in self.process.region_list()
        ]

    def to_html(self) -> str:
        return html_table(self.regions, ["start", "size", "perms", "kind", "path", "changed"])

    def __repr__(self) -> str:
        touched = sum(1 for r in self.regions if r["changed"])
        return f"RegionMap({len(self.regions)} regions, {touched} changed)"
