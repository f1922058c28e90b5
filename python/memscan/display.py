"""How memscan shows things: counts with thousands separators, sizes in binary units,
addresses in ``0x`` hex (``module+0x...`` where a module is known), and the small HTML tables
behind the rich reprs, styled with JupyterLab's CSS variables so that they read in light and
dark themes (with fallbacks for other front ends)."""

from __future__ import annotations

import bisect
import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._lazy import pl

if TYPE_CHECKING:
    import polars

__all__ = ["Locator", "count", "hex_strings", "human_bytes", "milliseconds", "module_owners"]

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "candidate")`` is ``"1 candidate"``, ``count(1143580, ...)`` is
    ``"1,143,580 candidates"``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def human_bytes(n: int) -> str:
    """A size in binary units: ``"512 B"``, ``"4.0 KiB"``, ``"21.8 MiB"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{n:,} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def milliseconds(seconds: float) -> str:
    """A duration in milliseconds: ``"42.0 ms"``, ``"15,321.7 ms"``."""
    return f"{seconds * 1e3:,.1f} ms"


def hex_strings(addresses: np.ndarray) -> np.ndarray:
    """``0x`` hex of each u64 (vectorised: millions per second), as a NumPy unicode array."""
    a = np.ascontiguousarray(addresses, dtype=np.uint64)
    nibbles = a.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = np.empty((len(a), 16), np.uint8)
    digits[:, 0::2] = _HEX_DIGITS[nibbles >> 4]
    digits[:, 1::2] = _HEX_DIGITS[nibbles & 15]
    text = np.char.add("0x", np.char.lstrip(digits.view("S16").ravel().astype("U16"), "0"))
    text[text == "0x"] = "0x0"
    return text


class Locator:
    """Says where addresses lie in a process, from its regions (``proc.region_list()``):
    ``module+0x...`` inside a module, as address expressions read it back, else the region's
    kind or plain hex.

    A module is only named when its name leads back to the region's load base (the first
    module of that name, as expressions resolve names); an address in a second copy of a
    library stays hex."""

    def __init__(self, regions: Iterable[Any]) -> None:
        self._spans = sorted((r.start, r.end, r.kind, r.module, r.module_base) for r in regions)
        self._starts = [s[0] for s in self._spans]
        self._first_base: dict[str, int] = {}
        for _, _, _, name, base in self._spans:
            if name is not None and base is not None:
                self._first_base[name] = min(base, self._first_base.get(name, base))

    def _region(self, address: int) -> tuple[int, int, str, str | None, int | None] | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._spans[i][1]:
            return self._spans[i]
        return None

    def module(self, address: int) -> tuple[str, int] | None:
        """The module holding ``address`` and the offset from its load base (a scan table's
        ``module`` and ``module_offset``), or None."""
        r = self._region(address)
        if r is None or r[3] is None or r[4] is None or self._first_base.get(r[3]) != r[4]:
            return None
        return r[3], address - r[4]

    def kind(self, address: int) -> str | None:
        """The kind of the region holding ``address`` (``heap``, ``stack``, ``anonymous``,
        ...), or None when it is unmapped."""
        r = self._region(address)
        return None if r is None else r[2]

    def __call__(self, address: int) -> str:
        """``module+0x...`` in a module, else ``0x...``."""
        hit = self.module(address)
        return f"{hit[0]}+{hit[1]:#x}" if hit is not None else f"{address:#x}"

    def describe(self, address: int) -> str:
        """``module+0x...`` in a module, else the region's kind (``heap``, ``anonymous``), else
        ``unmapped``."""
        hit = self.module(address)
        if hit is not None:
            return f"{hit[0]}+{hit[1]:#x}"
        return self.kind(address) or "unmapped"


def module_owners(process: Any, addresses: Iterable[int]) -> list[tuple[str | None, int]]:
    """For each address of ``process``: the module that holds it and the offset from its load
    base (as :meth:`Locator.module`), or ``(None, 0)``."""
    where = Locator(process.region_list())
    return [where.module(int(a)) or (None, 0) for a in addresses]


# -- HTML -------------------------------------------------------------------------------------

_BOX = (
    "font-family: var(--jp-ui-font-family, system-ui, sans-serif);"
    " font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-ui-font-color1, inherit);"
    " line-height: 1.45; margin: 2px 0"
)
_TABLE = "border-collapse: collapse; margin: 4px 0 2px; font-size: inherit; color: inherit"
_TH = (
    "text-align: {align}; padding: 2px 10px; font-weight: 600;"
    " color: var(--jp-ui-font-color2, inherit);"
    " border-bottom: 1px solid var(--jp-border-color1, rgba(128, 128, 128, 0.5))"
)
_TD = (
    "text-align: {align}; padding: 2px 10px; white-space: nowrap;"
    " border-bottom: 1px solid var(--jp-border-color2, rgba(128, 128, 128, 0.2))"
)
_MONO = "font-family: var(--jp-code-font-family, ui-monospace, monospace)"
_MUTED = "color: var(--jp-ui-font-color2, inherit); opacity: 0.85"
_CAPTION = f"caption-side: bottom; text-align: left; padding-top: 2px; {_MUTED}"


def esc(value: object) -> str:
    return html.escape(str(value))


def card(title: str, subtitle: str, rows: Sequence[tuple[str, str]], *parts: str) -> str:
    """A titled box: ``rows`` of (label, HTML value), then ``parts`` (tables) below."""
    head = f"<div><b>{esc(title)}</b>"
    if subtitle:
        head += f" <span style='{_MUTED}'>{esc(subtitle)}</span>"
    head += "</div>"
    facts = "".join(
        f"<tr><td style='{_TD.format(align='left')}; {_MUTED}'>{esc(k)}</td>"
        f"<td style='{_TD.format(align='left')}'>{v}</td></tr>"
        for k, v in rows
    )
    body = f"<table style='{_TABLE}'>{facts}</table>" if rows else ""
    return f"<div class='memscan-repr' style='{_BOX}'>{head}{body}{''.join(parts)}</div>"


def mono(text: object) -> str:
    """Escaped text in the code font (addresses, values)."""
    return f"<span style='{_MONO}'>{esc(text)}</span>"


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    dtypes: Sequence[str] = (),
    caption: str = "",
    gap_after: int | None = None,
) -> str:
    """An HTML table of escaped cells (ints with thousands separators, None as a muted null);
    ``numeric`` column indices are right-aligned in the code font, ``dtypes`` are shown small
    under the names, and ``gap_after`` puts an ellipsis row after that many rows (a cut between
    head and tail)."""
    right = set(numeric)
    th = [_TH.format(align="right" if j in right else "left") for j in range(len(columns))]
    td = [
        _TD.format(align="right" if j in right else "left") + (f"; {_MONO}" if j in right else "")
        for j in range(len(columns))
    ]
    names = "".join(
        f"<th style='{style}'>{esc(c)}"
        + (
            f"<br><span style='font-weight: normal; {_MUTED}'>{esc(dtypes[j])}</span>"
            if dtypes
            else ""
        )
        + "</th>"
        for j, (c, style) in enumerate(zip(columns, th, strict=True))
    )
    lines = []
    for i, row in enumerate(rows):
        if i == gap_after:
            lines.append("<tr>" + "".join(f"<td style='{style}'>…</td>" for style in td) + "</tr>")
        cells = "".join(
            f"<td style='{style}'>{_cell(v)}</td>" for style, v in zip(td, row, strict=True)
        )
        lines.append(f"<tr>{cells}</tr>")
    cap = f"<caption style='{_CAPTION}'>{esc(caption)}</caption>" if caption else ""
    return (
        f"<table style='{_TABLE}'>{cap}<thead><tr>{names}</tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def _cell(v: object) -> str:
    if v is None:
        return f"<span style='{_MUTED}'>null</span>"
    if isinstance(v, int) and not isinstance(v, bool):
        return esc(f"{v:,}")
    return esc(v)


def frame_html(
    df: polars.DataFrame,
    *,
    dtypes: Sequence[str] = (),
    total: int | None = None,
    head: int | None = None,
) -> str:
    """A polars frame (already formatted for display) as an HTML table; ``head`` rows are
    followed by an ellipsis row when ``total`` exceeds the rows shown."""
    n = df.height if total is None else total
    numeric = [j for j, c in enumerate(df.columns) if df[c].dtype.is_numeric() or _is_hex(df[c])]
    cut = head if n > df.height else None
    return table(
        df.columns,
        df.rows(),
        numeric=numeric,
        dtypes=dtypes,
        caption=count(n, "row"),
        gap_after=cut,
    )


def _is_hex(s: polars.Series) -> bool:
    return s.dtype.is_(_polars_string()) and bool(s.drop_nulls().str.starts_with("0x").all())


def _polars_string() -> Any:
    return pl.String
