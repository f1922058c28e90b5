"""`Scanner`: the scan-and-narrow loop, with results as zero-copy NumPy arrays and Arrow tables."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, Unpack

import numpy as np

from . import _native
from ._convert import native_process, region_list
from ._progress import ProgressArg, progress_callback
from .display import Locator, card, count, esc, human_bytes, mono, table
from .errors import InvalidArgument
from .options import ScanOptions
from .table import Table
from .value_types import family
from .value_types import value_type as lookup_value_type

if TYPE_CHECKING:
    import pandas
    import polars

    from .history import Recorder
    from .process import Process, Region

__all__ = ["Scanner", "Selection"]

#: Earlier names of renamed verbs and the verb now.
_RENAMED = {
    "set": "write",
    "hold": "freeze",
    "unfreeze": "release",
    "stop_freezing": "release",
    "save_checkpoint": "checkpoint",
}

#: Next-scan operators that compare with each candidate's earlier value.
RELATIVE_OPS = ("changed", "unchanged", "increased", "decreased")


#: Indices, a boolean mask, or addresses (NumPy u64 array or list of ints) of candidates.
Selection = Sequence[int] | np.ndarray | None


class Scanner:
    """A scan session over one process and value type.

    Example:
        ```python
        s = proc.scan("i32", 100)   # first scan
        s.next("decreased")         # or s.decreased(), s.eq(95), s.between(1, 10)
        s.addresses, s.values       # NumPy arrays viewing Rust's buffers
        s.write(999)                # write every candidate (checked, all or nothing)
        s.freeze(500)               # hold them at 500 until s.release()
        ```

    Relative filters compare with the last scan, or ``against="first"`` or a checkpoint name.
    Every next scan can be undone. Scans release the GIL, show progress and stop on Ctrl-C.
    Shown in a notebook, a scanner lists its steps with their counts and its first candidates.
    The engine's object is ``s._native``; the verbs are listed in docs/reference.md.
    """

    #: Candidates a scanner's HTML repr lists.
    PREVIEW = 5

    progress: ProgressArg = "auto"

    def __init__(
        self,
        process: Process | _native.Process,
        value_type: str,
        **options: Unpack[ScanOptions],
    ) -> None:
        from .process import Process

        proc = process if isinstance(process, Process) else Process._wrap(native_process(process))
        self._process = proc
        opts: dict[str, Any] = dict(options)
        regions = region_list(proc, opts.pop("regions", None))
        self._native = _native.Scanner(proc._native, value_type, regions, **opts)

    # -- what it is -------------------------------------------------------------------------

    @property
    def process(self) -> Process:
        """The process scanned."""
        return self._process

    @property
    def pid(self) -> int:
        return self._native.pid

    @property
    def value_type(self) -> str:
        """The short name of the type scanned (``"i32"``)."""
        return self._native.value_type

    @property
    def nbytes(self) -> int:
        """Bytes the candidates hold now (addresses, values, blocks, history, checkpoints)."""
        return self._native.nbytes

    @property
    def is_dense(self) -> bool:
        """True while the candidates are a dense snapshot (an unknown-value scan not yet
        narrowed to a sparse list)."""
        return self._native.is_dense

    @property
    def alignment(self) -> int:
        """Bytes between candidate slots."""
        return self._native.alignment

    def estimate_bytes(self) -> int:
        """Bytes an unknown-value first scan of the chosen regions would hold, at most."""
        return self._native.estimate_bytes()

    def region_list(self) -> list[Region]:
        """The regions scanned (listed again at every first scan unless given)."""
        return self._native.region_list()

    def __len__(self) -> int:
        return len(self._native)

    def history(self) -> list[tuple[str, int]]:
        """Every step (description, candidates after it), first scan first."""
        return self._native.history()

    def stats(self) -> tuple[int, int, int, float]:
        """The last step's bytes scanned, bytes unreadable, regions and seconds."""
        return self._native.stats()

    # -- scans ------------------------------------------------------------------------------

    def first(self, op: str = "eq", *values: Any, tolerance: float | None = None) -> Self:
        """First scan: ``op`` in eq ne lt le gt ge between near, or ``"any"`` (unknown value)."""
        cb = self._cb("first scan")
        self._native.first_scan(op, list(values), tolerance=tolerance, progress=cb)
        return self

    def next(
        self, op: str, *values: Any, against: str | None = None, tolerance: float | None = None
    ) -> Self:
        """Narrows the candidates: eq ne lt le gt ge between near (constants), or changed
        unchanged increased decreased increased_by decreased_by (relative to ``against``)."""
        cb = self._cb("next scan", unit="candidates")
        self._native.next_scan(op, list(values), against=against, tolerance=tolerance, progress=cb)
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

    def repeated(self, cp1: str, cp2: str, cp3: str, margin: float) -> Self:
        """Keeps values whose change from checkpoint ``cp1`` to ``cp2`` repeats from ``cp2`` to
        ``cp3`` within ``margin`` percent (timers, counters)."""
        self._native.filter_relative(cp1, cp2, cp3, margin)
        return self

    def undo(self) -> int:
        """Goes back one next scan; returns the candidate count restored."""
        return self._native.undo()

    def checkpoint(self, name: str) -> int:
        """Saves the candidates' current values as checkpoint ``name``; returns their count.
        Relative next scans compare with it: ``s.increased(against=name)``."""
        return self._native.save_checkpoint(
            name, progress=self._cb("checkpoint", unit="candidates")
        )

    def checkpoint_counts(self) -> list[tuple[str, int]]:
        """Every checkpoint: (name, candidates it holds), oldest first."""
        return self._native.checkpoint_counts()

    def delete_checkpoint(self, name: str) -> None:
        self._native.delete_checkpoint(name)

    # -- results ----------------------------------------------------------------------------

    @property
    def addresses(self) -> np.ndarray:
        """Candidate addresses (u64, read-only, viewing Rust's buffer)."""
        return self._native.addresses()

    @property
    def values(self) -> np.ndarray:
        """Candidate values at the last scan (native dtype, read-only, viewing Rust's buffer)."""
        return self._native.values()

    def page(self, offset: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Addresses and values of candidates ``offset`` .. ``offset + count`` (copies only
        those: cheap on a dense snapshot of billions)."""
        return self._native.page(offset, count)

    def previous_page(self, offset: int, count: int) -> np.ndarray | None:
        """The values those candidates had the step before (None after a first scan)."""
        return self._native.previous_page(offset, count)

    def current_values(self, selection: Selection = None) -> np.ndarray:
        """Reads the values now, without narrowing."""
        return self._native.read_current(self._addresses_of(selection))

    def table(self, *, previous: str | None = None) -> Table:
        """Candidates as an Arrow table (address, value, previous, region_start, region_kind,
        module, module_offset); ``previous`` names a checkpoint to compare with."""
        return Table(self._native.to_arrow(previous=previous))

    def to_arrow(self, *, previous: str | None = None) -> Table:
        """The same table as :meth:`table` (any Arrow reader takes it)."""
        return self.table(previous=previous)

    def to_polars(self, *, previous: str | None = None) -> polars.DataFrame:
        return self.table(previous=previous).to_polars()

    def to_pandas(self, *, previous: str | None = None) -> pandas.DataFrame:
        return self.table(previous=previous).to_pandas()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._native.to_arrow().__arrow_c_stream__(requested_schema)

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

    def write(self, value: Any, selection: Selection = None, *, force: bool = False) -> int:
        """Writes ``value`` to the selected candidates (all by default): checked, all or
        nothing. Returns the number of addresses written."""
        return self._write("set", value, selection, force=force)

    def add(self, value: Any, selection: Selection = None) -> int:
        """Adds ``value`` to each selected candidate (overflow writes nothing)."""
        return self._write("add", value, selection)

    def sub(self, value: Any, selection: Selection = None) -> int:
        return self._write("sub", value, selection)

    def mul(self, value: Any, selection: Selection = None) -> int:
        return self._write("mul", value, selection)

    def div(self, value: Any, selection: Selection = None) -> int:
        return self._write("div", value, selection)

    def _write(self, op: str, value: Any, selection: Selection, *, force: bool = False) -> int:
        return self._native.write(op, value, self._addresses_of(selection), force=force)

    def freeze(
        self, value: Any = None, selection: Selection = None, *, interval_ms: int = 10
    ) -> int:
        """Freezes the selection at ``value`` (or at its current value) until :meth:`release`:
        a background thread rewrites it every ``interval_ms``."""
        addresses = self._addresses_of(selection)
        return self._native.freeze(value, addresses, interval_ms=interval_ms)

    def release(self, selection: Selection = None) -> None:
        """Stops freezing the selection; with no selection, every freeze (and its thread)."""
        if selection is None:
            self._native.unfreeze(None)
            self._native.stop_freezing()
        else:
            self._native.unfreeze(self._addresses_of(selection))

    def frozen(self) -> list[tuple[int, int | float]]:
        """The addresses held now and their values."""
        return self._native.frozen()

    def freeze_problems(self) -> tuple[list[tuple[int, str]], str | None]:
        """(address, reason) for each address freezing had to drop, and why the freeze
        thread stopped on its own, if it did."""
        return self._native.freeze_problems()

    # -- renamed verbs ----------------------------------------------------------------------

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The earlier names of renamed verbs (``set``, ``hold``, ``unfreeze``,
            ``stop_freezing``) still work, with a DeprecationWarning; the original bindings'
            names are on :class:`memscan.compat.InteractiveScanner`."""
            modern = _RENAMED.get(name)
            if modern is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            warnings.warn(
                f"Scanner.{name} is now Scanner.{modern}", DeprecationWarning, stacklevel=2
            )
            return getattr(self, modern)

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
        self._native.stop_freezing()

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
    return family(kind)


def fits(value: Any, types: Iterable[str]) -> list[str]:
    """The types among ``types`` that can hold ``value`` exactly."""
    out = []
    for t in types:
        bounds = lookup_value_type(t).bounds
        if bounds is not None:
            low, high = bounds
            if isinstance(value, int | np.integer) and low <= value <= high:
                out.append(t)
            elif isinstance(value, float) and value.is_integer() and low <= value <= high:
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
