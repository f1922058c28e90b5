"""Checked conversions of what users pass to the arrays the engine takes: out-of-range numbers
are typed errors naming the argument, never a NumPy ``OverflowError`` or a silent wrap."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidAddress

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
