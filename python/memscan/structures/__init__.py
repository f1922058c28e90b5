"""What is this memory? Structures as data: :func:`dissect` infers a :class:`Layout` from how
a range's bytes look and behave over time, :func:`compare` ranks the fields that separate two
groups of objects, and a layout reads instances (``proc.read_structs``: every one at once) and
converts to and from C and Cheat Engine's structure XML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .layout import FIELD_TYPES, Field, Layout, family
from .reading import compare as _compare
from .reading import dissect as _dissect
from .reading import find_stride, read_struct, read_structs, record, sample_rows

if TYPE_CHECKING:
    import polars

    from ..process import Process

__all__ = [
    "FIELD_TYPES",
    "Field",
    "Layout",
    "compare",
    "dissect",
    "family",
    "find_stride",
    "read_struct",
    "read_structs",
    "record",
    "sample_rows",
]


def dissect(process: Process, address: int, size: int | None = None, **options: Any) -> Layout:
    """``process.dissect(address, size, ...)``: see :meth:`memscan.Process.dissect`."""
    return _dissect(process, address, size, **options)


def compare(
    process: Process,
    group_a: Any,
    group_b: Any,
    layout: Layout | int,
    *,
    over: float | None = None,
    interval: float | None = None,
) -> polars.DataFrame:
    """Fields ranked by how well they separate the objects at ``group_a`` from those at
    ``group_b`` (Cheat Engine's structure compare, made quantitative): one row per field with
    each group's most common value (a, b) and how constant it is within the group
    (a_constant, b_constant: 1 when every instance and sample holds it), the share of B's
    values A also holds (overlap), a numeric separation (|mean A - mean B| / (sd A + sd B))
    and score = a_constant x b_constant x (1 - overlap). ``layout`` is a :class:`Layout` or a
    size (then fields are inferred from every instance); ``over=seconds`` samples over time."""
    return _compare(process, group_a, group_b, layout, over=over, interval=interval)
