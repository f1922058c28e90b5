"""A target process for the differential tests: anonymous regions of given sizes and
permissions, filled and written on command.

Run as a script (``python random_target.py LAYOUT_JSON``) it maps the regions described by the
layout, prints one JSON line ``{"pid": ..., "regions": [{"start", "size", "writable"}, ...]}`` and
answers JSON-line commands on stdin, one ``{"ok": true}`` (or ``{"error": ...}``) line each:

* ``{"op": "fill", "fills": [[index, mode, seed, alphabet], ...]}``: region ``index`` gets bytes
  from ``seed``; ``mode`` is ``"zero"``, ``"random"`` (uniform bytes) or ``"alphabet"`` (bytes
  drawn from the list ``alphabet``, so that values, NaNs and strings repeat and overlap);
* ``{"op": "write", "writes": [[address, hex], ...]}``: writes the bytes, in order (later writes
  win where they overlap), to writable and read-only regions alike (through /proc/self/mem);
* ``{"op": "exit"}``.

It exits when stdin closes or its parent dies (``PR_SET_PDEATHSIG``).

The layout is a list of ``{"pages": n, "writable": bool, "gap": pages}`` in address order:
``gap`` pages of ``PROT_NONE`` precede the region. The whole layout is carved out of one
``PROT_NONE`` reservation with a guard page at each end, so the regions never merge with other
mappings; two adjacent regions must differ in permissions (or be separated by a gap), else the
kernel merges them into one mapping.

Imported, it gives :class:`RandomTarget`, the parent's handle on such a process.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

PR_SET_PDEATHSIG = 1
PAGE = mmap.PAGESIZE
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x10, 0x20, 0x4000
MAP_FAILED = ctypes.c_void_p(-1).value


# -- the target process -------------------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


def _map_layout(libc: ctypes.CDLL, layout: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    total = sum(r["gap"] + r["pages"] for r in layout) + 2
    base = libc.mmap(
        None, total * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0
    )
    if base in (None, MAP_FAILED):
        raise OSError(ctypes.get_errno(), "mmap reservation failed")
    at = base + PAGE
    regions = []
    for r in layout:
        at += r["gap"] * PAGE
        size = r["pages"] * PAGE
        got = libc.mmap(
            at, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0
        )
        if got != at:
            raise OSError(ctypes.get_errno(), f"mmap at {at:#x} failed")
        ctypes.memset(at, 0, size)  # fault the pages in
        if not r["writable"] and libc.mprotect(at, size, PROT_READ) != 0:
            raise OSError(ctypes.get_errno(), f"mprotect at {at:#x} failed")
        regions.append({"start": at, "size": size, "writable": bool(r["writable"])})
        at += size
    return regions


def _fill_bytes(size: int, mode: str, seed: int, alphabet: Sequence[int]) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    if mode == "zero":
        return bytes(size)
    if mode == "random":
        return rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    if mode == "alphabet":
        return rng.choice(np.array(alphabet, dtype=np.uint8), size).tobytes()
    raise ValueError(f"unknown fill mode {mode!r}")


def main() -> None:
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    libc = _libc()
    regions = _map_layout(libc, json.loads(sys.argv[1]))
    # Writes go through /proc/self/mem, which writes read-only private pages too (FOLL_FORCE).
    mem = os.open("/proc/self/mem", os.O_RDWR)
    out = sys.stdout
    out.write(json.dumps({"pid": os.getpid(), "regions": regions}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "exit":
                break
            if op == "fill":
                for index, mode, seed, alphabet in cmd["fills"]:
                    r = regions[index]
                    data = _fill_bytes(r["size"], mode, seed, alphabet)
                    if os.pwrite(mem, data, r["start"]) != len(data):
                        raise OSError(f"short fill of region {index}")
            elif op == "write":
                for address, hexdata in cmd["writes"]:
                    data = bytes.fromhex(hexdata)
                    if os.pwrite(mem, data, address) != len(data):
                        raise OSError(f"short write at {address:#x}")
            else:
                raise ValueError(f"unknown op {op!r}")
            reply: dict[str, Any] = {"ok": True}
        except Exception as e:  # report, keep serving
            reply = {"error": repr(e)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# -- the parent's handle ------------------------------------------------------------------------


class TargetError(RuntimeError):
    pass


class RandomTarget:
    """A running target: its pid, its regions as ``(start, end, writable)``, and commands."""

    def __init__(self, layout: Sequence[dict[str, Any]]) -> None:
        self.layout = list(layout)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(self.layout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.pid: int = hello["pid"]
        self.regions: list[tuple[int, int, bool]] = [
            (r["start"], r["start"] + r["size"], r["writable"]) for r in hello["regions"]
        ]

    def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise TargetError("the target exited")
        reply = json.loads(line)
        if "error" in reply:
            raise TargetError(reply["error"])

    def fill(self, fills: Sequence[tuple[int, str, int, Sequence[int]]]) -> None:
        """Refills regions: ``(index, mode, seed, alphabet)`` each (see the module doc)."""
        self.command(op="fill", fills=[[i, m, s, list(a)] for i, m, s, a in fills])

    def write(self, writes: Sequence[tuple[int, bytes]]) -> None:
        """Writes ``(address, bytes)`` in order. Bytes outside the regions are dropped (a write
        that crosses from one region into an adjacent one lands in both)."""
        pieces = []
        for address, data in writes:
            for start, end, _ in self.regions:
                lo, hi = max(address, start), min(address + len(data), end)
                if lo < hi:
                    pieces.append([lo, data[lo - address : hi - address].hex()])
        if pieces:
            self.command(op="write", writes=pieces)

    def read(self, address: int, size: int) -> bytes:
        """Reads the target's memory through ``/proc/PID/mem`` (not through memscan)."""
        with open(f"/proc/{self.pid}/mem", "rb", buffering=0) as f:
            f.seek(address)
            data = f.read(size)
        if len(data) != size:
            raise TargetError(f"short read at {address:#x}")
        return data

    def exit(self) -> None:
        """Asks the target to exit (does not reap it: it stays a zombie until :meth:`close`)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass

    def __enter__(self) -> RandomTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
