"""`AddressList`: a cheat table. Named address expressions with their value types, resolved in
a process on demand, read, written and frozen; saved as JSON, imported from and exported to
Cheat Engine's ``.CT`` files.

>>> al = memscan.AddressList()
>>> al.add("score", "game+4040", "i32")
>>> al.add("health", "[[game+4048]+10]+18", "i32", freeze=100)
>>> al.attach(proc).to_polars()          # description expression type address value frozen error
>>> al.write("score", 5000); al.release("health")
>>> al.save("game.json"); memscan.AddressList.load("game.json").attach(memscan.Process(pid))

Expressions are kept as typed and resolved again in every process they are attached to, so a
list of module-relative addresses and pointer paths survives restarts of its target.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import numpy as np

from . import _native
from ._lazy import pl
from ._xml import parse_untrusted_xml
from .address import Address
from .display import module_owners
from .errors import InvalidArgument, InvalidFile, InvalidValue, MemscanError, ProcessExited
from .io import (
    regular_file_stat,
    write_atomically,
)
from .value_types import INT_TYPES, canonical_value_type, stored_value_type
from .value_types import value_type as lookup_value_type

if TYPE_CHECKING:
    import polars

    from .process import Process
    from .scanner import Scanner, Selection
    from .structures import Layout

__all__ = ["AddressList", "Entry", "Skipped"]

#: The ``format`` field of an address list file, and the schema version this module writes.
FORMAT = "memscan.address_list"
VERSION = 1
#: Files larger than this are refused (JSON lists and Cheat Engine tables alike).
MAX_FILE_BYTES = 64 << 20
#: Most entries :meth:`AddressList.add_from_scanner` adds in one call.
MAX_FROM_SCANNER = 10_000
#: The table version written into exported ``.CT`` files (Cheat Engine 7.5's: 45).
CT_TABLE_VERSION = 45

_INT_TYPES = INT_TYPES
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

#: Cheat Engine's VariableType names (compared in lower case) and the memscan types they map
#: to, unsigned and signed (``ShowAsSigned``).
_CE_TYPES: dict[str, tuple[str, str]] = {
    "byte": ("u8", "i8"),
    "2 bytes": ("u16", "i16"),
    "4 bytes": ("u32", "i32"),
    "8 bytes": ("u64", "i64"),
    "float": ("f32", "f32"),
    "double": ("f64", "f64"),
}
_CE_NAMES = {
    "u8": "Byte",
    "i8": "Byte",
    "u16": "2 Bytes",
    "i16": "2 Bytes",
    "u32": "4 Bytes",
    "i32": "4 Bytes",
    "u64": "8 Bytes",
    "i64": "8 Bytes",
    "f32": "Float",
    "f64": "Double",
}

_HEX = re.compile(r"(?:0[xX])?[0-9a-fA-F]+")
_CE_OFFSET = re.compile(r"([+-]?)\s*(?:0[xX])?([0-9a-fA-F]+)")
#: A module name usable without quotes in an expression.
_BARE_MODULE = re.compile(r'[^\s+\-\[\]"!]+')
#: Characters XML 1.0 cannot hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# -- values -----------------------------------------------------------------------------------


def _check_value(value_type: str, value: Any) -> int | float:
    """``value`` as the exact Python number of ``value_type``, or InvalidValue. Strings follow
    ``int(s, 0)`` and ``float(s)``; an integral float is accepted for an integer type."""
    if isinstance(value, bool | np.bool_):
        raise InvalidValue(f"{value!r} is a bool, not a number for {value_type}")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        try:
            value = int(value, 0) if value_type in _INT_TYPES else float(value)
        except ValueError:
            raise InvalidValue(f"{value!r} is not a number for {value_type}") from None
    if not isinstance(value, int | float):
        raise InvalidValue(f"{value!r} is not a number for {value_type}")
    if value_type in _INT_TYPES:
        if isinstance(value, float):
            if not value.is_integer():
                raise InvalidValue(f"{value!r} is not an integer, as {value_type} needs")
            value = int(value)
        low, high = lookup_value_type(value_type).bounds or (0, 0)
        if not low <= value <= high:
            raise InvalidValue(f"{value} does not fit in {value_type}")
        return int(value)
    try:
        x = float(value)
    except OverflowError:
        raise InvalidValue(f"{value} is outside the {value_type} range") from None
    if isinstance(value, int) and int(x) != value:
        raise InvalidValue(f"{value} has no exact {value_type} representation")
    if value_type == "f32" and not math.isnan(x):
        with np.errstate(over="ignore"):
            nearest = float(np.float32(x))
        if nearest != x:
            raise InvalidValue(
                f"{x!r} has no exact f32 representation (the nearest f32 is {nearest!r}); "
                f"pass np.float32({x!r})"
            )
    return x


def _value_text(value_type: str, value: int | float) -> str:
    """The exact decimal text of a value: integers in full, floats as the shortest text that
    reads back as the same value of their width (``0.1`` for an f32 0.1), ``nan``, ``inf``."""
    if value_type in _INT_TYPES:
        return str(int(value))
    if value_type == "f32":
        return str(np.float32(value))
    return repr(float(value))


def _json_number(value_type: str, value: int | float) -> str:
    """A frozen value as JSON text: a number, or the string "nan", "inf" or "-inf"."""
    if value_type in _INT_TYPES:
        return str(int(value))
    x = float(value)
    if not math.isfinite(x):
        return json.dumps(_value_text(value_type, x))
    text = _value_text(value_type, x)
    if value_type == "f32" and float(np.float32(float(text))) != x:
        text = repr(x)  # read back through an f64 the short text could round differently
    return text


def _value_from_json(value_type: str, raw: Any) -> int | float:
    """A frozen value read from JSON (see :func:`_json_number`); raises ValueError."""
    if value_type in _INT_TYPES:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"frozen value {raw!r} is not an integer, as {value_type} needs")
        return _check_value(value_type, raw)
    if isinstance(raw, str):
        if raw not in _NON_FINITE:
            raise ValueError(f'frozen value {raw!r}: a text value is "nan", "inf" or "-inf"')
        return _NON_FINITE[raw]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"frozen value {raw!r} is not a number")
    x = float(raw)
    if value_type == "f32":
        with np.errstate(over="ignore"):
            x = float(np.float32(x))  # the nearest f32: files hold short decimal text
        if math.isinf(x):
            raise ValueError(f"frozen value {raw!r} is outside the f32 range")
    return x


# -- entries ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Entry:
    """One line of an :class:`AddressList`: a description, an address expression (kept as
    typed), a value type, and the value it is frozen at (None: not frozen)."""

    description: str
    expression: str
    type: str
    frozen: int | float | None = None

    def _key(self) -> tuple[str, str, str, str | None]:
        held = None if self.frozen is None else _value_text(self.type, self.frozen)
        return (self.description, self.expression, self.type, held)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class Skipped(NamedTuple):
    """A Cheat Engine entry that was not imported, and why."""

    description: str
    reason: str


class _Row:
    """An entry and what attaching found: its address, why it has none, where it is held."""

    __slots__ = ("address", "entry", "error", "held_at")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.address: int | None = None
        self.error: str | None = None
        self.held_at: int | None = None


def _parse_expression(expression: Any) -> Address:
    if not isinstance(expression, str):
        raise InvalidArgument(f"an address expression is a str, not {expression!r}")
    return Address.parse(expression)


def _check_text(entry: str, field: str, text: Any) -> str:
    """``text`` when it is a str that UTF-8 can hold (the JSON and ``.CT`` files are UTF-8),
    else InvalidArgument naming the entry and the field: a lone surrogate such as ``"\\ud800"``
    (from ``json.loads`` or ``os.fsdecode``, say) would be accepted now and make every later
    save fail."""
    if not isinstance(text, str):
        raise InvalidArgument(f"entry {entry}: the {field} is a str, not {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgument(
            f"entry {entry}: the {field} {text!r} holds the lone surrogate "
            f"{text[e.start]!r} at {e.start}, which no UTF-8 file can hold"
        ) from None
    return text


def _check_entry_text(description: Any, expression: Any) -> None:
    """Checks an entry's description and expression (see :func:`_check_text`)."""
    if not isinstance(description, str):
        raise InvalidArgument(f"a description is a str, not {description!r}")
    _check_text(repr(description), "description", description)
    _check_text(repr(description), "expression", expression)


def _value_type(name: Any) -> str:
    vt = canonical_value_type(name)
    if vt is None:
        raise InvalidArgument(
            f"unknown value type {name!r}; expected one of {', '.join(_CE_NAMES)}"
        )
    return vt


def _module_token(name: str) -> str | None:
    """``name`` as it can stand in an expression: bare, quoted, or None when it cannot."""
    if _BARE_MODULE.fullmatch(name) and not _HEX.fullmatch(name):
        return name
    return None if '"' in name or not name else f'"{name}"'


def _brief(e: BaseException) -> str:
    return str(e).strip() or type(e).__name__


# -- the list ---------------------------------------------------------------------------------


class AddressList:
    """A cheat table: entries of (description, address expression, value type, frozen value).

    Entries are looked up by index or by description (which must then be unique). Attached to
    a process (:meth:`attach`), every expression is resolved there; an entry that cannot be
    resolved or read has a null address or value and the reason in the ``error`` column, and
    never stops the others. Freezes apply whenever the list is attached, through one
    native freezer for entries of every type; :meth:`detach` (or leaving a ``with`` block)
    stops them.

    The table's ``value`` and ``frozen`` columns are text holding the exact value (all 64 bits
    of a ``u64`` or ``i64``; floats as the shortest text that reads back as the same value of
    their width), since one column holds entries of every type; :meth:`value` gives a number.
    """

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._rows: list[_Row] = []
        self._process: Process | None = None
        self._freezer: _native.Freezer | None = None
        #: Cheat Engine entries left out by :meth:`from_cheat_table`, with the reason.
        self.skipped: list[Skipped] = []
        for e in entries:
            self.add(e.description, e.expression, e.type, freeze=e.frozen)

    # -- entries ----------------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """The entries, in order."""
        return [r.entry for r in self._rows]

    @property
    def process(self) -> Process | None:
        """The process the list is attached to, if any."""
        return self._process

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __getitem__(self, key: int | str) -> Entry:
        return self._rows[self._index(key)].entry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AddressList):
            return NotImplemented
        return self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]

    def add_layout(self, base: str | int, layout: Layout, *, prefix: str = "") -> list[Entry]:
        """Adds an entry per number of ``layout`` (pointers as u64 or u32), each at ``base``
        plus its offset: ``base`` is an address or an expression (``"[game+4140]"``); the
        descriptions are ``prefix`` plus the field names (``pos.x`` for nested fields)."""
        where = base if isinstance(base, str) else f"{base:X}"
        added = []
        for name, offset, f in layout.leaves():
            vt = layout.value_type(f)
            if vt is None or f.count != 1:
                continue  # text, bytes and arrays have no single value type
            expression = f"{where}+{offset:X}" if offset else where
            added.append(self.add(f"{prefix}{name}", expression, vt))
        return added

    def add(
        self,
        description: str,
        expression: str,
        type: str,
        *,
        freeze: Any = None,
    ) -> Entry:
        """Adds an entry; ``expression`` is checked now (InvalidArgument when malformed) and
        resolved when attached. ``freeze`` holds the entry at that value while attached.
        A description or expression holding a lone surrogate (``"\\ud800"``), which no UTF-8
        file can hold, raises InvalidArgument naming the entry."""
        _check_entry_text(description, expression)
        _parse_expression(expression)
        vt = _value_type(type)
        held = None if freeze is None else _check_value(vt, freeze)
        row = _Row(Entry(description, expression, vt, held))
        self._rows.append(row)
        if self._process is not None:
            try:
                self._resolve(row)
                self._hold_quietly(row)
            except ProcessExited as e:
                row.error = _brief(e)
        return row.entry

    def add_from_scanner(
        self,
        scanner: Scanner,
        selection: Selection = None,
        description: str | None = None,
    ) -> list[Entry]:
        """Adds scan results (all candidates, or a selection of indices, a boolean mask or
        addresses) with the scanner's value type. An address inside a module becomes
        ``module+offset`` (the load-base-relative offset of the scan table's ``module_offset``
        column), which holds across restarts; any other address (heap, stack, anonymous
        memory) stays absolute (``0x...``).

        ``description`` may use the fields ``{i}`` (position in the selection), ``{address}``,
        ``{expression}``, ``{module}``, ``{offset}`` and ``{type}``, e.g. ``"hp {i}"`` or
        ``"{module}+{offset:x}"``; by default it is the expression.
        """
        chosen = scanner._addresses_of(selection)
        addresses = scanner.addresses if chosen is None else chosen
        if len(addresses) > MAX_FROM_SCANNER:
            raise InvalidArgument(
                f"{len(addresses)} candidates: narrow the scan or pass a selection "
                f"(at most {MAX_FROM_SCANNER} at once)"
            )
        vt = scanner.value_type
        owners = module_owners(scanner._process, addresses.tolist())
        added = []
        for i, (address, (module, offset)) in enumerate(
            zip(addresses.tolist(), owners, strict=True)
        ):
            token = None if module is None else _module_token(module)
            expression = f"{address:#x}" if token is None else f"{token}+{offset:x}"
            text = expression
            if description is not None:
                fields = {
                    "i": i,
                    "address": address,
                    "expression": expression,
                    "module": module,
                    "offset": offset,
                    "type": vt,
                }
                try:
                    text = description.format(**fields)
                except (KeyError, IndexError, ValueError, AttributeError, TypeError) as e:
                    raise InvalidArgument(
                        f"description {description!r}: {_brief(e)} (fields: {', '.join(fields)})"
                    ) from None
            added.append(self.add(text, expression, vt))
        return added

    def remove(self, key: int | str) -> Entry:
        """Removes an entry (by index or description), releasing its freeze; returns it."""
        i = self._index(key)
        row = self._rows[i]
        old = row.held_at
        self._unhold(row)
        del self._rows[i]
        if old is not None:
            self._rehold_others(row, old)
        return row.entry

    # -- a process --------------------------------------------------------------------------

    def attach(self, process: Process | _native.Process | int) -> Self:
        """Resolves every entry in ``process`` (a Process or a pid) and starts the freezes.
        An entry that fails gets its reason in the ``error`` column; a process that has
        exited raises ProcessExited."""
        from .process import Process

        if isinstance(process, int):
            process = Process(process)
        elif not isinstance(process, Process):
            if not isinstance(process, _native.Process):
                raise InvalidArgument(f"attach needs a Process or a pid, not {process!r}")
            process = Process._wrap(process)
        if not process.is_alive():
            raise ProcessExited(f"process {process.pid} has exited")
        self.detach()
        self._process = process
        for row in self._rows:
            self._resolve(row)
            self._hold_quietly(row)
        return self

    def detach(self) -> None:
        """Stops every freeze and forgets the process (the entries stay)."""
        if self._freezer is not None:
            self._freezer.stop()
        self._freezer = None
        self._process = None
        for row in self._rows:
            row.address = row.error = row.held_at = None

    def refresh(self) -> Self:
        """Resolves every expression again (a pointer path may lead elsewhere now), moving
        freezes to the new addresses and restarting those the freezer had to drop."""
        self._require_process()
        dropped = self._freeze_problems()
        for row in self._rows:
            before = row.held_at
            self._resolve(row)
            if before is not None and (
                before != row.address or (row.entry.type, before) in dropped
            ):
                self._unhold(row)
                self._rehold_others(row, before)
            self._hold_quietly(row)
        return self

    def value(self, key: int | str) -> int | float:
        """The entry's value now, as an exact Python number (at the address it resolved to at
        the last :meth:`attach` or :meth:`refresh`)."""
        row = self._rows[self._index(key)]
        proc = self._require_process()
        if row.address is None:
            raise InvalidArgument(f"entry {row.entry.description!r} has no address: {row.error}")
        return proc.read_value(row.address, row.entry.type)

    def write(self, key: int | str, value: Any) -> None:
        """Writes ``value`` to the entry (by index or description), resolving its expression
        now; a frozen entry is held at the new value from then on."""
        row = self._rows[self._index(key)]
        vt = row.entry.type
        v = _check_value(vt, value)
        proc = self._require_process()
        address = _parse_expression(row.entry.expression).resolve(proc)
        if row.held_at is not None and row.held_at != address:
            old = row.held_at
            self._unhold(row)
            self._rehold_others(row, old)
        row.address, row.error = address, None
        if row.entry.frozen is not None:
            row.entry = replace(row.entry, frozen=v)
            self._hold(row)
        proc.write_value(address, vt, v)

    def set(self, key: int | str, value: Any) -> None:
        """The earlier name of :meth:`write` (DeprecationWarning)."""
        warnings.warn("AddressList.set is now AddressList.write", DeprecationWarning, stacklevel=2)
        self.write(key, value)

    def freeze(self, key: int | str, value: Any = None) -> None:
        """Freezes the entry at ``value`` (by default its value now) while attached; when not
        attached, the value is kept and held from the next :meth:`attach`."""
        row = self._rows[self._index(key)]
        vt = row.entry.type
        if value is None:
            if self._process is None or row.address is None:
                raise InvalidArgument(
                    f"entry {row.entry.description!r} is not resolved in a process: give the "
                    "value to hold"
                )
            value = self._process.read_value(row.address, vt)
        v = _check_value(vt, value)
        previous = row.entry
        row.entry = replace(row.entry, frozen=v)
        if self._process is not None and row.address is not None:
            try:
                self._hold(row)
            except BaseException:
                row.entry = previous
                raise

    def release(self, key: int | str | None = None) -> None:
        """Stops freezing the entry (every entry when ``key`` is None)."""
        rows = self._rows if key is None else [self._rows[self._index(key)]]
        for row in rows:
            old = row.held_at
            self._unhold(row)
            row.entry = replace(row.entry, frozen=None)
            if old is not None:
                self._rehold_others(row, old)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- tables -----------------------------------------------------------------------------

    def _rows_now(self) -> list[dict[str, Any]]:
        """One dict per entry with the table's columns, values read now."""
        proc = self._process
        problems = self._freeze_problems()
        exited: str | None = None
        out = []
        for row in self._rows:
            e = row.entry
            value, error = None, row.error
            if proc is not None and row.address is not None and exited is None:
                try:
                    value = _value_text(e.type, proc.read_value(row.address, e.type))
                except ProcessExited as ex:
                    exited = _brief(ex)
                except MemscanError as ex:
                    error = f"cannot read: {_brief(ex)}"
            if exited is not None:
                value, error = None, exited
            elif error is None and row.held_at is not None:
                error = problems.get((e.type, row.held_at))
            out.append(
                {
                    "description": e.description,
                    "expression": e.expression,
                    "type": e.type,
                    "address": row.address,
                    "value": value,
                    "frozen": None if e.frozen is None else _value_text(e.type, e.frozen),
                    "error": error,
                }
            )
        return out

    def to_polars(self) -> polars.DataFrame:
        """The entries with their state: description, expression, type, address (UInt64,
        null when unresolved or not attached), value (text, exact, read now), frozen (text,
        null when not frozen) and error (text, null when all is well)."""
        schema = {
            "description": pl.String,
            "expression": pl.String,
            "type": pl.String,
            "address": pl.UInt64,
            "value": pl.String,
            "frozen": pl.String,
            "error": pl.String,
        }
        rows = self._rows_now()
        return pl.DataFrame({c: [r[c] for r in rows] for c in schema}, schema=schema)

    def _title(self) -> str:
        n = len(self._rows)
        where = "not attached" if self._process is None else f"pid {self._process.pid}"
        return f"AddressList({n} {'entry' if n == 1 else 'entries'}, {where})"

    def __repr__(self) -> str:
        lines = [self._title()]
        for i, r in enumerate(self._rows_now()):
            parts = [f"[{i}] {r['description']!r}", r["expression"], r["type"]]
            if r["address"] is not None:
                parts.append(f"{r['address']:#x}")
            if r["value"] is not None:
                parts.append(f"= {r['value']}")
            if r["frozen"] is not None:
                parts.append(f"frozen at {r['frozen']}")
            if r["error"] is not None:
                parts.append(f"error: {r['error']}")
            lines.append("  " + "  ".join(parts))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = ["#", "description", "expression", "type", "address", "value", "frozen", "error"]
        body = []
        for i, r in enumerate(self._rows_now()):
            cells = [
                str(i),
                r["description"],
                r["expression"],
                r["type"],
                "" if r["address"] is None else f"{r['address']:#x}",
                r["value"] or "",
                r["frozen"] or "",
                r["error"] or "",
            ]
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            body.append(f"<tr>{tds}</tr>")
        ths = "".join(f"<th>{h}</th>" for h in head)
        return (
            f"<table class='memscan-address-list'><caption>{html.escape(self._title())}"
            f"</caption><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    # -- files ------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The list as the text :meth:`save` writes: one entry per line, keys in a fixed order."""
        lines = []
        for e in self.entries:
            item = (
                f'{{"description": {json.dumps(e.description, ensure_ascii=False)}, '
                f'"expression": {json.dumps(e.expression, ensure_ascii=False)}, '
                f'"type": {json.dumps(e.type)}'
            )
            if e.frozen is not None:
                item += f', "frozen": {_json_number(e.type, e.frozen)}'
            lines.append(f"    {item}}}")
        entries = "[\n" + ",\n".join(lines) + "\n  ]" if lines else "[]"
        return f'{{\n  "format": "{FORMAT}",\n  "version": {VERSION},\n  "entries": {entries}\n}}\n'

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the list as JSON (see :meth:`to_json`), atomically: under a temporary name
        next to ``path``, then renamed. Returns the path."""
        return _write_atomically(Path(path), self.to_json().encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AddressList:
        """Reads a list written by :meth:`save`. Anything else (not JSON, another format or
        version, a malformed entry, an unknown type, a bad expression, a frozen value its type
        cannot hold) raises InvalidFile naming the file and the problem."""
        p = Path(path)
        where = f"cannot load {str(p)!r}"
        data = _read_limited(p, where)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidFile(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            doc = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except json.JSONDecodeError as e:
            raise InvalidFile(
                f"{where}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
            ) from None
        except RecursionError:
            raise InvalidFile(f"{where}: JSON nested too deeply") from None
        except ValueError as e:
            raise InvalidFile(f"{where}: {e}") from None
        return cls._from_document(doc, where)

    @classmethod
    def _from_document(cls, doc: Any, where: str) -> AddressList:
        if not isinstance(doc, dict):
            raise InvalidFile(f"{where}: not an address list (the top level is no JSON object)")
        if doc.get("format") != FORMAT:
            raise InvalidFile(
                f"{where}: not an address list (format {doc.get('format')!r}, not {FORMAT!r})"
            )
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidFile(f"{where}: version {version!r} is not an integer")
        if version != VERSION:
            newer = " (written by a newer memscan)" if version > VERSION else ""
            raise InvalidFile(
                f"{where}: schema version {version}{newer}; this memscan reads version {VERSION}"
            )
        extra = sorted(set(doc) - {"format", "version", "entries"})
        if extra:
            raise InvalidFile(f"{where}: unknown field(s) {', '.join(map(repr, extra))}")
        entries = doc.get("entries")
        if not isinstance(entries, list):
            raise InvalidFile(f"{where}: 'entries' is not a list")
        al = cls()
        for i, item in enumerate(entries):
            try:
                al._rows.append(_Row(_entry_from_json(item)))
            except (ValueError, MemscanError) as e:
                raise InvalidFile(f"{where}: entry {i}: {_brief(e)}") from None
        return al

    @classmethod
    def from_cheat_table(cls, path: str | os.PathLike[str]) -> AddressList:
        """Imports a Cheat Engine table (``.CT``): every ``CheatEntry`` with a number type
        (Byte, 2 Bytes, 4 Bytes, 8 Bytes: unsigned unless ``ShowAsSigned`` is 1; Float,
        Double), groups flattened into ``"Group/Subgroup/Description"``. Pointer entries
        (``Address`` with ``Offsets``, listed outermost first as Cheat Engine writes them)
        become bracket expressions; an address starting with ``+`` or ``-`` is relative to the
        nearest enclosing entry with an address. Other entries (strings, byte arrays, scripts,
        bit fields, custom types) are listed in :attr:`skipped` with the reason.

        A file that is not well-formed XML, declares a DTD or entities, nests deeper than
        256 elements, holds more than a million elements or 64 MiB, or whose root is not
        ``CheatTable`` raises InvalidFile."""
        p = Path(path)
        where = f"cannot load {str(p)!r}"
        root = parse_untrusted_xml(_read_limited(p, where), where)
        if root.tag != "CheatTable":
            raise InvalidFile(f"{where}: not a Cheat Engine table (the root is <{root.tag}>)")
        al = cls()
        entries = root.find("CheatEntries")
        if entries is not None:
            _import_entries(al, entries, [], None)
        return al

    def to_cheat_table(self, path: str | os.PathLike[str]) -> Path:
        """Writes the entries as a Cheat Engine table, atomically. Pointer paths become
        ``Address`` + ``Offsets``; integer types carry ``ShowAsSigned`` (1 or 0); ``0x``
        prefixes are dropped (Cheat Engine reads hex numbers bare). Frozen values are not
        written: Cheat Engine tables do not restore freezes. Returns the path."""
        import xml.etree.ElementTree as ET

        root = ET.Element("CheatTable", {"CheatEngineTableVersion": str(CT_TABLE_VERSION)})
        entries = ET.SubElement(root, "CheatEntries")
        for i, e in enumerate(self.entries):
            ce = ET.SubElement(entries, "CheatEntry")
            ET.SubElement(ce, "ID").text = str(i)
            ET.SubElement(ce, "Description").text = (
                '"' + _NOT_XML.sub("\ufffd", e.description) + '"'
            )
            if e.type in _INT_TYPES:
                ET.SubElement(ce, "ShowAsSigned").text = "1" if e.type[0] == "i" else "0"
            ET.SubElement(ce, "VariableType").text = _CE_NAMES[e.type]
            base, offsets = _split_pointer(e.expression)
            ET.SubElement(ce, "Address").text = _NOT_XML.sub("\ufffd", _drop_0x(base))
            if offsets:
                offs = ET.SubElement(ce, "Offsets")
                for o in offsets:
                    ET.SubElement(offs, "Offset").text = o
        ET.SubElement(root, "UserdefinedSymbols")
        ET.indent(root)
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"
        return _write_atomically(Path(path), text.encode())

    # -- helpers ----------------------------------------------------------------------------

    def _index(self, key: int | str) -> int:
        if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
            n = len(self._rows)
            i = int(key)
            if not -n <= i < n:
                raise InvalidArgument(f"entry index {i} out of range (have {n})")
            return i % n
        if isinstance(key, str):
            found = [i for i, r in enumerate(self._rows) if r.entry.description == key]
            if len(found) == 1:
                return found[0]
            if not found:
                raise InvalidArgument(f"no entry is described {key!r}")
            raise InvalidArgument(
                f"{len(found)} entries are described {key!r} (indices {found}): use an index"
            )
        raise InvalidArgument(f"an entry is named by its index or description, not {key!r}")

    def _require_process(self) -> Process:
        if self._process is None:
            raise InvalidArgument("the address list is not attached: call attach(process)")
        return self._process

    def _resolve(self, row: _Row) -> None:
        """Resolves one entry; errors other than the process's exit go to ``row.error``."""
        proc = self._require_process()
        try:
            row.address = _parse_expression(row.entry.expression).resolve(proc)
            row.error = None
        except ProcessExited:
            raise
        except MemscanError as e:
            row.address, row.error = None, _brief(e)

    def _freezes(self) -> _native.Freezer:
        """The freezer of the attached process (started on first use)."""
        if self._freezer is None:
            self._freezer = _native.Freezer(self._require_process()._native)
        return self._freezer

    def _hold(self, row: _Row) -> None:
        assert row.address is not None and row.entry.frozen is not None
        self._freezes().freeze(
            np.array([row.address], dtype=np.uint64), row.entry.type, row.entry.frozen
        )
        row.held_at = row.address

    def _hold_quietly(self, row: _Row) -> None:
        """Holds a frozen, resolved entry; a failure goes to its error column."""
        if row.entry.frozen is None or row.address is None:
            return
        try:
            self._hold(row)
        except ProcessExited:
            raise
        except MemscanError as e:
            row.held_at = None
            row.error = f"cannot freeze: {_brief(e)}"

    def _unhold(self, row: _Row) -> None:
        if row.held_at is None:
            return
        if self._freezer is not None:
            try:
                self._freezer.release(np.array([row.held_at], dtype=np.uint64))
            except MemscanError:
                pass  # the process is gone: nothing is held any more
        row.held_at = None

    def _rehold_others(self, gone: _Row, address: int) -> None:
        """After ``gone`` stopped holding ``address``, holds it again for another frozen entry
        at that address (of any type: the freezer holds one value per address), if any."""
        for row in self._rows:
            if row is not gone and row.address == address:
                self._hold_quietly(row)

    def _freeze_problems(self) -> dict[tuple[str, int], str]:
        """(type, address) of each held entry the freezer dropped or no longer holds, with
        why."""
        if self._freezer is None:
            return {}
        lost, stopped = self._freezer.problems()
        held = {address for address, _ in self._freezer.frozen()}
        dropped = {a: r for a, r in lost if a not in held}  # else held again since
        problems = {}
        for row in self._rows:
            if row.held_at is None:
                continue
            key = (row.entry.type, row.held_at)
            if row.held_at in dropped:
                problems[key] = f"freeze dropped: {dropped[row.held_at]}"
            elif stopped is not None:
                problems[key] = f"freezing stopped: {stopped}"
        return problems


# -- JSON -------------------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f'{name} is not JSON (write "nan", "inf" or "-inf" as a string)')


def _entry_from_json(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("description", "expression", "type") if k not in item]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    extra = sorted(set(item) - {"description", "expression", "type", "frozen"})
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, extra))}")
    description, expression, name = item["description"], item["expression"], item["type"]
    if not isinstance(description, str):
        raise ValueError(f"description {description!r} is not text")
    _check_entry_text(description, expression)
    _parse_expression(expression)
    vt = stored_value_type(name)
    if vt is None:
        raise ValueError(f"unknown value type {name!r}")
    frozen = item.get("frozen")
    held = None if frozen is None else _value_from_json(vt, frozen)
    return Entry(description, expression, vt, held)


# -- files ------------------------------------------------------------------------------------


def _read_limited(path: Path, where: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, or InvalidFile."""
    st = regular_file_stat(path, where)
    if st.st_size > MAX_FILE_BYTES:
        raise InvalidFile(f"{where}: {st.st_size} bytes, more than the {MAX_FILE_BYTES} accepted")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise InvalidFile(f"{where}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidFile(f"{where}: more than the {MAX_FILE_BYTES} bytes accepted")
    return data


def _write_atomically(path: Path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically (see :func:`memscan.io.write_atomically`),
    flushed to disk; address lists follow the umask (they hold no process memory)."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return write_atomically(path, write, private=False, sync=True)


# -- Cheat Engine tables ----------------------------------------------------------------------


def _child_text(node: Any, tag: str) -> str | None:
    child = node.find(tag)
    return None if child is None else "".join(child.itertext())


def _import_entries(al: AddressList, node: Any, groups: list[str], parent: str | None) -> None:
    """Imports the CheatEntry children of ``node``; ``parent`` is the expression of the nearest
    enclosing entry with an address (what relative addresses add to)."""
    for ce in node:
        if ce.tag != "CheatEntry":
            continue
        description = (_child_text(ce, "Description") or "").strip()
        if len(description) >= 2 and description[0] == description[-1] == '"':
            description = description[1:-1]
        name = "/".join([*groups, description])
        group_header = (_child_text(ce, "GroupHeader") or "").strip() == "1"
        expression, problem = _ce_expression(ce, parent)
        # What relative addresses below add to: this entry's address, or when it has none (or
        # "0") the enclosing one's, as in Cheat Engine; an address that could not be read
        # leaves them nothing.
        own = (_child_text(ce, "Address") or "").strip()
        inner = parent if own in ("", "0") else expression
        if not group_header:
            reason = problem
            vt_name = _child_text(ce, "VariableType")
            if vt_name is None:
                reason = "no VariableType"
            elif vt_name.strip().lower() not in _CE_TYPES:
                reason = f"type {vt_name.strip()!r} is not a number type memscan reads"
            elif expression is None and reason is None:
                reason = "no address"
            if reason is not None:
                al.skipped.append(Skipped(name, reason))
            else:
                assert vt_name is not None and expression is not None
                signed = (_child_text(ce, "ShowAsSigned") or "").strip() == "1"
                vt = _CE_TYPES[vt_name.strip().lower()][signed]
                al.add(name, expression, vt)
        children = ce.find("CheatEntries")
        if children is not None:
            _import_entries(al, children, [*groups, description], inner)


def _ce_expression(ce: Any, parent: str | None) -> tuple[str | None, str | None]:
    """The expression of a CheatEntry's Address and Offsets, or (None, why not)."""
    address = (_child_text(ce, "Address") or "").strip()
    if not address:
        return None, None
    if address[0] in "+-":
        if parent is None:
            return None, f"relative address {address!r} with no enclosing address"
        address = parent + address
    else:
        address = _quote_ce_modules(address)
    expression = address
    offsets = ce.find("Offsets")
    if offsets is not None:
        texts = ["".join(o.itertext()).strip() for o in offsets if o.tag == "Offset"]
        if len(texts) > _native.ADDRESS_MAX_DEPTH:
            return None, (
                f"{len(texts)} offsets: address expressions have at most "
                f"{_native.ADDRESS_MAX_DEPTH} pointer levels"
            )
        for text in reversed(texts):  # listed outermost first: the last is applied first
            m = _CE_OFFSET.fullmatch(text)
            if m is None:
                return None, f"offset {text!r} is not a hex number"
            expression = f"[{expression}]{m[1] or '+'}{m[2].upper()}"
    try:
        _native.Address.parse(expression)
    except MemscanError as e:
        return None, _brief(e)
    return expression, None


def _quote_ce_modules(text: str) -> str:
    """Quotes the bare module names with a ``-`` in a Cheat Engine address (``Tutorial-x86_64
    .exe+1A0`` -> ``"Tutorial-x86_64.exe"+1A0``): in a run of characters joined by ``-``, a
    part that is not a hex number continues the name, a hex part is subtracted."""
    out = []
    for k, chunk in enumerate(text.split('"')):
        if k % 2:
            out.append(f'"{chunk}"')
            continue
        pieces = re.split(r"([\s+\[\]]+)", chunk)
        for i, run in enumerate(pieces):
            if i % 2 or "-" not in run:
                continue
            parts = run.split("-")
            words = [parts[0]]
            for part in parts[1:]:
                if part and not _HEX.fullmatch(part) and words[-1]:
                    words[-1] += "-" + part
                else:
                    words.append(part)
            pieces[i] = "-".join(f'"{w}"' if "-" in w else w for w in words)
        out.append("".join(pieces))
    return "".join(out)


def _matching_bracket(text: str, start: int) -> int | None:
    """The index of the ``]`` closing the ``[`` at ``start``, skipping quoted names."""
    depth, quoted = 0, False
    for i in range(start, len(text)):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
    return None


def _split_pointer(expression: str) -> tuple[str, list[str]]:
    """``[[base]+10]+8`` -> (``base``, [``8``, ``10``]): Cheat Engine's Address and Offsets
    (outermost first). What is not of that shape stays in the address as brackets, which
    Cheat Engine also reads."""
    text = expression.strip()
    offsets: list[str] = []
    while text.startswith("["):
        close = _matching_bracket(text, 0)
        if close is None:
            break
        rest = text[close + 1 :].strip()
        if rest:
            m = _CE_OFFSET.fullmatch(rest)
            if m is None or not m[1]:
                break
            offsets.append(("-" if m[1] == "-" else "") + m[2].upper())
        else:
            offsets.append("0")
        text = text[1:close].strip()
    return text, offsets


def _drop_0x(text: str) -> str:
    """Drops the ``0x`` of hex numbers outside quoted names."""
    parts = text.split('"')
    for k in range(0, len(parts), 2):
        parts[k] = re.sub(r"(?<![\w.])0[xX](?=[0-9a-fA-F]+(?![\w.]))", "", parts[k])
    return '"'.join(parts)
