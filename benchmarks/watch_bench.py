"""Watchpoint figures: hits recorded per second without loss on a target that writes a watched
global in a tight loop, and the slowdown each tool imposes on that loop, for memscan, `perf
record -e mem:ADDR:w` (the kernel's tool) and a gdb hardware watchpoint (the debugger approach
of Cheat Engine and PINCE), in one run.

    python benchmarks/watch_bench.py [--writes 200000] [--gdb-writes 2000]

Needs gcc; perf (Debian `linux-perf`) and gdb are measured when installed. Run as root (or
with perf_event_paranoid <= 1 and ptrace rights over your own processes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import memscan

HERE = Path(__file__).parent


class Loop:
    """The C target: `run(n)` makes it write the global n times and returns the loop's ns."""

    def __init__(self, binary: Path) -> None:
        self.p = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.p.stdout is not None
        self.address = int(self.p.stdout.readline(), 16)

    def run(self, n: int) -> int:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline())

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


def build(tmp: Path) -> Path:
    out = tmp / "watchloop"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / "watchloop.c")], check=True)
    return out


def baseline(binary: Path) -> float:
    """ns per write with nothing watching (best of 3 runs of 10 M writes)."""
    loop = Loop(binary)
    try:
        return min(loop.run(10_000_000) for _ in range(3)) / 10_000_000
    finally:
        loop.close()


def with_memscan(binary: Path, n: int, registers: bool) -> tuple[float, int, int, float]:
    """(ns per write, hits recorded, hits lost, seconds to record them)."""
    loop = Loop(binary)
    try:
        proc = memscan.Process(loop.p.pid)
        t = time.perf_counter()
        with proc.watch(loop.address, size=8, registers=registers) as w:
            ns = loop.run(n)
        took = time.perf_counter() - t
        return ns / n, w.hit_count, w.lost, took
    finally:
        loop.close()


def with_perf(binary: Path, n: int, tmp: Path) -> tuple[float, int, float] | None:
    """(ns per write, samples perf wrote, seconds), or None without perf."""
    if shutil.which("perf") is None:
        return None
    loop = Loop(binary)
    try:
        out = tmp / "perf.data"
        perf = subprocess.Popen(
            [
                "perf",
                "record",
                "-e",
                f"mem:{loop.address:#x}:w",
                "-p",
                str(loop.p.pid),
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # let perf attach
        t = time.perf_counter()
        ns = loop.run(n)
        took = time.perf_counter() - t
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=120)
        m = re.search(r"\((\d+) samples\)", err)
        return ns / n, int(m.group(1)) if m else -1, took
    finally:
        loop.close()


def with_gdb(binary: Path, n: int, tmp: Path) -> float | None:
    """ns per write under a gdb hardware watchpoint that continues silently, or None."""
    if shutil.which("gdb") is None:
        return None
    loop = Loop(binary)
    try:
        script = tmp / "watch.gdb"
        script.write_text(
            f"set pagination off\nwatch *(long *){loop.address:#x}\n"
            "commands\nsilent\ncontinue\nend\ncontinue\n"
        )
        gdb = subprocess.Popen(
            ["gdb", "-q", "-batch", "-p", str(loop.p.pid), "-x", str(script)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.0)  # let gdb attach and arm
        ns = loop.run(n)
        gdb.kill()
        gdb.wait()
        return ns / n
    finally:
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=200_000)
    ap.add_argument("--gdb-writes", type=int, default=2_000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("note: not root; perf and gdb may be refused", file=sys.stderr)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        binary = build(tmp)
        base = baseline(binary)
        print(f"target loop, nothing watching: {base:.2f} ns per write")
        for registers in (True, False):
            ns, hits, lost, took = with_memscan(binary, args.writes, registers)
            print(
                f"memscan watch ({'with' if registers else 'without'} registers): "
                f"{ns / 1000:.1f} us per write ({ns / base:,.0f}x slower), "
                f"{hits:,} of {args.writes:,} hits recorded, {lost:,} lost, "
                f"{hits / took:,.0f} hits/s"
            )
        perf = with_perf(binary, args.writes, tmp)
        if perf:
            pns, samples, ptook = perf
            print(
                f"perf record -e mem:ADDR:w: {pns / 1000:.1f} us per write "
                f"({pns / base:,.0f}x slower), {samples:,} samples, {samples / ptook:,.0f} hits/s"
            )
        gdb = with_gdb(binary, args.gdb_writes, tmp)
        if gdb:
            print(f"gdb hardware watchpoint: {gdb / 1000:.1f} us per write ({gdb / base:,.0f}x)")
        if perf:
            print(
                "ratio: memscan hits/s (without registers) / perf hits/s = "
                f"{hits / took / (samples / ptook):.2f}"
            )
        if gdb:
            print(f"ratio: gdb slowdown / memscan slowdown (without registers) = {gdb / ns:.1f}")


if __name__ == "__main__":
    main()
