"""`StructView`: a structure field by field with live values (ReClass-style): pick a field's
type, rename it, expand a pointer into the layout behind it, copy the layout as C, and add a
field to an address list."""

from __future__ import annotations

from typing import Any

import traitlets

from .. import _native
from ..address_list import AddressList
from ..errors import InvalidArgument, MemscanError
from ..process import Process, as_process
from ..structures import Layout
from ..structures.layout import Field
from ._base import MemscanWidget, esm, html_table, locator, message

#: The types offered in the type picker.
PICKABLE = ["i8", "u8", "bool", "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64", "ptr"]
#: How many levels of pointers can be open at once.
MAX_DEPTH = 6


def _prefixed(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in values.items()}


class StructView(MemscanWidget):
    """``StructView(proc, address, layout=None, size=None, over=None)``: the structure at
    ``address`` (an int or an address expression) through ``layout``, dissected when none is
    given (``size`` and ``over`` as :meth:`memscan.Process.dissect` takes them).

    ``rows`` holds one dict per shown field (path, depth, offset, name, type, value,
    evidence, points_to, expandable, open). :meth:`set_type`, :meth:`rename`,
    :meth:`expand` / :meth:`collapse` (a pointer's target, dissected on first use),
    :meth:`add_to_list` (``address_list`` gets an entry) and :meth:`to_c` work on ``struct``
    (the :class:`~memscan.Layout` shown) from Python
    as from the widget; ``live=True`` refreshes the values every ``interval`` seconds."""

    _esm = esm("struct_view")

    address = traitlets.Int(0).tag(sync=True)
    location = traitlets.Unicode("").tag(sync=True)
    layout_name = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    types = traitlets.List(traitlets.Unicode(), PICKABLE).tag(sync=True)
    c_text = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        process: Process | _native.Process,
        address: int | str,
        layout: Layout | None = None,
        *,
        size: int | None = None,
        over: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.process = as_process(process)
        self._where = locator(self.process)
        start = address if isinstance(address, int) else self.process.address(str(address))
        self.struct = layout or self.process.dissect(start, size, over=over)
        self.address_list = AddressList()
        #: Open pointers: path -> (target address, its layout).
        self._open: dict[str, tuple[int, Layout]] = {}
        super().__init__(address=start, layout_name=self.struct.name, **kwargs)
        self.on_msg(self._on_message)
        self.refresh()

    # -- what is shown ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-reads every shown instance and its values."""
        try:
            values = self.process.read_struct(self.address, self.struct)
            rows = self._rows(self.struct, self.address, "", 0, values)
        except MemscanError as e:
            self.say(message(e), "error")
            return
        with self.hold_sync():
            self.rows = rows
            self.location = self._where(self.address)
            self.struct_name = self.struct.name

    def _rows(
        self, layout: Layout, address: int, prefix: str, depth: int, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows = []
        for f in layout.fields:
            path = f"{prefix}{f.name}"
            key = path[len(prefix) - len(prefix) :] if False else None  # noqa: F841
            value = values.get(path.split(":", 1)[-1])
            rows.append(self._row(f, path, depth, value))
            if f.type == "struct" and f.layout is not None and f.count == 1:
                rows.extend(self._rows(f.layout, address + f.offset, f"{path}.", depth + 1, values))
            elif path in self._open:
                target, child = self._open[path]
                child_values = _prefixed(self.process.read_struct(target, child), f"{path}.")
                rows.extend(self._rows(child, target, f"{path}.", depth + 1, child_values))
        return rows

    def _row(self, f: Field, path: str, depth: int, value: Any) -> dict[str, Any]:
        if f.type == "ptr" and isinstance(value, int):
            where = self._where(value)
            shown = f"{value:#x}" + (f"  {where}" if value and where != f"{value:#x}" else "")
        elif f.type == "struct" or value is None:
            shown = f.value
        else:
            shown = str(value)
        return {
            "path": path,
            "depth": depth,
            "offset": f.offset,
            "name": f.name,
            "type": f.layout.name if f.type == "struct" and f.layout is not None else f.type,
            "size": f.size,
            "value": shown,
            "evidence": f.evidence,
            "points_to": f.points_to,
            "expandable": f.type == "ptr" and depth + 1 < MAX_DEPTH and bool(value),
            "open": path in self._open,
        }

    def _field(self, path: str) -> tuple[Layout, Field, int]:
        """The layout holding the field at ``path`` (``hp``, ``pos.x``, ``weapon.damage``
        through an open pointer), the field, and the address of that layout's instance."""
        layout, address = self.struct, self.address
        parts = path.split(".")
        for k, part in enumerate(parts):
            try:
                f = layout[part]
            except KeyError:
                raise InvalidArgument(f"no field {path!r}") from None
            if k == len(parts) - 1:
                return layout, f, address
            opened = ".".join(parts[: k + 1])
            if f.type == "struct" and f.layout is not None:
                layout, address = f.layout, address + f.offset
            elif opened in self._open:
                address, layout = self._open[opened]
            else:
                raise InvalidArgument(f"{opened} is not open")
        raise InvalidArgument(f"no field {path!r}")

    # -- editing ----------------------------------------------------------------------------

    def set_type(self, path: str, type_name: str) -> None:
        """Gives the field at ``path`` (``"hp"``, ``"weapon.damage"``) a new type."""
        layout, f, _ = self._field(path)
        layout.set_type(f.name, type_name)
        self._open.pop(path, None)
        self.say(f"{path} is now {type_name}", "ok")
        self.refresh()

    def rename(self, path: str, name: str) -> None:
        """Renames the field at ``path``."""
        layout, f, _ = self._field(path)
        layout.rename(f.name, name)
        new_path = path.rsplit(".", 1)[0] + f".{name}" if "." in path else name
        for key in [k for k in self._open if k == path or k.startswith(path + ".")]:
            self._open[new_path + key[len(path) :]] = self._open.pop(key)
        self.say(f"{path} renamed to {name}", "ok")
        self.refresh()

    def expand(self, path: str, size: int | None = None) -> None:
        """Opens the pointer at ``path``: the layout behind it (its own, when the field has
        one; else dissected now)."""
        layout, f, address = self._field(path)
        if f.type != "ptr":
            raise InvalidArgument(f"{path} is {f.type}, not a pointer")
        target = int(self.process.read_struct(address, layout)[f.name])
        if not target:
            raise InvalidArgument(f"{path} is null")
        if f.layout is None or size is not None:
            f.layout = self.process.dissect(target, size, name=f"{layout.name}_{f.name}")
        self._open[path] = (target, f.layout)
        self.say(f"{path} -> {self._where(target)}", "ok")
        self.refresh()

    def collapse(self, path: str) -> None:
        for key in [k for k in self._open if k == path or k.startswith(path + ".")]:
            del self._open[key]
        self.refresh()

    def add_to_list(self, path: str) -> None:
        """Adds the field at ``path`` to ``address_list`` (at its address now)."""
        layout, f, address = self._field(path)
        vt = layout.value_type(f)
        if vt is None or f.count != 1:
            raise InvalidArgument(f"{path} ({f.type}) is not a single number")
        self.address_list.add(path, f"{address + f.offset:X}", vt)
        self.say(f"added {path} ({vt}) to the address list", "ok")

    def to_c(self) -> str:
        """The layout (and the layouts of open pointers) as C; also shown in the widget."""
        self.c_text = self.struct.to_c()
        return self.c_text

    # -- messages from the frontend ---------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action, path = content.get("action"), str(content.get("path", ""))
        try:
            if action == "refresh":
                self.refresh()
            elif action == "set_type":
                self.set_type(path, str(content.get("type")))
            elif action == "rename":
                self.rename(path, str(content.get("name", "")).strip())
            elif action == "toggle":
                (self.collapse if path in self._open else self.expand)(path)
            elif action == "add_to_list":
                self.add_to_list(path)
            elif action == "to_c":
                self.to_c()
                self.say("the layout as C is below (copied when the browser allows)", "ok")
        except Exception as e:  # reported in the widget; the kernel keeps running
            self.say(message(e), "error")

    def to_html(self) -> str:
        rows = [
            {**r, "offset": f"+{r['offset']:#x}", "name": "  " * r["depth"] + r["name"]}
            for r in self.rows
        ]
        return html_table(
            rows,
            ["offset", "name", "type", "value", "evidence"],
            f"{self.struct_name} at {self.location}",
        )

    def __repr__(self) -> str:
        return f"StructView({self.struct_name} at {self.location}, {len(self.rows)} fields)"
