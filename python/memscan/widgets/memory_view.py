"""`MemoryView`: a hex dump around an address with changed bytes highlighted, the selection read
as every type, navigation (address expressions, pages, pointers) and editing."""

from __future__ import annotations

import struct
from typing import Any

import traitlets

from .. import _native
from ..display import count
from ..errors import InvalidArgument, MemscanError
from ..process import Process, as_process
from ..value_types import DISPLAY_ORDER, value_type
from ._base import MemscanWidget, esm, html_table, locator, message

#: struct formats of the typed interpretations.
FORMATS = {name: value_type(name).struct_format for name in DISPLAY_ORDER}
ROW = 16


class MemoryView(MemscanWidget):
    """``MemoryView(proc, address, size=256)``: ``size`` bytes from ``address`` (an int or an
    address expression such as ``"game+0x4140"`` or ``"[[game+4140]+10]"``).

    ``changed`` marks the bytes that differ from the last refresh, or from the checkpoint once
    :meth:`checkpoint` is called; ``selection`` (an offset) is read as i8..u64, f32, f64, a
    pointer and printable text (``interpretations``). :meth:`goto`, :meth:`page_down`,
    :meth:`page_up`, :meth:`follow` (the pointer at the selection) and :meth:`back` move;
    :meth:`write_byte` and :meth:`write_value` edit, through the process.
    """

    _esm = esm("memory_view")

    address = traitlets.Int(0).tag(sync=True)
    location = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(256).tag(sync=True)
    data = traitlets.List(traitlets.Int()).tag(sync=True)
    changed = traitlets.List(traitlets.Bool()).tag(sync=True)
    selection = traitlets.Int(0).tag(sync=True)
    interpretations = traitlets.Dict().tag(sync=True)
    can_go_back = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        process: Process | _native.Process,
        address: int | str,
        size: int = 256,
        **kwargs: Any,
    ) -> None:
        self.process = as_process(process)
        self._where = locator(self.process)
        self._reference: bytes | None = None
        self._checkpoint: bytes | None = None
        self._back: list[int] = []
        start = self._resolve(address)
        super().__init__(address=start, size=size, **kwargs)
        self.observe(lambda _: self._interpret(), names="selection")
        self.on_msg(self._on_message)
        self.refresh()

    # -- navigation -------------------------------------------------------------------------

    def goto(self, address: int | str) -> bool:
        """Shows memory at ``address`` (an int or an address expression); False, with the
        reason in ``status``, when it cannot be resolved or read."""
        try:
            target = self._resolve(address)
            self.process.read(target, self.size)
        except MemscanError as e:
            self.say(message(e), "error")
            return False
        self._back.append(self.address)
        self._move(target)
        self.say(f"at {self._where(target)}", "ok")
        return True

    def page_down(self) -> bool:
        return self.goto(self.address + self.size)

    def page_up(self) -> bool:
        return self.goto(max(self.address - self.size, 0))

    def follow(self) -> bool:
        """Goes to the address stored (u64, little-endian) at the selection."""
        raw = bytes(self.data[self.selection : self.selection + 8])
        if len(raw) < 8:
            self.say("a pointer needs 8 bytes from the selection", "error")
            return False
        return self.goto(int.from_bytes(raw, "little"))

    def back(self) -> bool:
        """Returns to where :meth:`goto` (or a page move or :meth:`follow`) came from."""
        if not self._back:
            self.say("nowhere to go back to", "error")
            return False
        self._move(self._back.pop())
        return True

    def _resolve(self, address: int | str) -> int:
        if isinstance(address, int):
            return address
        text = str(address).strip()
        if not text:
            raise InvalidArgument("type an address, e.g. 0x7f12a000 or game+0x4140")
        return self.process.address(text)

    def _move(self, address: int) -> None:
        self._reference = self._checkpoint = None
        with self.hold_sync():
            self.address = address
            self.selection = 0
            self.can_go_back = bool(self._back)
        self.refresh()

    # -- reading and writing ----------------------------------------------------------------

    def refresh(self) -> None:
        """Re-reads the bytes and marks those that changed."""
        try:
            now = self.process.read(self.address, self.size)
        except MemscanError as e:
            self.say(message(e), "error")
            return
        ref = self._checkpoint if self._checkpoint is not None else self._reference
        with self.hold_sync():
            self.changed = [
                ref is not None and a != b for a, b in zip(now, ref or now, strict=True)
            ]
            self.data = list(now)
            self.location = self._where(self.address)
            self._reference = now
            self._interpret()

    def checkpoint(self) -> None:
        """From now on, highlight changes against the bytes as they are now."""
        self._checkpoint = bytes(self.data)
        self.changed = [False] * len(self.data)

    def write_byte(self, offset: int, value: int | str) -> None:
        """Writes one byte (an int, or hex text such as ``"ff"``) at ``offset``."""
        try:
            byte = value if isinstance(value, int) else int(str(value).strip(), 16)
        except ValueError:
            self.say(f"{str(value).strip()!r} is not a hex byte (00 to ff)", "error")
            return
        if not 0 <= byte <= 0xFF or not 0 <= offset < self.size:
            self.say(f"a byte is 00 to ff, at an offset below {self.size}", "error")
            return
        self._write(offset, lambda at: self.process.write(at, bytes([byte])), f"{byte:02x}")

    def write_value(self, value_type: str, value: Any, offset: int | None = None) -> None:
        """Writes ``value`` as ``value_type`` at ``offset`` (default: the selection)."""
        at = self.selection if offset is None else offset
        text = value if isinstance(value, int | float) else str(value).strip()
        self._write(
            at, lambda a: self.process.write_value(a, value_type, text), f"{value_type} {text}"
        )

    def _write(self, offset: int, fn: Any, what: str) -> None:
        at = self.address + offset
        try:
            fn(at)
            self.say(f"wrote {what} at {self._where(at)}", "ok")
        except MemscanError as e:
            self.say(message(e), "error")
        self.refresh()

    def _interpret(self) -> None:
        raw = bytes(self.data[self.selection :])
        out = {}
        for name, fmt in FORMATS.items():
            n = struct.calcsize(fmt)
            out[name] = repr(struct.unpack("<" + fmt, raw[:n])[0]) if len(raw) >= n else ""
        out["pointer"] = self._where(int.from_bytes(raw[:8], "little")) if len(raw) >= 8 else ""
        text = raw.split(b"\0")[0][:64]
        out["text"] = "".join(chr(c) if 32 <= c < 127 else "." for c in text)
        self.interpretations = out

    # -- messages from the frontend ---------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        try:
            if action == "refresh":
                self.refresh()
            elif action == "goto":
                self.goto(content.get("to", ""))
            elif action == "page":
                (self.page_down if content.get("delta", 1) > 0 else self.page_up)()
            elif action == "follow":
                self.follow()
            elif action == "back":
                self.back()
            elif action == "write_byte":
                self.write_byte(int(content["offset"]), content.get("value", ""))
            elif action == "write_value":
                self.write_value(str(content.get("type")), content.get("value", ""))
        except Exception as e:  # reported in the widget; the kernel keeps running
            self.say(message(e), "error")

    def to_html(self) -> str:
        rows = [
            {"address": f"{self.address + i:#x}", "bytes": bytes(self.data[i : i + ROW]).hex(" ")}
            for i in range(0, len(self.data), ROW)
        ]
        return html_table(rows, ["address", "bytes"], f"{self.size:,} bytes at {self.location}")

    def __repr__(self) -> str:
        return (
            f"MemoryView({self.size:,} bytes at {self.location}, "
            f"{count(sum(self.changed), 'changed byte')})"
        )
