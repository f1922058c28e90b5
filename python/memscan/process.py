"""The Pythonic object model: :class:`Process`."""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, Unpack

import numpy as np

from . import _native, structures
from ._convert import addresses_array, region_list
from ._lazy import pl
from ._progress import ProgressArg, progress_callback
from .code import Patch, Signature, applied_patches
from .display import card, count, esc, human_bytes, mono
from .errors import InvalidArgument, MemscanError
from .history import History, Recorder
from .io import write_private
from .multiscan import MultiScan
from .options import RegionOptions, ScanOptions, SnapshotOptions
from .pointers import PointerChains, PointerMap
from .scanner import Scanner, fits, scan_types
from .snapshots import Snapshot
from .structures import Layout
from .table import Table
from .watch import Watch

if TYPE_CHECKING:
    import polars

__all__ = ["Process", "Region", "as_process"]

Region = _native.Region


class Process:
    """An opened process: ``Process(pid)``, usable as a context manager; or a saved memory
    image: ``Process(image=path)`` (see :func:`memscan.open_image`).

    Reads and writes are exact in every type (``read_value(addr, "u64")``), and writes are all or
    nothing. ``force=True`` writes to pages without write permission too, as debuggers do (on
    Linux through ``/proc/PID/mem``).
    The engine's object is ``proc._native`` (composition, as polars' ``DataFrame._df``).
    """

    __slots__ = ("__weakref__", "_native")

    def __init__(
        self, pid: int | None = None, *, image: str | os.PathLike[str] | None = None
    ) -> None:
        self._native = _native.Process(pid, image=image)

    @classmethod
    def _wrap(cls, native: _native.Process) -> Self:
        """A Process around an engine object already opened."""
        self = cls.__new__(cls)
        self._native = native
        return self

    # -- identity ---------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._native.pid

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def exe(self) -> str | None:
        """The executable's path (None when it cannot be read)."""
        return self._native.exe

    @property
    def cmdline(self) -> list[str]:
        return self._native.cmdline

    @property
    def uid(self) -> int:
        return self._native.uid

    @property
    def pointer_size(self) -> int:
        """Bytes in one of the process's pointers (8, or 4 for a 32-bit program)."""
        return self._native.pointer_size

    @property
    def image_path(self) -> pathlib.Path | None:
        """The image file for a saved image (``memscan.open_image``), else None."""
        return self._native.image_path

    def is_alive(self) -> bool:
        """True while the process opened runs (same pid, same start time, no exec since)."""
        return self._native.is_alive()

    # -- memory -----------------------------------------------------------------------------

    def region_list(self) -> list[Region]:
        """Every mapped region as :class:`Region` objects (what ``regions=`` takes)."""
        return self._native.region_list()

    def address(self, expression: str) -> int:
        """The address an expression names now: ``"game+4140"``, ``"[[game+4140]+10]+8"``,
        ``"libc.so.6!malloc"``, ``"0x7f00..."``, and signatures ``"sig:game:89 58 10+3"`` (the
        one place in ``game`` where the pattern matches, plus 3)."""
        return self._native.address(expression)

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``, all or nothing."""
        return self._native.read(address, size)

    def read_partial(self, address: int, size: int) -> tuple[bytes, list[tuple[int, int]]]:
        """``size`` bytes at ``address`` with zeros where unreadable, and the readable
        (start, end) runs."""
        return self._native.read_partial(address, size)

    def read_value(self, address: int, value_type: str) -> int | float:
        """The value of ``value_type`` at ``address``, as an exact Python number."""
        return self._native.read_value(address, value_type)

    def write(self, address: int, data: bytes, *, force: bool = False) -> None:
        """Writes ``data`` at ``address``, all or nothing."""
        self._native.write(address, data, force=force)

    def write_value(
        self, address: int, value_type: str, value: int | float | str, *, force: bool = False
    ) -> None:
        """Writes ``value`` as ``value_type`` at ``address`` (exact, or InvalidValue)."""
        self._native.write_value(address, value_type, value, force=force)

    def regions(self) -> Table:
        """Every mapped region as a table (start, end, size, perms, ..., path, kind)."""
        return Table(self._native.regions_table())

    def modules(self) -> Table:
        """Every loaded object (executable, libraries, mapped files, vdso): name, path, base (the
        lowest address mapped from it: what ``game+0x4140`` is relative to), end (``.bss``
        included), size, kind, regions."""
        return Table(self._native.modules_table())

    def pointer_map(self, progress: ProgressArg = "auto") -> PointerMap:
        """Captures every pointer of the process now, sorted by the value it holds (reusable
        by several :meth:`pointer_scan` calls)."""
        return PointerMap(self._native, progress=progress_callback(progress, "pointer map"))

    def pointer_scan(
        self,
        targets: int | list[int] | np.ndarray,
        *,
        max_depth: int = 5,
        max_offset: int = 4096,
        max_negative_offset: int = 0,
        max_chains: int = 100_000,
        modules: list[str] | None = None,
        pointer_map: PointerMap | None = None,
        memory_budget: int | None = None,
        progress: ProgressArg = "auto",
        output: str | os.PathLike[str] | None = None,
    ) -> PointerChains:
        """Pointer chains from static bases (module memory) to ``targets``: at most
        ``max_depth`` pointers, offsets up to ``max_offset`` (and down to
        ``-max_negative_offset``), bases only in ``modules`` when given. Stops on Ctrl-C, and
        with :class:`~memscan.MemoryBudgetExceeded` before the chains outgrow
        ``memory_budget`` bytes (default: the memory available).

        ``output`` (a path) writes the chains to an Arrow IPC file as they are found, 65,536
        at a time (private to its owner, replaced atomically), so millions of chains take no
        more memory than one batch; the chains returned read that file when first used
        (``polars.scan_ipc``, ``pyarrow.ipc.open_file`` and DuckDB read it too)."""
        wanted = addresses_array(targets, "pointer_scan targets")
        # Without a map, the search captures one for itself and frees it before the table of
        # chains is built, so the two are never held together.
        source = pointer_map if pointer_map is not None else self._native
        limits: dict[str, Any] = {
            "max_depth": max_depth,
            "max_offset": max_offset,
            "max_negative_offset": max_negative_offset,
            "max_chains": max_chains,
            "modules": modules,
            "memory_budget": memory_budget,
            "progress": progress_callback(progress, "pointer scan", unit="pointers"),
            "map_progress": progress_callback(progress, "pointer map"),
        }
        if output is None:
            return PointerChains(Table(_native.find_chains(source, wanted, **limits)))
        path = write_private(
            pathlib.Path(output),
            lambda tmp: _native.find_chains(source, wanted, output=tmp, **limits),
        )
        return PointerChains(path)

    def scanner(self, value_type: str, **options: Unpack[ScanOptions]) -> Scanner:
        """A scanner for ``value_type`` (default regions: every writable one); the options are
        those of :class:`memscan.options.ScanOptions`."""
        return Scanner(self, value_type, **options)

    def scan(
        self,
        value_type: str,
        value: Any = None,
        *,
        op: str = "eq",
        high: Any = None,
        tolerance: float | None = None,
        **options: Unpack[ScanOptions],
    ) -> Scanner:
        """First scan: ``scan("i32", 100)``; ``scan("f32", 1.5, op="near", tolerance=0.01)``;
        ``scan("i32", 10, op="between", high=20)``; ``scan("i32")`` (unknown initial value)."""
        s = self.scanner(value_type, **options)
        if value is None:
            return s.first("any")
        values = [value] if high is None else [value, high]
        return s.first(op, *values, tolerance=tolerance)

    def scan_any(
        self, value: Any, family: str = "number", **options: Unpack[ScanOptions]
    ) -> MultiScan:
        """Scans for ``value`` in every type of ``family`` ("int" or "number") it fits; each
        candidate keeps its type."""
        types = fits(value, scan_types(family))
        return MultiScan({t: self.scan(t, value, **options) for t in types})

    def group_scan(
        self, members: list[tuple[int, str, Any]], **options: Unpack[ScanOptions]
    ) -> Scanner:
        """Finds values at fixed offsets, e.g. ``[(0, "i32", 100), (4, "i32", 100)]``; a member
        value may be ``("between", lo, hi)``. Candidates are the group starts."""
        if not members:
            raise InvalidArgument("a group scan needs at least one member")
        parsed = []
        for offset, vtype, spec in members:
            op, *vals = spec if isinstance(spec, tuple) else ("eq", spec)
            parsed.append((offset, vtype, op, list(vals)))
        s = self.scanner(members[0][1], **options)
        s._native.group_scan(parsed, progress=progress_callback(Scanner.progress, "group scan"))
        return s

    def find_bytes(
        self, pattern: str | bytes, progress: ProgressArg = "auto", **regions: Unpack[RegionOptions]
    ) -> np.ndarray:
        """Addresses of a byte pattern: hex text with ``??`` wildcards, or exact bytes."""
        cb = progress_callback(progress, "pattern")
        opts = self._options(regions)
        if isinstance(pattern, bytes | bytearray):
            return self._native.find_pattern(data=bytes(pattern), progress=cb, **opts)
        return self._native.find_pattern(hex=pattern, progress=cb, **opts)

    def find_string(
        self,
        text: str,
        encoding: str = "utf8",
        progress: ProgressArg = "auto",
        **regions: Unpack[RegionOptions],
    ) -> np.ndarray:
        """Addresses of ``text`` encoded as utf8 or utf16 (little-endian)."""
        cb = progress_callback(progress, "string")
        opts = self._options(regions)
        return self._native.find_pattern(text=text, encoding=encoding, progress=cb, **opts)

    # -- code -------------------------------------------------------------------------------

    def disassemble(self, address: int | str, count: int = 20) -> Table:
        """``count`` instructions from ``address`` (an address or expression): address, module,
        module_offset, location (``module!symbol+off``), bytes, instruction (Intel syntax),
        branch_target/branch_location, memory_target/memory_location (RIP-relative or absolute
        operands), memory_size."""
        return Table(_native.disassemble(self._native, self._at(address), count))

    def find_code(
        self, pattern: str | bytes, *, module: str | None = None, progress: ProgressArg = "auto"
    ) -> np.ndarray:
        """Addresses of a byte pattern (hex with ``??`` and nibble ``4?`` wildcards, or bytes)
        in executable memory, of ``module`` only when given."""
        regions = [
            r
            for r in self.region_list()
            if r.executable and r.readable and (module is None or module in (r.module, r.path))
        ]
        if module is not None and not regions:
            raise InvalidArgument(f"no executable region belongs to module {module!r}")
        return self.find_bytes(pattern, progress, regions=regions)

    def references(
        self,
        target: int | str,
        size: int = 1,
        *,
        module: str | None = None,
        progress: ProgressArg = "auto",
    ) -> Table:
        """Instructions that name an address in ``[target, target + size)``: calls and jumps to
        it, RIP-relative or absolute memory operands at it, immediates holding it (address,
        location, kind, target, instruction). Sweeps the executable regions of ``module``, or of
        every module."""
        regions = [
            r
            for r in self.region_list()
            if r.executable
            and r.readable
            and r.module is not None
            and (module is None or module in (r.module, r.path))
        ]
        if module is not None and not regions:
            raise InvalidArgument(f"no executable region belongs to module {module!r}")
        cb = progress_callback(progress, "references")
        return Table(_native.references(self._native, self._at(target), size, regions, progress=cb))

    def signature(
        self, address: int | str, *, max_bytes: int = 64, max_before: int = 64
    ) -> Signature:
        """The shortest byte signature of the instruction (or bytes) at ``address`` unique in its
        module, with address-encoding bytes wildcarded; ``.expression`` (``sig:game:...+off``)
        finds it again after an update (``proc.address``, address lists)."""
        return Signature._from(
            _native.signature(
                self._native, self._at(address), max_bytes=max_bytes, max_before=max_before
            )
        )

    def patch(self, address: int | str, data: bytes, *, wait: float = 2.0) -> Patch:
        """Writes ``data`` over code at ``address`` with every thread stopped and none inside the
        bytes (waiting up to ``wait`` seconds, else :class:`memscan.Busy`), verified by reading
        back; the :class:`memscan.code.Patch` returned restores the original bytes."""
        return Patch.write(self, self._at(address), data, wait=wait)

    def nop(self, address: int | str, *, wait: float = 2.0) -> Patch:
        """Replaces the instruction at ``address`` with NOPs, as :meth:`patch` writes."""
        return Patch.nop(self, self._at(address), wait=wait)

    def assemble(self, address: int | str, text: str, *, wait: float = 2.0) -> Patch:
        """Assembles one instruction (Intel syntax, e.g. ``"mov dword ptr [rbx+0x10], 999"``)
        over the instruction at ``address``, padded with NOPs to its end (a longer encoding is
        refused), written as :meth:`patch` writes."""
        return Patch.assemble(self, self._at(address), text, wait=wait)

    def patches(self) -> list[Patch]:
        """The patches applied to this process from this interpreter and not restored."""
        return applied_patches(self.pid)

    def _at(self, address: int | str) -> int:
        return self.address(address) if isinstance(address, str) else address

    def region_usage(self) -> Table:
        """Every region with its resident (rss), private dirty and swapped bytes."""
        return Table(self._native.region_usage_table())

    def region_usage_over_time(self, interval: float = 1.0, count: int = 10) -> polars.DataFrame:
        """Memory use per region over time: ``count`` samples of :meth:`region_usage`,
        ``interval`` seconds apart, with a sample number and timestamp on every row. A count
        below 1 or an interval that is negative or not a number is InvalidArgument."""
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
            raise InvalidArgument(f"count is a number of samples (an int >= 1), not {count!r}")
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float | np.integer | np.floating)
            or not 0 <= interval < float("inf")
        ):
            raise InvalidArgument(f"interval is a number of seconds >= 0, not {interval!r}")
        frames = []
        for i in range(count):
            if i:
                time.sleep(interval)
            now = time.time_ns()
            frames.append(
                self.region_usage()
                .to_polars()
                .select("start", "end", "size", "rss", "private_dirty", "swap", "kind", "path")
                .with_columns(
                    pl.lit(i, dtype=pl.UInt32).alias("sample"),
                    pl.lit(now).cast(pl.Datetime("ns")).alias("timestamp"),
                )
            )
        return pl.concat(frames)

    # -- structures -------------------------------------------------------------------------

    def dissect(
        self,
        address: int | str,
        size: int | None = None,
        *,
        over: float | History | np.ndarray | Sequence[bytes] | None = None,
        interval: float | None = None,
        depth: int = 0,
        name: str = "structure",
    ) -> Layout:
        """What the ``size`` bytes at ``address`` hold, field by field: a :class:`Layout`
        (one row per field: offset, size, type, value, confidence, evidence, points_to).

        ``size`` defaults to the heap block that starts at ``address`` (glibc), else 256.
        With ``over=seconds`` the range is sampled (every ``interval``, 1/200 s by default)
        and behaviour decides: bytes that change together are one field, counters, timers,
        flags, positions moving by a velocity in another field. ``over`` also takes samples
        already taken (a ``u8`` :class:`History` of the range, an array, a list of bytes).
        ``depth`` follows data pointers that many levels (a loop is marked, not followed)."""
        return structures.dissect(
            self, self._at(address), size, over=over, interval=interval, depth=depth, name=name
        )

    def read_struct(self, address: int | str, layout: Layout) -> dict[str, Any]:
        """One instance at ``address`` read through ``layout``, as a dict of field values."""
        return structures.read_struct(self, self._at(address), layout)

    def read_structs(
        self, addresses: np.ndarray | Sequence[int], layout: Layout
    ) -> polars.DataFrame:
        """Every instance at ``addresses`` read through ``layout`` in one gathered, vectored
        read: a frame with one row per instance (address, readable, then each field)."""
        return structures.read_structs(self, addresses, layout)

    def record_struct(
        self, address: int | str, layout: Layout, *, over: float, interval: float | None = None
    ) -> polars.DataFrame:
        """The instance at ``address`` sampled for ``over`` seconds (every ``interval``, 1/200 s
        by default) and read through ``layout``: one row per sample, ``time`` then each field
        (a history of every field at once, in one read per sample)."""
        return structures.record(self, self._at(address), layout, over=over, interval=interval)

    def compare(
        self,
        group_a: np.ndarray | Sequence[int],
        group_b: np.ndarray | Sequence[int],
        layout: Layout | int,
        *,
        over: float | None = None,
        interval: float | None = None,
    ) -> polars.DataFrame:
        """Fields ranked by how well they separate the objects of group A from group B:
        see :func:`memscan.compare`."""
        return structures.compare(self, group_a, group_b, layout, over=over, interval=interval)

    def record(
        self,
        addresses: np.ndarray | list[int],
        value_type: str,
        *,
        interval: float = 0.0,
        count: int | None = None,
        duration: float | None = None,
    ) -> Recorder:
        """Starts sampling ``value_type`` values at ``addresses`` (a watch list) in the
        background every ``interval`` seconds; ``rec.mark(label)`` labels the next sample."""
        return Recorder(
            self, addresses, value_type, interval=interval, count=count, duration=duration
        )

    def watch(
        self,
        address: int | str | Sequence[int | str],
        *,
        size: int = 4,
        on: Literal["write", "access", "execute"] = "write",
        value_type: str | None = None,
        duration: float | None = None,
        max_hits: int | None = None,
        registers: bool = True,
    ) -> Watch:
        """Hardware watchpoints on ``size`` bytes at ``address`` (an address, an address
        expression such as ``"game+0x4140"``, or a list of up to four): records every
        ``write`` (or ``access``, or ``execute`` of a code address) by any thread, with the
        instruction behind it, without stopping the process. See :class:`memscan.Watch`."""
        return Watch(
            self,
            address,
            size=size,
            on=on,
            value_type=value_type,
            duration=duration,
            max_hits=max_hits,
            registers=registers,
        )

    def snapshot(
        self, progress: ProgressArg = "auto", **regions: Unpack[SnapshotOptions]
    ) -> Snapshot:
        """Captures the bytes of the regions (default: every writable one)."""
        return Snapshot(self, progress, **regions)

    def save_image(
        self,
        path: str | os.PathLike[str],
        progress: ProgressArg = "auto",
        **regions: Unpack[RegionOptions],
    ) -> dict[str, int]:
        """Saves the process's memory to an image file at ``path`` (default: every readable
        region): the region table, modules, metadata and the bytes, with zero pages left out and
        the rest LZ4-compressed. Written atomically. ``memscan.open_image(path)`` reads it back
        with this same API. Returns regions, memory_bytes, stored_bytes and file_bytes."""
        return self._native.save_image_native(
            os.fspath(path), progress=progress_callback(progress, "image"), **self._options(regions)
        )

    @property
    def image_metadata(self) -> dict[str, Any] | None:
        """For an image: pid, name, exe, cmdline, uid, taken_ns (0 for core files, which do not
        record it), memscan_version, word_size, page_size, source ("memscan" or "elf-core") and
        build_ids (each ELF module's GNU build id, by path); None for a live process."""
        text = self._native.image_metadata_json()
        return None if text is None else json.loads(text)

    @property
    def is_image(self) -> bool:
        """True for a saved image (``memscan.open_image``): read-only, no writes or watches."""
        return self.image_path is not None

    def _options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Region options as the engine takes them: ``regions`` given as a table
        (``proc.regions()``) becomes the matching :class:`Region` objects."""
        out = dict(options)
        if out.get("regions") is not None:
            out["regions"] = region_list(self, out["regions"])
        return out

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # -- display ----------------------------------------------------------------------------

    def _memory(self) -> str:
        """Its mappings in a few words, or why they cannot be listed (it exited)."""
        try:
            regions = self.region_list()
        except MemscanError as e:
            return str(e).splitlines()[0]
        mapped = sum(r.size for r in regions)
        writable = sum(r.size for r in regions if r.writable)
        return (
            f"{count(len(regions), 'region')}, {human_bytes(mapped)} mapped, "
            f"{human_bytes(writable)} writable"
        )

    def __repr__(self) -> str:
        image = f", image={str(self.image_path)!r}" if self.is_image else ""
        return (
            f"Process(pid={self.pid}, name={self.name!r}, exe={self.exe!r}{image}, "
            f"{self._memory()})"
        )

    def _repr_html_(self) -> str:
        facts = [
            ("pid", mono(self.pid)),
            ("name", esc(self.name)),
            ("executable", mono(self.exe or "unknown")),
            ("memory", esc(self._memory())),
        ]
        if self.is_image:
            facts.append(("image", mono(self.image_path)))
        return card("Process", f"{self.pid} {self.name}", facts)


def as_process(process: Process | _native.Process | int | Any) -> Process:
    """``process`` as a :class:`Process`: itself, the engine's object wrapped (same identity,
    not opened again), a pid opened, or anything with a ``pid`` (a demo game) opened."""
    if isinstance(process, Process):
        return process
    if isinstance(process, _native.Process):
        return Process._wrap(process)
    if isinstance(process, int) and not isinstance(process, bool):
        return Process(process)
    pid = getattr(process, "pid", None)
    if isinstance(pid, int):
        return Process(pid)
    raise InvalidArgument(f"expected a Process or a pid, not {process!r}")
