"""Structures on a live process (or an image): sample a range over time, dissect it (following
pointers to a depth), read one or many instances through a layout, and compare two groups."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _native
from .._convert import addresses_array, native_process
from .._lazy import pl
from .._progress import progress_callback
from ..errors import InvalidAddress, InvalidArgument, ProcessExited
from ..table import Table
from .dissect import Classify, InRegion, Pointee, infer_fields
from .layout import Field, Layout, family

if TYPE_CHECKING:
    import polars

    from ..process import Process

__all__ = [
    "compare",
    "dissect",
    "find_stride",
    "read_struct",
    "read_structs",
    "record",
    "sample_rows",
]

#: Size dissected when none is given and the address does not start a heap block.
DEFAULT_SIZE = 256
#: Largest structure dissected or read per instance (the engine's limit).
MAX_SIZE = 1 << 20
#: Size dissected behind a pointer to memory that is not a heap block of known size.
CHILD_SIZE = 64
#: Samples a second when sampling over time.
RATE = 200

#: The pointer size, the region test and the pointer classifier dissection uses.
Context = tuple[int, InRegion, Classify]


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InvalidArgument(f"size must be an integer, not {type(size).__name__}")
    if not 0 < int(size) <= MAX_SIZE:
        raise InvalidArgument(f"size {size} is outside 1..{MAX_SIZE} bytes")
    return int(size)


def pointees(proc: Process, values: np.ndarray) -> dict[int, Pointee]:
    """What each value points at (values that point at no readable region are left out)."""
    if values.size == 0:
        return {}
    table = Table(_native.pointees(native_process(proc), np.ascontiguousarray(values, np.uint64)))
    out = {}
    for row in table.to_polars().iter_rows(named=True):
        if row["kind"] is not None:
            out[int(row["value"])] = Pointee(
                row["kind"],
                row["executable"],
                row["location"],
                row["text"],
                row["code_words"],
                row["block_size"],
            )
    return out


def _pointees_if_alive(proc: Process, values: np.ndarray) -> dict[int, Pointee]:
    try:
        return pointees(proc, values)
    except ProcessExited:
        return {}


def _region_test(proc: Process) -> Any:
    regions = sorted((r.start, r.end) for r in proc.region_list() if r.readable)
    starts = np.array([s for s, _ in regions], dtype=np.uint64)
    ends = np.array([e for _, e in regions], dtype=np.uint64)

    def in_region(values: np.ndarray) -> np.ndarray:
        i = np.searchsorted(starts, values, side="right") - 1
        ok = i >= 0
        j = np.where(ok, i, 0)
        return ok & (values < ends[j]) if len(ends) else np.zeros(values.shape, bool)

    return in_region


def sample_rows(
    proc: Process, addresses: np.ndarray, size: int, over: Any, interval: float | None = None
) -> np.ndarray:
    """``size`` bytes at each address over time: an array ``(samples, instances, size)``.

    ``over`` is None (one read now), seconds to sample for (``interval`` apart, 1/200 s by
    default), or samples already taken: a :class:`memscan.History` of ``u8`` over the range,
    an array ``(samples, size)``, or a list of ``bytes``."""
    size = _check_size(size)
    n = len(addresses)
    if over is None or (isinstance(over, (int, float)) and not isinstance(over, bool)):
        for a in addresses:  # a typed error for an unreadable instance, before any sampling
            proc.read(int(a), size)
        if over is None:
            flat, _ = _native.read_instances(native_process(proc), addresses, size)
            return np.asarray(flat).reshape(1, n, size)
        return _record(proc, addresses, size, float(over), interval or 1 / RATE)[0]
    if n != 1:
        raise InvalidArgument("recorded samples cover one instance; pass over=seconds for many")
    from ..history import History

    if isinstance(over, History):
        rows = np.asarray(over.values)
        if over.value_type != "u8" or rows.shape[1] != size:
            raise InvalidArgument(
                f"a history of u8 values over the {size} bytes is needed "
                f"(got {over.value_type} x {rows.shape[1]})"
            )
    elif isinstance(over, np.ndarray):
        rows = over
    else:
        rows = np.array([np.frombuffer(bytes(b), np.uint8) for b in over])
    if rows.ndim != 2 or rows.shape[1] != size or rows.shape[0] == 0:
        raise InvalidArgument(f"samples must be (samples, {size}) bytes, got {rows.shape}")
    return np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, 1, size)


def _record(
    proc: Process, addresses: np.ndarray, size: int, seconds: float, interval: float
) -> tuple[np.ndarray, np.ndarray]:
    """Samples the instances for ``seconds``: rows ``(samples, instances, size)`` and each
    sample's time (ns since the epoch)."""
    if not 0 < seconds <= 3600:
        raise InvalidArgument(f"over={seconds}: sample for more than 0 and at most 3600 seconds")
    every = (addresses[:, None] + np.arange(size, dtype=np.uint64)[None, :]).reshape(-1)
    rec = _native.Recorder(native_process(proc), every, "u8", interval=interval, duration=seconds)
    shown = progress_callback("auto", "sampling", unit="ms")
    started = time.monotonic()
    total = int(seconds * 1000)
    try:
        while rec.is_running():
            time.sleep(min(0.05, seconds))
            if shown is not None:
                shown(min(int((time.monotonic() - started) * 1000), total), total)
    except KeyboardInterrupt:
        rec.stop()
        raise
    if shown is not None:
        shown(total, total)
    history = rec.history()
    if history.samples == 0:
        if not proc.is_alive():
            raise ProcessExited(f"process {proc.pid} exited before a sample was taken")
        raise InvalidAddress(f"no sample could be taken: {rec.error() or 'nothing was read'}")
    values = np.asarray(history.values()).reshape(history.samples, -1)
    columns = np.searchsorted(np.asarray(history.addresses()), every)
    rows = values[:, columns].reshape(history.samples, len(addresses), size)
    return rows, np.asarray(history.timestamps_ns())


def dissect(
    proc: Process,
    address: int,
    size: int | None = None,
    *,
    over: Any = None,
    interval: float | None = None,
    depth: int = 0,
    name: str = "structure",
) -> Layout:
    """The layout of the structure at ``address`` (see :meth:`memscan.Process.dissect`)."""
    if not 0 <= depth <= 8:
        raise InvalidArgument(f"depth {depth} is outside 0..8")
    found = pointees(proc, np.array([address], np.uint64)).get(int(address))
    if found is None:
        raise InvalidAddress(f"{address:#x} is in no readable region")
    if size is None:
        size = found.block_size or DEFAULT_SIZE
    # What pointers may point into is taken before sampling: the samples stay usable if the
    # process exits while they are taken (its pointers then go undescribed).
    context = (proc.pointer_size, _region_test(proc), lambda v: _pointees_if_alive(proc, v))
    rows = sample_rows(proc, np.array([address], np.uint64), size, over, interval)[:, 0, :]
    layout = _layout(rows, name, context)
    if not proc.is_alive():
        layout.notes.append("the process exited while it was sampled")
    if found.block_size:
        layout.notes.append(f"a heap block of {found.block_size} bytes")
    if rows.shape[0] > 1:
        layout.notes.append(f"{rows.shape[0]} samples")
    if depth and proc.is_alive():
        _spider(proc, layout, int(address), depth, {int(address): layout}, context)
    return layout


def _layout(rows: np.ndarray, name: str, context: Context) -> Layout:
    ptr, in_region, classify = context
    fields = infer_fields(rows, pointer_size=ptr, in_region=in_region, classify=classify)
    return Layout(name, rows.shape[1], fields, pointer_size=ptr)


def _spider(
    proc: Process,
    layout: Layout,
    address: int,
    depth: int,
    seen: dict[int, Layout],
    context: Context,
) -> None:
    """Dissects what the layout's data pointers point at, ``depth`` levels down, once per
    address (a pointer back to an object already dissected is marked, not followed)."""
    for f in layout.fields:
        if f.type != "ptr" or not f.value.startswith("0x") or f.value == "0x0":
            continue
        target = int(f.value, 16)
        if (
            f.points_to.startswith(("'", '"'))
            or "function table" in f.points_to
            or "code" in f.evidence
        ):
            continue
        if target in seen:
            f.layout = seen[target]
            f.evidence += f"; back to {seen[target].name} (a loop: not followed again)"
            continue
        info = pointees(proc, np.array([target], np.uint64)).get(target)
        if info is None or info.executable:
            continue
        size = info.block_size or _same_kind_size(proc, target, layout) or CHILD_SIZE
        try:
            rows = sample_rows(proc, np.array([target], np.uint64), size, None)[:, 0, :]
        except InvalidAddress:
            size = CHILD_SIZE // 2
            try:
                rows = sample_rows(proc, np.array([target], np.uint64), size, None)[:, 0, :]
            except InvalidAddress:
                continue
        child = _layout(rows, f"{layout.name}_{f.name}", context)
        seen[target] = child
        f.layout = child
        same = child.size == layout.size and _signature(child) == _signature(layout)
        if same and any(c.offset == f.offset and c.type == "ptr" for c in child.fields):
            f.evidence += f"; a linked list: the target has this layout, next at +{f.offset:#x}"
        if depth > 1:
            _spider(proc, child, target, depth - 1, seen, context)


def _same_kind_size(proc: Process, target: int, layout: Layout) -> int | None:
    """The layout's size when the target starts with the same pointer as the layout (the same
    vtable or type header: an object of the same kind, such as the next element of an array)."""
    first = layout.fields[0] if layout.fields else None
    if first is None or first.offset != 0 or first.type != "ptr":
        return None
    try:
        head = proc.read(target, first.size)
    except InvalidAddress:
        return None
    same = int.from_bytes(head, "little") == int(first.value, 16)
    return layout.size if same else None


def _signature(layout: Layout) -> list[tuple[int, str]]:
    return [(f.offset, family(f.type)) for f in layout.fields if f.type != "bytes"]


def find_stride(layout: Layout, *, min_repeats: int = 2) -> tuple[int, int] | None:
    """The stride of an array of structs in a dissected range: the smallest period at which
    the fields' offsets and families repeat (at least ``min_repeats`` times), and how many
    elements fit; None when nothing repeats."""
    words = layout.size // 4
    sig = np.zeros(words, dtype="<U1")
    sig[:] = "."
    letters = {"int": "i", "float": "f", "pointer": "p", "text": "t"}
    for f in layout.fields:
        if f.type == "bytes" or f.value in ("0", "0x0"):
            continue
        for w in range(f.offset // 4, min(words, -(-f.end // 4))):
            sig[w] = letters.get(family(f.type), "?")
    best = None
    for stride in range(2, words // min_repeats + 1):
        a, b = sig[:-stride], sig[stride:]
        used = (a != ".") | (b != ".")
        if used.sum() < 4:
            continue
        score = float((a[used] == b[used]).mean())
        if score >= 0.9 and (best is None or score > best[1] + 0.05):
            best = (stride, score)
            if score == 1.0:
                break
    if best is None:
        return None
    return best[0] * 4, layout.size // (best[0] * 4)


def record(
    proc: Process, address: int, layout: Layout, *, over: float, interval: float | None = None
) -> polars.DataFrame:
    """The instance at ``address`` sampled for ``over`` seconds through ``layout``: one row per
    sample (``time``: seconds since the first, then every field)."""
    rows, ns = _record(
        proc,
        np.array([address], np.uint64),
        _check_size(layout.size),
        float(over),
        interval or 1 / RATE,
    )
    times = (ns - ns[0]) / 1e9 if len(ns) else ns.astype(np.float64)
    frame = layout.decode(rows.reshape(-1))
    return frame.insert_column(0, pl.Series("time", times, dtype=pl.Float64))


def read_structs(proc: Process, addresses: Any, layout: Layout) -> polars.DataFrame:
    """Every instance at ``addresses`` read through ``layout`` in one gathered pass: one row
    per instance (``address``, ``readable``, then the fields)."""
    addrs = addresses_array(addresses, "read_structs")
    flat, readable = _native.read_instances(native_process(proc), addrs, layout.size)
    frame = layout.decode(np.asarray(flat), addrs)
    return frame.insert_column(1, pl.Series("readable", np.asarray(readable).astype(bool)))


def read_struct(proc: Process, address: int, layout: Layout) -> dict[str, Any]:
    """One instance read through ``layout`` as a dict (all or nothing: an unreadable byte is
    :class:`~memscan.InvalidAddress`)."""
    data = proc.read(int(address), layout.size)
    return layout.decode(np.frombuffer(data, np.uint8)).row(0, named=True)


def compare(
    proc: Process,
    group_a: Sequence[int] | np.ndarray,
    group_b: Sequence[int] | np.ndarray,
    layout: Layout | int,
    *,
    over: float | None = None,
    interval: float | None = None,
) -> polars.DataFrame:
    """Fields ranked by how well they separate group A from group B (see
    :func:`memscan.structures.compare`)."""
    a = addresses_array(group_a, "group_a")
    b = addresses_array(group_b, "group_b")
    if len(a) == 0 or len(b) == 0:
        raise InvalidArgument("both groups need at least one address")
    size = layout.size if isinstance(layout, Layout) else _check_size(layout)
    rows = sample_rows(proc, np.concatenate([a, b]), size, over, interval)
    if not isinstance(layout, Layout):
        stacked = rows.reshape(-1, size)
        ptr = proc.pointer_size
        classify = lambda v: pointees(proc, v)  # noqa: E731
        fields = infer_fields(
            stacked, pointer_size=ptr, in_region=_region_test(proc), classify=classify
        )
        layout = Layout("compared", size, fields, pointer_size=ptr)
    ra, rb = rows[:, : len(a)], rows[:, len(a) :]
    out = [_separation(name, offset, f, ra, rb) for name, offset, f in layout.leaves()]
    frame = pl.DataFrame(out, orient="row", schema=_compare_schema())
    return frame.sort(["score", "separation"], descending=True, nulls_last=True)


def _compare_schema() -> list[tuple[str, Any]]:
    return [
        ("offset", pl.UInt32),
        ("name", pl.String),
        ("type", pl.String),
        ("a", pl.String),
        ("b", pl.String),
        ("a_constant", pl.Float64),
        ("b_constant", pl.Float64),
        ("overlap", pl.Float64),
        ("separation", pl.Float64),
        ("score", pl.Float64),
    ]


def _separation(
    name: str, offset: int, f: Field, ra: np.ndarray, rb: np.ndarray
) -> tuple[Any, ...]:
    """How well one field tells the groups apart: each group's share of its most common value
    (constant within a group is 1), the share of B's values that A also holds, a numeric
    separation (difference of means over the spread), and score = constancy x distinctness."""

    def values(rows: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(rows[:, :, offset : offset + f.size]).reshape(-1, f.size)
        return np.array([bytes(r) for r in raw], dtype=object)

    va, vb = values(ra), values(rb)
    mode_a, share_a = _mode(va)
    mode_b, share_b = _mode(vb)
    overlap = float(np.isin(vb, list(set(va))).mean())
    sep = None
    if f.type in ("f32", "f64") or (
        f.type[0] in "iu" and f.type != "bytes" and f.count == 1 and family(f.type) == "int"
    ):
        dtype = "<u1" if f.type == "bool" else f"<{f.type[0]}{f.size}"
        xa = np.frombuffer(b"".join(va), dtype).astype(np.float64)
        xb = np.frombuffer(b"".join(vb), dtype).astype(np.float64)
        if np.isfinite(xa).all() and np.isfinite(xb).all():
            spread = xa.std() + xb.std()
            diff = abs(xa.mean() - xb.mean())
            sep = float(diff / spread) if spread > 0 else (float("inf") if diff > 0 else 0.0)
    distinct = 1.0 - overlap
    score = share_a * share_b * distinct if mode_a != mode_b else 0.0
    return (
        offset,
        name,
        f.type,
        _show(mode_a, f),
        _show(mode_b, f),
        share_a,
        share_b,
        overlap,
        sep,
        score,
    )


def _mode(values: np.ndarray) -> tuple[bytes, float]:
    uniq, counts = np.unique(values, return_counts=True)
    k = int(np.argmax(counts))
    return uniq[k], float(counts[k] / len(values))


def _show(raw: bytes, f: Field) -> str:
    layout = Layout("one", f.size, [Field(0, f.type, f.size, "v", count=f.count)])
    value = layout.decode(np.frombuffer(raw, np.uint8))["v"][0]
    return hex(value) if f.type == "ptr" else str(value)
