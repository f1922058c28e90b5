#!/usr/bin/env python3
"""Benchmark memscan against the raw read limit (plain C) and scanmem on real programs.

In one run, for each target (a Python process holding numpy arrays, and the renderer of a
headless Chromium showing a page with a large Int32Array), the harness measures the present
fraction of the target's private anonymous writable memory (from /proc/PID/pagemap), then runs a
first exact i32 scan for VALUE (at K known slots) with memscan, the C raw reader (readlimit.c,
twice) and scanmem, then memscan again (after the peers have read, and so mapped, every page),
plus memscan's unknown-initial scan with its peak RSS. See README.md ("Real programs").
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scan_bench import VALUE, Child, LineTool, Scanmem, build, proc_status_kib  # noqa: E402

MASK = 0x2A5C3E91  # targets hold VALUE ^ MASK and XOR it in place: no stray copy of VALUE
PAGE = os.sysconf("SC_PAGESIZE")
PRESENT, SWAPPED, FRAME = 1 << 63, 1 << 62, (1 << 55) - 1

# --------------------------------------------------------------------------- targets

NUMPY_TARGET = r"""
import sys, numpy as np
mib, frac, k, seed, block, masked, mask = (float(a) if i == 1 else int(a)
                                            for i, a in enumerate(sys.argv[1:]))
rng = np.random.default_rng(seed)
arrays = []  # 4 arrays: two np.empty, two np.zeros; only `frac` of their blocks are written
for i in range(4):
    n = (mib << 20) // 4 // 4
    arrays.append((np.empty if i % 2 else np.zeros)(n, dtype=np.int32))
contiguous = block == 0  # block 0: the first `frac` of each array, in 256 KiB blocks
per = (block or 256 << 10) // 4
written, x, v = [], None, None
for ai, a in enumerate(arrays):
    nb = len(a) // per
    chosen = rng.random(nb) < frac if not contiguous else np.arange(nb) < round(nb * frac)
    blocks = np.flatnonzero(chosen)
    for b in blocks:
        x = rng.integers(-(2**31), 2**31, per, dtype=np.int32)
        x[(x ^ mask) == masked] = 0  # no VALUE in the fill
        a[b * per : (b + 1) * per] = x
    written += [(ai, int(b)) for b in blocks]
# ordinary interpreter memory
junk = [{"k%d" % i: list(range(i % 50)), "s": "x" * (i % 300)} for i in range(100_000)]
picks = rng.choice(len(written) * per, size=k, replace=False)
m = np.array([mask], dtype=np.int32)
for p in picks:
    ai, b = written[p // per]
    v = arrays[ai][b * per + p % per : b * per + p % per + 1]
    v[0] = masked
    np.bitwise_xor(v, m, out=v)  # in place: VALUE never exists outside the slot
del x, v, picks, m
print("ready", flush=True)
sys.stdin.readline()
"""

CHROMIUM_PAGE = """<!doctype html><title>loading</title><script>
const MIB = %(mib)d, FRAC = %(frac)r, K = %(k)d, BLOCK = %(block)d;
const MASKED = %(masked)d, MASK = %(mask)d, LO = %(lo)d, HI = %(hi)d;
const a = new Int32Array((MIB << 20) / 4), per = (BLOCK || 262144) / 4;
let s = %(seed)d | 1;
function rnd() { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s | 0; }
const written = [];
for (let b = 0; b < a.length / per; b++) {
  const r = (rnd() >>> 0) / 4294967296;  // block 0: the first FRAC of the array
  if (BLOCK ? r >= FRAC : b >= Math.round(FRAC * a.length / per)) continue;
  written.push(b);
  for (let i = b * per; i < (b + 1) * per; i++) {
    const x = rnd();
    a[i] = (x >= LO && x <= HI) ? 0 : x;  // keep clear of VALUE
  }
}
const picked = new Set();
while (picked.size < K) {
  const b = written[(rnd() >>> 0) %% written.length];
  picked.add(b * per + (rnd() >>> 0) %% per);
}
for (const i of picked) { a[i] = MASKED; a[i] ^= MASK; }
window.keep = a;
document.title = "ready " + written.length;
</script>"""


class NumpyTarget:
    """A child Python process holding numpy arrays (``--numpy-mib`` in all)."""

    name = "python+numpy"

    def __init__(self, args: argparse.Namespace):
        argv = [args.python, "-c", NUMPY_TARGET, str(args.numpy_mib), str(args.fraction)]
        argv += [str(args.k), str(args.seed), str(args.block), str(VALUE ^ MASK), str(MASK)]
        self.child = Child(argv)
        self.child.read_until(re.compile(rb"ready\n"), args.timeout)
        self.pid = self.child.pid
        self.desc = (
            f"{args.numpy_mib} MiB in 4 numpy arrays (2 np.empty, 2 np.zeros), "
            f"{layout(args)} written"
        )

    def close(self) -> None:
        """EOF on stdin ends it."""
        self.child.close()


class ChromiumTarget:
    """Headless Chromium showing a page with an Int32Array; ``pid`` is the page's renderer."""

    name = "chromium renderer"

    def __init__(self, args: argparse.Namespace):
        self.tmp = tempfile.TemporaryDirectory(prefix="memscan-real-")
        html = Path(self.tmp.name) / "page.html"
        html.write_text(
            CHROMIUM_PAGE
            % {
                "mib": args.chromium_mib,
                "frac": args.fraction,
                "k": args.k,
                "block": args.block,
                "seed": args.seed,
                "masked": to_i32(VALUE ^ MASK),
                "mask": MASK,
                "lo": VALUE - (1 << 20),
                "hi": VALUE + (1 << 20),
            }
        )
        profile = Path(self.tmp.name) / "profile"
        argv = [args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu"]
        argv += ["--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run"]
        argv += ["--disable-background-networking", "--disable-component-update"]
        argv += ["--disable-sync", "--disable-extensions", html.as_uri()]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            self.pid, self.title = self._wait_ready(profile, args.timeout)
        except BaseException:
            self.close()
            raise
        self.desc = f"Int32Array of {args.chromium_mib} MiB, {layout(args)} written ({self.title})"

    def _wait_ready(self, profile: Path, timeout: float) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        port_file = profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            if not port_file.exists() or not port_file.read_text().strip():
                continue
            port = int(port_file.read_text().split()[0])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as r:
                    pages = json.load(r)
            except OSError:
                continue
            title = next((p["title"] for p in pages if p.get("type") == "page"), "")
            if title.startswith("ready"):
                renderers = [
                    p for p in descendants(self.proc.pid) if "--type=renderer" in cmdline(p)
                ]
                if not renderers:
                    raise RuntimeError("no renderer process found")
                # The page's renderer holds the array: the largest one.
                pid = max(renderers, key=lambda p: proc_status_kib(p).get("VmRSS", 0))
                return pid, title
        raise RuntimeError("chromium page not ready in time")

    def close(self) -> None:
        """Kill the whole browser (its process group, then any descendant left)."""
        pids = descendants(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


def layout(args: argparse.Namespace) -> str:
    """Which part of the arrays the targets write."""
    if not args.block:
        return f"the first {args.fraction:.0%} of each array"
    return f"{args.fraction:.0%} of {args.block >> 10} KiB blocks at random"


def to_i32(x: int) -> int:
    """Two's complement int32 of ``x``."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= 1 << 31 else x


def cmdline(pid: int) -> str:
    """A process's command line (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """All live descendants of ``root``."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


# --------------------------------------------------------------------------- pagemap


def covered_regions(pid: int) -> list[tuple[int, int]]:
    """What readlimit.c reads: rw-p mappings with no backing file (inode 0)."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[1] == "rw-p" and parts[4] == "0":
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi))
    return out


def zero_frames() -> tuple[int, range]:
    """Frame numbers of the shared zero page and of the huge zero page (empty if none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    m = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    _ = m[0]
    zero = self_frame(addr)
    huge: range = range(0)
    big = mmap.mmap(-1, 4 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(big))
    aligned = (base + (2 << 20) - 1) & ~((2 << 20) - 1)
    libc.madvise(ctypes.c_void_p(aligned), ctypes.c_size_t(2 << 20), 14)  # MADV_HUGEPAGE
    _ = big[aligned - base]
    f0, f1 = self_frame(aligned), self_frame(aligned + PAGE)
    if f0 and f0 != zero and f1 == f0 + 1:
        huge = range(f0, f0 + 512)
    return zero, huge


def self_frame(addr: int) -> int:
    """The frame number of one of our own pages (0 if not present or hidden)."""
    with open("/proc/self/pagemap", "rb") as f:
        e = int.from_bytes(os.pread(f.fileno(), 8, addr // PAGE * 8), "little")
    return e & FRAME if e & PRESENT else 0


def page_stats(pid: int, regions: list[tuple[int, int]], zero: int, huge: range) -> dict[str, int]:
    """Pages of the regions: total, in use by memscan's rule (swapped, or present and not the
    zero page), present, mapped to the zero page, mapped to the huge zero page, swapped."""
    import numpy as np

    st = dict.fromkeys(("pages", "used", "present", "zero", "huge_zero", "swapped"), 0)
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        for lo, hi in regions:
            for at in range(lo, hi, 1 << 30):
                n = (min(hi, at + (1 << 30)) - at) // PAGE
                e = np.frombuffer(os.pread(f.fileno(), 8 * n, at // PAGE * 8), dtype=np.uint64)
                present = (e & np.uint64(PRESENT)) != 0
                swapped = (e & np.uint64(SWAPPED)) != 0
                frame = e & np.uint64(FRAME)
                on_zero = present & (frame == np.uint64(zero)) if zero else present & False
                on_huge = present & (frame >= huge.start) & (frame < huge.stop) if huge else 0
                st["pages"] += len(e)
                st["present"] += int(present.sum())
                st["swapped"] += int(swapped.sum())
                st["zero"] += int(np.sum(on_zero))
                st["huge_zero"] += int(np.sum(on_huge))
                st["used"] += int(np.sum(swapped | (present & ~on_zero)))
    return st


# --------------------------------------------------------------------------- memscan worker


def worker(pid: int) -> None:
    """In the memscan subprocess: one JSON line per command read from stdin."""
    import memscan

    def emit(obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    def status() -> dict[str, int]:
        return proc_status_kib(os.getpid())

    p = memscan.Process(pid)
    emit({"ready": 1})
    for line in sys.stdin:
        cmd = line.strip()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
            base = status().get("VmRSS", 0)
            t0 = time.perf_counter()
            if cmd == "default":  # every writable region, memscan's default
                s = p.scan("i32", VALUE)
                regions = s.region_list()
            else:  # the regions readlimit.c reads: rw-p, no backing file
                regions = [r for r in p.region_list() if r.perms == "rw-p" and r.inode == 0]
                value = VALUE if cmd == "exact" else None
                s = p.scan("i32", value, regions=regions, compress=cmd == "unknown-packed")
            count = len(s)
            seconds = time.perf_counter() - t0
            held = s.nbytes
            rec = {"step": cmd, "seconds": seconds, "count": count, "held": held}
            if cmd.startswith("unknown"):  # a next scan over the snapshot (unpacking it if packed)
                t1 = time.perf_counter()
                s.next("changed")
                rec["next_seconds"] = time.perf_counter() - t1
            nbytes = sum(r.size for r in regions)
            del s
            rec.update(bytes=nbytes, regions=len(regions), base_kib=base)
            emit({**rec, "hwm_kib": status().get("VmHWM", 0)})
        except Exception as e:
            emit({"step": cmd, "error": f"{type(e).__name__}: {e}"})


class Memscan:
    """The memscan worker subprocess."""

    def __init__(self, args: argparse.Namespace, pid: int):
        self.timeout = args.timeout
        self.child = Child([args.python, str(Path(__file__).resolve()), "--worker", str(pid)])
        rec = json.loads(self.child.read_until(re.compile(rb"[^\n]*\n"), args.timeout).group(0))
        if "error" in rec:
            raise RuntimeError(rec["error"])

    def run(self, cmd: str) -> dict[str, Any]:
        """One scan: exact, unknown or default."""
        self.child.send(cmd)
        line = self.child.read_until(re.compile(rb"[^\n]*\n"), self.timeout).group(0)
        return json.loads(line)

    def close(self) -> None:
        """EOF on stdin ends it."""
        self.child.close()


# --------------------------------------------------------------------------- one target


def run_target(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement on one fresh target."""
    log(f"{kind}: starting target")
    t0 = time.perf_counter()
    target = NumpyTarget(args) if kind == "numpy" else ChromiumTarget(args)
    res: dict[str, Any] = {"target": target.name, "pid": target.pid, "desc": target.desc}
    res["setup_s"] = time.perf_counter() - t0
    time.sleep(args.settle)  # let the target go idle (a renderer runs a while after load)
    zero, huge = args.zero, args.huge
    steps: dict[str, Any] = {}
    res["steps"] = steps
    ms = None
    try:
        pid = target.pid
        regions = covered_regions(pid)
        res["regions"], res["covered"] = len(regions), sum(h - lo for lo, h in regions)
        res["rss_before_kib"] = proc_status_kib(pid).get("VmRSS", 0)
        res["pages_before"] = page_stats(pid, regions, zero, huge)
        ms = Memscan(args, pid)
        log(f"{kind}: memscan (fresh)")
        steps["memscan 1"] = ms.run("exact")
        res["pages_after_memscan"] = page_stats(pid, regions, zero, huge)
        steps["memscan unknown 1"] = ms.run("unknown")
        res["pages_after_memscan_unknown"] = page_stats(pid, regions, zero, huge)
        for i in (1, 2):
            log(f"{kind}: C reader {i}")
            lim = LineTool([str(args.readlimit), "exact", str(pid), str(VALUE)], args.timeout)
            steps[f"C reader {i}"] = lim.step("scan")
            lim.close()
        res["pages_after_c"] = page_stats(pid, regions, zero, huge)
        if args.scanmem:
            log(f"{kind}: scanmem")
            sm = Scanmem(target, "exact", args.timeout)  # type: ignore[arg-type]
            steps["scanmem"] = sm.step("scan")
            sm.close()
            os.kill(pid, signal.SIGCONT)  # in case a tracer left it stopped
        log(f"{kind}: memscan (after the peers)")
        steps["memscan 2"] = ms.run("exact")
        steps["memscan unknown 2"] = ms.run("unknown")
        steps["memscan unknown packed"] = ms.run("unknown-packed")
        steps["memscan default"] = ms.run("default")
        res["pages_after"] = page_stats(pid, regions, zero, huge)
        res["rss_after_kib"] = proc_status_kib(pid).get("VmRSS", 0)
    finally:
        if ms is not None:
            ms.close()
        target.close()
    return res


# --------------------------------------------------------------------------- report


def report(res: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Table lines and the failed checks for one target."""
    s, cov = res["steps"], res["covered"]
    pb, pc = res["pages_before"], res["pages_after_c"]
    frac = pb["used"] / max(pb["pages"], 1)
    out = [
        f"== {res['target']} (pid {res['pid']}): {res['desc']}; set up in {res['setup_s']:.1f} s",
        f"covered: {res['regions']} rw-p mappings without a file, {cov:,} B ({cov / 2**20:.0f} MiB)"
        f"; present fraction {frac:.1%} ({pb['used']:,} of {pb['pages']:,} pages in use; "
        f"{pb['zero']} on the zero page, {pb['huge_zero']} on the huge zero page, "
        f"{pb['swapped']} swapped)",
        f"target RSS: {res['rss_before_kib'] / 1024:.0f} MiB before, "
        f"{res['rss_after_kib'] / 1024:.0f} MiB after",
    ]
    rows = [["step", "seconds", "GB/s covered", "count", "regions", "bytes", "note"]]
    notes = {
        "memscan 1": "fresh target",
        "C reader 1": "reads everything; maps the zero page on untouched pages",
        "C reader 2": "the same, pages now mapped",
        "scanmem": "region_scan_level 2, every byte offset",
        "memscan 2": "after the peers",
        "memscan default": "every writable region (default options)",
    }
    for name in (
        "memscan 1",
        "C reader 1",
        "C reader 2",
        "scanmem",
        "memscan 2",
        "memscan default",
    ):
        r = s.get(name)
        if not r:
            continue
        if "error" in r:
            rows.append([name, "error", "", "", "", "", r["error"]])
            continue
        nb = r.get("bytes", cov) if name != "scanmem" else cov
        rows.append(
            [
                name,
                f"{r['seconds']:.3f}",
                f"{nb / r['seconds'] / 1e9:.2f}" if name != "memscan default" else "",
                str(r["count"]),
                str(r.get("regions", "")),
                f"{r['bytes']:,}" if "bytes" in r else "",
                notes[name],
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out += [
        "  ".join(
            c.rjust(w) if 0 < i < 6 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]

    def sec(name: str) -> float:
        return s[name]["seconds"] if name in s and "seconds" in s[name] else float("nan")

    m1, m2, c1, c2 = sec("memscan 1"), sec("memscan 2"), sec("C reader 1"), sec("C reader 2")
    out.append(
        f"memscan / C reader speed: fresh {c1 / m1:.2f}x (memscan 1 vs C 1), "
        f"mapped {c2 / m2:.2f}x (memscan 2 vs C 2), against the faster C {min(c1, c2) / m1:.2f}x"
        f" / {min(c1, c2) / m2:.2f}x (goal >= 2x)"
    )
    if "scanmem" in s and "seconds" in s["scanmem"]:
        sm = s["scanmem"]["seconds"]
        out.append(f"scanmem / memscan time: {sm / m1:.1f}x (memscan 1), {sm / m2:.1f}x (2)")
    for i in ("1", "2", "packed"):
        u = s.get(f"memscan unknown {i}", {})
        if "seconds" in u:
            peak, base = u["hwm_kib"] << 10, u["base_kib"] << 10
            out.append(
                f"memscan unknown-initial {i}: {u['seconds']:.3f} s, "
                f"{u['bytes'] / u['seconds'] / 1e9:.2f} GB/s, {u['count']:,} candidates, "
                f"holding {u.get('held', 0) / 2**20:.0f} MiB; next scan (changed) "
                f"{u.get('next_seconds', float('nan')):.3f} s; "
                f"peak RSS {peak / 2**20:.0f} MiB (base {base / 2**20:.0f}): "
                f"(peak - base) / scanned = {(peak - base) / u['bytes']:.3f}, "
                f"peak / scanned = {peak / u['bytes']:.3f} (goal <= 0.5)"
            )
    pm, pu = res["pages_after_memscan"], res["pages_after_memscan_unknown"]
    pa = res["pages_after"]
    out.append(
        "pages present (on the zero page, on the huge zero page; in use): "
        + "; ".join(
            f"{n} {p['present']:,} ({p['zero']:,}, {p['huge_zero']:,}; {p['used']:,})"
            for n, p in (
                ("before", pb),
                ("after memscan", pm),
                ("after memscan unknown", pu),
                ("after C", pc),
                ("at the end", pa),
            )
        )
    )
    failed = []
    counts = {
        n: s[n]["count"]
        for n in ("memscan 1", "memscan 2", "C reader 1", "C reader 2")
        if "count" in s.get(n, {})
    }
    if len(set(counts.values())) != 1 or len(counts) != 4:
        failed.append(f"{res['target']}: counts differ {counts}")
    if counts.get("C reader 1") != args.k:
        out.append(f"note: C reader found {counts.get('C reader 1')}, expected K={args.k}")
    if pm["zero"] != pb["zero"] or pu["zero"] != pb["zero"]:
        out.append(
            f"note: memscan mapped the zero page on {pu['zero'] - pb['zero']:,} untouched pages "
            "(small regions, or pages in partly used chunks, are read whole)"
        )
    for n in ("memscan 1", "memscan 2"):
        if s.get(n, {}).get("bytes", cov) != cov:
            out.append(f"note: {n} covered {s[n]['bytes']:,} B, the harness listed {cov:,}")
    return out, failed


def log(msg: str) -> None:
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="numpy,chromium", help="numpy,chromium (default both)")
    ap.add_argument("--numpy-mib", type=int, default=512, help="numpy arrays in all (512)")
    ap.add_argument("--chromium-mib", type=int, default=256, help="Int32Array size (256)")
    ap.add_argument("--fraction", type=float, default=0.25, help="blocks written (0.25)")
    ap.add_argument(
        "--block",
        type=int,
        default=256 << 10,
        help="bytes a written block (256 KiB); 0: a contiguous prefix",
    )
    ap.add_argument("--k", type=int, default=1000, help="slots holding VALUE (1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120, help="seconds per step")
    ap.add_argument("--python", default=sys.executable, help="interpreter with memscan, numpy")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds idle before measuring")
    ap.add_argument("--skip-scanmem", action="store_true")
    ap.add_argument("--json", type=Path, help="also write all results to this file")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    args.readlimit = build("readlimit")
    args.scanmem = shutil.which("scanmem") is not None and not args.skip_scanmem
    args.zero, args.huge = zero_frames()
    log(f"zero page frame {args.zero:#x}, huge zero page frames {args.huge}")
    results, failed = [], []
    for kind in [t.strip() for t in args.targets.split(",") if t.strip()]:
        res = run_target(kind, args)
        results.append(res)
        lines, bad = report(res, args)
        failed += bad
        print("\n".join(lines) + "\n", flush=True)
    print(f"VALUE = {VALUE}; K = {args.k}; GB/s = covered bytes / seconds.")
    for f in failed:
        print(f"MISMATCH: {f}")
    if args.json:
        meta = {"value": VALUE, "k": args.k, "zero": args.zero, "huge": list(args.huge)[:1]}
        args.json.write_text(json.dumps({"meta": meta, "targets": results}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
