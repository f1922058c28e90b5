"""Pointer-scan figures: pointer-map build speed and chains found per second at several depths,
on a Python process with numpy and polars loaded (a realistic, pointer-dense heap).

    python benchmarks/pointer_bench.py [--depths 3,5,7] [--max-chains 100000]

Prints the pointer map's size and GB/s over the memory it reads, then one line per depth.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import memscan

TARGET = (
    "import numpy, polars, sys\nx = [1234.5678125]\nprint('ready', flush=True)\nsys.stdin.read()\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="3,5,7")
    ap.add_argument("--max-chains", type=int, default=100_000)
    args = ap.parse_args()
    child = subprocess.Popen(
        [sys.executable, "-c", TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        proc = memscan.Process(child.pid)
        homes = sum(
            r.size
            for r in proc.region_list()
            if r.readable and not r.executable and (r.writable or r.module)
        )
        t = time.perf_counter()
        pm = proc.pointer_map(progress=None)
        build = time.perf_counter() - t
        print(
            f"pointer map: {len(pm):,} pointers from {homes / 2**20:.0f} MiB "
            f"in {build:.2f} s ({homes / build / 1e9:.2f} GB/s)"
        )
        target = proc.scan("f64", 1234.5678125, alignment=8).addresses[:1]
        for depth in (int(d) for d in args.depths.split(",")):
            t = time.perf_counter()
            chains = proc.pointer_scan(
                target, max_depth=depth, max_chains=args.max_chains, pointer_map=pm
            )
            took = time.perf_counter() - t
            print(
                f"depth {depth}: {len(chains):,} chains in {took:.2f} s "
                f"({len(chains) / took:,.0f} chains/s)"
            )
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
