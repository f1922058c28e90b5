"""Progress bars for long work: a callback the Rust side calls with (done, total)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ProgressArg = bool | str | Callable[[int, int], Any] | None

#: In "auto" mode a bar appears only for work still running after this many seconds, so quick
#: scans pay neither for the bar nor for importing tqdm.
AUTO_DELAY = 0.5


def progress_callback(
    progress: ProgressArg, desc: str, unit: str = "B"
) -> Callable[[int, int], None] | None:
    """The callback for ``progress``: ``True`` (a tqdm bar), ``"auto"`` (a bar once the work
    has run for half a second), ``False``/``None`` (none) or a callable taking
    ``(done, total)``."""
    if callable(progress):
        return progress
    if not progress:
        return None
    started = time.monotonic()
    bar: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bar:
            if done >= total or (progress == "auto" and time.monotonic() - started < AUTO_DELAY):
                return
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            bar.append(tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False))
        b = bar[0]
        b.update(done - b.n)
        if done >= total:
            b.close()

    return update
