"""Structure figures, with ground truth: dissection accuracy against DWARF (the C target
tests/targets/structs.c, built with -g, its layouts from gdb's ``ptype /o``) from one snapshot
and over time, pointer-target accuracy, what dissection says of CPython objects (whose layout
is known), the time to dissect 4 KiB of samples, and ``read_structs`` of 100,000 heap objects
against one raw read of the same memory.

    python benchmarks/struct_bench.py [--over 1.0] [--instances 100000]

Run as root (or with ptrace rights over your own processes); needs gcc and gdb.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import memscan
from memscan.structures import sample_rows

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.dwarf import accuracy, struct_fields  # noqa: E402

#: What each pointer field of the C target points at: a phrase its evidence must hold.
POINTER_TRUTH = {
    ("entity", 0): "function table",
    ("entity", 64): "points at text",
    ("entity", 72): "heap block",
    ("entity", 80): "heap",
    ("stats", 56): "stats_tick",
    ("weapon", 24): "heap block",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--over", type=float, default=1.0, help="seconds sampled per structure")
    ap.add_argument("--instances", type=int, default=100_000, help="objects for read_structs")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    accuracy_table(args)
    cpython_objects()
    speed(args)


def accuracy_table(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp()) / "structs"
    src = ROOT / "tests" / "targets" / "structs.c"
    subprocess.run(["gcc", "-g", "-O1", "-pthread", "-o", out, src, "-lm"], check=True)
    p = subprocess.Popen([out], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        _, world, n, size, weapons, stats = p.stdout.readline().split()
        proc = memscan.Process(p.pid)
        objects = [("entity", int(world, 16) + i * int(size)) for i in range(int(n))]
        objects += [("weapon", int(weapons, 16)), ("stats", int(stats, 16))]
        sizes = {"entity": int(size), "weapon": 32, "stats": 64}
        print(f"accuracy against DWARF: {len(objects)} objects of 3 struct types")
        print(f"{'struct':8} {'fields':>6} {'snapshot':>9} {'over':>6}  missed over time")
        totals = {"snap": [0, 0], "over": [0, 0], "ptr": [0, 0]}
        rows: dict[str, list] = {}
        for name, address in objects:
            truth = struct_fields(out, name)
            snap = proc.dissect(address, sizes[name])
            over = proc.dissect(address, sizes[name], over=args.over)
            s_share, _ = accuracy(truth, snap.fields)
            o_share, missed = accuracy(truth, over.fields)
            for key, share in (("snap", s_share), ("over", o_share)):
                totals[key][0] += round(share * len(truth))
                totals[key][1] += len(truth)
            for (struct, offset), phrase in POINTER_TRUTH.items():
                if struct == name:
                    try:
                        f = over[offset]
                    except KeyError:
                        f = None
                    ok = f is not None and f.type == "ptr" and phrase in f.evidence + f.points_to
                    totals["ptr"][0] += ok
                    totals["ptr"][1] += 1
            rows.setdefault(name, []).append((len(truth), s_share, o_share, missed))
        for name, got in rows.items():
            fields = got[0][0]
            snap = statistics.mean(g[1] for g in got)
            over = statistics.mean(g[2] for g in got)
            missed = sorted({f"{m.name}({m.declaration.split()[0]})" for g in got for m in g[3]})
            print(f"{name:8} {fields:6d} {snap:9.0%} {over:6.0%}  {', '.join(missed) or '-'}")
        s, o, ptr = totals["snap"], totals["over"], totals["ptr"]
        print(
            f"{'all':8} {o[1]:6d} {s[0] / s[1]:9.0%} {o[0] / o[1]:6.0%}  "
            f"pointer targets right: {ptr[0]}/{ptr[1]}"
        )
    finally:
        p.kill()
        p.wait()


CPYTHON = """
import sys
x = 2.718281828
items = [1, 2, 3]
print(id(x), id(items), id(type(x)), flush=True)
sys.stdin.read()
"""


def cpython_objects() -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", CPYTHON], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        fl, ls, _ = (int(v) for v in p.stdout.readline().split())
        proc = memscan.Process(p.pid)
        print("\nCPython objects (known: PyObject_HEAD = ob_refcnt i64, ob_type pointer):")
        for label, address, size, known in (
            ("float 2.718281828", fl, 24, "ob_refcnt, ob_type -> PyFloat_Type, f64 ob_fval"),
            (
                "list [1, 2, 3]",
                ls,
                40,
                "ob_refcnt, ob_type -> PyList_Type, ob_size, ob_item, allocated",
            ),
        ):
            layout = proc.dissect(address, size)
            print(f"  {label} ({known}):")
            for f in layout:
                print(f"    +{f.offset:<3} {f.type:5} {f.value:>22}  {f.points_to or f.evidence}")
    finally:
        p.kill()
        p.wait()


INSTANCES = """
import ctypes, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
n = int(sys.argv[1])
addrs = [libc.malloc(112) for _ in range(n)]
for i, a in enumerate(addrs):
    ctypes.memset(a, i % 251, 112)
with open(sys.argv[2], "w") as f:
    f.write("\\n".join(map(str, addrs)))
print("ready", flush=True)
sys.stdin.read()
"""


def speed(args: argparse.Namespace) -> None:
    print("\nspeed:")
    listing = Path(tempfile.mkdtemp()) / "addresses"
    p = subprocess.Popen(
        [sys.executable, "-c", INSTANCES, str(args.instances), str(listing)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        proc = memscan.Process(p.pid)
        addrs = np.array(listing.read_text().split(), dtype=np.uint64)
        layout = memscan.Layout.from_c(
            "struct s { int64_t a; int32_t b[4]; double c; char d[16]; uint8_t e[64]; };"
        )
        assert layout.size == 112

        def best(f) -> float:
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                f()
                times.append(time.perf_counter() - t)
            return min(times)

        lo, hi = int(addrs.min()), int(addrs.max()) + 112
        raw = best(lambda: proc.read(lo, hi - lo))
        structs = best(lambda: proc.read_structs(addrs, layout))
        one = 1000
        each = best(lambda: [proc.read_struct(int(a), layout) for a in addrs[:one]])
        mb = len(addrs) * 112 / 1e6
        print(
            f"  read_structs of {len(addrs):,} heap objects of 112 bytes: {structs * 1e3:.1f} ms "
            f"({mb / structs:.0f} MB/s of fields; {len(addrs) / structs / 1e6:.2f} M rows/s)"
        )
        print(
            f"  raw read of the {(hi - lo) / 1e6:.1f} MB they span, one call: {raw * 1e3:.1f} ms "
            f"({(hi - lo) / 1e6 / raw:.0f} MB/s)"
        )
        print(
            f"  read_struct one by one: {each / one * 1e6:.0f} us each "
            f"({each / one * len(addrs) / structs:.0f}x slower for all)"
        )
        rows = sample_rows(proc, addrs[:1], 4096, args.over)[:, 0, :]
        took = best(lambda: proc.dissect(int(addrs[0]), 4096, over=rows))
        print(f"  dissect 4 KiB from {rows.shape[0]} samples ({args.over} s): {took * 1e3:.0f} ms")
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
