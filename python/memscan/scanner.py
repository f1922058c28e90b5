"""`Scanner`: the scan-and-narrow loop, with results as zero-copy NumPy arrays and Arrow tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import numpy as np

from . import _native
from ._progress import ProgressArg, progress_callback
from .display import Locator, card, count, esc, human_bytes, mono, table
from .errors import InvalidArgument
from .table import Table

if TYPE_CHECKING:
    import pandas
    import polars

    from .history import Recorder

__all__ = ["MatchedAddress", "Scanner", "Selection"]

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


#: Indices, a boolean mask, or addresses (NumPy u64 array or list of ints) of candidates.
Selection = Sequence[int] | np.ndarray | None


class Scanner(_native.Scanner):
    """A scan session over one process and value type.

    Example:
        ```python
        s = proc.scan("i32", 100)   # first scan
        s.next("decreased")         # or s.decreased(), s.eq(95), s.between(1, 10)
        s.addresses, s.values       # NumPy arrays viewing Rust's buffers
        s.set(999)                  # write every candidate (checked, all or nothing)
        ```

    Relative filters compare with the last scan, or ``against="first"`` or a checkpoint name.
    Every next scan can be undone. Scans release the GIL, show progress and stop on Ctrl-C.
    Shown in a notebook, a scanner lists its steps with their counts and its first candidates.
    """

    #: Candidates a scanner's HTML repr lists.
    PREVIEW = 5

    progress: ProgressArg = "auto"

    def __init__(
        self, process: _native.Process, value_type: str, *args: Any, **kwargs: Any
    ) -> None:
        self._process = process

    # -- scans ------------------------------------------------------------------------------

    def first(self, op: str = "eq", *values: Any, tolerance: float | None = None) -> Self:
        """First scan: ``op`` in eq ne lt le gt ge between near, or ``"any"`` (unknown value)."""
        self.first_scan(op, list(values), tolerance=tolerance, progress=self._cb("first scan"))
        return self

    def next(
        self, op: str, *values: Any, against: str | None = None, tolerance: float | None = None
    ) -> Self:
        """Narrows the candidates: eq ne lt le gt ge between near (constants), or changed
        unchanged increased decreased increased_by decreased_by (relative to ``against``)."""
        cb = self._cb("next scan", unit="candidates")
        self.next_scan(op, list(values), against=against, tolerance=tolerance, progress=cb)
        return self

    def eq(self, value: Any) -> Self:
        return self.next("eq", value)

    def ne(self, value: Any) -> Self:
        return self.next("ne", value)

    def lt(self, value: Any) -> Self:
        return self.next("lt", value)

    def le(self, value: Any) -> Self:
        return self.next("le", value)

    def gt(self, value: Any) -> Self:
        return self.next("gt", value)

    def ge(self, value: Any) -> Self:
        return self.next("ge", value)

    def between(self, low: Any, high: Any) -> Self:
        return self.next("between", low, high)

    def near(self, value: Any, tolerance: float) -> Self:
        return self.next("near", value, tolerance=tolerance)

    def increased(self, by: Any = None, *, against: str | None = None) -> Self:
        if by is None:
            return self.next("increased", against=against)
        return self.next("increased_by", by, against=against)

    def decreased(self, by: Any = None, *, against: str | None = None) -> Self:
        if by is None:
            return self.next("decreased", against=against)
        return self.next("decreased_by", by, against=against)

    def changed(self, *, against: str | None = None) -> Self:
        return self.next("changed", against=against)

    def unchanged(self, *, against: str | None = None) -> Self:
        return self.next("unchanged", against=against)

    def checkpoint(self, name: str) -> int:
        """Saves the candidates' current values as checkpoint ``name``; returns their count."""
        return self.save_checkpoint(name, progress=self._cb("checkpoint", unit="candidates"))

    # -- results ----------------------------------------------------------------------------

    @property
    def addresses(self) -> np.ndarray:  # type: ignore[override]
        """Candidate addresses (u64, read-only, viewing Rust's buffer)."""
        return super().addresses()

    @property
    def values(self) -> np.ndarray:  # type: ignore[override]
        """Candidate values at the last scan (native dtype, read-only, viewing Rust's buffer)."""
        return super().values()

    def current_values(self, selection: Selection = None) -> np.ndarray:
        """Reads the values now, without narrowing."""
        return self.read_current(self._addresses_of(selection))

    def table(self, *, previous: str | None = None) -> Table:
        """Candidates as an Arrow table (address, value, previous, region_start, region_kind,
        module, module_offset); ``previous`` names a checkpoint to compare with."""
        return Table(self.to_arrow(previous=previous))

    def to_polars(self, *, previous: str | None = None) -> polars.DataFrame:
        return self.table(previous=previous).to_polars()

    def to_pandas(self, *, previous: str | None = None) -> pandas.DataFrame:
        return self.table(previous=previous).to_pandas()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def record(
        self, *, interval: float = 0.0, count: int | None = None, duration: float | None = None
    ) -> Recorder:
        """Starts recording the current candidates' values over time (see :class:`Recorder`)."""
        from .history import Recorder

        return Recorder(
            self._process,
            self.addresses,
            self.value_type,
            interval=interval,
            count=count,
            duration=duration,
        )

    def to_parquet(self, path: str, **metadata: str) -> None:
        """Writes the candidates table with metadata (pid, executable, type, scan steps)."""
        from .io import write_parquet

        meta = {
            **metadata,
            "kind": "scan",
            "pid": str(self.pid),
            "executable": self._process.exe or "",
            "value_type": self.value_type,
            "steps": " | ".join(f"{d} -> {n}" for d, n in self.history()),
        }
        write_parquet(self.to_polars(), path, meta)

    # -- writes -----------------------------------------------------------------------------

    def set(self, value: Any, selection: Selection = None, *, force: bool = False) -> int:
        """Writes ``value`` to the selected candidates (all by default)."""
        return self.write("set", value, self._addresses_of(selection), force=force)

    def add(self, value: Any, selection: Selection = None) -> int:
        return self.write("add", value, self._addresses_of(selection))

    def sub(self, value: Any, selection: Selection = None) -> int:
        return self.write("sub", value, self._addresses_of(selection))

    def mul(self, value: Any, selection: Selection = None) -> int:
        return self.write("mul", value, self._addresses_of(selection))

    def div(self, value: Any, selection: Selection = None) -> int:
        return self.write("div", value, self._addresses_of(selection))

    def hold(self, value: Any = None, selection: Selection = None, *, interval_ms: int = 10) -> int:
        """Freezes the selection at ``value`` (or at its current value) until :meth:`release`."""
        return self.freeze(value, self._addresses_of(selection), interval_ms=interval_ms)

    def release(self, selection: Selection = None) -> None:
        """Stops freezing the selection (everything by default)."""
        self.unfreeze(None if selection is None else self._addresses_of(selection))

    # -- the original design's names --------------------------------------------------------

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
        return self.filter_relative(cp1, cp2, cp3, margin)

    def match_count(self) -> int:
        return len(self)

    def get_matches(self, limit: int | None = None) -> list[MatchedAddress]:
        """The candidates as :class:`MatchedAddress` (address, current_value, previous_value),
        exact Python numbers; ``limit`` caps the list."""
        n = len(self) if limit is None else max(0, min(limit, len(self)))
        addresses, values = self.page(0, n)
        relative = any(d.startswith(RELATIVE_OPS) for d, _ in self.history()[1:])
        previous = self.previous_page(0, n) if relative else None
        before = [None] * n if previous is None else previous.tolist()
        return [
            MatchedAddress(a, v, p)
            for a, v, p in zip(addresses.tolist(), values.tolist(), before, strict=True)
        ]

    def list_checkpoints(self) -> list[str]:
        """The checkpoint names (their candidate counts: :meth:`checkpoint_counts`)."""
        return [name for name, _ in self.checkpoint_counts()]

    def set_value(self, value: Any) -> int:
        return self.set(value)

    def set_value_at(self, address: int, value: Any) -> int:
        return self.write("set", value, np.array([address], dtype=np.uint64))

    def add_value(self, value: Any) -> int:
        return self.add(value)

    def sub_value(self, value: Any) -> int:
        return self.sub(value)

    def mul_value(self, value: Any) -> int:
        return self.mul(value)

    def div_value(self, value: Any) -> int:
        return self.div(value)

    # -- helpers ----------------------------------------------------------------------------

    def _cb(self, desc: str, unit: str = "B") -> Any:
        return progress_callback(self.progress, desc, unit)

    def _addresses_of(self, selection: Selection) -> np.ndarray | None:
        """Addresses for a selection of indices, a boolean mask, or addresses."""
        if selection is None:
            return None
        sel = np.asarray(selection)
        if sel.dtype == np.bool_:
            if sel.shape != (len(self),):
                raise InvalidArgument(f"mask has shape {sel.shape}, expected ({len(self)},)")
            return np.ascontiguousarray(self.addresses[sel])
        if sel.dtype == np.uint64:
            return np.ascontiguousarray(sel)
        if sel.size and not np.issubdtype(sel.dtype, np.integer):
            raise InvalidArgument("a selection is indices, a boolean mask, or u64 addresses")
        idx = sel.astype(np.int64, copy=False)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise InvalidArgument(f"candidate index out of range (have {len(self):,})")
        return np.ascontiguousarray(self.addresses[idx])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_freezing()

    # -- display ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        steps = self.history()
        width = max((len(d) for d, _ in steps), default=0)
        lines = [
            f"Scanner(pid={self.pid}, {self.value_type}, {count(len(self), 'candidate')}, "
            f"{human_bytes(self.nbytes)})"
        ]
        lines += [f"  {i}. {d:<{width}}  {n:>12,}" for i, (d, n) in enumerate(steps, 1)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        n = len(self)
        steps = self.history()
        storage = "dense snapshot" if self.is_dense else "sparse list"
        facts = [
            ("process", mono(self.pid)),
            ("type", f"{esc(self.value_type)}, every {self.alignment} bytes"),
            ("memory", esc(f"{human_bytes(self.nbytes)} ({storage})")),
        ]
        checkpoints = self.checkpoint_counts()
        if checkpoints:
            named = ", ".join(f"{name} ({count(k, 'candidate')})" for name, k in checkpoints)
            facts.append(("checkpoints", esc(named)))
        frozen = len(self.frozen())
        if frozen:
            facts.append(("frozen", esc(count(frozen, "address", "addresses"))))
        parts = []
        if steps:
            rows = [(i, d, k) for i, (d, k) in enumerate(steps, 1)]
            parts.append(table(["#", "step", "candidates"], rows, numeric=[0, 2]))
        if n:
            parts.append(self._preview_html(n))
        subtitle = f"{self.value_type}, {count(n, 'candidate')}" if steps else "no scan yet"
        return card("Scanner", subtitle, facts, *parts)

    def _preview_html(self, n: int) -> str:
        """The first candidates: address, value, and module+offset or region kind."""
        addresses, values = self.page(0, min(n, self.PREVIEW))
        where = Locator(self.region_list())
        rows = [
            (f"{a:#x}", v, where.describe(a))
            for a, v in zip(addresses.tolist(), values.tolist(), strict=True)
        ]
        more = f"the first {len(rows)} of {n:,}" if n > len(rows) else ""
        return table(["address", "value", "where"], rows, numeric=[0, 1], caption=more)


def scan_types(kind: str) -> list[str]:
    """The types an "any" scan covers: ``"int"`` (every integer width) or ``"number"``."""
    ints = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]
    if kind in ("int", "integer", "any_int"):
        return ints
    if kind in ("number", "any", "any_number"):
        return [*ints, "f32", "f64"]
    raise InvalidArgument(f"unknown scan family {kind!r}; expected 'int' or 'number'")


def fits(value: Any, types: Iterable[str]) -> list[str]:
    """The types among ``types`` that can hold ``value`` exactly."""
    out = []
    for t in types:
        info = np.iinfo(t.replace("i", "int").replace("u", "uint")) if t[0] in "iu" else None
        if info is not None:
            if isinstance(value, int | np.integer) and info.min <= value <= info.max:
                out.append(t)
            elif isinstance(value, float) and value.is_integer() and info.min <= value <= info.max:
                out.append(t)
        elif t == "f32":
            # Only values an f32 holds exactly: 2.718281828459045 is no f32, 0.5 is.
            x = float(value)
            with np.errstate(over="ignore"):
                if np.isnan(x) or float(np.float32(x)) == x:
                    out.append(t)
        else:
            out.append(t)
    return out
