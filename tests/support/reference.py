"""The NumPy reference model every scan path is checked against: memory read through
``/proc/PID/mem`` (:class:`Memory`), what each operator keeps (:func:`const_mask`,
:func:`pair_mask`), a next-scan session (:class:`Model`), byte patterns
(:func:`pattern_reference`), and the comparisons that report a difference bitwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import memscan
from support.random_target import RandomTarget

TYPES = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64"]


MULTIBYTE = [t for t in TYPES if t not in ("i8", "u8")]


DTYPES = {t: np.dtype(f"{t[0]}{int(t[1:]) // 8}") for t in TYPES}


UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


#: Default slot alignment: the size for 1, 2 and 4-byte types, 4 for 8-byte types.
DEFAULT_ALIGN = {t: min(DTYPES[t].itemsize, 4) for t in TYPES}


ALIGNMENTS = [None, 1, 2, 4, 8]


CONST_OPS = ["eq", "ne", "lt", "le", "gt", "ge", "between", "near"]


REL_OPS = ["changed", "unchanged", "increased", "decreased", "increased_by", "decreased_by"]


#: Operators that refuse a NaN constant (InvalidValue).
NAN_REFUSED = {"lt", "le", "gt", "ge", "between", "near"}


#: Relative tolerance of increased_by / decreased_by for floats.
FLOAT_EPS = {"f32": 1e-5, "f64": 1e-9}


def is_float(vtype: str) -> bool:
    return vtype[0] == "f"


def size_of(vtype: str) -> int:
    return DTYPES[vtype].itemsize


def bits(a: np.ndarray) -> np.ndarray:
    """The values' bit patterns (floats compared bitwise: NaN payloads, -0.0)."""
    return np.ascontiguousarray(a).view(UINT[a.dtype.itemsize])


def to_bytes(vtype: str, value: Any) -> bytes:
    return np.array(value, dtype=DTYPES[vtype]).tobytes()


def py(value: Any) -> int | float:
    """A NumPy scalar as the exact Python number memscan takes."""
    return value.item() if isinstance(value, np.generic) else value


class Memory:
    """The target's regions as read through ``/proc/PID/mem``, and lookups by address."""

    def __init__(self, target: RandomTarget) -> None:
        self.regions = target.regions
        self.data = [
            np.frombuffer(target.read(start, end - start), dtype=np.uint8)
            for start, end, _ in self.regions
        ]
        self.buf = np.concatenate(self.data)
        self.starts = np.array([r[0] for r in self.regions], dtype=np.uint64)
        self.offs = np.cumsum([0] + [len(d) for d in self.data[:-1]]).astype(np.int64)

    def gather(self, addrs: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """The values at ``addrs`` (each inside one region)."""
        size = dtype.itemsize
        addrs = np.asarray(addrs, dtype=np.uint64)
        idx = np.searchsorted(self.starts, addrs, side="right") - 1
        pos = self.offs[idx] + (addrs - self.starts[idx]).astype(np.int64)
        out = np.empty((len(addrs), size), dtype=np.uint8)
        for j in range(size):
            out[:, j] = self.buf[pos + j]
        return out.view(dtype).reshape(-1)

    def slots(
        self, spans: Sequence[tuple[int, int, int]], dtype: np.dtype, align: int, span: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every slot ``a`` (``a % align == 0``) with ``[a, a+span)`` inside one of ``spans``
        (``(region index, lo, hi)``), and the ``dtype`` value at each."""
        size = dtype.itemsize
        span = max(span, size)
        addrs, vals = [], []
        for ri, lo, hi in spans:
            first = -(-lo // align) * align
            if first + span > hi:
                continue
            n = (hi - span - first) // align + 1
            start = self.regions[ri][0]
            region = self.data[ri][first - start :]
            view = np.lib.stride_tricks.as_strided(
                region, shape=(n, size), strides=(align, 1), writeable=False
            )
            addrs.append(np.uint64(first) + np.arange(n, dtype=np.uint64) * np.uint64(align))
            vals.append(np.ascontiguousarray(view).view(dtype).reshape(-1))
        if not addrs:
            return np.empty(0, np.uint64), np.empty(0, dtype)
        return np.concatenate(addrs), np.concatenate(vals)

    def where(self, addr: int) -> str:
        """Where an address lies, for failure messages."""
        for i, (start, end, w) in enumerate(self.regions):
            if start <= addr < end:
                return (
                    f"r{i}+{addr - start:#x} (end-{end - addr:#x}, {'rw' if w else 'r-'}, "
                    f"addr%8={addr % 8})"
                )
        return "outside every target region"

    def hex_at(self, addr: int, n: int) -> str:
        for i, (start, end, _) in enumerate(self.regions):
            if start <= addr < end:
                return (
                    self.data[i][addr - start : min(addr - start + n, end - start)].tobytes().hex()
                )
        return "?"


def spans_of(
    target: RandomTarget, indices: Sequence[int], address_range: tuple[int, int] | None = None
) -> list[tuple[int, int, int]]:
    """The chosen regions as ``(index, lo, hi)``, clipped to ``address_range``."""
    out = []
    for i in indices:
        lo, hi, _ = target.regions[i]
        if address_range is not None:
            lo, hi = max(lo, address_range[0]), min(hi, address_range[1])
        if lo < hi:
            out.append((i, lo, hi))
    return out


def const_mask(
    op: str, v: np.ndarray, args: Sequence[Any], tol: float | None, vtype: str
) -> np.ndarray:
    """Which values pass a constant comparison (IEEE, NaN never, except eq/ne NaN)."""
    dt = DTYPES[vtype]
    with np.errstate(all="ignore"):
        if op == "any":
            return np.ones(len(v), dtype=bool)
        c = np.array(args[0], dtype=dt)
        if op in ("eq", "ne"):
            m = np.isnan(v) if is_float(vtype) and np.isnan(c) else v == c
            return m if op == "eq" else ~m
        if op == "lt":
            return v < c
        if op == "le":
            return v <= c
        if op == "gt":
            return v > c
        if op == "ge":
            return v >= c
        if op == "between":
            return (v >= c) & (v <= np.array(args[1], dtype=dt))
        if op == "near":
            assert tol is not None
            return np.abs(v.astype(np.float64) - c.astype(np.float64)) <= tol
    raise AssertionError(op)


def exact_diff_is(a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """Integers: ``a - b == d`` exactly (no wrapping)."""
    if a.dtype.itemsize < 8:
        return a.astype(np.int64) - b.astype(np.int64) == d
    wrapped = a.view(np.uint64) - b.view(np.uint64)
    ordered = a >= b if d >= 0 else a < b
    return ordered & (wrapped == np.uint64(d % 2**64))


def pair_mask(op: str, old: np.ndarray, new: np.ndarray, d: Any, vtype: str) -> np.ndarray:
    """Which candidates pass a relative filter from ``old`` to ``new``."""
    with np.errstate(all="ignore"):
        if op == "changed":
            return bits(old) != bits(new)
        if op == "unchanged":
            return bits(old) == bits(new)
        if op == "increased":
            return new > old
        if op == "decreased":
            return new < old
        up = op == "increased_by"
        if is_float(vtype):
            o, n = old.astype(np.float64), new.astype(np.float64)
            dd = float(np.array(d, dtype=DTYPES[vtype]))
            diff = n - o if up else o - n
            return np.abs(diff - dd) <= FLOAT_EPS[vtype] * max(abs(dd), 1.0)
        return exact_diff_is(new, old, d) if up else exact_diff_is(old, new, d)


def expect_refused(vtype: str, op: str, args: Sequence[Any]) -> bool | None:
    """True if memscan must refuse the operator with InvalidValue (a NaN constant where no order
    exists), None if it may (``near`` an i64/u64 constant that has no exact f64: refusing beats
    comparing with a rounded constant), False if it must not."""
    if is_float(vtype):
        return op in NAN_REFUSED and any(isinstance(a, float) and np.isnan(a) for a in args)
    if op == "near" and size_of(vtype) == 8 and int(float(args[0])) != args[0]:
        return None
    return False


def _describe_addresses(
    mem: Memory, got_a: np.ndarray, got_v: np.ndarray, exp_a: np.ndarray, size: int
) -> str:
    missing = np.setdiff1d(exp_a, got_a)
    extra = np.setdiff1d(got_a, exp_a)
    lines = [
        f"memscan has {len(got_a)} candidates, the reference {len(exp_a)}: "
        f"{len(missing)} missing, {len(extra)} extra"
    ]
    if len(got_a) > 1 and not (np.diff(got_a.astype(np.int64)) > 0).all():
        lines.append("memscan's addresses are not strictly ascending (duplicates or disorder)")
    for a in missing[:6].tolist():
        lines.append(f"  missing {a:#x} {mem.where(a)} bytes={mem.hex_at(a, size)}")
    for a in extra[:6].tolist():
        i = int(np.flatnonzero(got_a == a)[0])
        lines.append(
            f"  extra   {a:#x} {mem.where(a)} memscan value={got_v[i]!r} "
            f"bytes now={mem.hex_at(a, size)}"
        )
    return "\n".join(lines)


def _describe_values(mem: Memory, got: np.ndarray, exp: np.ndarray, addrs: np.ndarray) -> str:
    bad = np.flatnonzero(bits(got) != bits(exp))
    lines = [f"{len(bad)} of {len(addrs)} values differ"]
    for i in bad[:6].tolist():
        a = int(addrs[i])
        lines.append(
            f"  {a:#x} {mem.where(a)}: memscan {got[i]!r} (bits {int(bits(got[i : i + 1])[0]):#x}),"
            f" reference {exp[i]!r} (bits {int(bits(exp[i : i + 1])[0]):#x})"
        )
    return "\n".join(lines)


def check_candidates(
    s: memscan.Scanner, exp_a: np.ndarray, exp_v: np.ndarray, mem: Memory, what: str
) -> None:
    """memscan's candidates equal the reference: addresses, count, dtype, values bitwise."""
    got_a = np.asarray(s.addresses)
    got_v = np.asarray(s.values)
    if got_a.dtype != np.uint64 or got_v.dtype != exp_v.dtype:
        raise AssertionError(f"{what}: dtypes {got_a.dtype}/{got_v.dtype}, want u64/{exp_v.dtype}")
    if not np.array_equal(got_a, exp_a):
        raise AssertionError(
            f"{what}: addresses differ\n"
            + _describe_addresses(mem, got_a, got_v, exp_a, exp_v.dtype.itemsize)
        )
    if len(s) != len(exp_a):
        raise AssertionError(f"{what}: len(s) = {len(s)}, {len(exp_a)} addresses")
    if len(got_v) != len(exp_v) or not np.array_equal(bits(got_v), bits(exp_v)):
        raise AssertionError(
            f"{what}: values differ\n" + _describe_values(mem, got_v, exp_v, got_a)
        )


def check_regions(s: memscan.Scanner, spans: Sequence[tuple[int, int, int]], what: str) -> None:
    """The scanner reads exactly the regions it was given (clipped to its address range)."""
    got = [(r.start, r.end, r.perms) for r in s.region_list()]
    want = [(lo, hi) for _, lo, hi in spans]
    if [(a, b) for a, b, _ in got] != want:
        raise AssertionError(
            f"{what}: the scanner reads regions {[(hex(a), hex(b), p) for a, b, p in got]}, "
            f"was given {[(hex(a), hex(b)) for a, b in want]}"
        )


def compare_refusal(call: Callable[[], Any], refused: bool | None) -> bool:
    """Runs ``call``, which must raise InvalidValue if ``refused`` is True, may if it is None.
    Returns True if it ran."""
    if refused:
        with pytest.raises(memscan.InvalidValue):
            call()
        return False
    if refused is None:
        try:
            call()
        except memscan.InvalidValue:
            return False
        return True
    call()
    return True


class Model:
    """The reference session: (addresses, values) per step, checkpoints."""

    def __init__(self, addrs: np.ndarray, vals: np.ndarray) -> None:
        self.steps = [(addrs, vals)]
        self.checkpoints: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def current(self) -> tuple[np.ndarray, np.ndarray]:
        return self.steps[-1]

    def reference(self, against: str | None) -> tuple[np.ndarray, np.ndarray]:
        if against is None:
            return self.current
        if against == "first":
            return self.steps[0]
        return self.checkpoints[against]

    def next(
        self,
        mem: Memory,
        vtype: str,
        op: str,
        args: Sequence[Any],
        tol: float | None,
        against: str | None,
    ) -> None:
        cur_a, _ = self.current
        new = mem.gather(cur_a, DTYPES[vtype])
        if op in CONST_OPS:
            keep = np.flatnonzero(const_mask(op, new, args, tol, vtype))
        else:
            ref_a, ref_v = self.reference(against)
            _, i_cur, i_ref = np.intersect1d(cur_a, ref_a, assume_unique=True, return_indices=True)
            m = pair_mask(op, ref_v[i_ref], new[i_cur], args[0] if args else None, vtype)
            keep = i_cur[m]
        self.steps.append((cur_a[keep], new[keep]))


def pattern_reference(
    mem: Memory, spans: Sequence[tuple[int, int, int]], pat: bytes, fixed: Sequence[bool]
) -> np.ndarray:
    """Every start address of ``pat`` (``fixed[j]`` False: wildcard) inside one span,
    overlapping matches included."""
    out = []
    L = len(pat)
    for ri, lo, hi in spans:
        start = mem.regions[ri][0]
        arr = mem.data[ri][lo - start : hi - start]
        n = len(arr) - L + 1
        if n <= 0:
            continue
        ok = np.ones(n, dtype=bool)
        for j in range(L):
            if fixed[j]:
                ok &= arr[j : j + n] == pat[j]
        out.append(np.flatnonzero(ok).astype(np.uint64) + np.uint64(lo))
    return np.concatenate(out) if out else np.empty(0, np.uint64)
