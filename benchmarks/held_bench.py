#!/usr/bin/env python3
"""What unknown-value scans hold, and what they cost when several are kept.

* ``heap``: a child Python process with polars and numpy imported and 300 k small dicts; an
  unknown-value i32 scan of its rw-p memory, held and with ``compress=True``: bytes held, seconds.
* ``kept``: the 1 GiB target of ``scan_bench.py`` (random fill); four unknown-value scans kept
  alive one after another (each one writes fresh memory): seconds of each.

    python benchmarks/held_bench.py            # both
    python benchmarks/held_bench.py --only heap
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_bench import VALUE, build

import memscan

HEAP_TARGET = (
    "import sys, polars, numpy\n"
    "d = [{'k': i, 's': str(i) * 3} for i in range(300_000)]\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def heap() -> None:
    t = subprocess.Popen(
        [sys.executable, "-c", HEAP_TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert t.stdout is not None
        t.stdout.readline()
        p = memscan.Process(t.pid)
        regions = [r for r in p.region_list() if r.perms == "rw-p"]
        covered = sum(r.size for r in regions)
        for compress in (False, True):
            s = p.scanner("i32", regions=regions, compress=compress)
            t0 = time.perf_counter()
            s.first("any")
            seconds = time.perf_counter() - t0
            print(
                f"heap: compress={compress}: held {s.nbytes / 2**20:.1f} MiB of "
                f"{covered / 2**20:.0f} MiB rw-p memory in {seconds:.3f} s"
            )
    finally:
        t.kill()
        t.wait()


def kept(count: int = 4) -> None:
    exe = build("target")
    t = subprocess.Popen(
        [str(exe), "1024", "1000", "7", str(VALUE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert t.stdout is not None
        pid = int(t.stdout.readline().split()[1])
        p = memscan.Process(pid)
        scans, times = [], []
        for _ in range(count):
            s = p.scanner("i32")
            t0 = time.perf_counter()
            s.first("any")
            times.append(time.perf_counter() - t0)
            scans.append(s)
        print("kept: 1 GiB unknown-value scans, each kept:", ", ".join(f"{x:.3f} s" for x in times))
    finally:
        t.kill()
        t.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["heap", "kept"])
    args = ap.parse_args()
    if args.only in (None, "heap"):
        heap()
    if args.only in (None, "kept"):
        kept()


if __name__ == "__main__":
    main()
