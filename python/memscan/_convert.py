"""Checked conversions of what users pass to the arrays the engine takes: out-of-range numbers
are typed errors naming the argument, never a NumPy ``OverflowError`` or a silent wrap."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._lazy import pl
from .errors import InvalidAddress, InvalidArgument

_U64_MAX = 2**64 - 1


def addresses_array(addresses: Any, what: str) -> np.ndarray:
    """``addresses`` (an int, a sequence of ints or an integer array) as a contiguous ``u64``
    array; a negative address or one of 2**64 or more is :class:`~memscan.InvalidAddress`."""
    if isinstance(addresses, np.ndarray) and addresses.dtype.kind in "iu":
        if addresses.dtype.kind == "i" and addresses.size and addresses.min() < 0:
            raise InvalidAddress(f"{what}: {int(addresses.min())} is a negative address")
        return np.ascontiguousarray(np.atleast_1d(addresses).astype(np.uint64, copy=False))
    items = np.atleast_1d(np.asarray(addresses, dtype=object))
    for a in items.ravel():
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InvalidAddress(f"{what}: {a!r} is not an integer address")
        if not 0 <= int(a) <= _U64_MAX:
            raise InvalidAddress(f"{what}: {int(a):#x} is outside the address space 0..2**64")
    return np.ascontiguousarray(items.astype(np.uint64))


def native_process(process: Any) -> _native.Process:
    """The engine's process object behind ``process`` (a :class:`memscan.Process`, or the
    native object itself); anything else is :class:`~memscan.InvalidArgument`."""
    if isinstance(process, _native.Process):
        return process
    inner = getattr(process, "_native", None)
    if isinstance(inner, _native.Process):
        return inner
    raise InvalidArgument(f"expected a memscan.Process, not {type(process).__name__}")


def region_list(process: Any, regions: Any) -> list[_native.Region] | None:
    """``regions=`` as the engine takes it: None, a list of :class:`~memscan.Region`
    (``proc.region_list()``), or a table of regions (``proc.regions()``, a polars or pandas
    frame, anything with ``start`` and ``end`` columns), matched to ``process``'s regions now
    by start and end. A row that is no region of the process is InvalidArgument."""
    if regions is None:
        return None
    if isinstance(regions, list | tuple) and all(isinstance(r, _native.Region) for r in regions):
        return list(regions)
    if isinstance(regions, _native.Region):
        return [regions]
    try:
        frame = regions.to_polars() if hasattr(regions, "to_polars") else pl.DataFrame(regions)
        starts = frame["start"].to_list()
        ends = frame["end"].to_list()
    except Exception as e:
        raise InvalidArgument(
            "regions is a list of Region (proc.region_list()) or a table of regions with "
            f"start and end columns (proc.regions()), not {type(regions).__name__}"
        ) from e
    if process is None:
        raise InvalidArgument("a table of regions needs the process it lists")
    current = {(r.start, r.end): r for r in native_process(process).region_list()}
    out = []
    for start, end in zip(starts, ends, strict=True):
        r = current.get((start, end))
        if r is None:
            where = (
                f"{start:#x}-{end:#x}"
                if isinstance(start, int) and isinstance(end, int)
                else f"{start!r}-{end!r}"
            )
            raise InvalidArgument(f"{where} is not a region of the process now")
        out.append(r)
    return out
