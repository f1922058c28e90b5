"""`MemoryView`: a hex dump around an address with changed bytes highlighted and the selection
read as every type."""

from __future__ import annotations

import struct
from typing import Any

import traitlets

from .._native import Process
from ..errors import MemscanError
from ._base import MemscanWidget, esm, html_table

#: struct formats of the typed interpretations.
FORMATS = {
    "i8": "b",
    "u8": "B",
    "i16": "h",
    "u16": "H",
    "i32": "i",
    "u32": "I",
    "i64": "q",
    "u64": "Q",
    "f32": "f",
    "f64": "d",
}


class MemoryView(MemscanWidget):
    """``MemoryView(proc, address, size=256)``: bytes from ``address``; ``changed`` marks the
    bytes that differ from the last refresh, or from the checkpoint once :meth:`checkpoint` is
    called; ``selection`` (an offset) is read as i8..u64, f32, f64 and a string."""

    _esm = esm("memory_view")

    address = traitlets.Int(0).tag(sync=True)
    size = traitlets.Int(256).tag(sync=True)
    data = traitlets.List(traitlets.Int()).tag(sync=True)
    changed = traitlets.List(traitlets.Bool()).tag(sync=True)
    selection = traitlets.Int(0).tag(sync=True)
    interpretations = traitlets.Dict().tag(sync=True)

    def __init__(self, process: Process, address: int, size: int = 256, **kwargs: Any) -> None:
        self.process = process
        self._reference: bytes | None = None
        self._checkpoint: bytes | None = None
        super().__init__(address=address, size=size, **kwargs)
        self.observe(lambda _: self._interpret(), names="selection")
        self.on_msg(
            lambda _w, content, _b: self.refresh() if content.get("action") == "refresh" else None
        )
        self.refresh()

    def refresh(self) -> None:
        """Re-reads the bytes and marks those that changed."""
        try:
            now = self.process.read(self.address, self.size)
        except MemscanError as e:
            self.status = f"{type(e).__name__}: {e}"
            return
        ref = self._checkpoint if self._checkpoint is not None else self._reference
        self.changed = [ref is not None and a != b for a, b in zip(now, ref or now, strict=True)]
        self.data = list(now)
        self._reference = now
        self._interpret()

    def checkpoint(self) -> None:
        """From now on, highlight changes against the bytes as they are now."""
        self._checkpoint = bytes(self.data)
        self.changed = [False] * len(self.data)

    def _interpret(self) -> None:
        raw = bytes(self.data[self.selection :])
        out = {}
        for name, fmt in FORMATS.items():
            n = struct.calcsize(fmt)
            out[name] = repr(struct.unpack("<" + fmt, raw[:n])[0]) if len(raw) >= n else ""
        out["utf8"] = raw.split(b"\0")[0][:64].decode("utf-8", "replace")
        self.interpretations = out

    def to_html(self) -> str:
        rows = [
            {"address": hex(self.address + i), "bytes": bytes(self.data[i : i + 16]).hex(" ")}
            for i in range(0, len(self.data), 16)
        ]
        return html_table(rows, ["address", "bytes"], f"{self.size} bytes at {self.address:#x}")

    def __repr__(self) -> str:
        return f"MemoryView({self.size} bytes at {self.address:#x}, {sum(self.changed)} changed)"
