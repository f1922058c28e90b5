"""Pointer-scan figures: pointer-map build speed and chains found per second at several depths,
on a Python process with numpy and polars loaded (a realistic, pointer-dense heap).

    python benchmarks/pointer_bench.py [--depths 3,5,7] [--max-chains 100000] [--builds 5]
                                       [--ptrscan]

Prints the pointer map's size and GB/s over the memory it reads (best of ``--builds`` from
Python), then the same build from Rust beside the read limit: one thread reading the same
regions in 1 MiB pieces (benchmarks/ptrscan-anchor ``--map-only``, built with cargo into
$CARGO_TARGET_DIR, default /tmp/ptrscan-target), then one line per depth. ``--ptrscan`` also
saves the map and runs the anchor's comparison (ptrscan 1.0, the core of PointerSearcher-X,
beside memscan on that same map) with the chains compared; then each search alone in its own
process (``--only``) for a table of wall time, CPU time and peak resident memory side by side,
with memscan's ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars  # noqa: F401  (memscan imports it lazily: not inside the first timing)

import memscan

ANCHOR = Path(__file__).resolve().parent / "ptrscan-anchor"

TARGET = (
    "import numpy, polars, sys\nx = [1234.5678125]\nprint('ready', flush=True)\nsys.stdin.read()\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="3,5,7")
    ap.add_argument("--max-chains", type=int, default=100_000)
    ap.add_argument("--builds", type=int, default=5, help="map builds timed (best shown)")
    ap.add_argument("--ptrscan", action="store_true", help="also run the ptrscan anchor")
    ap.add_argument("--timeout", type=float, default=120.0, help="per ptrscan search (s)")
    args = ap.parse_args()
    anchor = build_anchor()
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
        builds = []
        for _ in range(max(args.builds, 1)):
            t = time.perf_counter()
            pm = proc.pointer_map(progress=None)
            builds.append(time.perf_counter() - t)
        build = min(builds)
        print(
            f"pointer map (Python, best of {len(builds)}): {len(pm):,} pointers from "
            f"{homes / 2**20:.0f} MiB in {build:.3f} s ({homes / build / 1e9:.2f} GB/s)"
        )
        target = proc.scan("f64", 1234.5678125, alignment=8).addresses[:1]
        print("the same build from Rust, and the read limit:", flush=True)
        subprocess.run(
            [
                str(anchor), "--pid", str(child.pid), "--target", hex(int(target[0])),
                "--repeat", str(max(args.builds, 1)), "--map-only",
            ],
            check=True,
        )  # fmt: skip
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
        if args.ptrscan:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "pointers.msptr"
                pm.save(path)
                print(f"\nptrscan anchor ({anchor.name}), same map and target:", flush=True)
                subprocess.run(
                    [
                        str(anchor),
                        "--map", str(path), "--pid", str(child.pid),
                        "--target", hex(int(target[0])),
                        "--depths", args.depths, "--max-chains", str(args.max_chains),
                        "--timeout", str(args.timeout),
                    ],
                    check=True,
                )  # fmt: skip
                alone(anchor, path, child.pid, hex(int(target[0])), args)
    finally:
        child.kill()
        child.wait()


ONLY = re.compile(
    r"only (\w+) depth (\d+): (\d+\+?) chains, wall ([\d.]+) s, cpu ([\d.]+) s, peak ([\d.]+) MiB"
)


def alone(anchor: Path, path: Path, pid: int, target: str, args: argparse.Namespace) -> None:
    """Each search alone in a fresh anchor process: wall, CPU and peak memory side by side."""
    rows: dict[tuple[str, int], tuple[str, float, float, float]] = {}
    for kind in ("memscan", "values", "native"):
        out = subprocess.run(
            [
                str(anchor), "--map", str(path), "--pid", str(pid), "--target", target,
                "--depths", args.depths, "--max-chains", str(args.max_chains),
                "--repeat", "5", "--only", kind,
            ],
            capture_output=True, text=True, timeout=args.timeout * 5, check=True,
        ).stdout  # fmt: skip
        for m in ONLY.finditer(out):
            rows[m[1], int(m[2])] = (m[3], float(m[4]), float(m[5]), float(m[6]))
    names = {"memscan": "memscan", "values": "ptrscan values", "native": "ptrscan native"}
    print("\neach search alone (best of 5; peak = resident memory while searching, map included)")
    print(f"{'depth':<6}{'search':<16}{'chains':>9}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}"
          f"{'memscan x wall':>16}{'x cpu':>7}{'x peak':>8}")  # fmt: skip
    for depth in (int(d) for d in args.depths.split(",")):
        mine = rows.get(("memscan", depth))
        for kind, name in names.items():
            row = rows.get((kind, depth))
            if row is None or mine is None:
                continue
            chains, wall, cpu, peak = row
            ratios = (
                ""
                if kind == "memscan"
                else f"{wall / mine[1]:>16.2f}{cpu / mine[2]:>7.2f}{peak / mine[3]:>8.2f}"
            )
            print(f"{depth:<6}{name:<16}{chains:>9}{wall:>9.4f}{cpu:>9.4f}{peak:>10.1f}{ratios}")


def build_anchor() -> Path:
    """Builds benchmarks/ptrscan-anchor (release) and returns its binary."""
    target_dir = os.environ.get("CARGO_TARGET_DIR", "/tmp/ptrscan-target")
    env = {**os.environ, "CARGO_TARGET_DIR": target_dir}
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ANCHOR, env=env, check=True)
    return Path(target_dir) / "release" / "ptrscan-anchor"


if __name__ == "__main__":
    main()
