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
with memscan's ratios. ``--libmemscan PATH`` (a libmemscan.so the user built: brkzlr/libmemscan,
PINCE's engine; no recipe for it is kept here) runs memscan and libmemscan end to end (map
capture and search, from a live process) per depth, each alone in a fresh process
(``pointer_alone.py``), side by side: memscan returning its chains as a table, memscan writing
them to a file as found (as libmemscan does), and libmemscan; then it explains every chain
found by one and not the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
    ap.add_argument("--libmemscan", type=Path, help="a built libmemscan.so: also run it")
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
        if args.libmemscan is not None:
            against_libmemscan(proc, child.pid, int(target[0]), args)
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
    print(
        "\neach search alone (best of 5 runs or more, up to 0.25 s; peak = resident memory while"
        " searching, map included)"
    )
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


def against_libmemscan(
    proc: memscan.Process, pid: int, target: int, args: argparse.Namespace
) -> None:
    """memscan and libmemscan end to end, each alone per depth, and their chains compared."""
    print("\nend to end against libmemscan (map capture and search from the live process, each")
    print("alone in a fresh process, best of 3; peak = resident memory the scan added;")
    print("memscan-file writes the chains to a file as found, as libmemscan does)")
    print(f"{'depth':<6}{'tool':<14}{'chains':>9}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}"
          f"{'libmemscan / it: wall':>23}{'cpu':>6}{'peak':>6}")  # fmt: skip
    script = Path(__file__).resolve().parent / "pointer_alone.py"
    statics = [(r.start, r.end) for r in proc.region_list() if r.module]
    for depth in (int(d) for d in args.depths.split(",")):
        runs: dict[str, dict[str, float]] = {}
        chains: dict[str, set[tuple[int, tuple[int, ...]]]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for tool in ("memscan", "memscan-file", "libmemscan"):
                out = Path(tmp) / f"{tool}.jsonl"
                best: dict[str, float] | None = None
                for _ in range(3):
                    line = subprocess.run(
                        [
                            sys.executable, str(script), tool, str(pid), hex(target), str(depth),
                            str(args.max_chains), "4096", "--library", str(args.libmemscan),
                            "--chains", str(out),
                        ],
                        capture_output=True, text=True, timeout=args.timeout * 5, check=True,
                    ).stdout  # fmt: skip
                    run = json.loads(line)
                    if best is None or run["wall"] < best["wall"]:
                        best = run
                assert best is not None
                runs[tool] = best
                rows = map(json.loads, out.read_text().splitlines())
                chains[tool] = {(base, tuple(o)) for _, _, o, base in rows}
        for run in runs.values():
            run["peak_mib"] -= run["before_mib"]
        theirs = runs["libmemscan"]
        for tool, run in runs.items():
            capped = "+" if run["chains"] >= args.max_chains else ""
            ratios = (
                ""
                if tool == "libmemscan"
                else f"{theirs['wall'] / run['wall']:>23.2f}{theirs['cpu'] / run['cpu']:>6.2f}"
                f"{theirs['peak_mib'] / run['peak_mib']:>6.2f}"
            )
            print(f"{depth:<6}{tool:<14}{str(run['chains']) + capped:>9}{run['wall']:>9.3f}"
                  f"{run['cpu']:>9.3f}{run['peak_mib']:>10.1f}{ratios}")  # fmt: skip
        if max(r["chains"] for r in runs.values()) >= args.max_chains:
            print("      (capped: the two keep different subsets; not compared)")
            continue
        assert chains["memscan-file"] == chains["memscan"], "the file holds other chains"
        print("      " + explain(proc, statics, chains["memscan"], chains["libmemscan"]))


def explain(
    proc: memscan.Process,
    statics: list[tuple[int, int]],
    mine: set[tuple[int, tuple[int, ...]]],
    theirs: set[tuple[int, tuple[int, ...]]],
) -> str:
    """The chains one tool found and the other did not, by why (read in the process now)."""

    def static(a: int) -> bool:
        return any(s <= a < e for s, e in statics)

    def why(chain: tuple[int, tuple[int, ...]]) -> str:
        at, path = chain
        nodes = []
        for o in path:
            nodes.append(at)
            try:
                at = int(proc.read_value(at, "u64")) + o
            except memscan.MemscanError:
                return "unreadable now"
        if not static(nodes[0]):
            return "base outside memscan's module regions"
        if any(static(a) for a in nodes[1:]):
            return "through a static node"
        region = next((r for r in proc.region_list() if r.start <= nodes[0] < r.end), None)
        if region is not None and not region.path:
            return "base in a module's .bss (anonymous, after its file)"
        if region is not None and not region.writable:
            return "base in read-only module data (libmemscan all_rw reads writable memory)"
        return "other"

    parts = [f"{len(mine & theirs)} in both (same base address and offsets)"]
    for name, only in (("only memscan", mine - theirs), ("only libmemscan", theirs - mine)):
        reasons = Counter(why(c) for c in only)
        parts.append(f"{name} {len(only)}" + (f" {dict(reasons)}" if only else ""))
    return "; ".join(parts)


def build_anchor() -> Path:
    """Builds benchmarks/ptrscan-anchor (release) and returns its binary."""
    target_dir = os.environ.get("CARGO_TARGET_DIR", "/tmp/ptrscan-target")
    env = {**os.environ, "CARGO_TARGET_DIR": target_dir}
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ANCHOR, env=env, check=True)
    return Path(target_dir) / "release" / "ptrscan-anchor"


if __name__ == "__main__":
    main()
