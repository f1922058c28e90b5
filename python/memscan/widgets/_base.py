"""What every memscan widget shares: ESM and CSS loading, HTML/text fallbacks, naming addresses
(counts, sizes and addresses are formatted by :mod:`memscan.display`), a status line, and a live
refresh loop."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..display import Locator
from ..errors import MemscanError

STATIC = Path(__file__).parent / "static"


def esm(name: str) -> str:
    """A widget's ES module: ``static/common.js`` (shared helpers) followed by ``{name}.js``."""
    return (STATIC / "common.js").read_text() + "\n" + (STATIC / f"{name}.js").read_text()


def css(*extra: str) -> str:
    """The shared stylesheet, then files under ``static/`` (e.g. a vendored library's CSS)."""
    return "\n".join((STATIC / f).read_text() for f in ("memscan.css", *extra))


def message(e: BaseException) -> str:
    """An error as a user reads it: memscan's own message, never a Python internal."""
    if isinstance(e, MemscanError):
        return str(e)
    return f"could not do that: {type(e).__name__}"


def locator(process: Any) -> Locator:
    """Names ``process``'s addresses as ``module+0x...`` (see :class:`memscan.display.Locator`);
    with no regions to go by (the process has exited) every address stays hex."""
    try:
        return Locator(process.region_list())
    except MemscanError:
        return Locator(())


def html_table(rows: list[dict[str, Any]], columns: list[str], caption: str = "") -> str:
    """A small HTML table (the fallback display when no widget frontend is present)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class MemscanWidget(anywidget.AnyWidget):
    """Base class: adds an HTML fallback to the widget's display bundle, a status line
    (``status`` with ``status_kind`` info, ok, busy or error) and a refresh loop that runs in
    a background thread (so it never blocks the kernel) while ``live`` is true."""

    _css = css()

    live = traitlets.Bool(False).tag(sync=True)
    interval = traitlets.Float(1.0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    status_kind = traitlets.Unicode("info").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.observe(self._on_live, names="live")
        if self.live:
            self._start_loop()

    def say(self, text: str, kind: str = "info") -> None:
        """Sets the status line."""
        with self.hold_sync():
            self.status, self.status_kind = text, kind

    def refresh(self) -> None:
        """Re-reads what the widget shows (overridden)."""

    def to_html(self) -> str:
        """The widget's content as HTML (overridden)."""
        return html.escape(repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = self.to_html()
        return bundle

    def _on_live(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._start_loop()
        else:
            self._stop.set()

    def _start_loop(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="memscan-widget")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(max(self.interval, 0.05)):
            try:
                self.refresh()
            except Exception as e:  # the target may have exited: report and stop
                self.say(f"live refresh stopped: {message(e)}", "error")
                self.live = False
                return

    def close(self) -> None:
        self._stop.set()
        super().close()
