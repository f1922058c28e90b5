#!/usr/bin/env python3
"""Benchmark memory images on one target whose memory is half zeros: capture speed against the
raw read limit (``readlimit.c``) and against ``gcore``; the image's size against the target's
RSS and the core file's size; a first exact scan of the image (file in the page cache) against
a first exact scan of the live process. See README.md ("Memory images").

The target is a Python process holding N MiB (``--size``) of anonymous memory in stripes of
64 KiB: every other stripe pseudo-random (no aligned slot equal to VALUE), the others written
with zeros (so their pages are present, as in a process that cleared its buffers), and VALUE at
K aligned slots of the random stripes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scan_bench import VALUE, Child, LineTool, build, proc_status_kib  # noqa: E402

STRIPE = 64 << 10

TARGET = r"""
import sys
import numpy as np

mib, k, seed, value, stripe = (int(x) for x in sys.argv[1:])
a = np.empty((mib << 20) // 4, dtype=np.uint32)
s = stripe // 4
m = a.reshape(-1, 2, s)  # [stripe pair, random|zero, slot]
m[:, 1, :] = 0  # written zeros: the pages are present
rng = np.random.default_rng(seed)
for i in range(0, m.shape[0], 8):  # small temporaries: no stale random copies left behind
    r = rng.integers(0, 2**32, size=m[i : i + 8, 0, :].shape, dtype=np.uint32)
    r[r == value] ^= 1
    m[i : i + 8, 0, :] = r
    del r
rows = rng.choice(m.shape[0], size=k, replace=False)
cols = rng.integers(0, s, size=k)
m[rows, 0, cols] = value
del rows, cols
print("ready", flush=True)
sys.stdin.read()
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def gb(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9


def mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def drop_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def read_through(path: Path) -> None:
    """Reads a file once, so that it is in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def limit_scan(pid: int, repeat: int) -> dict[str, Any]:
    """readlimit.c's first exact scan (1 MiB process_vm_readv reads of every rw-p anonymous
    mapping, aligned int32 compare), best of ``repeat``."""
    exe = build("readlimit")
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        tool = LineTool([str(exe), "exact", str(pid), str(VALUE)], 120)
        try:
            rec = tool.step("scan")
        finally:
            tool.close(kill=True)
        if best is None or rec["seconds"] < best["seconds"]:
            best = rec
    assert best is not None
    return best


def run(args: argparse.Namespace) -> dict[str, Any]:
    import memscan

    memscan.Scanner.progress = None
    work = Path(tempfile.mkdtemp(prefix="image-bench-", dir=args.dir))
    res: dict[str, Any] = {"size_mib": args.size, "k": args.k}
    log(f"starting the {args.size} MiB target")
    t0 = time.perf_counter()
    target = Child(
        [sys.executable, "-c", TARGET]
        + [str(x) for x in (args.size, args.k, args.seed, VALUE, STRIPE)]
    )
    try:
        target.read_until(re.compile(rb"ready\n"), 600)
        pid = target.pid
        res["setup_s"] = time.perf_counter() - t0
        res["rss"] = proc_status_kib(pid)["VmRSS"] * 1024
        proc = memscan.Process(pid)
        regions = proc.regions().to_polars()
        readable = regions.filter(readable=True)
        res["readable_bytes"] = int(readable["size"].sum())
        res["writable_bytes"] = int(readable.filter(writable=True)["size"].sum())

        log("raw read limit (readlimit.c)")
        lim = limit_scan(pid, args.limit_repeat)
        res["limit"] = lim

        log("memscan save_image")
        image = work / "target.msimg"
        caps = []
        for _ in range(args.capture_repeat):
            drop_file(image)
            seconds, info = timed(lambda: proc.save_image(image, progress=None))
            caps.append({"seconds": seconds, **info})
        res["capture"] = min(caps, key=lambda c: c["seconds"])
        res["captures"] = caps

        res["gcore"] = None
        if shutil.which("gcore") and not args.skip_gcore:
            log("gdb attach + detach alone")
            seconds, _ = timed(
                lambda: subprocess.run(
                    ["gdb", "-nx", "-batch", "-p", str(pid)], capture_output=True, check=True
                )
            )
            res["gdb_attach_s"] = seconds
            log("gcore")
            seconds, _ = timed(
                lambda: subprocess.run(
                    ["gcore", "-o", str(work / "core"), str(pid)], capture_output=True, check=True
                )
            )
            core = work / f"core.{pid}"
            st = core.stat()
            res["gcore"] = {
                "seconds": seconds,
                "file_bytes": st.st_size,
                "disk_bytes": st.st_blocks * 512,
            }

        log("first exact scans: live process, image (file in the page cache)")
        read_through(image)
        scans: dict[str, list[dict[str, Any]]] = {"live": [], "image": [], "core": []}
        for _ in range(args.scan_repeat):
            seconds, s = timed(lambda: memscan.Process(pid).scan("i32", VALUE))
            scans["live"].append({"seconds": seconds, "count": len(s)})
            t_open, img = timed(lambda: memscan.open_image(image))
            seconds, s = timed(lambda img=img: img.scan("i32", VALUE))
            scans["image"].append({"seconds": seconds, "open_s": t_open, "count": len(s)})
            if res["gcore"] is not None:
                t_open, img = timed(lambda: memscan.open_image(work / f"core.{pid}"))
                seconds, s = timed(lambda img=img: img.scan("i32", VALUE))
                scans["core"].append({"seconds": seconds, "open_s": t_open, "count": len(s)})
        res["scans"] = {
            k: min(v, key=lambda r: r["seconds"]) if v else None for k, v in scans.items()
        }
        res["scan_runs"] = scans
    finally:
        target.close(kill=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


def report(res: dict[str, Any]) -> list[str]:
    lim, cap, core = res["limit"], res["capture"], res["gcore"]
    sc = res["scans"]
    lim_gbs = gb(lim["bytes"], lim["seconds"])
    cap_gbs = gb(cap["memory_bytes"], cap["seconds"])
    out = [
        f"== {res['size_mib']} MiB target: half random, half written zeros (64 KiB stripes), "
        f"K={res['k']} x {VALUE} ==",
        f"target RSS {mib(res['rss'])}; readable mappings {mib(res['readable_bytes'])}, "
        f"writable {mib(res['writable_bytes'])}",
        "",
        f"{'capture':<34}{'time':>10}{'GB/s':>8}   bytes",
        f"{'raw read limit (C readv + compare)':<34}{lim['seconds']:>9.3f}s{lim_gbs:>8.2f}   "
        f"{mib(lim['bytes'])} (rw-p anonymous)",
        f"{'memscan save_image (incl. fsync)':<34}{cap['seconds']:>9.3f}s{cap_gbs:>8.2f}   "
        f"{mib(cap['memory_bytes'])} ({cap['regions']} readable regions)",
    ]
    if core is not None:
        core_gbs = gb(cap["memory_bytes"], core["seconds"])
        out.append(
            f"{'gcore (gdb)':<34}{core['seconds']:>9.3f}s{core_gbs:>8.2f}   "
            f"(gdb attach + detach alone {res['gdb_attach_s']:.2f} s; GB/s over the same bytes)"
        )
    out += [
        "",
        f"{'sizes':<34}{'bytes':>14}",
        f"{'target RSS':<34}{mib(res['rss']):>14}",
        f"{'image: stored pages (before LZ4)':<34}{mib(cap['stored_bytes']):>14}",
        f"{'image file':<34}{mib(cap['file_bytes']):>14}",
    ]
    if core is not None:
        out.append(
            f"{'core file (gcore)':<34}{mib(core['file_bytes']):>14}   "
            f"({mib(core['disk_bytes'])} on disk)"
        )
    out += ["", f"{'first exact scan (i32, writable)':<34}{'time':>10}{'GB/s':>8}   hits"]
    wb = res["writable_bytes"]
    for name, label in [
        ("live", "live process"),
        ("image", "image (in page cache)"),
        ("core", "core file (in page cache)"),
    ]:
        r = sc.get(name)
        if r is None:
            continue
        extra = f" (open {r['open_s'] * 1e3:.1f} ms)" if "open_s" in r else ""
        out.append(
            f"{label:<34}{r['seconds']:>9.3f}s{gb(wb, r['seconds']):>8.2f}   {r['count']}{extra}"
        )
    cap_ratio = cap_gbs / lim_gbs
    scan_ratio = sc["live"]["seconds"] / sc["image"]["seconds"]
    out += ["", "ratios and the issue's goals:"]
    out.append(
        f"  capture / raw read limit (GB/s)      {cap_ratio:5.2f}   goal >= 0.50: "
        f"{'met' if cap_ratio >= 0.5 else 'NOT met'}"
    )
    if core is not None:
        size_ratio = cap["file_bytes"] / core["file_bytes"]
        out.append(
            f"  image / core file (size)             {size_ratio:5.3f}  goal <= 0.50: "
            f"{'met' if size_ratio <= 0.5 else 'NOT met'}"
        )
        out.append(
            f"  capture speed / gcore's              {core['seconds'] / cap['seconds']:5.2f}x"
        )
    out.append(f"  image / RSS (size)                   {cap['file_bytes'] / res['rss']:5.2f}")
    out.append(
        f"  image scan / live scan (speed)       {scan_ratio:5.2f}   goal >= 0.50: "
        f"{'met' if scan_ratio >= 0.5 else 'NOT met'}"
    )
    if sc["image"]["count"] != sc["live"]["count"]:
        out.append(
            f"  CHECK FAILED: image hits {sc['image']['count']} != live {sc['live']['count']}"
        )
    elif sc["live"]["count"] < res["k"]:
        out.append(f"  CHECK FAILED: {sc['live']['count']} hits, fewer than K={res['k']}")
    else:
        out.append(
            f"  check: image and live scans agree ({sc['live']['count']} hits, K={res['k']})"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="target memory, MiB (default 512)")
    ap.add_argument("--k", type=int, default=1000, help="slots holding VALUE")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit-repeat", type=int, default=3)
    ap.add_argument("--capture-repeat", type=int, default=2)
    ap.add_argument("--scan-repeat", type=int, default=3)
    ap.add_argument("--skip-gcore", action="store_true")
    ap.add_argument("--dir", default=None, help="folder for the image and core (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the image and core file")
    ap.add_argument("--json", default=None, help="write every measurement to this file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args)
    res["total_s"] = time.perf_counter() - t0
    print("\n".join(report(res)))
    print(f"(whole run {res['total_s']:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
