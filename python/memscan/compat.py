"""The original bindings' API, for scripts written for them: they run unchanged.

``open_process``, ``find_process_by_name``, ``query_system_info``,
``get_process_module_regions``, ``parse_hex_pattern``, ``read_process_memory``,
``write_process_memory``, ``create_interactive_scanner`` and the classes ``PyProcessHandle``,
``PyMemoryRegion``, ``PySystemInfo``, ``PyInteractiveScanner`` and ``PyMatchedAddress`` live
here and stay importable from :mod:`memscan`. The scanner ``create_interactive_scanner`` returns
is an :class:`InteractiveScanner`: a :class:`memscan.Scanner` that also answers to the original
names (``initial_scan``, ``filter_eq``, ``get_matches``, ``set_value``, ``save_checkpoint``, ...),
so those names do not crowd the modern class. ``docs/api-map.md`` maps each to its modern
spelling.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _native
from ._convert import native_process
from ._native import SystemInfo, find_process_by_name, parse_hex_pattern, query_system_info
from .options import Regions
from .process import Process, Region
from .scanner import Scanner

__all__ = [
    "InteractiveScanner",
    "MatchedAddress",
    "PyInteractiveScanner",
    "PyMatchedAddress",
    "PyMemoryRegion",
    "PyProcessHandle",
    "PySystemInfo",
    "create_interactive_scanner",
    "find_process_by_name",
    "get_process_module_regions",
    "open_process",
    "parse_hex_pattern",
    "query_system_info",
    "read_process_memory",
    "write_process_memory",
]

#: Next-scan operators that compare with each candidate's earlier value.
RELATIVE_OPS = ("changed", "unchanged", "increased", "decreased")


class MatchedAddress(NamedTuple):
    """One candidate, as the original bindings' ``get_matches()`` gives it: its address, its
    value at the last scan, and its value in the step before (``None`` until a relative filter
    such as ``filter_increased`` has run)."""

    address: int
    current_value: int | float
    previous_value: int | float | None

    def __repr__(self) -> str:
        return (
            f"MatchedAddress(addr={self.address:#x}, current={self.current_value!r}, "
            f"previous={self.previous_value!r})"
        )


class InteractiveScanner(Scanner):
    """A :class:`memscan.Scanner` with the original bindings' method names as well: every
    ``filter_*`` and ``initial_scan`` return the number of matches, ``set_value``/
    ``add_value``/... the number of addresses written."""

    def initial_scan(self, value: Any = None) -> int:
        """First scan for ``value``, or every slot (unknown initial value) when None."""
        if value is None:
            self.first("any")
        else:
            self.first("eq", value)
        return len(self)

    def filter_eq(self, value: Any) -> int:
        return len(self.eq(value))

    def filter_ne(self, value: Any) -> int:
        return len(self.ne(value))

    def filter_lt(self, value: Any) -> int:
        return len(self.lt(value))

    def filter_gt(self, value: Any) -> int:
        return len(self.gt(value))

    def filter_between(self, low: Any, high: Any) -> int:
        return len(self.between(low, high))

    def filter_increased(self, by: Any = None) -> int:
        return len(self.increased(by))

    def filter_decreased(self, by: Any = None) -> int:
        return len(self.decreased(by))

    def filter_changed(self) -> int:
        return len(self.changed())

    def filter_unchanged(self) -> int:
        return len(self.unchanged())

    def filter_checkpoint(self, name: str, op: str = "changed", *values: Any) -> int:
        """Narrows comparing with checkpoint ``name`` (e.g. ``"increased"``, ``"unchanged"``)."""
        return len(self.next(op, *values, against=name))

    def filter_checkpoint_relative(self, cp1: str, cp2: str, cp3: str, margin: float) -> int:
        """Keeps values whose change cp1→cp2 repeats cp2→cp3 within ``margin`` percent."""
        return len(self.repeated(cp1, cp2, cp3, margin))

    def match_count(self) -> int:
        return len(self)

    def get_matches(self, limit: int | None = None) -> list[MatchedAddress]:
        """The candidates as :class:`MatchedAddress` (address, current_value, previous_value),
        exact Python numbers; ``limit`` caps the list."""
        return get_matches(self, limit)

    def save_checkpoint(self, name: str) -> int:
        return self.checkpoint(name)

    def list_checkpoints(self) -> list[str]:
        """The checkpoint names (their candidate counts: :meth:`checkpoint_counts`)."""
        return [name for name, _ in self.checkpoint_counts()]

    def set_value(self, value: Any) -> int:
        return self.write(value)

    def set_value_at(self, address: int, value: Any) -> int:
        return self.write(value, np.array([address], dtype=np.uint64))

    def add_value(self, value: Any) -> int:
        return self.add(value)

    def sub_value(self, value: Any) -> int:
        return self.sub(value)

    def mul_value(self, value: Any) -> int:
        return self.mul(value)

    def div_value(self, value: Any) -> int:
        return self.div(value)


def get_matches(scanner: Scanner, limit: int | None = None) -> list[MatchedAddress]:
    """``scanner``'s candidates as :class:`MatchedAddress` rows (``limit`` caps the list); the
    previous value is None until a relative next scan has run."""
    n = len(scanner) if limit is None else max(0, min(limit, len(scanner)))
    addresses, values = scanner.page(0, n)
    relative = any(d.startswith(RELATIVE_OPS) for d, _ in scanner.history()[1:])
    previous = scanner.previous_page(0, n) if relative else None
    before = [None] * n if previous is None else previous.tolist()
    return [
        MatchedAddress(a, v, p)
        for a, v, p in zip(addresses.tolist(), values.tolist(), before, strict=True)
    ]


def open_process(pid: int) -> Process:
    """Opens a process by pid. Raises ProcessNotFound or AccessDenied (with the reason)."""
    return Process(pid)


def create_interactive_scanner(
    process: Process | _native.Process,
    regions: Regions,
    value_type: str,
    **options: Any,
) -> InteractiveScanner:
    """A scanner over ``regions`` (all writable regions when None), as in the original design:
    call ``initial_scan(value)`` then ``filter_*``. ``regions`` may be ``proc.region_list()``
    items or a table of regions (``proc.regions()``)."""
    return InteractiveScanner(process, value_type, **{**options, "regions": regions})


def get_process_module_regions(process: Process | _native.Process) -> list[Region]:
    """The regions mapped from the executable and its libraries (``region_type`` "image")."""
    return _native.get_process_module_regions(native_process(process))


def read_process_memory(process: Process | _native.Process, address: int, size: int) -> bytes:
    """``size`` bytes at ``address``, all or nothing (``proc.read``)."""
    return _native.read_process_memory(native_process(process), address, size)


def write_process_memory(
    process: Process | _native.Process, address: int, data: bytes, *, force: bool = False
) -> None:
    """Writes ``data`` at ``address``, all or nothing (``proc.write``)."""
    _native.write_process_memory(native_process(process), address, data, force=force)


# The original bindings' class names.
PyProcessHandle = Process
PyMemoryRegion = Region
PySystemInfo = SystemInfo
PyInteractiveScanner = InteractiveScanner
PyMatchedAddress = MatchedAddress
