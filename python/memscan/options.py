"""The options that choose regions and shape scans, declared once and typed, for every function
that takes them (``proc.scanner``, ``proc.scan``, ``proc.find_bytes``, ``proc.snapshot``, ...).

Regions passed explicitly are scanned as given: only the options also passed filter them (and
``writable_only`` then defaults to False). Without ``regions``, the process's regions are
listed at every first scan and filtered, ``writable_only`` defaulting to True (to False for
pattern and string searches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from ._native import Region

if TYPE_CHECKING:
    import polars

    from .table import Table

__all__ = ["RegionOptions", "Regions", "ScanOptions", "SnapshotOptions"]

#: Regions as ``regions=`` takes them: :class:`Region` objects (``proc.region_list()``), or a
#: table of regions (``proc.regions()`` filtered, a polars or pandas frame with ``start`` and
#: ``end`` columns), matched to the process's regions by start and end.
if TYPE_CHECKING:
    Regions: TypeAlias = Sequence[Region] | Table | polars.DataFrame | None
else:
    Regions = Any


class RegionOptions(TypedDict, total=False):
    """Which regions: the given ones, or the process's filtered by kind, permissions, path and
    address range."""

    #: Exactly these regions: ``proc.region_list()`` items or rows of ``proc.regions()``.
    regions: Regions
    #: Region kinds: heap stack executable library anonymous file special.
    kinds: list[str] | None
    #: Only writable regions.
    writable_only: bool | None
    #: Only executable (True) or non-executable (False) regions.
    executable: bool | None
    #: Only regions whose path contains one of these strings.
    paths: list[str] | None
    #: Only the part of each region in ``[start, end)``; ``start < end``.
    address_range: tuple[int, int] | None


class ScanOptions(RegionOptions, total=False):
    """Region options plus how a scan reads and what it may hold."""

    #: Distance between candidate slots: 1 for unaligned; by default the type's size, but 4 for
    #: 8-byte types (32-bit programs and V8 keep them 4-aligned); 8 for natural alignment only.
    alignment: int | None
    #: Bytes the scan's results may hold (default: the memory available when it runs).
    memory_budget: int | None
    #: Keep an unknown-value scan's blocks compressed (LZ4, where that pays: 5x less memory on
    #: a Python process's heap as measured; next scans unpack block by block). Default
    #: ``None``: compress once the results hold a quarter of ``memory_budget`` (a next scan
    #: needs room for a result as large).
    compress: bool | None


class SnapshotOptions(RegionOptions, total=False):
    """Region options plus the bytes a snapshot may hold (blocks of zeros cost nothing)."""

    memory_budget: int | None
    #: Keep blocks compressed (LZ4, where that pays); default: once a quarter of the budget is held.
    compress: bool | None
