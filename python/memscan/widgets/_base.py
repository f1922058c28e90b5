"""What every memscan widget shares: ESM loading, HTML/text fallbacks, a live refresh loop."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

STATIC = Path(__file__).parent / "static"


def esm(name: str) -> Path:
    """The ESM file of a widget under ``static/``."""
    return STATIC / f"{name}.js"


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
    """Base class: adds an HTML fallback to the widget's display bundle and a refresh loop
    that runs in a background thread (so it never blocks the kernel) while ``live`` is true."""

    live = traitlets.Bool(False).tag(sync=True)
    interval = traitlets.Float(1.0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.observe(self._on_live, names="live")
        if self.live:
            self._start_loop()

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
                self.status = f"live refresh stopped: {type(e).__name__}: {e}"
                self.live = False
                return

    def close(self) -> None:
        self._stop.set()
        super().close()
