"""Code that survives updates: disassembly, references, byte signatures ("AOB"s) that find an
instruction again in another build, and reversible patches.

``proc.signature(addr)`` gives the shortest pattern unique in the instruction's module, with the
bytes that encode addresses (RIP-relative displacements, call and jump targets, absolute
addresses) wildcarded from the decoder's operand layout, and an address expression
(``sig:game:89 58 10``) that address lists save and resolve again after the program changes.
``proc.patch``/``proc.nop`` write over code with every thread stopped outside the bytes, read
the write back, and return a :class:`Patch` that restores the original bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import _native
from .errors import InvalidArgument

if TYPE_CHECKING:
    from .process import Process

__all__ = ["Patch", "Signature", "applied_patches", "assemble", "signature_across"]


def assemble(text: str, *, address: int = 0, bitness: int = 64) -> bytes:
    """The bytes of one instruction in Intel syntax (``"mov dword ptr [rbx+0x10], 999"``),
    encoded to run at ``address`` (branch targets are absolute): the shortest encoding, checked
    by decoding it again. Raises InvalidArgument for text it cannot encode."""
    return bytes(_native.assemble(text, address=address, bitness=bitness))


@dataclass(frozen=True)
class Signature:
    """A byte pattern unique in its module (or in every build given), and where the address
    lies from the pattern's start."""

    #: Hex with ``??`` wildcards, e.g. ``"48 8B 05 ?? ?? ?? ?? 89 58 10"``.
    pattern: str
    #: The module it is unique in (a name, or the first build's path).
    module: str
    #: Where the pattern starts (in the first build).
    start: int
    #: The address minus the pattern's start.
    offset: int
    #: Instructions the pattern covers.
    instructions: int
    #: ``sig:module:pattern+offset``: resolves with ``proc.address`` and in address lists.
    expression: str
    #: Where the address lands in each build (the first is the address given).
    found: list[int] = field(default_factory=list)

    @classmethod
    def _from(cls, d: dict[str, object]) -> Signature:
        return cls(**d)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.expression


def signature_across(
    builds: Sequence[Process | str | os.PathLike[str] | tuple[Process, str]],
    address: int,
    *,
    module: str | None = None,
    max_bytes: int = 64,
    max_before: int = 64,
) -> Signature:
    """The shortest signature of ``address`` (an address in the first build) that is unique in
    every build: executable files (ELF or PE) of other versions, or processes and memory images
    (with ``module``, the module's name in each; or ``(process, module)`` pairs). ``found`` says
    where the address lands in each build."""
    items: list[tuple[_native.Process, str] | str] = []
    for b in builds:
        if isinstance(b, tuple):
            items.append((b[0]._native, b[1]))
        elif isinstance(b, str | os.PathLike):
            items.append(os.fspath(b))
        else:
            if module is None:
                raise InvalidArgument("a process as a build needs module= (the module's name)")
            items.append((b._native, module))
    return Signature._from(
        _native.signature_across(items, address, max_bytes=max_bytes, max_before=max_before)
    )


#: Patches applied through this interpreter and not restored, by pid.
_applied: dict[int, list[Patch]] = {}


def applied_patches(pid: int) -> list[Patch]:
    """The patches this interpreter applied to process ``pid`` and has not restored."""
    return list(_applied.get(pid, []))


class Patch:
    """Bytes written over code with the bytes they replaced. ``restore()`` puts them back (with
    every thread stopped again, and only if the bytes are still the patch's); as a context
    manager it restores on exit."""

    def __init__(self, process: Process, address: int, original: bytes, patched: bytes) -> None:
        self.process = process
        self.address = address
        self.original = bytes(original)
        self.patched = bytes(patched)
        self.restored = False
        _applied.setdefault(process.pid, []).append(self)

    @classmethod
    def write(cls, process: Process, address: int, data: bytes, *, wait: float = 2.0) -> Patch:
        """Writes ``data`` at ``address`` (see :meth:`memscan.Process.patch`)."""
        original = _native.patch_bytes(process._native, address, bytes(data), wait=wait)
        return cls(process, address, bytes(original), bytes(data))

    @classmethod
    def nop(cls, process: Process, address: int, *, wait: float = 2.0) -> Patch:
        """Replaces the instruction at ``address`` with NOPs."""
        original, patched = _native.patch_nop(process._native, address, wait=wait)
        return cls(process, address, bytes(original), bytes(patched))

    @classmethod
    def assemble(cls, process: Process, address: int, text: str, *, wait: float = 2.0) -> Patch:
        """Assembles ``text`` over the instruction at ``address``, padded with NOPs."""
        original, patched = _native.patch_assemble(process._native, address, text, wait=wait)
        return cls(process, address, bytes(original), bytes(patched))

    def __len__(self) -> int:
        return len(self.patched)

    @property
    def is_applied(self) -> bool:
        """True if the process holds the patched bytes now."""
        return self.process.read(self.address, len(self.patched)) == self.patched

    def restore(self, *, wait: float = 2.0) -> None:
        """Puts the original bytes back. Raises (and changes nothing) if the bytes there are no
        longer the patch's, or a thread keeps executing inside them."""
        if self.restored:
            return
        _native.patch_restore(
            self.process._native, self.address, self.original, self.patched, wait=wait
        )
        self.restored = True
        mine = _applied.get(self.process.pid, [])
        if self in mine:
            mine.remove(self)

    def __enter__(self) -> Patch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.is_alive():
            self.restore()

    def __repr__(self) -> str:
        state = "restored" if self.restored else "applied"
        return (
            f"Patch({self.address:#x}, {self.original.hex(' ')} -> {self.patched.hex(' ')}, "
            f"{state})"
        )
