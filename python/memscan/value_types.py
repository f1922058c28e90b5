"""The value types, in one table: every Python map of them (NumPy, polars and struct formats,
integer bounds, aliases, families) is built from :data:`VALUE_TYPES`.

Names are normalised exactly as the engine's ``ValueType::from_str`` does (surrounding Unicode
white space trimmed, ASCII letters lowered), so Python accepts a name when the engine does.
When the native module exports its own table (``memscan._native.VALUE_TYPES``), that table is
used; tests check that this one agrees with the engine for every type either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _native
from ._lazy import pl
from .errors import InvalidArgument

if TYPE_CHECKING:
    import polars

__all__ = [
    "DISPLAY_ORDER",
    "FLOAT_TYPES",
    "INT_TYPES",
    "NAMES",
    "VALUE_TYPES",
    "VALUE_TYPE_NAMES",
    "ValueType",
    "canonical_value_type",
    "family",
    "normalise",
    "stored_value_type",
    "value_type",
]


@dataclass(frozen=True)
class ValueType:
    """One value type: its short name (``"i32"``, also NumPy's dtype string), size in bytes,
    whether it is a float or a signed integer, and the other names accepted for it."""

    name: str
    size: int
    is_float: bool
    signed: bool
    aliases: tuple[str, ...]

    @property
    def numpy_name(self) -> str:
        """NumPy's dtype name (``"int32"``), also Arrow's and polars' width."""
        return self.aliases[0]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype (native byte order, as the engine reads memory)."""
        return np.dtype(self.numpy_name)

    @property
    def polars_dtype(self) -> type[polars.DataType]:
        """The polars dtype class (``pl.Int32``)."""
        dt: type[polars.DataType] = getattr(pl, self.polars_name)
        return dt

    @property
    def polars_name(self) -> str:
        """The polars (and Arrow) type name: ``Int32``, ``UInt64``, ``Float32``."""
        n = self.numpy_name
        return "U" + n[1:].capitalize() if n.startswith("u") else n.capitalize()

    @property
    def struct_format(self) -> str:
        """The ``struct`` module's format character (standard sizes: use with ``<``)."""
        if self.is_float:
            return "f" if self.size == 4 else "d"
        c = {1: "b", 2: "h", 4: "i", 8: "q"}[self.size]
        return c if self.signed else c.upper()

    @property
    def is_int(self) -> bool:
        return not self.is_float

    @property
    def bounds(self) -> tuple[int, int] | None:
        """Inclusive integer bounds; None for floats."""
        if self.is_float:
            return None
        info = np.iinfo(self.dtype)
        return int(info.min), int(info.max)


def _from_native() -> tuple[ValueType, ...] | None:
    """The engine's table (``memscan._native.VALUE_TYPES``: name, size, numpy, signed, float,
    aliases), when the native module exports one."""
    rows = getattr(_native, "VALUE_TYPES", None)
    if rows is None:
        return None
    out = []
    for row in rows:
        aliases = tuple(str(a) for a in row["aliases"])
        numpy_name = str(row.get("numpy", aliases[0] if aliases else ""))
        if numpy_name in aliases:  # NumPy's name first: it names the dtype
            aliases = (numpy_name, *(a for a in aliases if a != numpy_name))
        out.append(
            ValueType(
                name=str(row["name"]),
                size=int(row["size"]),
                is_float=bool(row["float"]),
                signed=bool(row["signed"]),
                aliases=aliases,
            )
        )
    return tuple(out)


def _table() -> tuple[ValueType, ...]:
    try:
        native = _from_native()
    except (AttributeError, KeyError, TypeError, ValueError):
        native = None
    if native:
        return native
    ints = [("i8", "int8", "sbyte"), ("i16", "int16", "short")]
    ints += [("i32", "int32", "int"), ("i64", "int64", "long")]
    ints += [("u8", "uint8", "byte"), ("u16", "uint16", "ushort")]
    ints += [("u32", "uint32", "uint"), ("u64", "uint64", "ulong")]
    table = [ValueType(n, int(n[1:]) // 8, False, n[0] == "i", (a, b)) for n, a, b in ints]
    table.append(ValueType("f32", 4, True, True, ("float32", "float")))
    table.append(ValueType("f64", 8, True, True, ("float64", "double")))
    return tuple(table)


#: Every value type, in the engine's order (i8 i16 i32 i64 u8 u16 u32 u64 f32 f64).
VALUE_TYPES: tuple[ValueType, ...] = _table()
#: The short names, in that order.
NAMES: tuple[str, ...] = tuple(t.name for t in VALUE_TYPES)
#: The integer types and the float types.
INT_TYPES: tuple[str, ...] = tuple(t.name for t in VALUE_TYPES if not t.is_float)
FLOAT_TYPES: tuple[str, ...] = tuple(t.name for t in VALUE_TYPES if t.is_float)
#: Every accepted name in its normal form (lower case, trimmed) to the short name.
VALUE_TYPE_NAMES: dict[str, str] = {
    **{t.name: t.name for t in VALUE_TYPES},
    **{a: t.name for t in VALUE_TYPES for a in t.aliases},
}
_BY_NAME = {t.name: t for t in VALUE_TYPES}
#: The short names as menus and tables list them: by size, signed before unsigned, floats last.
DISPLAY_ORDER: tuple[str, ...] = tuple(
    t.name for t in sorted(VALUE_TYPES, key=lambda t: (t.is_float, t.size, not t.signed))
)

#: The characters Rust's ``str::trim`` removes (Unicode White_Space); Python's ``str.strip``
#: also removes U+001C..U+001F, which the engine keeps.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise(name: str) -> str:
    """``name`` as the engine compares it: trimmed of white space, ASCII letters lowered."""
    return name.strip(_WHITE_SPACE).translate(_ASCII_LOWER)


def canonical_value_type(name: object) -> str | None:
    """The short name (``"i32"``) of a value type name or alias (``"int32"``, ``" Int "``),
    normalised as the engine does; None for anything else."""
    return VALUE_TYPE_NAMES.get(normalise(name)) if isinstance(name, str) else None


def stored_value_type(name: object) -> str | None:
    """The short name of a value type name or alias as memscan's files store it: exactly, in
    normal form (``"i32"``, ``"int32"``; not ``" I32"``, which no memscan file holds)."""
    return VALUE_TYPE_NAMES.get(name) if isinstance(name, str) else None


def value_type(name: object) -> ValueType:
    """The :class:`ValueType` of a name or alias; InvalidArgument for anything else."""
    vt = canonical_value_type(name)
    if vt is None:
        raise InvalidArgument(f"unknown value type {name!r}; expected one of {' '.join(NAMES)}")
    return _BY_NAME[vt]


def family(kind: str) -> list[str]:
    """The types an "any" scan covers: ``"int"`` (every integer width) or ``"number"``."""
    if kind in ("int", "integer", "any_int"):
        return list(INT_TYPES)
    if kind in ("number", "any", "any_number"):
        return list(NAMES)
    raise InvalidArgument(f"unknown scan family {kind!r}; expected 'int' or 'number'")
