#!/usr/bin/env python3
"""Benchmark memscan against the raw read limit (plain C) and scanmem on a synthetic target.

For each size the harness starts ``target.c`` (N MiB of anonymous memory in 8 regions holding
VALUE at K known aligned slots) and runs the same scan sessions with these tools:

* ``limit``: ``readlimit.c``, process_vm_readv into a reused 1 MiB buffer (best of 3);
* ``limit2``: the same with two threads for the first scan (each its own buffer, contiguous
  halves of the chunks): the read limit of this 2-core machine (best of 3);
* ``memscan``: the Python API, in a subprocess of its own (so its RSS is its own);
* ``scanmem``: scanmem 0.17 driven through its interactive prompt, one command per step;
* ``libmemscan`` (with ``--libmemscan PATH``, a libmemscan.so the user built: brkzlr/libmemscan,
  PINCE's engine; no recipe for it is kept here): its C ABI through ctypes, in a subprocess of
  its own, int32 aligned to 4 over every writable mapping (scan level ``all_rw``).

Sessions: exact (scan VALUE, target inc, "increased", eq VALUE+1), unknown initial value
(snapshot, target inc, "increased") and many (scan VALUE2, found at MANY = 10 M slots of one
block, target incmany, "increased", eq VALUE2+1). See README.md for the columns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VALUE = 1592611380  # 0x5EED5234
VALUE2 = VALUE + 1001  # 0x5EED561D: the many session's value (within the fill's gap around VALUE)
EXACT_STEPS = [("scan", None), ("increased", "inc"), ("eq", None)]
UNKNOWN_STEPS = [("snapshot", None), ("increased", "inc")]
MANY_STEPS = [("scan", None), ("increased", "incmany"), ("eq", None)]
STEPS = {"exact": EXACT_STEPS, "unknown": UNKNOWN_STEPS, "many": MANY_STEPS}
FULL_PASS = {("exact", "scan"), ("unknown", "snapshot"), ("unknown", "increased"), ("many", "scan")}
STRAY_SLACK = 256  # slots outside the target's regions that may change between two scans
TOOLS = ("limit", "limit2", "memscan", "scanmem", "libmemscan")


class StepTimeout(Exception):
    """A child did not answer in time."""


# --------------------------------------------------------------------------- build


def build(name: str) -> Path:
    """Compile ``benchmarks/NAME.c`` into a cache dir (keyed by source and flags); return it."""
    src = HERE / f"{name}.c"
    flags = ["-O3", "-march=native", "-pthread", "-Wall", "-Wextra"]
    key = hashlib.sha256(src.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "memscan-bench"
    exe = cache / f"{name}-{key}"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{exe.name}.{os.getpid()}"
        subprocess.run(["gcc", *flags, "-o", str(tmp), str(src)], check=True)
        tmp.replace(exe)
    return exe


# --------------------------------------------------------------------------- children


def proc_status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process in KiB (empty once it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line[:5]] = int(line.split()[1])
    except OSError:
        pass
    return out


class Child:
    """A subprocess driven over stdin/stdout with a read deadline."""

    def __init__(self, argv: list[str]):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr
        )
        self.pid = self.proc.pid
        self.buf = b""

    def send(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read_until(self, done: re.Pattern[bytes], timeout: float) -> re.Match[bytes]:
        """Read stdout until ``done`` matches the buffered output; consume up to the match."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not (m := done.search(self.buf)):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise StepTimeout
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"{self.proc.args[0]} exited: {self.error_text()}")
            self.buf += chunk
        self.buf = self.buf[m.end() :]
        return m

    def error_text(self) -> str:
        """The last lines the child wrote to stderr."""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "(no stderr)"

    def close(self, kill: bool = False) -> None:
        """End the child (EOF on stdin, or SIGKILL) and reap it."""
        if kill:
            self.proc.kill()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Target:
    """The benchmark target process (``target.c``)."""

    def __init__(
        self, exe: Path, mib: int, k: int, seed: int, regions: int, many: int, stride: int = 1
    ):
        argv = [str(exe), str(mib), str(k), str(seed), str(VALUE), str(regions)]
        self.child = Child([*argv, str(many), str(VALUE2), str(stride)])
        m = self.child.read_until(re.compile(rb"ready (\d+) (\d+) (\d+) (\d+) (\d+)\n"), 600)
        self.pid, self.slots, self.k, self.bytes, self.many = (int(x) for x in m.groups())

    def cmd(self, line: str) -> int | None:
        """Send ``inc``, ``reset``, ``incmany`` or ``resetmany``; return the number of other
        slots the target changed (``inc``), None if it gives none (``incmany``)."""
        self.child.send(line)
        m = self.child.read_until(re.compile(rb"(ok|error)( \d+)?.*\n"), 120)
        if m.group(1) != b"ok":
            raise RuntimeError(f"target rejected {line!r}")
        return int(m.group(2)) if m.group(2) else None

    def close(self) -> None:
        """Stop the target (EOF on stdin)."""
        self.child.close()


class LineTool:
    """A tool speaking the JSON-lines protocol: ready line, then one step per stdin line."""

    READY = re.compile(rb"[^\n]*\n")

    def __init__(self, argv: list[str], timeout: float):
        self.timeout = timeout
        self.child = Child(argv)
        self.pid = self.child.pid
        line = json.loads(self.child.read_until(self.READY, timeout).group(0))
        if "error" in line:
            raise RuntimeError(line["error"])

    def step(self, name: str) -> dict[str, Any]:
        """Run one step; return its JSON record."""
        self.child.send("go")
        rec = json.loads(self.child.read_until(self.READY, self.timeout).group(0))
        if "error" in rec:
            raise RuntimeError(rec["error"])
        if rec.get("step") != name:
            raise RuntimeError(f"expected step {name}, got {rec}")
        return rec

    def close(self, kill: bool = False) -> None:
        """End the tool."""
        self.child.close(kill)


class Scanmem:
    """scanmem at its interactive prompt: one command per step, timed to the next prompt."""

    PROMPT = re.compile(rb"(\d*)> $")

    def __init__(self, target: Target, mode: str, timeout: float):
        self.timeout = timeout
        self.child = Child(["scanmem", "-p", str(target.pid)])
        self.pid = self.child.pid
        self.child.read_until(self.PROMPT, 60)
        # Level 2 = heap, stack, executable's data and every anonymous rw mapping (all of the
        # target's regions); level 3 would add the libraries' rw data.
        for cmd in ["option scan_data_type int32", "option region_scan_level 2", "reset"]:
            self.child.send(cmd)
            self.child.read_until(self.PROMPT, 60)
        value = VALUE2 if mode == "many" else VALUE
        self.commands = {
            "scan": str(value),
            "increased": "+",
            "eq": str(value + 1),
            "snapshot": "snapshot",
        }

    def step(self, name: str) -> dict[str, Any]:
        """Send the step's command; time it until the prompt comes back."""
        t0 = time.perf_counter()
        self.child.send(self.commands[name])
        m = self.child.read_until(self.PROMPT, self.timeout)
        seconds = time.perf_counter() - t0
        return {"step": name, "seconds": seconds, "count": int(m.group(1) or 0)}

    def close(self, kill: bool = False) -> None:
        """Leave scanmem."""
        if not kill:
            try:
                self.child.send("exit")
            except OSError:
                pass
        self.child.close(kill)


# --------------------------------------------------------------------------- sessions


def run_session(tool: str, mode: str, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Run one session (exact, unknown or many) of one tool against the (reset) target."""
    steps = STEPS[mode]
    target.cmd("resetmany" if mode == "many" else "reset")
    res: dict[str, Any] = {"steps": {}}
    t = None
    try:
        if tool in ("limit", "limit2"):
            value = VALUE2 if mode == "many" else VALUE
            threads = ["2"] if tool == "limit2" else []
            cmd = [str(args.readlimit), mode, str(target.pid), str(value), *threads]
            t = LineTool(cmd, args.timeout)
        elif tool == "memscan":
            script = [str(Path(__file__).resolve()), "--worker", mode, str(target.pid)]
            t = LineTool([args.python, *script], args.timeout)
        elif tool == "libmemscan":
            script = [str(Path(__file__).resolve()), "--libmemscan-worker", str(args.libmemscan)]
            t = LineTool([sys.executable, *script, mode, str(target.pid)], args.timeout)
        else:
            t = Scanmem(target, mode, args.timeout)
        res["base_rss_kib"] = proc_status_kib(t.pid).get("VmRSS", 0)
        for name, action in steps:
            changed = target.cmd(action) if action else None
            try:
                rec = t.step(name)
            except StepTimeout:
                hwm = proc_status_kib(t.pid).get("VmHWM", 0)
                res["steps"][name] = {"timeout": args.timeout, "hwm_kib": hwm, "changed": changed}
                t.close(kill=True)
                os.kill(target.pid, signal.SIGCONT)  # a killed tracer may leave it stopped
                t = None
                break
            rec["hwm_kib"] = proc_status_kib(t.pid).get("VmHWM", 0)
            if changed is not None:
                rec["changed"] = changed  # other slots the target changed before this step
            res["steps"][name] = rec
    except Exception as e:  # a tool failing must not end the benchmark
        res["error"] = f"{type(e).__name__}: {e}"
        if t is not None:
            t.close(kill=True)
            os.kill(target.pid, signal.SIGCONT)
            t = None
    if t is not None:
        t.close()
    # VmHWM is read after every step while the tool waits for the next one (ru_maxrss of a
    # child would include its parent's RSS from before exec).
    res["peak_rss_kib"] = max([r.get("hwm_kib", 0) for r in res["steps"].values()], default=0)
    return res


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge repeated sessions: per step the fastest run; RSS figures of the largest."""
    best = dict(runs[0])
    best["steps"] = {}
    for name in runs[0]["steps"]:
        recs = [r["steps"][name] for r in runs if "seconds" in r["steps"].get(name, {})]
        best["steps"][name] = (
            min(recs, key=lambda r: r["seconds"]) if recs else runs[0]["steps"][name]
        )
    best["peak_rss_kib"] = max(r.get("peak_rss_kib", 0) for r in runs)
    best["runs"] = len(runs)
    return best


def run_size(mib: int, args: argparse.Namespace) -> dict[str, Any]:
    """All sessions of all tools on one target size."""
    many = many_for(mib, args)
    if many < args.many:
        log(f"  {mib} MiB: --many {args.many} is over half the target's slots; using {many}")
    target = Target(args.target_exe, mib, args.k, args.seed, args.regions, many, args.many_stride)
    out: dict[str, Any] = {
        "mib": mib,
        "target": {
            "pid": target.pid,
            "bytes": target.bytes,
            "slots": target.slots,
            "k": target.k,
            "regions": args.regions,
            "value": VALUE,
            "many": target.many,
            "many_stride": args.many_stride,
            "value2": VALUE2,
        },
        "sessions": {},
    }
    try:
        for mode in ("exact", "unknown", "many") if target.many else ("exact", "unknown"):
            sessions: dict[str, Any] = {}
            for tool in TOOLS:
                skip = skip_reason(tool, mode, mib, args)
                if skip:
                    sessions[tool] = {"skipped": skip, "steps": {}}
                    continue
                repeat = args.limit_repeat if tool in ("limit", "limit2") else 1
                if tool == "memscan":
                    repeat = args.memscan_repeat
                log(f"  {mib} MiB {mode}: {tool}" + (f" x{repeat}" if repeat > 1 else ""))
                runs = [run_session(tool, mode, target, args) for _ in range(repeat)]
                sessions[tool] = best_of(runs)
            out["sessions"][mode] = sessions
    finally:
        target.close()
    return out


def many_for(mib: int, args: argparse.Namespace) -> int:
    """The many session's slot count for a size: --many, spanning at most half of the target's
    slots (at --many-stride)."""
    page = os.sysconf("SC_PAGESIZE")
    slots = (mib << 20) // args.regions // page * page // 4 * args.regions
    return max(0, min(args.many, slots // 2 // args.many_stride))


def skip_reason(tool: str, mode: str, mib: int, args: argparse.Namespace) -> str | None:
    """Why a tool's session is not run, or None."""
    if tool == "limit2" and mode == "unknown":
        return "the unknown-value reader is one thread"
    if tool == "memscan" and args.memscan_missing:
        return args.memscan_missing
    if tool == "memscan" and args.skip_memscan:
        return "--skip-memscan"
    if tool == "libmemscan" and args.libmemscan is None:
        return "no --libmemscan PATH"
    if tool == "scanmem" and args.scanmem_missing:
        return args.scanmem_missing
    if tool == "scanmem" and args.skip_scanmem:
        return "--skip-scanmem"
    if tool == "scanmem" and mode == "many" and args.skip_scanmem_many:
        return "--skip-scanmem-many"
    if tool == "scanmem" and mode == "unknown":
        if args.skip_scanmem_snapshot:
            return "--skip-scanmem-snapshot"
        if mib > args.scanmem_snapshot_max:
            return f"> {args.scanmem_snapshot_max} MiB"
    return None


# --------------------------------------------------------------------------- memscan worker


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the harness."""
    print(json.dumps(obj), flush=True)


def timed(name: str, fn: Any, count: Any = len) -> Any:
    """In a worker: waits for a line on stdin, runs step `name` (``fn()``) and emits its time and
    ``count(result)``; returns the result."""
    if not sys.stdin.readline():
        sys.exit(0)
    t0 = time.perf_counter()
    obj = fn()
    emit({"step": name, "seconds": time.perf_counter() - t0, "count": count(obj)})
    return obj


def worker(mode: str, pid: int) -> None:
    """Run in the memscan subprocess: one JSON line per step, each after a line on stdin."""

    def follow(s: Any, r: Any) -> Any:
        """next()/eq() may return the scanner itself or a new one."""
        return r if r is not None and hasattr(r, "next") else s

    try:
        import memscan

        p = memscan.Process(pid)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})
        return
    emit({"ready": 1})
    try:
        if mode in ("exact", "many"):
            value = VALUE2 if mode == "many" else VALUE
            s = timed("scan", lambda: p.scan("i32", value))
            s = timed("increased", lambda: follow(s, s.next("increased")))
            timed("eq", lambda: follow(s, s.eq(value + 1)))
        else:
            u = timed("snapshot", lambda: p.scan("i32"))
            timed("increased", lambda: follow(u, u.next("increased")))
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})


def libmemscan_worker(library: str, mode: str, pid: int) -> None:
    """Run in the libmemscan subprocess: the same steps as :func:`worker`, through its C ABI."""
    sys.path.insert(0, str(HERE))
    from libmemscan_abi import INTEGER32, LEVELS, Libmemscan, UserValue

    def step(name: str, fn: Any) -> None:
        timed(name, fn, count=int)  # libmemscan's calls return the match count

    try:
        lm = Libmemscan(library)
        lm.call("set_scan_level", LEVELS["all_rw"])
        lm.call("set_data_type", INTEGER32)
        lm.call("set_alignment", 4)
        lm.call("attach", pid)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})
        return
    emit({"ready": 1})
    try:
        if mode in ("exact", "many"):
            value = VALUE2 if mode == "many" else VALUE
            step("scan", lambda: lm.scan("eq", UserValue.i32(value)))
            step("increased", lambda: lm.scan("increased"))
            step("eq", lambda: lm.scan("eq", UserValue.i32(value + 1)))
        else:
            step("snapshot", lm.snapshot)
            step("increased", lambda: lm.scan("increased"))
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})


def memscan_missing(python: str) -> str | None:
    """None if the memscan scanner API is importable by ``python``, else a short reason."""
    code = "import memscan; memscan.Process.scan"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["failed"])[-1]
    return f"memscan unavailable ({last})"


# --------------------------------------------------------------------------- report


def fmt_time(rec: dict[str, Any] | None) -> str:
    """Seconds with sensible precision, or why there are none."""
    if rec is None:
        return "n/a"
    if rec.get("timeout"):
        return f"timeout >{rec['timeout']:g}s"
    s = rec["seconds"]
    return f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s:.3f} s"


def gbps(nbytes: int, rec: dict[str, Any] | None) -> str:
    """GB/s over ``nbytes``, or blank."""
    if not rec or "seconds" not in rec or not nbytes:
        return ""
    return f"{nbytes / rec['seconds'] / 1e9:.2f} GB/s"


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """``a.seconds / b.seconds`` as text."""
    if not a or not b or "seconds" not in a or "seconds" not in b or b["seconds"] <= 0:
        return "-"
    return f"{a['seconds'] / b['seconds']:.2f}"


def check_counts(mode: str, step: str, recs: dict[str, Any], t: dict[str, Any]) -> tuple[str, str]:
    """Expected count and verdict for one step; scanmem is judged on exact steps only."""
    counts = {tool: (rec or {}).get("count") for tool, rec in recs.items()}
    if mode in ("exact", "many"):
        want = t["k"] if mode == "exact" else t["many"]
        got = [c for c in counts.values() if c is not None]
        return str(want), ("ok" if all(c == want for c in got) else "MISMATCH") if got else "-"
    judged: list[bool] = []
    if step == "snapshot":
        # Every aligned slot of the target, plus the few of its other writable mappings.
        want, hi = t["slots"], t["slots"] + t["slots"] // 100
        judged = [want <= c <= hi for c in (counts["limit"], counts["memscan"]) if c is not None]
        return f">= {want}", ("ok" if all(judged) else "MISMATCH") if judged else "-"
    # Each session's inc changes its own random slots: judge each tool against its own.
    wants = []
    for tool in ("limit", "memscan"):
        rec = recs[tool] or {}
        if rec.get("count") is not None and rec.get("changed") is not None:
            wants.append(t["k"] + rec["changed"])
            judged.append(wants[-1] <= rec["count"] <= wants[-1] + STRAY_SLACK)
    if not judged:
        return "?", "-"
    return f"~{min(wants)}", "ok" if all(judged) else "MISMATCH"


def table(res: dict[str, Any]) -> list[str]:
    """Rows of the per-size table."""
    t = res["target"]
    out = [
        f"== {res['mib']} MiB target: {t['bytes']:,} B in {t['regions']} regions, "
        f"K={t['k']} x {t['value']} ==",
    ]
    head = [
        "step",
        "limit (C readv)",
        "",
        "limit x2 (2 threads)",
        "",
        "memscan",
        "",
        "scanmem",
        "",
        "libmemscan",
        "",
        "memscan/limit",
        "memscan/limit x2",
        "scanmem/memscan",
        "libmemscan/memscan",
        "expected",
        "limit",
        "limit2",
        "memscan",
        "scanmem",
        "libmemscan",
        "check",
    ]
    rows = [head]
    for mode, steps in STEPS.items():
        sess = res["sessions"].get(mode)
        if not sess:
            continue
        for step, _ in steps:
            recs = {tool: sess[tool]["steps"].get(step) for tool in TOOLS}
            lim = recs["limit"] or {}
            nbytes = lim.get("bytes", 0) if (mode, step) in FULL_PASS else 0
            counts = [(r or {}).get("count") for r in recs.values()]
            want, verdict = check_counts(mode, step, recs, t)
            rows.append(
                [
                    f"{mode}:{step}",
                    fmt_time(recs["limit"]),
                    gbps(nbytes, recs["limit"]),
                    fmt_time(recs["limit2"]) if recs["limit2"] else "-",
                    gbps(nbytes, recs["limit2"]),
                    fmt_time(recs["memscan"]),
                    gbps(nbytes, recs["memscan"]),
                    fmt_time(recs["scanmem"]),
                    gbps(nbytes, recs["scanmem"]),
                    fmt_time(recs["libmemscan"]),
                    gbps(nbytes, recs["libmemscan"]),
                    ratio(recs["limit"], recs["memscan"]),
                    ratio(recs["limit2"], recs["memscan"]),
                    ratio(recs["scanmem"], recs["memscan"]),
                    ratio(recs["libmemscan"], recs["memscan"]),
                    want,
                    *(str(c) if c is not None else "-" for c in counts),
                    verdict,
                ]
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out += [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    if res["sessions"].get("many"):
        out.append(many_ratios(res))
    out.append("peak RSS (MiB; VmHWM of the tool process, baseline VmRSS before the first step):")
    notes: set[str] = set()
    for mode in STEPS:
        if mode not in res["sessions"]:
            continue
        cells = []
        for tool in TOOLS:
            s = res["sessions"].get(mode, {}).get(tool, {})
            if s.get("skipped"):
                cells.append(f"{tool} n/a")
                notes.add(f"{tool} {mode}: skipped: {s['skipped']}")
                continue
            if s.get("error"):
                notes.add(f"{tool} {mode}: error: {s['error']}")
            hwm = s.get("peak_rss_kib", 0) / 1024
            cells.append(f"{tool} {hwm:.0f} (base {s.get('base_rss_kib', 0) / 1024:.0f})")
        out.append(f"  {mode:8s} " + "; ".join(cells))
    out += [
        "memscan/limit = limit time / memscan time (= GB/s ratio; 1.00 = at the limit).",
        "limit x2 = the same C reader with 2 threads for the first scan (next scans: 1 thread).",
        "scanmem/memscan = scanmem time / memscan time (libmemscan/memscan likewise). GB/s is",
        "shown for full passes only.",
        "~N = K + the other slots the target's inc changed (a few stray slots may add to it).",
        "scanmem's unknown-value counts are per byte offset (snapshot = bytes): not checked;",
        "libmemscan's are checked on exact steps only (it reads every writable mapping).",
    ]
    if res["sessions"].get("many"):
        out.append(
            f"many = {t['many']:,} x {t['value2']} in one block"
            + (f", every {t['many_stride']}th slot" if t.get("many_stride", 1) > 1 else "")
            + "; the target's incmany adds 1 to all of them."
        )
    return out + [f"note: {n}" for n in sorted(notes)]


def many_ratios(res: dict[str, Any]) -> str:
    """The many session's next scans as a share of its first scan (the goal: under 5%)."""
    sess = res["sessions"]["many"]
    parts = []
    for tool in ("memscan", "limit"):
        steps = sess.get(tool, {}).get("steps", {})
        first = steps.get("scan", {}).get("seconds")
        shares = []
        for step in ("increased", "eq"):
            sec = steps.get(step, {}).get("seconds")
            shares.append(f"{step} {sec / first:.1%}" if first and sec is not None else f"{step} -")
        parts.append(f"{tool} " + ", ".join(shares))
    return "many: next scan / first scan: " + "; ".join(parts) + " (goal: memscan < 5%)"


def machine_meta() -> dict[str, Any]:
    """Where and when a run was made, for the JSON output."""
    return {
        "machine": platform.machine(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def log(msg: str) -> None:
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,1024", help="target sizes in MiB (default 256,1024)")
    ap.add_argument("--k", type=int, default=1000, help="known slots holding the value")
    ap.add_argument("--regions", type=int, default=8, help="mappings the target splits into")
    ap.add_argument("--seed", type=int, default=1, help="target fill seed")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per tool step")
    ap.add_argument("--limit-repeat", type=int, default=3, help="limit sessions (best of)")
    ap.add_argument("--memscan-repeat", type=int, default=1, help="memscan sessions (best of)")
    ap.add_argument("--python", default=sys.executable, help="interpreter that imports memscan")
    ap.add_argument("--skip-memscan", action="store_true")
    ap.add_argument("--skip-scanmem", action="store_true")
    ap.add_argument(
        "--skip-scanmem-snapshot",
        action="store_true",
        help="skip scanmem's unknown-value session (its next scan takes minutes)",
    )
    ap.add_argument(
        "--scanmem-snapshot-max",
        type=int,
        default=1024,
        help="largest size in MiB for scanmem's snapshot session (default 1024)",
    )
    ap.add_argument(
        "--many",
        type=int,
        default=10_000_000,
        help="slots of the many session's block (default 10000000; 0 skips the session)",
    )
    ap.add_argument(
        "--many-stride",
        type=int,
        default=1,
        help="the many session's value every N-th slot (default 1: packed; 4: scattered)",
    )
    ap.add_argument("--skip-scanmem-many", action="store_true", help="skip scanmem's many session")
    ap.add_argument("--libmemscan", type=Path, help="a built libmemscan.so: also run it")
    ap.add_argument("--json", type=Path, help="also write all results to this file")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "PID"), help=argparse.SUPPRESS)
    ap.add_argument("--libmemscan-worker", nargs=3, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    if args.libmemscan_worker:
        library, mode, pid = args.libmemscan_worker
        libmemscan_worker(library, mode, int(pid))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.target_exe, args.readlimit = build("target"), build("readlimit")
    args.memscan_missing = None if args.skip_memscan else memscan_missing(args.python)
    args.scanmem_missing = None
    if not shutil.which("scanmem") and not args.skip_scanmem:
        args.scanmem_missing = "scanmem not installed (apt-get install -y scanmem)"
    results = []
    for mib in sizes:
        log(f"{mib} MiB: starting target")
        res = run_size(mib, args)
        results.append(res)
        print("\n".join(table(res)) + "\n", flush=True)
    if args.json:
        meta = {
            "value": VALUE,
            "value2": VALUE2,
            "many": args.many,
            "k": args.k,
            "regions": args.regions,
            "timeout": args.timeout,
            **machine_meta(),
        }
        args.json.write_text(json.dumps({"meta": meta, "sizes": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
