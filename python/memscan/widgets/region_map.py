"""`RegionMap`: the process's regions drawn by kind and size, coloured by change activity;
a click opens a region in a :class:`MemoryView` shown under the map."""

from __future__ import annotations

from typing import Any

import traitlets
from ipywidgets import widget_serialization

from .. import _native
from ..display import count, human_bytes
from ..errors import InvalidArgument, MemscanError
from ..process import Process, as_process
from ..snapshots import ChangeMap
from ._base import MemscanWidget, esm, html_table, message
from .memory_view import MemoryView


class RegionMap(MemscanWidget):
    """``RegionMap(proc, change_map=None)``: one block per region (width by log size, colour by
    kind); with a change map, blocks glow by the bytes that changed in them. :meth:`open_region` (a
    click) shows a region in ``memory_view``, a :class:`MemoryView` made on first use."""

    _esm = esm("region_map")

    regions = traitlets.List(traitlets.Dict()).tag(sync=True)
    opened = traitlets.Int(-1).tag(sync=True)
    memory_view = traitlets.Instance(MemoryView, allow_none=True).tag(
        sync=True, **widget_serialization
    )

    def __init__(
        self, process: Process | _native.Process, change_map: ChangeMap | None = None, **kwargs: Any
    ) -> None:
        self.process = as_process(process)
        self.change_map = change_map
        super().__init__(**kwargs)
        self.on_msg(self._on_message)
        self.refresh()

    def refresh(self) -> None:
        changed: dict[int, tuple[int, int]] = {}
        if self.change_map is not None and len(self.change_map):
            by = self.change_map.by_region()
            changed = {
                start: (n, first)
                for start, n, first in by.select(
                    "region_start", "changed_bytes", "first_change"
                ).iter_rows()
            }
        self.regions = [
            {
                "start": f"{r.start:#x}",
                "end": f"{r.end:#x}",
                "size": r.size,
                "size_text": human_bytes(r.size),
                "perms": r.perms,
                "kind": r.kind,
                "path": r.path,
                "module": r.module or "",
                "changed": int(changed.get(r.start, (0, 0))[0]),
                "first_change": int(changed.get(r.start, (0, r.start))[1]),
            }
            for r in self.process.region_list()
        ]

    def open_region(self, index: int, size: int = 256) -> MemoryView:
        """Shows region ``index`` (of ``regions``) in ``memory_view`` from its first byte, or
        from its first changed byte when a change map says where."""
        if not 0 <= index < len(self.regions):
            raise InvalidArgument(f"no region {index} (have {len(self.regions)})")
        r = self.regions[index]
        start = max(int(r["start"], 16), r["first_change"] // 16 * 16)
        if self.memory_view is None:
            self.memory_view = MemoryView(self.process, start, size)
        else:
            self.memory_view.goto(start)
        self.opened = index
        self.say(f"opened the {r['kind']} region at {r['start']} ({r['size_text']})", "ok")
        return self.memory_view

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("action") == "open":
            try:
                self.open_region(int(content["index"]))
            except MemscanError as e:
                self.say(message(e), "error")

    def to_html(self) -> str:
        cols = ["start", "size_text", "perms", "kind", "path", "changed"]
        return html_table(self.regions, cols, count(len(self.regions), "region"))

    def __repr__(self) -> str:
        touched = sum(1 for r in self.regions if r["changed"])
        return f"RegionMap({count(len(self.regions), 'region')}, {touched:,} changed)"
