"""A structure's layout: fields at offsets, each with a type. Made by :func:`dissect`, by hand,
from a C declaration or a Cheat Engine structure; used to read instances
(:meth:`Layout.decode`, ``proc.read_structs``) and exported as a table, C or XML."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import pl
from ..errors import InvalidArgument
from ..value_types import NAMES, VALUE_TYPES

if TYPE_CHECKING:
    import polars

__all__ = ["FIELD_TYPES", "Field", "Layout", "family"]

#: Field types beyond the numeric value types: ``bool`` (one byte, 0 or 1), ``ptr`` (a
#: pointer of the layout's pointer width), ``text`` (a NUL-padded UTF-8 char array),
#: ``utf16`` (the same in UTF-16), ``bytes`` (unknown, or padding), ``struct`` (nested).
FIELD_TYPES = (*NAMES, "bool", "ptr", "text", "utf16", "bytes", "struct")
_NUMERIC = {t.name: t for t in VALUE_TYPES}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def family(type_name: str) -> str:
    """The type's family: int, float, pointer, text, struct or bytes (how accuracy is scored)."""
    if type_name in ("f32", "f64"):
        return "float"
    if type_name in _NUMERIC or type_name == "bool":
        return "int"
    return {"ptr": "pointer", "text": "text", "utf16": "text"}.get(type_name, type_name)


@dataclass
class Field:
    """One field: ``count`` elements of ``type`` at ``offset`` (``size`` bytes in all).

    Dissection fills ``value`` (now, as text), ``confidence`` (0..1), ``evidence`` (why this
    type) and, for pointers, ``points_to`` (``module!symbol``, ``heap``, ``"text"``, ...).
    A ``struct`` field holds its own ``layout``."""

    offset: int
    type: str
    size: int
    name: str = ""
    count: int = 1
    value: str = ""
    confidence: float = 1.0
    evidence: str = ""
    points_to: str = ""
    layout: Layout | None = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise InvalidArgument(
                f"unknown field type {self.type!r}; expected one of {', '.join(FIELD_TYPES)}"
            )
        if self.offset < 0 or self.size <= 0 or self.count <= 0:
            raise InvalidArgument(
                f"field at {self.offset} needs offset >= 0, size > 0 and count > 0 "
                f"(got size {self.size}, count {self.count})"
            )
        if not self.name:
            self.name = f"f_{self.offset:x}"
        elif not _NAME.match(self.name):
            raise InvalidArgument(f"field name {self.name!r} is not an identifier")
        if self.type == "struct" and self.layout is None:
            raise InvalidArgument(f"struct field {self.name!r} needs a layout")

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def element_size(self) -> int:
        return self.size // self.count


@dataclass
class Layout:
    """Fields by offset in a structure of ``size`` bytes, ``pointer_size`` wide pointers.

    Edit it in place (``rename``, ``set_type``, ``add``) and use it anywhere: ``proc.read_struct``,
    ``proc.read_structs`` (every instance at once, as a polars frame), ``to_c``,
    ``to_cheat_engine``. It is a table too (``to_polars``, and the Arrow PyCapsule stream)."""

    name: str
    size: int
    fields: list[Field] = field(default_factory=list)
    pointer_size: int = 8
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidArgument(f"layout name {self.name!r} is not an identifier")
        if self.size <= 0:
            raise InvalidArgument(f"layout {self.name} needs a size > 0, got {self.size}")
        self.fields.sort(key=lambda f: f.offset)
        self._check()

    def _check(self) -> None:
        end, names = 0, set()
        for f in self.fields:
            if f.offset < end:
                raise InvalidArgument(f"field {f.name!r} at {f.offset} overlaps the one before")
            if f.end > self.size:
                raise InvalidArgument(
                    f"field {f.name!r} ends at {f.end}, past the layout's {self.size} bytes"
                )
            if f.name in names:
                raise InvalidArgument(f"two fields are named {f.name!r}")
            names.add(f.name)
            end = f.end

    # -- access and editing -----------------------------------------------------------------

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, key: str | int) -> Field:
        """A field by name, or by offset (the field that starts there)."""
        for f in self.fields:
            if f.name == key or (isinstance(key, int) and f.offset == key):
                return f
        raise KeyError(key)

    def rename(self, key: str | int, name: str) -> Layout:
        """Renames a field (by name or offset); returns the layout."""
        f = self[key]
        old = f.name
        f.name = name
        try:
            Field.__post_init__(f)
            self._check()
        except InvalidArgument:
            f.name = old
            raise
        return self

    def set_type(self, key: str | int, type_name: str, *, count: int = 1) -> Layout:
        """Gives a field a new type (its size follows the type); returns the layout."""
        f = self[key]
        size = type_size(type_name, self.pointer_size, f.size) * count
        new = replace(f, type=type_name, size=size, count=count, evidence="set by hand")
        return self._swap(f, new)

    def add(self, offset: int, type_name: str, name: str = "", *, count: int = 1) -> Layout:
        """Adds a field, replacing fields it overlaps; returns the layout."""
        size = type_size(type_name, self.pointer_size, None) * count
        new = Field(offset, type_name, size, name, count=count, evidence="added by hand")
        return self._swap(None, new)

    def _swap(self, old: Field | None, new: Field) -> Layout:
        kept = [
            f for f in self.fields if f is not old and (f.end <= new.offset or f.offset >= new.end)
        ]
        before = self.fields
        self.fields = sorted([*kept, new], key=lambda f: f.offset)
        try:
            self._check()
        except InvalidArgument:
            self.fields = before
            raise
        return self

    def leaves(self, prefix: str = "", base: int = 0) -> Iterator[tuple[str, int, Field]]:
        """Every non-struct field with its dotted name and absolute offset (nested layouts
        flattened: ``pos.x``)."""
        for f in self.fields:
            if f.layout is not None and f.type == "struct":
                for k in range(f.count):
                    suffix = f"[{k}]" if f.count > 1 else ""
                    at = base + f.offset + k * f.layout.size
                    yield from f.layout.leaves(f"{prefix}{f.name}{suffix}.", at)
            else:
                yield f"{prefix}{f.name}", base + f.offset, f

    def value_type(self, f: Field) -> str | None:
        """The scan value type of a numeric field (pointers as u64/u32, bool as u8), else None."""
        if f.type in _NUMERIC:
            return f.type
        if f.type == "ptr":
            return "u64" if self.pointer_size == 8 else "u32"
        return "u8" if f.type == "bool" else None

    def group(self, **values: Any) -> list[tuple[int, str, Any]]:
        """Members of a group scan for instances whose fields hold these values
        (``proc.group_scan(layout.group(ops=0x55d0..., team=1))`` finds every instance; a value
        may be ``("between", lo, hi)``). Nested fields are named with dots (``pos.x``) via
        ``**{"pos.x": 1.0}``."""
        if not values:
            raise InvalidArgument("name at least one field and its value")
        leaves = {name: (offset, f) for name, offset, f in self.leaves()}
        members = []
        for name, value in values.items():
            if name not in leaves:
                raise InvalidArgument(f"{self.name} has no field {name!r}")
            offset, f = leaves[name]
            vt = self.value_type(f)
            if vt is None or f.count != 1:
                raise InvalidArgument(f"field {name!r} ({f.type}) is not a single number")
            members.append((offset, vt, value))
        return sorted(members)

    # -- as a table -------------------------------------------------------------------------

    def to_polars(self) -> polars.DataFrame:
        """One row per field: offset, size, type, family, name, count, value, confidence,
        evidence, points_to."""
        rows = list(self.fields)
        return pl.DataFrame(
            {
                "offset": [f.offset for f in rows],
                "size": [f.size for f in rows],
                "type": [f.layout.name if f.layout is not None else f.type for f in rows],
                "family": [family(f.type) for f in rows],
                "name": [f.name for f in rows],
                "count": [f.count for f in rows],
                "value": [f.value for f in rows],
                "confidence": [f.confidence for f in rows],
                "evidence": [f.evidence for f in rows],
                "points_to": [f.points_to for f in rows],
            },
            schema_overrides={"offset": pl.UInt32, "size": pl.UInt32, "count": pl.UInt32},
        )

    def to_pandas(self) -> Any:
        return self.to_polars().to_pandas()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.to_polars().__arrow_c_stream__(requested_schema)

    def __repr__(self) -> str:
        return f"<Layout {self.name}: {self.size} bytes, {len(self.fields)} fields>"

    def _repr_html_(self) -> str:
        return self.to_polars()._repr_html_()

    # -- decoding instances -----------------------------------------------------------------

    def dtype(self) -> np.dtype[Any]:
        """A NumPy structured dtype over one instance (itemsize = size): numbers and pointers
        as their types, text and bytes as byte strings."""
        names, formats, offsets = [], [], []
        for name, offset, f in self.leaves():
            names.append(name)
            offsets.append(offset)
            formats.append(_numpy_format(f, self.pointer_size))
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": self.size}
        )

    def decode(self, rows: np.ndarray, addresses: np.ndarray | None = None) -> polars.DataFrame:
        """Instances (a uint8 array of ``n * size`` bytes, or ``(n, size)``) as a frame: one row
        per instance, one column per field (text decoded; arrays as lists)."""
        flat = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1)
        if flat.size % self.size:
            raise InvalidArgument(f"{flat.size} bytes are not whole {self.size}-byte instances")
        records = flat.view(self.dtype())
        columns: dict[str, Any] = {}
        if addresses is not None:
            columns["address"] = pl.Series("address", addresses, dtype=pl.UInt64)
        for name, _offset, f in self.leaves():
            col = records[name]
            if f.type in ("text", "utf16"):
                columns[name] = _texts(col.reshape(len(records), -1), f.type).alias(name)
            elif f.type == "bytes":
                raw = np.ascontiguousarray(col.reshape(len(records), -1))
                columns[name] = pl.Series(name, raw).cast(pl.Array(pl.UInt8, f.size))
            elif f.type == "bool":
                columns[name] = col.astype(bool) if f.count == 1 else col.astype(bool).tolist()
            elif f.count > 1:
                columns[name] = pl.Series(name, col).cast(pl.Array(_polars_type(col), f.count))
            else:
                columns[name] = col.copy()
        return pl.DataFrame(columns)

    # -- other formats (see cdecl.py and cheat_engine.py) -----------------------------------

    def to_c(self) -> str:
        """A C declaration of the layout (nested layouts declared first; gaps as padding)."""
        from .cdecl import layout_to_c

        return layout_to_c(self)

    @classmethod
    def from_c(cls, text: str, name: str | None = None, *, pointer_size: int = 8) -> Layout:
        """The layout of a C ``struct`` declaration (the last one in ``text``, or ``name``),
        with C's alignment rules; earlier structs in ``text`` may be used as field types."""
        from .cdecl import layout_from_c

        return layout_from_c(text, name, pointer_size=pointer_size)

    def to_cheat_engine(self) -> str:
        """Cheat Engine's structure XML (Dissect data/structures' "Export")."""
        from .cheat_engine import layout_to_ce

        return layout_to_ce(self)

    def to_reclass(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """A ReClass.NET project (``.rcnet``) of the layout and the layouts it refers to;
        written to ``path`` when given."""
        from .reclass import layout_to_reclass

        data = layout_to_reclass(self)
        if path is not None:
            _write_bytes(path, data)
        return data

    @classmethod
    def from_reclass(
        cls, source: str | os.PathLike[str] | bytes, name: str | None = None
    ) -> Layout:
        """A class of a ReClass.NET project (a path or the file's bytes): ``name``, or the
        first."""
        from .reclass import layout_from_reclass

        return layout_from_reclass(source if isinstance(source, bytes) else Path(source), name)

    @classmethod
    def from_cheat_engine(cls, xml: str) -> Layout:
        """The first structure in Cheat Engine's structure XML (a ``.CT`` file's
        ``<Structures>`` too)."""
        from .cheat_engine import layout_from_ce

        return layout_from_ce(xml)


def identifier(text: str) -> str:
    """``text`` made a valid field or layout name (other tools allow spaces and punctuation)."""
    out = "".join(c if (c.isascii() and c.isalnum()) or c == "_" else "_" for c in text.strip())
    return out if out and not out[0].isdigit() else f"_{out}"


def _write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    Path(path).write_bytes(data)


def type_size(type_name: str, pointer_size: int, current: int | None) -> int:
    """Bytes of one element of ``type_name``; text, utf16 and bytes keep ``current``."""
    if type_name in _NUMERIC:
        return _NUMERIC[type_name].size
    if type_name == "bool":
        return 1
    if type_name == "ptr":
        return pointer_size
    if type_name in ("text", "utf16", "bytes") and current:
        return current
    raise InvalidArgument(f"type {type_name!r} needs a size here (or is not a field type)")


def _numpy_format(f: Field, pointer_size: int) -> Any:
    if f.type in _NUMERIC:
        base: Any = _NUMERIC[f.type].dtype
    elif f.type == "ptr":
        base = np.dtype(np.uint64 if pointer_size == 8 else np.uint32)
    elif f.type == "bool":
        base = np.dtype(np.uint8)
    else:
        return np.dtype((np.uint8, (f.size,)))
    return base if f.count == 1 else np.dtype((base, (f.count,)))


def _polars_type(col: np.ndarray) -> Any:
    return pl.Series(col[:0].reshape(-1)).dtype


def _texts(raw: np.ndarray, kind: str) -> Any:
    """Char arrays (one row each) as strings up to their first NUL, decoded all at once
    (UTF-8 with replacement; UTF-16 unit by unit, surrogates replaced)."""
    units = np.ascontiguousarray(raw).view("<u2" if kind == "utf16" else np.uint8).copy()
    units[np.cumsum(units == 0, axis=1) > 0] = 0
    if kind == "utf16":
        units[(units >= 0xD800) & (units < 0xE000)] = 0xFFFD
        return pl.Series(units.astype("<u4").view(f"<U{units.shape[1]}").reshape(-1))
    packed = pl.Series(units.view(f"S{units.shape[1]}").reshape(-1))
    try:
        return packed.cast(pl.String)
    except pl.exceptions.ComputeError:  # not UTF-8 somewhere: decoded with replacement
        return pl.Series([b.decode("utf-8", errors="replace") for b in packed], dtype=pl.String)
