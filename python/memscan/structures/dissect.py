"""Dissection: the fields of a structure, inferred from its bytes over one or many samples.

Each sample is one read of the structure (a row of bytes). Pointers are words that always
point into a mapped region (or are null); text is a printable, NUL-terminated run; floats are
words whose values are plausible floats in every sample; the rest are integers, split where the
bytes behave as separate fields: a half that changes without a carry from the other half, or
values that are far smaller as parts than as one number. Behaviour over time (constant,
counters, timers, flags, oscillation, positions moving by a velocity held in another field)
is each field's evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layout import Field

__all__ = ["Pointee", "infer_fields"]

#: Bits a field costs in itself: splitting a word must save more than this per extra field.
FIELD_COST = 3
#: Plausible float magnitudes (anything else is not a float a program would hold).
F32_RANGE = (1e-5, 1e8)
F64_RANGE = (1e-7, 1e13)
_PRINTABLE = np.zeros(256, bool)
_PRINTABLE[0x20:0x7F] = True
_PRINTABLE[[0x09, 0x0A, 0x0D]] = True
_PRINTABLE[0x80:0xF5] = True  # UTF-8 beyond ASCII (a run must still decode as UTF-8)


@dataclass(frozen=True)
class Pointee:
    """What a pointer value points at (from ``_native.pointees``)."""

    kind: str
    executable: bool
    location: str | None
    text: str | None
    code_words: int
    block_size: int | None

    def describe(self) -> str:
        """``module!symbol`` for code, ``function table at ...``, ``heap block of N bytes``
        (with the text it starts with), the text itself, or where it is."""
        if self.executable:
            return self.location or "code"
        if self.code_words >= 2:
            return f"function table at {self.location or self.kind}"
        if self.block_size is not None:
            text = f" starting {self.text!r}" if self.text is not None else ""
            return f"{self.kind} block of {self.block_size} bytes{text}"
        if self.text is not None:
            return repr(self.text)
        return self.location or self.kind


#: Maps pointer values (uint64) to what they point at; values not in the result are no pointers.
Classify = Callable[[np.ndarray], dict[int, Pointee]]
#: Tells which values (uint64 array) lie in a readable region.
InRegion = Callable[[np.ndarray], np.ndarray]


def infer_fields(
    samples: np.ndarray,
    *,
    pointer_size: int,
    in_region: InRegion,
    classify: Classify,
) -> list[Field]:
    """The fields of ``samples`` (``(n, size)`` uint8, oldest first; the last is "now")."""
    d = _Dissector(samples, pointer_size, in_region, classify)
    return d.run()


class _Dissector:
    def __init__(
        self, samples: np.ndarray, ptr: int, in_region: InRegion, classify: Classify
    ) -> None:
        self.s = np.ascontiguousarray(samples, dtype=np.uint8)
        self.n, self.size = self.s.shape
        self.ptr = ptr
        self.in_region = in_region
        self.classify = classify
        self.taken = np.zeros(self.size, bool)
        self.fields: list[Field] = []

    def run(self) -> list[Field]:
        self._pointers()
        self._texts()
        if self.ptr == 8 or self.size >= 8:
            self._doubles()
        self._words()
        self._rest()
        self.fields.sort(key=lambda f: f.offset)
        _behaviour(self.fields, self.s)
        return self.fields

    # -- helpers ----------------------------------------------------------------------------

    def column(self, offset: int, width: int, dtype: str) -> np.ndarray:
        return self.s[:, offset : offset + width].copy().view(dtype).reshape(self.n)

    def free(self, offset: int, width: int) -> bool:
        return offset + width <= self.size and not self.taken[offset : offset + width].any()

    def take(self, f: Field) -> None:
        self.taken[f.offset : f.end] = True
        self.fields.append(f)

    # -- passes -----------------------------------------------------------------------------

    def _pointers(self) -> None:
        w = self.ptr
        dtype = "<u8" if w == 8 else "<u4"
        offsets = [o for o in range(0, self.size - w + 1, w)]
        if not offsets:
            return
        words = np.stack([self.column(o, w, dtype).astype(np.uint64) for o in offsets], 1)
        valid = self.in_region(words.reshape(-1)).reshape(words.shape) | (words == 0)
        ok = valid.all(0) & (words != 0).any(0)
        now = words[-1][ok]
        found = self.classify(np.unique(now[now != 0])) if now.size else {}
        for o, good in zip(offsets, ok, strict=True):
            if not good:
                continue
            v = int(words[-1, offsets.index(o)])
            p = found.get(v)
            moving = bool((words[:, offsets.index(o)] != v).any())
            self.take(_pointer_field(o, w, v, p, moving))

    def _texts(self) -> None:
        self._utf16()
        now = self.s[-1]
        printable = _PRINTABLE[now]
        o = 0
        while o < self.size:
            if (
                self.taken[o]
                or not printable[o]
                or (o > 0 and printable[o - 1] and not self.taken[o - 1])
            ):
                o += 1
                continue
            end = o
            while end < self.size and printable[end] and not self.taken[end]:
                end += 1
            chars = end - o
            # A char array starts at an 8-aligned offset, after a known field or after a zero
            # byte; a run that starts right after other bytes is the top of some number.
            after = o % 8 == 0 or self.taken[o - 1] or now[o - 1] == 0
            if (
                end < self.size
                and now[end] == 0
                and not self.taken[end]
                and (after or chars >= 8)
                and _looks_like_text(now[o:end], o)
            ):
                stop = end
                while stop < self.size and now[stop] == 0 and not self.taken[stop]:
                    stop += 1
                if stop < self.size and stop % 4:
                    stop = max(end + 1, stop - stop % 4)
                text = bytes(now[o:end]).decode("utf-8", errors="replace")
                changes = bool((self.s[:, o:stop] != now[o:stop]).any())
                self.take(
                    Field(
                        o,
                        "text",
                        stop - o,
                        value=repr(text),
                        confidence=0.9 if chars >= 4 else 0.6,
                        evidence=f"{chars} printable characters, NUL-terminated"
                        + (", changes" if changes else ""),
                    )
                )
                o = stop
            else:
                o = end

    def _utf16(self) -> None:
        now = self.s[-1]
        for o in range(0, self.size - 6, 2):
            if not self.free(o, 6):
                continue
            k = o
            while (
                k + 1 < self.size
                and _PRINTABLE[now[k]]
                and now[k + 1] == 0
                and not self.taken[k + 1]
            ):
                k += 2
            chars = (k - o) // 2
            if chars >= 3 and k + 1 < self.size and now[k] == 0 and now[k + 1] == 0:
                stop = k + 2
                while (
                    stop + 1 < self.size
                    and now[stop] == 0
                    and now[stop + 1] == 0
                    and self.free(stop, 2)
                ):
                    stop += 2
                if stop < self.size and stop % 4:
                    stop -= stop % 4
                text = bytes(now[o:k]).decode("utf-16-le", errors="replace")
                if any(c.isalpha() for c in text):
                    self.take(
                        Field(
                            o,
                            "utf16",
                            stop - o,
                            value=repr(text),
                            confidence=0.8,
                            evidence=f"{chars} UTF-16 characters, NUL-terminated",
                        )
                    )

    def _doubles(self) -> None:
        for o in range(0, self.size - 7, 8):
            if not self.free(o, 8):
                continue
            v = self.column(o, 8, "<f8")
            if not _plausible(v, F64_RANGE):
                continue
            lo, hi = self.column(o, 4, "<f4"), self.column(o + 4, 4, "<f4")
            low = self.column(o, 4, "<u4")
            lo_zero = bool((low == 0).all())
            if not lo_zero and _plausible(lo, F32_RANGE) and _plausible(hi, F32_RANGE):
                continue  # two floats side by side
            if ((low != 0) & (low < 1 << 20)).mean() > 0.5:
                continue  # mostly a small integer, then something else (a double near a
                # round value has a small low half now and then)
            conf = 0.6 if lo_zero else 0.85
            why = "a plausible double in every sample"
            if lo_zero:
                why += " (low half zero: could be an int 0 and a float)"
            self.take(Field(o, "f64", 8, value=_fmt(v[-1]), confidence=conf, evidence=why))

    def _words(self) -> None:
        for o in range(0, self.size - 3, 4):
            if not self.free(o, 4):
                continue
            v = self.column(o, 4, "<f4")
            if _plausible(v, F32_RANGE):
                ever_zero = bool((v == 0).any())
                self.take(
                    Field(
                        o,
                        "f32",
                        4,
                        value=_fmt(v[-1]),
                        confidence=0.7 if ever_zero else 0.85,
                        evidence="a plausible float in every sample",
                    )
                )
                continue
            next_is_float = o + 8 <= self.size and _plausible(
                self.column(o + 4, 4, "<f4"), F32_RANGE
            )
            if o % 8 == 0 and self.free(o, 8) and not next_is_float:
                self._integers(o, 8)
            else:
                self._integers(o, 4)

    def _rest(self) -> None:
        for o in range(self.size):
            if not self.taken[o]:
                width = next(w for w in (4, 2, 1) if o % w == 0 and self.free(o, w))
                self._integers(o, width)

    def _integers(self, o: int, w: int) -> None:
        """Integers over ``[o, o + w)``: one of width ``w``, or its halves, recursively."""
        if w > 1 and self._split(o, w):
            self._integers(o, w // 2)
            self._integers(o + w // 2, w // 2)
            return
        self.take(_int_field(o, w, self.column(o, w, f"<u{w}")))

    def _split(self, o: int, w: int) -> bool:
        """True when ``[o, o + w)`` holds two fields (its halves) rather than one integer."""
        h = w // 2
        lo = self.column(o, h, f"<u{h}").astype(np.uint64)
        hi = self.column(o + h, h, f"<u{h}").astype(np.uint64)
        whole = self.column(o, w, f"<u{w}").astype(np.uint64)
        if (hi == 0).all():
            # The top half never set: one number (an 8-byte slot splits, as a 4-byte int and
            # padding are likelier there than an 8-byte int that stays below 2^32).
            return w == 8 and not (lo == 0).all()
        top = np.uint64((1 << (8 * h)) - 1)
        if ((hi == top) & (lo >> np.uint64(8 * h - 1) == 1)).all():
            return False  # a small negative number
        if (hi[1:] != hi[:-1]).any():
            # The changes cost fewer bits as two fields' steps than as one number's steps when
            # the halves move on their own (a carry into the top half costs little either way).
            parts = _step_bits(lo, h) + _step_bits(hi, h) + FIELD_COST
            return bool(parts < _step_bits(whole, w))
        if w == 8:
            # A 64-bit number past 2^32 has a low word that looks random (large); a 4-byte
            # field beside a constant one is usually small.
            return not bool((lo >= 1 << 24).all())
        cost_whole = _bits(whole, w).max()
        cost_parts = _bits(lo, h).max() + _bits(hi, h).max() + FIELD_COST
        return bool(cost_parts < cost_whole)


def _signed(x: np.ndarray, w: int) -> np.ndarray:
    return x.astype(np.uint64).astype(np.int64) if w == 8 else _sign(x, w)


def _sign(x: np.ndarray, w: int) -> np.ndarray:
    bits = 8 * w
    x = x.astype(np.int64) & ((1 << bits) - 1)
    return np.where(x >= 1 << (bits - 1), x - (1 << bits), x)


def _bits(v: np.ndarray, w: int) -> np.ndarray:
    """Significant bits of each value as a signed or unsigned number of ``w`` bytes (small
    negative numbers are cheap)."""
    s = _signed(v, w).astype(np.float64)
    mag = np.abs(s)
    return np.where(mag == 0, 0, np.floor(np.log2(np.maximum(mag, 1))) + 1 + (s < 0))


def _step_bits(v: np.ndarray, w: int) -> float:
    """Bits the changes of a series of ``w``-byte numbers cost (0 for no change)."""
    return float(_bits(v[1:] - v[:-1], w).sum())


def _plausible(v: np.ndarray, bounds: tuple[float, float]) -> bool:
    """Every value finite and zero or within ``bounds`` in magnitude, and not all zero."""
    with np.errstate(all="ignore"):
        mag = np.abs(v.astype(np.float64))
    ok = np.isfinite(mag) & ((mag == 0) | ((mag >= bounds[0]) & (mag <= bounds[1])))
    return bool(ok.all() and (mag != 0).any())


def _looks_like_text(chars: np.ndarray, offset: int) -> bool:
    """Valid UTF-8 of four characters or more (half of them ASCII, unless eight or more), or
    two or three letters and digits at a 4-aligned offset (shorter runs are as likely the
    bytes of a number)."""
    try:
        text = bytes(chars).decode("utf-8")
    except UnicodeDecodeError:
        return False
    if len(text) >= 4:
        return sum(c.isascii() for c in text) >= len(text) / 2 or len(text) >= 8
    return len(text) >= 2 and offset % 4 == 0 and text[0].isalpha() and text.isalnum()


def _fmt(x: float | np.floating) -> str:
    return f"{float(x):.6g}"


def _pointer_field(o: int, w: int, v: int, p: Pointee | None, moving: bool) -> Field:
    if v == 0:
        return Field(
            o, "ptr", w, value="0x0", confidence=0.5, evidence="null now, a pointer before"
        )
    desc = p.describe() if p else "mapped memory"
    if p is None:
        why, conf = "points into mapped memory", 0.7
    elif p.executable:
        why, conf = f"points at code ({desc})", 0.95
    elif p.code_words >= 2:
        why, conf = f"points at {p.code_words} code pointers: a vtable or function table", 0.95
    elif p.block_size is not None:
        why, conf = f"points at a {desc}", 0.9
    elif p.text is not None:
        why, conf = f"points at text {desc}", 0.95
    else:
        why, conf = f"points into {p.kind} memory", 0.8
    why += "; changes" if moving else ""
    return Field(o, "ptr", w, value=hex(v), confidence=conf, evidence=why, points_to=desc)


def _int_field(o: int, w: int, v: np.ndarray) -> Field:
    u = v.astype(np.uint64)
    if w == 1 and set(np.unique(u).tolist()) <= {0, 1} and u.any():
        return Field(o, "bool", 1, value=str(bool(u[-1])), confidence=0.6, evidence="only 0 and 1")
    if not u.any():
        return Field(
            o,
            f"i{8 * w}",
            w,
            value="0",
            confidence=0.3,
            evidence="zero in every sample: an integer 0, or padding",
        )
    s = _sign(u, w) if w < 8 else u.astype(np.int64)
    negative = bool((s < 0).any())
    signed = negative and bool((np.abs(s.astype(np.float64)) < 2.0 ** (8 * w - 2)).all())
    t = f"{'i' if signed or not negative else 'u'}{8 * w}"
    now = int(s[-1]) if t[0] == "i" else int(u[-1])
    changes = bool((u != u[0]).any())
    return Field(
        o,
        t,
        w,
        value=str(now),
        confidence=0.75 if changes else 0.5,
        evidence="an integer" + ("" if changes else " (constant: width uncertain)"),
    )


def _behaviour(fields: list[Field], s: np.ndarray) -> None:
    """Adds what each field did over the samples to its evidence (and velocities)."""
    if s.shape[0] < 2:
        return
    series: dict[int, np.ndarray] = {}
    for f in fields:
        if f.type in ("text", "utf16", "bytes", "ptr") or f.count != 1:
            continue
        dtype = "<u1" if f.type == "bool" else f"<{f.type[0]}{f.size}"
        col = s[:, f.offset : f.end].copy().view(dtype).reshape(-1).astype(np.float64)
        series[f.offset] = col
        f.evidence += "; " + _describe_changes(col)
    constants = {o: c[0] for o, c in series.items() if (c == c[0]).all() and c[0] != 0}
    counters = {o: np.diff(c) for o, c in series.items() if _is_counter(c)}
    by_offset = {f.offset: f for f in fields}
    for f in fields:
        if f.type not in ("f32", "f64") or f.offset not in series:
            continue
        d = np.diff(series[f.offset])
        moved = d != 0
        if moved.sum() < 3:
            continue
        for o, c in constants.items():
            if by_offset[o].type != f.type:
                continue
            ticks = d[moved] / c
            whole = np.round(ticks)
            if not ((ticks > 0.5).all() and (np.abs(ticks - whole) < 0.02 * whole).all()):
                continue
            counted = [co for co, cd in counters.items() if np.allclose(cd[moved], whole, atol=0.5)]
            f.evidence += f"; moves by {by_offset[o].name} (+{o:#x}) per tick"
            if counted:
                co = counted[0]
                f.evidence += f", ticks counted by {by_offset[co].name} (+{co:#x})"
            f.confidence = max(f.confidence, 0.95)
            break


def _is_counter(c: np.ndarray) -> bool:
    d = np.diff(c)
    return bool((d >= 0).all() and (d > 0).sum() >= 2)


def _describe_changes(c: np.ndarray) -> str:
    d = np.diff(c)
    if not d.any():
        return "constant"
    values = np.unique(c)
    if (d >= 0).all():
        steps = np.unique(d[d > 0])
        return f"counter +{_fmt(steps[0])}" if len(steps) == 1 else "increasing"
    if (d <= 0).all():
        steps = np.unique(d[d < 0])
        return f"counts down {_fmt(steps[0])}" if len(steps) == 1 else "decreasing"
    moves = d != 0
    if (c == np.round(c)).all() and (c >= 0).all():
        x = c[:-1][moves].astype(np.int64) ^ c[1:][moves].astype(np.int64)
        if ((x & (x - 1)) == 0).all():
            return f"toggles single bits (flags), {len(values)} values"
    if len(values) <= 4:
        return "takes " + ", ".join(_fmt(x) for x in values)
    turns = int((np.diff(np.sign(d[d != 0])) != 0).sum())
    return (
        f"oscillates {_fmt(values[0])}..{_fmt(values[-1])} ({turns} turns)"
        if turns >= 2
        else f"{len(values)} values"
    )
