"""`ScanExplorer`: a scan window. First scan with a type picker, next scans with every
operator, the step history with undo, a paged and sortable table, writes, freezes, and an
address list to keep what was found."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import traitlets

from .. import _native
from ..address_list import AddressList
from ..display import Locator, count, human_bytes
from ..errors import InvalidArgument, InvalidValue, MemscanError
from ..process import Process, as_process
from ..scanner import Scanner
from ..value_types import DISPLAY_ORDER
from ._base import MemscanWidget, esm, html_table, locator, message

TYPES = list(DISPLAY_ORDER)

#: First-scan operators: (op, label, number of values).
FIRST_OPS = [
    ("eq", "= exact value", 1),
    ("ne", "≠ not equal to", 1),
    ("lt", "< less than", 1),
    ("le", "≤ at most", 1),
    ("gt", "> greater than", 1),
    ("ge", "≥ at least", 1),
    ("between", "between … and …", 2),
    ("near", "near … ± tolerance", 2),
    ("any", "unknown initial value", 0),
]
#: Next-scan operators: those of the first scan (but "any"), then the relative ones.
NEXT_OPS = [
    *FIRST_OPS[:-1],
    ("increased", "increased", 0),
    ("increased_by", "increased by …", 1),
    ("decreased", "decreased", 0),
    ("decreased_by", "decreased by …", 1),
    ("changed", "changed", 0),
    ("unchanged", "unchanged", 0),
]
ARITY = {op: n for op, _, n in NEXT_OPS + FIRST_OPS}
COLUMNS = ["index", "address", "module", "region", "value", "current", "previous", "frozen"]
#: Sorting by value orders every candidate: offered up to this many (never for dense sets).
SORT_LIMIT = 2_000_000


class ScanExplorer(MemscanWidget):
    """A scan window: ``ScanExplorer(scanner)``, or ``ScanExplorer(proc)`` to start with the
    first-scan form.

    State (traits): ``count``, ``page``, ``page_size``, ``rows`` (the visible page only: dense
    sets of millions are never listed whole), ``op``, ``value``, ``value2`` (the next scan's
    operator and values, kept apart: ``decreased`` never reads the value box), ``selected``
    (candidate indices), ``steps``, ``sort``, ``hex``, ``status``, ``live``/``interval``.
    Methods do what the buttons do: :meth:`first`, :meth:`next`, :meth:`undo`, :meth:`write`,
    :meth:`freeze`, :meth:`release`, :meth:`add_to_list`, :meth:`refresh`. Found addresses go
    to ``address_list`` (an :class:`~memscan.AddressList`, or the one passed in).
    """

    _esm = esm("scan_explorer")

    value_type = traitlets.Unicode("i32").tag(sync=True)
    types = traitlets.List(traitlets.Unicode(), default_value=TYPES).tag(sync=True)
    first_ops = traitlets.List(traitlets.List()).tag(sync=True)
    next_ops = traitlets.List(traitlets.List()).tag(sync=True)
    scanned = traitlets.Bool(False).tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    memory = traitlets.Unicode("").tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(20).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    notes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    op = traitlets.Unicode("eq").tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)
    value2 = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    steps = traitlets.List(traitlets.Dict()).tag(sync=True)
    sort = traitlets.Unicode("").tag(sync=True)
    sortable = traitlets.Bool(True).tag(sync=True)
    hex = traitlets.Bool(False).tag(sync=True)
    busy = traitlets.Unicode("").tag(sync=True)
    list_size = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        source: Scanner | Process | _native.Process,
        *,
        page_size: int = 20,
        address_list: AddressList | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(source, Scanner):
            self.scanner: Scanner | None = source
            self.process = source._process
        else:
            self.scanner = None
            self.process = as_process(source)
        #: Whether the scanner (made by :meth:`first`) and the address list are the widget's
        #: own: closing the widget stops their freezes. A scanner or list passed in belongs
        #: to the caller, and keeps its freezes.
        self._own_scanner = False
        self._own_list = address_list is None
        if address_list is None:  # a list of our own, attached, so it shows live values
            address_list = AddressList().attach(self.process)
        self.address_list = address_list
        self._where: Locator | None = None  # the process's regions, read again after each scan
        self._order: np.ndarray | None = None
        # Button clicks run here, one at a time, so a long scan never blocks the kernel.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memscan-explorer")
        self._pending: Future[None] | None = None
        vt = self.scanner.value_type if self.scanner is not None else "i32"
        super().__init__(
            value_type=vt,
            page_size=page_size,
            first_ops=[list(o) for o in FIRST_OPS],
            next_ops=[list(o) for o in NEXT_OPS],
            **kwargs,
        )
        self.on_msg(self._on_message)
        self.observe(lambda _: self._render_page(), names=["page", "page_size"])
        self.observe(self._on_sort, names="sort")
        self._scan_changed()

    # -- scans ------------------------------------------------------------------------------

    def first(self, value_type: str | None = None, op: str = "eq", *values: Any) -> int:
        """A new first scan (``op`` in eq ne lt le gt ge between near, or ``"any"``), with a
        new scanner when ``value_type`` differs from the current one."""
        vt = value_type or self.value_type
        try:
            args = self._values_for(op, values, ARITY, FIRST_OPS)
            if self.scanner is None or self.scanner.value_type != vt:
                scanner = self.process.scanner(vt)
            else:
                scanner = self.scanner
            scanner.progress = None
            tolerance = _tolerance(args.pop()) if op == "near" else None
            scanner.first(op, *args, tolerance=tolerance)
            if scanner is not self.scanner:
                self._own_scanner = True
            self.scanner = scanner
            self.value_type = vt
            self.say(f"first scan: {count(len(scanner), 'candidate')}", "ok")
            self._scan_changed()
        except MemscanError as e:
            self.say(message(e), "error")
        return self.count

    def next(self, op: str | None = None, *values: Any) -> int:
        """A next scan: ``op`` (default: the widget's) with ``values`` (default: the value
        boxes, only for operators that take values)."""
        op = op or self.op
        try:
            scanner = self._require_scanner()
            args = self._values_for(op, values, ARITY, NEXT_OPS)
            tolerance = _tolerance(args.pop()) if op == "near" else None
            scanner.progress = None
            scanner.next(op, *args, tolerance=tolerance)
            self.say(f"{scanner.history()[-1][0]}: {count(len(scanner), 'candidate')}", "ok")
            self._scan_changed()
        except MemscanError as e:
            self.say(message(e), "error")
        return self.count

    def undo(self, to_step: int | None = None) -> int:
        """Undoes the last next scan, or every one after step ``to_step`` (0 is the first)."""
        try:
            scanner = self._require_scanner()
            target = len(scanner.history()) - 2 if to_step is None else to_step
            if not 0 <= target < len(scanner.history()) - 1:
                raise InvalidArgument("nothing to undo" if target < 0 else f"no step {to_step}")
            while len(scanner.history()) - 1 > target:
                scanner.undo()
            self.say(f"back to step {target + 1}: {count(len(scanner), 'candidate')}", "ok")
            self._scan_changed()
        except MemscanError as e:
            self.say(message(e), "error")
        return self.count

    # -- writes and the address list ---------------------------------------------------------

    def write(self, indices: int | list[int], value: Any) -> None:
        """Writes ``value`` to the candidates at ``indices``."""
        sel = _indices(indices)
        self._act(
            lambda: self._require_scanner().write(_text(value), sel),
            f"wrote {_text(value)} to {count(len(sel), 'address', 'addresses')}",
        )

    def freeze(self, indices: int | list[int], value: Any = None) -> None:
        """Holds the candidates at ``indices`` at ``value`` (or their current values)."""
        sel = _indices(indices)
        v = None if value in (None, "") else _text(value)
        what = count(len(sel), "address", "addresses")
        self._act(
            lambda: self._require_scanner().freeze(v, sel),
            f"froze {what}" + ("" if v is None else f" at {v}"),
        )

    def release(self, indices: int | list[int] | None = None) -> None:
        """Stops the freezes of ``indices`` (all of this scanner's by default)."""
        sel = None if indices is None else _indices(indices)
        self._act(lambda: self._require_scanner().release(sel), "released")

    def add_to_list(self, indices: int | list[int], description: str | None = None) -> None:
        """Adds the candidates at ``indices`` to ``address_list`` (``module+offset`` where the
        address is in a module)."""
        sel = _indices(indices)

        def add() -> None:
            added = self.address_list.add_from_scanner(self._require_scanner(), sel, description)
            self.list_size = len(self.address_list)
            names = ", ".join(e.expression for e in added[:3]) + (" …" if len(added) > 3 else "")
            self.say(f"added {names} to the address list ({len(self.address_list):,} in it)", "ok")

        self._act(add, None)

    def refresh(self) -> None:
        """Re-reads the current values of the visible page (raises if the target is gone)."""
        self._render_page(strict=True)

    # -- rendering --------------------------------------------------------------------------

    def _act(self, fn: Any, done: str | None) -> None:
        try:
            fn()
            if done:
                self.say(done, "ok")
        except MemscanError as e:
            self.say(message(e), "error")
        self._render_page()

    def _require_scanner(self) -> Scanner:
        if self.scanner is None or not self.scanned:
            raise InvalidArgument("no scan yet: run a first scan")
        return self.scanner

    def _values_for(
        self, op: str, given: tuple[Any, ...], arity: dict[str, int], ops: Any
    ) -> list[Any]:
        if op not in {o for o, _, _ in ops}:
            names = ", ".join(o for o, _, _ in ops)
            raise InvalidArgument(f"unknown operator {op!r}; one of {names}")
        need = arity[op]
        values = list(given) or [self.value, self.value2][:need]
        if len(values) != need or any(str(v).strip() == "" for v in values):
            what = {1: "a value", 2: "two values"}.get(need, "no value")
            raise InvalidArgument(f"{op} needs {what}")
        return [_text(v) for v in values]

    def _scan_changed(self) -> None:
        """After a scan or an undo: new count, steps and order; back to the first page."""
        s = self.scanner
        self._order = None
        self._where = None
        with self.hold_sync():
            steps = [] if s is None else s.history()
            self.scanned = len(steps) > 0
            self.selected = []
            self.steps = [{"description": d, "count": c} for d, c in steps]
            self.sortable = s is not None and self.scanned and not s.is_dense
            self.sortable = self.sortable and s is not None and len(s) <= SORT_LIMIT
            if self.sort and not self.sortable:
                self.sort = ""
            self.page = 0
            # In the same message as `scanned`: the frontend never shows a stale count.
            self._render_page()

    def _on_sort(self, _change: Any) -> None:
        self._order = None
        if self.sort and not self.sortable:
            self.say(f"sorting needs at most {SORT_LIMIT:,} candidates (not a dense set)", "error")
            self.sort = ""
        self.page = 0
        self._render_page()

    def _sorted(self, lo: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        """Indices, addresses, values and previous values of rows lo..lo+n in the chosen order."""
        s = self.scanner
        assert s is not None
        if not self.sort:
            addrs, values = s.page(lo, n)
            return np.arange(lo, lo + len(addrs)), addrs, values, s.previous_page(lo, n)
        key, desc = self.sort.lstrip("-"), self.sort.startswith("-")
        if self._order is None:
            col = s.values if key == "value" else s.previous_page(0, len(s))
            if col is None:
                col = np.zeros(len(s))
            order = np.argsort(col, kind="stable")
            self._order = order[::-1] if desc else order
        idx = self._order[lo : lo + n]
        prev = s.previous_page(0, len(s))
        return idx, s.addresses[idx], s.values[idx], None if prev is None else prev[idx]

    def _render_page(self, strict: bool = False) -> None:
        s = self.scanner
        n = len(s) if s is not None and self.scanned else 0
        notes: list[str] = []
        if n == 0 or s is None:
            with self.hold_sync():
                self.count, self.rows, self.notes, self.memory = 0, [], [], ""
            return
        pages = -(-n // max(self.page_size, 1))
        if self.page >= pages:
            self.page = pages - 1  # renders again through the observer
            return
        lo = self.page * self.page_size
        idx, addrs, values, previous = self._sorted(lo, min(self.page_size, n - lo))
        addrs = np.ascontiguousarray(addrs, dtype=np.uint64)
        current: list[Any] = [None] * len(addrs)
        try:
            current = s.current_values(addrs).tolist()
        except MemscanError as e:
            if strict:
                raise
            notes.append(f"current values not read: {message(e)}")
        if previous is None:
            notes.append("previous values appear after a next scan")
        frozen = {a: v for a, v in s.frozen()}
        rows = []
        if self._where is None:
            self._where = locator(self.process)
        for k, a in enumerate(addrs.tolist()):
            hit = self._where.module(a)
            rows.append(
                {
                    "index": int(idx[k]),
                    "address": f"{a:#x}",
                    "module": f"{hit[0]}+{hit[1]:#x}" if hit else "",
                    "region": self._where.kind(a) or "",
                    "value": _show(values[k]),
                    "current": "" if current[k] is None else _show(current[k]),
                    "previous": "" if previous is None else _show(previous[k]),
                    "frozen": "" if a not in frozen else _show(frozen[a]),
                }
            )
        with self.hold_sync():
            self.count = n
            self.memory = human_bytes(s.nbytes)
            self.notes = notes
            self.rows = rows
            self.list_size = len(self.address_list)

    # -- messages from the frontend ---------------------------------------------------------

    def settle(self, timeout: float | None = None) -> None:
        """Waits until the last button action has finished."""
        if self._pending is not None:
            self._pending.result(timeout)

    def close(self) -> None:
        """Closes the widget: stops its live refresh and its worker, and the freezes of the
        scanner and address list it made itself (a scanner or list passed in keeps its
        own). Also done when the widget is garbage-collected."""
        self._worker.shutdown(wait=False, cancel_futures=True)
        if self._own_scanner and self.scanner is not None:
            self.scanner.release()
        if self._own_list:
            self.address_list.detach()
        super().close()

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = str(content.get("action"))
        label = content.get("op") if action in ("next", "first") else action
        self.busy = f"{label} …"
        self.say(f"running {label} …", "busy")
        self._pending = self._worker.submit(self._act_on, content)

    def _act_on(self, content: dict[str, Any]) -> None:
        action = content.get("action")
        values = [v for v in content.get("values", []) if v is not None]
        sel = content.get("indices", [])
        try:
            if action == "first":
                self.first(content.get("type"), content.get("op", "eq"), *values)
            elif action == "next":
                self.next(content.get("op"), *values)
            elif action == "undo":
                self.undo(content.get("to_step"))
            elif action == "write":
                self.write(sel, content.get("value"))
            elif action == "freeze":
                self.freeze(sel, content.get("value"))
            elif action == "release":
                self.release(sel or None)
            elif action == "add":
                self.add_to_list(sel)
            elif action == "refresh":
                self._render_page()
                self.say(f"refreshed {count(len(self.rows), 'row')}", "ok")
        except Exception as e:  # reported in the widget; the kernel keeps running
            self.say(message(e), "error")
        finally:
            self.busy = ""

    def to_html(self) -> str:
        caption = f"{count(self.count, 'candidate')} ({self.value_type}), page {self.page + 1:,}"
        return html_table(self.rows, COLUMNS, caption)

    def __repr__(self) -> str:
        return (
            f"ScanExplorer({count(self.count, 'candidate')} of {self.value_type}, "
            f"page {self.page + 1:,})"
        )


def _text(value: Any) -> str | int | float:
    """A value as the engine parses it: numbers as they are, text stripped (the engine reads
    decimal, 0x hex and floats, and says clearly what it cannot read)."""
    return value if isinstance(value, int | float) else str(value).strip()


def _tolerance(text: Any) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidValue(f"tolerance {text!r} is not a number") from None


def _show(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def _indices(indices: int | list[int]) -> list[int]:
    sel = [indices] if isinstance(indices, int) else [int(i) for i in indices]
    if not sel:
        raise InvalidArgument("select rows first")
    return sel
