"""Progress bars for long scans: a callback the Rust side calls with (done, total)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressArg = bool | str | Callable[[int, int], Any] | None

#: Scans over less than this many units show no bar in "auto" mode.
AUTO_THRESHOLD = 256 << 20


def progress_callback(
    progress: ProgressArg, desc: str, unit: str = "B"
) -> Callable[[int, int], None] | None:
    """The callback for ``progress``: ``True`` (tqdm bar), ``"auto"`` (bar for big scans only),
    ``False``/``None`` (none) or a callable taking ``(done, total)``."""
    if callable(progress):
        return progress
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bar:
            if progress == "auto" and total < AUTO_THRESHOLD:
                return
            bar.append(tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False))
        b = bar[0]
        b.update(done - b.n)
        if done >= total:
            b.close()

    return update
