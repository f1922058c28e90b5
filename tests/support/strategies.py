"""Hypothesis strategies and profiles shared by the property tests: typed values (specials,
NaN payloads), memory fills and plants, addresses, regions and operators; ``ci`` (default,
bounded) and ``long`` profiles (``MEMSCAN_HYPOTHESIS_PROFILE=long``)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st

import memscan
from support.random_target import RandomTarget
from support.reference import (
    DTYPES,
    Memory,
    is_float,
    py,
    size_of,
    to_bytes,
)

_COMMON: dict[str, Any] = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "print_blob": False,
    "phases": (Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
}


settings.register_profile("ci", max_examples=20, **_COMMON)
settings.register_profile("long", max_examples=500, **_COMMON)


PROFILE = os.environ.get("MEMSCAN_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


#: Examples per test in the long profile, relative to ci.
_SCALE = {"ci": 1, "long": 25}.get(PROFILE, 1)


def examples(n: int) -> settings:
    """Settings running ``n`` examples in the ci profile (``25 n`` in the long one)."""
    return settings(max_examples=n * _SCALE)


#: (writable, gap pages before) of each region: adjacent regions differ in permissions.
_SHAPE = [
    (True, 0),
    (False, 0),
    (True, 0),
    (True, 1),
    (False, 2),
    (True, 0),
    (False, 0),
    (True, 1),
]


#: The index of the 1 MiB region in the layout.
BIG_REGION = 5


def make_layout(seed: int = 0x5EED) -> list[dict[str, Any]]:
    """The module's region layout: fixed sizes from ``seed``, a few pages to 1 MiB."""
    rng = random.Random(seed)
    pages = [
        rng.choice([1, 2, 3]),
        rng.choice([1, 2, 5]),
        1,
        rng.choice([3, 8, 16]),
        rng.choice([16, 24, 40]),
        259,  # 1 MiB + 12 KiB: dense scans, and a second 1 MiB chunk of slots
        rng.choice([1, 2]),
        rng.choice([4, 7, 12]),
    ]
    return [{"pages": p, "writable": w, "gap": g} for p, (w, g) in zip(pages, _SHAPE, strict=True)]


def target_regions(proc: memscan.Process, target: RandomTarget) -> list[memscan.Region]:
    """The target's regions as memscan Regions, checked to be separate mappings."""
    by_start = {r.start: r for r in proc.region_list()}
    out = []
    for start, end, writable in target.regions:
        r = by_start.get(start)
        assert r is not None and r.end == end, f"region {start:#x}-{end:#x} merged or missing"
        assert r.writable == writable and r.readable
        out.append(r)
    return out


def count_bucket(n: int) -> str:
    """A coarse size class of a candidate count (for Hypothesis statistics)."""
    return "0" if n == 0 else "1-9" if n < 10 else "10-9999" if n < 10_000 else ">=10000"


FILL_MODES = ["zero", "alphabet", "random"]


#: Small alphabets: values, NaNs (0x7F 0x80 0xC0 0xFF), 1.0f (3F 80 00 00) and strings repeat.
ALPHABETS = [
    (0x00, 0x01),
    (0x61, 0x62),
    (0x00, 0xFF),
    (0x00, 0x7F, 0x80, 0xC0, 0xFF),
    (0x00, 0x3F, 0x80),
    (0x61,),
    tuple(range(0x10, 0x20)),  # 16 values: u8 eq/lt matches stay sparse, and many
]


def float_specials(vtype: str) -> list[float]:
    f = np.finfo(DTYPES[vtype])
    return [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        float("inf"),
        float("-inf"),
        float("nan"),
        float(f.max),
        float(-f.max),
        float(f.tiny),
        float(f.smallest_subnormal),
        float(-f.smallest_subnormal),
    ]


def int_specials(vtype: str) -> list[int]:
    info = np.iinfo(DTYPES[vtype])
    vals = {0, 1, int(info.max), int(info.min), int(info.max) - 1, int(info.min) + 1}
    if info.min < 0:
        vals.add(-1)
    return sorted(vals)


def typed_values(vtype: str, *, finite: bool = False) -> st.SearchStrategy[Any]:
    """Numbers of ``vtype``, exactly representable, boundaries and specials included."""
    if is_float(vtype):
        width = size_of(vtype) * 8
        specials = [x for x in float_specials(vtype) if not finite or np.isfinite(x)]
        return st.one_of(
            st.sampled_from(specials),
            st.floats(width=width, allow_nan=not finite, allow_infinity=not finite),
        )
    info = np.iinfo(DTYPES[vtype])
    return st.one_of(
        st.sampled_from(int_specials(vtype)), st.integers(int(info.min), int(info.max))
    )


def nan_patterns(vtype: str) -> list[bytes]:
    """NaN bit patterns: quiet, signalling, negative, all ones."""
    if vtype == "f32":
        words = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0xFFFFFFFF]
        return [np.array(w, np.uint32).tobytes() for w in words]
    words = [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF]
    return [np.array(w, np.uint64).tobytes() for w in words]


def draw_value_bytes(data: st.DataObject, vtype: str, pool: Sequence[Any] = ()) -> bytes:
    """Bytes of one value: from ``pool`` (the scan's constants), typed, a NaN pattern, or raw."""
    choices = (
        ["typed", "raw"] + (["pool", "pool"] if pool else []) + (["nan"] if is_float(vtype) else [])
    )
    kind = data.draw(st.sampled_from(choices))
    if kind == "pool":
        return to_bytes(vtype, data.draw(st.sampled_from(list(pool))))
    if kind == "nan":
        return data.draw(st.sampled_from(nan_patterns(vtype)))
    if kind == "raw":
        return data.draw(st.binary(min_size=size_of(vtype), max_size=size_of(vtype)))
    return to_bytes(vtype, data.draw(typed_values(vtype)))


def draw_address(
    data: st.DataObject, target: RandomTarget, indices: Sequence[int], size: int, prev: int | None
) -> int:
    """A place to write ``size`` bytes: at a region start or end (possibly crossing it into the
    next region), anywhere, or overlapping the previous write."""
    kinds = ["start", "end", "anywhere"] + (["overlap"] if prev is not None else [])
    kind = data.draw(st.sampled_from(kinds))
    if kind == "overlap" and prev is not None:
        return prev + data.draw(st.integers(-size + 1, max(size - 1, 1)))
    start, end, _ = target.regions[data.draw(st.sampled_from(list(indices)))]
    if kind == "start":
        return start + data.draw(st.integers(0, 2 * size))
    if kind == "end":
        return end - data.draw(st.integers(1, 2 * size))
    return start + data.draw(st.integers(0, end - start - 1))


def draw_regions(data: st.DataObject, target: RandomTarget) -> list[int]:
    """Which target regions to scan (read-only ones too)."""
    n = len(target.regions)
    mode = data.draw(st.sampled_from(["writable", "all", "readonly", "subset"]), label="regions")
    if mode == "all":
        out = list(range(n))
    elif mode == "writable":
        out = [i for i in range(n) if target.regions[i][2]]
    elif mode == "readonly":
        out = [i for i in range(n) if not target.regions[i][2]]
    else:
        out = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    shown = [(hex(a), b - a, "rw" if w else "r-") for a, b, w in (target.regions[i] for i in out)]
    note(f"regions {out}: {shown}")
    return out


def fill_regions(
    data: st.DataObject,
    target: RandomTarget,
    indices: Sequence[int],
    modes: Sequence[str] = FILL_MODES,
    alphabets: Sequence[tuple[int, ...]] = ALPHABETS,
) -> None:
    """Refills the regions from drawn seeds."""
    fills = []
    for i in indices:
        mode = data.draw(st.sampled_from(list(modes)), label=f"fill r{i}")
        seed = 0 if mode == "zero" else data.draw(st.integers(0, 2**32 - 1))
        alphabet = data.draw(st.sampled_from(list(alphabets))) if mode == "alphabet" else ()
        fills.append((i, mode, seed, alphabet))
    target.fill(fills)


def plant(
    data: st.DataObject,
    target: RandomTarget,
    indices: Sequence[int],
    make: Callable[[], bytes],
    max_plants: int = 12,
) -> None:
    """Writes a few values (``make()`` each) at drawn places."""
    writes: list[tuple[int, bytes]] = []
    prev = None
    for _ in range(data.draw(st.integers(0, max_plants), label="plants")):
        value = make()
        prev = draw_address(data, target, indices, len(value), prev)
        writes.append((prev, value))
    if writes:
        note(f"planted {[(hex(a), b.hex()) for a, b in writes]}")
    target.write(writes)


def sample_memory(
    data: st.DataObject, mem: Memory, spans: Sequence[tuple[int, int, int]], vtype: str
) -> Any:
    """A value of ``vtype`` read at a drawn place of the spans (a constant that matches)."""
    size = size_of(vtype)
    usable = [(i, lo, hi) for i, lo, hi in spans if hi - lo >= size]
    if not usable:
        return data.draw(typed_values(vtype))
    _, lo, hi = data.draw(st.sampled_from(usable))
    addr = data.draw(st.integers(lo, hi - size))
    return py(mem.gather(np.array([addr], np.uint64), DTYPES[vtype])[0])


def draw_const(
    data: st.DataObject, vtype: str, sampler: Callable[[], Any] | None, *, finite: bool = False
) -> Any:
    if sampler is not None and data.draw(st.booleans()):
        v = sampler()
        if not (finite and is_float(vtype) and not np.isfinite(v)):
            return v
    return data.draw(typed_values(vtype, finite=finite))


def draw_const_op(
    data: st.DataObject, vtype: str, ops: Sequence[str], sampler: Callable[[], Any] | None
) -> tuple[str, list[Any], float | None]:
    """A constant comparison: operator, constants, tolerance (near)."""
    op = data.draw(st.sampled_from(list(ops)), label="op")
    if op == "any":
        return op, [], None
    if op == "between":
        a, b = draw_const(data, vtype, sampler), draw_const(data, vtype, sampler)
        if not (is_float(vtype) and (np.isnan(a) or np.isnan(b))):
            a, b = min(a, b), max(a, b)
        return op, [a, b], None
    c = draw_const(data, vtype, sampler)
    if op == "near":
        tol = data.draw(
            st.one_of(
                st.sampled_from([0.0, 0.5, 1.0, 1e-6, 100.0, 1e300]),
                st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
            ),
            label="tolerance",
        )
        return op, [c], tol
    return op, [c], None
