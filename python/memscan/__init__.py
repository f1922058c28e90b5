"""memscan: scan and edit the memory of live processes on Linux and Windows from Python.

The objects: :class:`Process` (``proc.scan(...)``, ``proc.find_bytes(...)``, ...),
:class:`Scanner`, :class:`AddressList`, snapshots, recordings, watches and images. The explicit
functions of the original design (:func:`open_process`, :func:`create_interactive_scanner`, ...)
live in :mod:`memscan.compat` and are importable from here too (``memscan.__all__`` lists the
modern API only).
"""

from __future__ import annotations

import os

from . import code, compat, demo, errors, structures
from . import images as images
from ._native import DEBUG_BUILD, SystemInfo, __version__, hex_pattern_bytes
from ._native import find_processes as _find_processes
from ._native import list_processes as _list_processes
from .address import Address
from .address_list import AddressList
from .errors import (
    AccessDenied,
    Busy,
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
from .scanner import Scanner
from .snapshots import ChangeMap, Snapshot
from .structures import Field, Layout, compare
from .table import Table, hex_addresses
from .value_types import VALUE_TYPES, ValueType
from .watch import Watch, WatchHits

# The original bindings' names (memscan.compat), importable from here; not in __all__.
MatchedAddress = compat.MatchedAddress
PyInteractiveScanner = compat.PyInteractiveScanner
PyMatchedAddress = compat.PyMatchedAddress
PyMemoryRegion = compat.PyMemoryRegion
PyProcessHandle = compat.PyProcessHandle
PySystemInfo = compat.PySystemInfo
create_interactive_scanner = compat.create_interactive_scanner
find_process_by_name = compat.find_process_by_name
get_process_module_regions = compat.get_process_module_regions
open_process = compat.open_process
parse_hex_pattern = compat.parse_hex_pattern
query_system_info = compat.query_system_info
read_process_memory = compat.read_process_memory
write_process_memory = compat.write_process_memory

if DEBUG_BUILD:
    import warnings

    warnings.warn(
        "memscan's native module is a debug build: scans run many times slower "
        "(build with `pip install .` or `maturin develop --release`)",
        stacklevel=2,
    )

__all__ = [
    "DEBUG_BUILD",
    "VALUE_TYPES",
    "AccessDenied",
    "Address",
    "AddressList",
    "Busy",
    "ChangeMap",
    "Dataset",
    "Field",
    "History",
    "InternalError",
    "InvalidAddress",
    "InvalidArgument",
    "InvalidFile",
    "InvalidValue",
    "Layout",
    "MemoryBudgetExceeded",
    "MemscanError",
    "MultiScan",
    "PointerChains",
    "PointerMap",
    "Process",
    "ProcessExited",
    "ProcessNotFound",
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
    "ValueType",
    "Watch",
    "WatchHits",
    "WriteFailed",
    "__version__",
    "code",
    "compare",
    "compat",
    "demo",
    "errors",
    "find_processes",
    "hex_addresses",
    "hex_pattern_bytes",
    "images",
    "list_processes",
    "load",
    "open_image",
    "structures",
]


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
    """Every process whose name (or command line, unless ``exact``) matches ``name``: a table
    (pid, name, uid, exe, cmdline). The original design's :func:`find_process_by_name` gives
    the pid of the first match only (or None)."""
    return Table(_find_processes(name, exact=exact))
