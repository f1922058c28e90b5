"""What every memscan widget shares: ESM and CSS loading, HTML/text fallbacks, naming addresses
(counts, sizes and addresses are formatted by :mod:`memscan.display`), a status line, and a live
refresh loop that ends with its widget."""

from __future__ import annotations

import html
import threading
import weakref
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
    a background thread (so it never blocks the kernel) while ``live`` is true.

    The background work ends with the widget: :meth:`close` stops it, and so does the
    widget's garbage collection (the thread holds only a weak reference to the widget).
    In Jupyter a widget lives while its comm is open (the page may show it): close it to end
    it. Without a kernel (a script, a test) nothing can show a widget or message it, so
    ipywidgets' registry is not left holding it: a dropped widget is collected, and its
    thread, worker and the freezes of its own scanners stop (see :func:`_hold_weakly`)."""

    _css = css()

    live = traitlets.Bool(False).tag(sync=True)
    interval = traitlets.Float(1.0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    status_kind = traitlets.Unicode("info").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake: weakref.finalize[Any, Any] | None = None
        super().__init__(**kwargs)
        _hold_weakly(self)
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
        if self._thread and self._thread.is_alive() and not self._stop.is_set():
            return
        self._stop = threading.Event()
        # The thread gets a weak reference: it never keeps the widget alive, and ends once
        # the widget is gone (the finalizer wakes it at once).
        if self._wake is not None:
            self._wake.detach()
        self._wake = weakref.finalize(self, self._stop.set)
        self._thread = threading.Thread(
            target=_live_loop,
            args=(weakref.ref(self), self._stop),
            daemon=True,
            name="memscan-widget",
        )
        self._thread.start()

    def close(self) -> None:
        """Stops the live refresh and closes the widget (its views disappear)."""
        self._stop.set()
        super().close()


def _live_loop(ref: weakref.ref[MemscanWidget], stop: threading.Event) -> None:
    """The live refresh of the widget ``ref`` refers to, every ``interval`` seconds, until
    ``stop`` is set or the widget is gone; an error is reported in the widget and ends it."""
    while True:
        widget = ref()
        if widget is None:
            return
        interval = max(widget.interval, 0.05)
        del widget  # not held while waiting
        if stop.wait(interval):
            return
        widget = ref()
        if widget is None:
            return
        try:
            widget.refresh()
        except Exception as e:  # the target may have exited: report and stop
            widget.say(f"live refresh stopped: {message(e)}", "error")
            widget.live = False
            return
        finally:
            del widget


def _hold_weakly(widget: MemscanWidget) -> None:
    """Without a kernel (``comm.DummyComm``, which sends nothing anywhere), ipywidgets' registry
    and the comm manager would keep ``widget`` for ever, though nothing can show it or send it
    a message: the registry forgets it and the comm calls it through a weak reference, so that
    dropping the widget collects it (and its ``__del__`` closes it). In a kernel nothing
    changes: the widget lives until closed."""
    import comm
    from ipywidgets.widgets import widget as registry

    channel = widget.comm
    if not isinstance(channel, comm.DummyComm):
        return
    instances = getattr(registry, "_instances", None)
    if isinstance(instances, dict) and instances.get(widget.model_id) is widget:
        del instances[widget.model_id]
    ref = weakref.ref(widget)

    def on_msg(msg: Any) -> None:
        w = ref()
        if w is not None:
            w._handle_msg(msg)

    channel.on_msg(on_msg)
