"""memscan: scan and edit the memory of live Linux processes, with zero-copy NumPy/Arrow results.

Two ways in: the Pythonic objects (:class:`Process`, ``proc.scan(...)``) and the explicit
functions of the original design (:func:`open_process`, :func:`create_interactive_scanner`, ...).
"""

from __future__ import annotations

import os
from typing import Any

from . import demo, errors
from . import images as images
from ._native import (
    DEBUG_BUILD,
    Address,
    SystemInfo,
    __version__,
    find_process_by_name,
    get_process_module_regions,
    hex_pattern_bytes,
    parse_hex_pattern,
    query_system_info,
    read_process_memory,
    write_process_memory,
)
from ._native import find_processes as _find_processes
from ._native import list_processes as _list_processes
from .address_list import AddressList
from .errors import (
    AccessDenied,
    InternalError,
    InvalidAddress,
    InvalidArgument,
    InvalidFile,
    InvalidValue,
    MemoryBudgetExceeded,
    MemscanError,
    ProcessExited,
    ProcessNotFound,
    Unsupported,
    WriteFailed,
)
from .history import History, Recorder
from .io import Dataset, load
from .multiscan import MultiScan
from .options import RegionOptions, ScanOptions, SnapshotOptions
from .pointers import PointerChains, PointerMap
from .process import Process, Region
from .scanner import MatchedAddress, Scanner
from .snapshots import ChangeMap, Snapshot
from .table import Table, hex_addresses
from .watch import Watch, WatchHits

# The original bindings' class names: the same classes under a second name.
PyProcessHandle = Process
PyMemoryRegion = Region
PySystemInfo = SystemInfo
PyInteractiveScanner = Scanner
PyMatchedAddress = MatchedAddress

if DEBUG_BUILD:
    import warnings

    warnings.warn(
        "memscan's native module is a debug build: scans run many times slower "
        "(build with `pip install .` or `maturin develop --release`)",
        stacklevel=2,
    )

__all__ = [
    "DEBUG_BUILD",
    "AccessDenied",
    "Address",
    "AddressList",
    "ChangeMap",
    "Dataset",
    "History",
    "InternalError",
    "InvalidAddress",
    "InvalidArgument",
    "InvalidFile",
    "InvalidValue",
    "MatchedAddress",
    "MemoryBudgetExceeded",
    "MemscanError",
    "MultiScan",
    "PointerChains",
    "PointerMap",
    "Process",
    "ProcessExited",
    "ProcessNotFound",
    "PyInteractiveScanner",
    "PyMatchedAddress",
    "PyMemoryRegion",
    "PyProcessHandle",
    "PySystemInfo",
    "Recorder",
    "Region",
    "RegionOptions",
    "ScanOptions",
    "Scanner",
    "Snapshot",
    "SnapshotOptions",
    "SystemInfo",
    "Table",
    "Unsupported",
    "Watch",
    "WatchHits",
    "WriteFailed",
    "__version__",
    "create_interactive_scanner",
    "demo",
    "errors",
    "find_process_by_name",
    "find_processes",
    "get_process_module_regions",
    "hex_addresses",
    "hex_pattern_bytes",
    "images",
    "list_processes",
    "load",
    "open_image",
    "open_process",
    "parse_hex_pattern",
    "query_system_info",
    "read_process_memory",
    "write_process_memory",
]


def open_process(pid: int) -> Process:
    """Opens a process by pid. Raises ProcessNotFound or AccessDenied (with the reason)."""
    return Process(pid)


def open_image(path: str | os.PathLike[str]) -> Process:
    """Opens a memory image saved by ``proc.save_image`` (or an ELF core file from ``gcore`` or
    the kernel) as a read-only :class:`Process`: regions, modules, reads, scans, snapshots and
    pointer maps work as on the live process; writes, freezes, watches and recordings raise
    :class:`Unsupported`."""
    return Process(image=os.fspath(path))


def list_processes() -> Table:
    """Every process: pid, name, uid, exe, cmdline."""
    return Table(_list_processes())


def find_processes(name: str, *, exact: bool = False) -> Table:
    """Every process whose name (or command line, unless ``exact``) matches ``name``."""
    return Table(_find_processes(name, exact=exact))


def create_interactive_scanner(
    process: Process,
    regions: list[Region] | None,
    value_type: str,
    **options: Any,
) -> Scanner:
    """A scanner over ``regions`` (all writable regions when None), as in the original design:
    call ``initial_scan(value)`` then ``filter_*``."""
    if not isinstance(process, Process):
        process = Process(process.pid)
    return Scanner(process, value_type, regions, **options)
