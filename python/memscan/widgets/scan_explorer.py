"""`ScanExplorer`: candidates as a paged table, next scans from buttons, writes and freezes."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import traitlets

from ..errors import MemscanError
from ..scanner import Scanner
from ._base import MemscanWidget, esm, html_table

#: Operators offered as buttons (those that take a value use the value box).
OPS = ["eq", "ne", "lt", "gt", "increased", "decreased", "changed", "unchanged"]
COLUMNS = ["index", "address", "value", "current", "previous", "region"]
#: Above this many candidates the page shows no previous value or region (building them costs
#: a pass over every candidate).
TABLE_LIMIT = 200_000


class ScanExplorer(MemscanWidget):
    """Explore a scanner's candidates: ``ScanExplorer(scanner)``.

    State (traits): ``count``, ``page``, ``page_size``, ``rows`` (the visible page), ``op``,
    ``value``, ``selected``, ``history``, ``status``, ``live``/``interval`` (refresh the
    visible values while the target runs). Methods do what the buttons do: :meth:`next`,
    :meth:`undo`, :meth:`write`, :meth:`freeze`, :meth:`release`, :meth:`refresh`.
    """

    _esm = esm("scan_explorer")

    value_type = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(20).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    ops = traitlets.List(traitlets.Unicode(), default_value=OPS).tag(sync=True)
    op = traitlets.Unicode("eq").tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    history = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, scanner: Scanner, *, page_size: int = 20, **kwargs: Any) -> None:
        self.scanner = scanner
        # Button clicks run here, one at a time, so a long scan never blocks the kernel.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memscan-explorer")
        self._pending: Future[None] | None = None
        super().__init__(value_type=scanner.value_type, page_size=page_size, **kwargs)
        self.on_msg(self._on_message)
        self.observe(lambda _: self._render_page(), names=["page", "page_size"])
        self._render_page()

    # -- actions ----------------------------------------------------------------------------

    def next(self, op: str | None = None, value: Any = None) -> int:
        """Runs a next scan (``op`` and ``value`` default to the widget's)."""
        op = op or self.op
        raw = self.value if value is None else value
        try:
            args = (
                []
                if op in ("increased", "decreased", "changed", "unchanged") and raw in ("", None)
                else [_number(raw)]
            )
            if op in ("increased", "decreased") and args:
                op = f"{op}_by"
            self.scanner.next(op, *args)
            self.status = f"{op} {raw}".strip() + f": {len(self.scanner)} candidates"
        except (MemscanError, ValueError, TypeError) as e:
            self.status = f"{type(e).__name__}: {e}"
        self.page = 0
        self._render_page()
        return self.count

    def undo(self) -> int:
        try:
            self.scanner.undo()
            self.status = f"undone: {len(self.scanner)} candidates"
        except MemscanError as e:
            self.status = f"{type(e).__name__}: {e}"
        self._render_page()
        return self.count

    def write(self, index: int, value: Any) -> None:
        """Writes ``value`` to candidate ``index``."""
        self._act(lambda: self.scanner.set(_number(value), [index]), f"wrote {value} to #{index}")

    def freeze(self, index: int, value: Any = None) -> None:
        """Holds candidate ``index`` at ``value`` (or its current value)."""
        v = None if value in (None, "") else _number(value)
        self._act(lambda: self.scanner.hold(v, [index]), f"froze #{index}")

    def release(self) -> None:
        """Stops every freeze of this scanner."""
        self._act(self.scanner.release, "released all frozen values")

    def refresh(self) -> None:
        """Re-reads the current values of the visible page (raises if the target is gone)."""
        self._render_page(read_current=True, strict=True)

    # -- rendering --------------------------------------------------------------------------

    def _act(self, fn: Any, done: str) -> None:
        try:
            fn()
            self.status = done
        except (MemscanError, ValueError, TypeError) as e:
            self.status = f"{type(e).__name__}: {e}"
        self._render_page(read_current=True)

    def _render_page(self, read_current: bool = True, strict: bool = False) -> None:
        n = len(self.scanner)
        self.count = n
        self.history = [f"{d} → {c}" for d, c in self.scanner.history()]
        lo = min(self.page * self.page_size, max(n - 1, 0))
        hi = min(lo + self.page_size, n)
        if n == 0:
            self.rows = []
            return
        # Only the visible page: a dense set of millions of candidates is never listed whole.
        addrs, values = self.scanner.page(lo, hi - lo)
        current: list[Any] = [None] * (hi - lo)
        if read_current:
            try:
                current = self.scanner.current_values(np.ascontiguousarray(addrs)).tolist()
            except MemscanError as e:
                if strict:
                    raise
                self.status = f"{type(e).__name__}: {e}"
        previous: list[Any] = [None] * (hi - lo)
        kinds: list[Any] = [None] * (hi - lo)
        if n <= TABLE_LIMIT:  # previous values and regions come from the full table
            table = self.scanner.table().to_polars().slice(lo, hi - lo)
            previous, kinds = table["previous"].to_list(), table["region_kind"].to_list()
        self.rows = [
            {
                "index": lo + i,
                "address": hex(int(a)),
                "value": str(v),
                "current": "" if c is None else str(c),
                "previous": "" if p is None else str(p),
                "region": k or "",
            }
            for i, (a, v, c, p, k) in enumerate(
                zip(addrs.tolist(), values.tolist(), current, previous, kinds, strict=True)
            )
        ]

    def settle(self, timeout: float | None = None) -> None:
        """Waits until the last button action has finished."""
        if self._pending is not None:
            self._pending.result(timeout)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
        super().close()

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        self.status = f"{content.get('action')} ..."
        self._pending = self._worker.submit(self._act_on, content)

    def _act_on(self, content: dict[str, Any]) -> None:
        action = content.get("action")
        if action == "next":
            self.next(content.get("op"), content.get("value"))
        elif action == "undo":
            self.undo()
        elif action == "write":
            self.write(int(content["index"]), content.get("value"))
        elif action == "freeze":
            self.freeze(int(content["index"]), content.get("value"))
        elif action == "release":
            self.release()
        elif action == "refresh":
            self.refresh()

    def to_html(self) -> str:
        caption = f"{self.count} candidates ({self.value_type}), page {self.page + 1}"
        return html_table(self.rows, COLUMNS, caption)

    def __repr__(self) -> str:
        return f"ScanExplorer({self.count} candidates of {self.value_type}, page {self.page + 1})"


def _number(text: Any) -> int | float:
    if isinstance(text, int | float):
        return text
    s = str(text).strip()
    try:
        return int(s, 0)
    except ValueError:
        return float(s)
