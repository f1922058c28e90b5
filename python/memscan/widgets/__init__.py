"""Notebook widgets (anywidget; plain ESM, no build step).

Each widget keeps its state in traits that Python code can read and change, works from plain
Python through its methods, and shows a readable HTML table or text when no frontend is there.
"""

from __future__ import annotations

from .history_view import HistoryView
from .memory_view import MemoryView
from .region_map import RegionMap
from .scan_explorer import ScanExplorer
from .struct_view import StructView

__all__ = ["HistoryView", "MemoryView", "RegionMap", "ScanExplorer", "StructView"]
