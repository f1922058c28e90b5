"""Code figures on a real program: signature generation time per instruction, the share of
signatures found unique, and pattern search speed over a module's code against the raw read of
the same bytes (the read limit), plus the reference sweep, in one run.

    python benchmarks/code_bench.py [--module libpython3.11.so.1.0] [--instructions 200]

The target is a Python process with numpy loaded (its largest executable module is measured
unless --module names one). Run as root (or with ptrace rights over your own processes).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time

import memscan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", help="module to measure (default: the largest with code)")
    ap.add_argument("--instructions", type=int, default=200, help="signatures to make")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each timed step")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    target = subprocess.Popen(
        [sys.executable, "-c", "import numpy, sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        run(memscan.Process(target.pid), args)
    finally:
        target.kill()
        target.wait()


def run(proc: memscan.Process, args: argparse.Namespace) -> None:
    code = [r for r in proc.region_list() if r.executable and r.readable and r.module]
    sizes: dict[str, int] = {}
    for r in code:
        sizes[r.module] = sizes.get(r.module, 0) + r.size  # type: ignore[index]
    module = args.module or max(sizes, key=lambda m: sizes[m])
    regions = [r for r in code if r.module == module]
    total = sum(r.size for r in regions)
    print(f"target: python with numpy (pid {proc.pid}); module {module}, {total / 2**20:.1f} MiB")

    def best(f) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)

    read = best(lambda: [proc.read_partial(r.start, r.size) for r in regions])
    pattern = "DE AD ?? EF 13 37 C0 DE"  # absent: the whole module is searched
    search = best(lambda: proc.find_code(pattern, module=module, progress=None))
    sweep = best(lambda: proc.references(regions[0].start, module=module, progress=None))
    print(f"{'step':<34}{'seconds':>10}{'MB/s':>10}{'vs read':>10}")
    for name, s in [
        ("read_partial of the same bytes", read),
        ("find_code (AOB search)", search),
        ("references (decode every instr.)", sweep),
    ]:
        print(f"{name:<34}{s:>10.4f}{total / s / 1e6:>10.0f}{read / s:>10.2f}")

    # Instructions at random places: decode from a random offset, keep the second instruction
    # (the first may start mid-instruction).
    rng = random.Random(args.seed)
    picks = []
    while len(picks) < args.instructions:
        r = rng.choice(regions)
        at = r.start + rng.randrange(0, max(1, r.size - 64))
        rows = proc.disassemble(at, 2).to_polars()
        if len(rows) == 2 and rows["instruction"][1] != "(bad)":
            picks.append(int(rows["address"][1]))
    times: list[float] = []
    lengths: list[int] = []
    failed = 0
    for at in picks:
        t = time.perf_counter()
        try:
            sig = proc.signature(at)
            lengths.append(len(sig.pattern.split()))
            assert proc.address(sig.expression) == at
        except memscan.InvalidArgument:
            failed += 1
        times.append(time.perf_counter() - t)
    print(
        f"signatures: {len(picks)} random instructions, median {statistics.median(times) * 1e3:.1f}"
        f" ms each (p90 {sorted(times)[int(len(times) * 0.9)] * 1e3:.1f} ms, resolve included),"
        f" unique {len(picks) - failed}/{len(picks)},"
        f" median length {statistics.median(lengths) if lengths else 0:.0f} bytes"
    )


if __name__ == "__main__":
    main()
