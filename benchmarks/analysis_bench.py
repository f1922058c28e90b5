#!/usr/bin/env python3
"""Benchmark memscan's analysis layer (histories, snapshots, change maps) against plain C.

For each size the harness starts ``target.c`` (N MiB of anonymous memory in 8 regions) and
measures, side by side with the raw process_vm_readv limit (``analysislimit.c``, one thread):

* history sampling: samples/s of ``p.record(addrs, "i32", ...)`` for watch lists of 1 k, 100 k
  and 1 M int32 addresses, spread evenly over the target's memory or contiguous ("clustered"),
  per manual ``rec.sample()`` call and free-running (``interval=0.0, count=n``);
* snapshot + diff: ``p.snapshot(kinds=["anonymous"])`` before and after the target's ``inc``
  (about 1% of the slots change), ``after.diff(before)``, ``len()``, ``to_polars()``; GB/s, and
  the peak RSS of the memscan process against the snapshot bytes.

memscan runs in subprocesses of this script (``--worker``), so their VmHWM is their own. See
README.md ("Analysis benchmark") for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The target, the build cache and the child-process helpers are scan_bench.py's.
from scan_bench import LineTool, Target, build, log, machine_meta, proc_status_kib

SPAN_GAP = 2048  # addresses at most this far past a span's end share it (as memscan)
DIFF_SLACK = 256  # stray changed ranges outside the target's slots (its stdio state, ...)


# --------------------------------------------------------------------------- target memory


def read_maps(pid: int) -> list[tuple[int, int, str, str]]:
    """(start, end, perms, path) of every mapping of ``pid``."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1], parts[5].strip() if len(parts) > 5 else ""))
    return out


def target_regions(target: Target, regions: int) -> list[tuple[int, int]]:
    """The target's slot regions (rw, anonymous, of the target's region size), by address."""
    size = target.bytes // regions
    found = [
        (lo, hi)
        for lo, hi, perms, path in read_maps(target.pid)
        if perms.startswith("rw") and not path and hi - lo == size
    ]
    if len(found) != regions:
        raise RuntimeError(f"found {len(found)} target regions of {size} B, not {regions}")
    return sorted(found)


def anonymous_regions(pid: int) -> list[tuple[int, int]]:
    """What ``p.snapshot(kinds=["anonymous"])`` captures: writable mappings without a file."""
    return [
        (lo, hi)
        for lo, hi, perms, path in read_maps(pid)
        if perms[1] == "w" and (not path or path.startswith("[anon:"))
    ]


def watch_addresses(regs: list[tuple[int, int]], watch: int, layout: str) -> Any:
    """Sorted uint64 addresses of ``watch`` int32 slots of the target: evenly spaced over all
    of its slots ("spread"), or the first ``watch`` slots ("clustered", contiguous while they
    fit in the lowest region)."""
    import numpy as np

    per = (regs[0][1] - regs[0][0]) // 4
    total = per * len(regs)
    watch = min(watch, total)
    if layout == "spread":
        g = np.arange(watch, dtype=np.uint64) * np.uint64(total) // np.uint64(watch)
    else:
        g = np.arange(watch, dtype=np.uint64)
    starts = np.array([lo for lo, _ in regs], dtype=np.uint64)
    return np.sort(starts[g // np.uint64(per)] + (g % np.uint64(per)) * np.uint64(4))


# --------------------------------------------------------------------------- memscan workers


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the harness."""
    print(json.dumps(obj), flush=True)


def own_status_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process (KiB)."""
    return proc_status_kib(os.getpid())


def measure_watch(p: Any, case: dict[str, Any], seconds: float, round_bytes: int) -> dict:
    """History sampling rates for one watch list: manual rec.sample() calls and free-running
    recorders, each in rounds of at most ``round_bytes`` of values until ``seconds`` pass."""
    import numpy as np

    addrs = np.fromfile(case["file"], dtype=np.uint64)
    w = len(addrs)
    cap = max(3, round_bytes // (4 * w))
    # record() cost, then one untimed sample (first touch of the thread's read buffer), then a
    # short probe to size the rounds.
    t0 = time.perf_counter()
    rec = p.record(addrs, "i32", interval=None)
    setup = time.perf_counter() - t0
    rec.sample()
    k, t0 = 0, time.perf_counter()
    while True:
        rec.sample()
        k += 1
        probe = time.perf_counter() - t0
        if k >= 2 and (probe >= 0.1 * seconds or k >= cap - 1):
            break
    rec.stop()
    del rec
    per = probe / k
    problems: list[str] = []
    last: Any = None

    # Manual: one rec.sample() per Python call (the loop is timed; stop() and the copy into a
    # History are not).
    m_n, m_s, m_stop, rounds = 0, 0.0, 0.0, 0
    while m_s < seconds and rounds < 10_000:
        n = int(min(cap, max(2, (seconds - m_s) / per + 1)))
        rec = p.record(addrs, "i32", interval=None)
        t0 = time.perf_counter()
        for _ in range(n):
            rec.sample()
        dt = time.perf_counter() - t0
        t1 = time.perf_counter()
        h = rec.stop()
        m_stop += time.perf_counter() - t1
        if h.values.shape != (n, w) or h.values.dtype != np.int32:
            problems.append(f"manual history {h.values.shape} {h.values.dtype}, want ({n}, {w})")
        if int(np.asarray(h.unreadable).sum()):
            problems.append("manual history has unreadable values")
        last = h.values[-1].copy()
        del h, rec
        m_n, m_s, rounds = m_n + n, m_s + dt, rounds + 1
        per = dt / n
    m_rounds = rounds

    # Free-running: the recorder's thread samples count=n times as fast as it can. The rate
    # comes from the samples' own timestamps (each taken as its sample starts): the n - 2
    # intervals from the second to the last one. The first interval holds the first touch of
    # the new thread's read buffer; it is kept apart (first_s, summed over rounds).
    f_int, f_span, f_wall, f_n, f_first, rounds = 0, 0.0, 0.0, 0, 0.0, 0
    while f_span < seconds and rounds < 10_000:
        n = int(min(cap, max(3, (seconds - f_span) / per + 1)))
        t0 = time.perf_counter()
        rec = p.record(addrs, "i32", interval=0.0, count=n)
        h = rec.wait()
        f_wall += time.perf_counter() - t0
        if rec.error():
            problems.append(f"free-running: {rec.error()}")
        ts = np.asarray(h.timestamps_ns, dtype=np.int64)
        if h.samples != n or h.values.shape != (n, w):
            problems.append(f"free-running history of {h.samples} samples, want {n}")
            break
        if int(np.asarray(h.unreadable).sum()):
            problems.append("free-running history has unreadable values")
        span = (int(ts[-1]) - int(ts[1])) / 1e9
        f_first += (int(ts[1]) - int(ts[0])) / 1e9
        if not np.array_equal(h.values[-1], last):
            problems.append("free-running values differ from the manual ones")
        del h, rec
        f_int, f_span, f_n, rounds = f_int + n - 2, f_span + span, f_n + n, rounds + 1
        per = span / (n - 2) if span > 0 else per
    check = [int(p.read_value(int(a), "i32")) for a in addrs[:: max(1, w // 7)][:8]]
    want = [int(last[i]) for i in range(0, w, max(1, w // 7))][:8]
    if check != want:
        problems.append("history values differ from read_value()")
    return {
        "step": case["id"],
        "addresses": w,
        "setup_s": setup,
        "manual": {"samples": m_n, "seconds": m_s, "rounds": m_rounds, "stop_s": m_stop},
        "free": {
            "samples": f_n,
            "intervals": f_int,
            "seconds": f_span,
            "wall_s": f_wall,
            "first_s": f_first,
            "rounds": rounds,
        },
        "sum": int(last.astype(np.int64).sum()),
        "problems": problems,
        "hwm_kib": own_status_kib().get("VmHWM", 0),
    }


def history_worker(pid: int, spec_file: str) -> None:
    """The memscan history subprocess: one JSON record per case, each after a line on stdin."""
    spec = json.loads(Path(spec_file).read_text())
    try:
        import memscan

        p = memscan.Process(pid)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})
        return
    emit({"ready": 1, "rss_kib": own_status_kib().get("VmRSS", 0)})
    for case in spec["cases"]:
        if not sys.stdin.readline():
            return
        try:
            emit(measure_watch(p, case, spec["seconds"], spec["round_bytes"]))
        except Exception as e:
            emit({"error": f"{type(e).__name__}: {e}"})
            return


def snapshot_worker(pid: int) -> None:
    """The memscan snapshot subprocess: steps before, after, diff, to_polars (one per line on
    stdin; the harness runs the target's inc between before and after)."""
    try:
        import polars  # noqa: F401  (imported before the baseline RSS, as to_polars needs it)

        import memscan

        p = memscan.Process(pid)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})
        return
    emit({"ready": 1, "rss_kib": own_status_kib().get("VmRSS", 0)})

    def step(name: str, fn: Any) -> Any:
        if not sys.stdin.readline():
            sys.exit(0)
        t0 = time.perf_counter()
        obj, extra = fn()
        rec = {"step": name, "seconds": time.perf_counter() - t0, **extra}
        emit({**rec, "hwm_kib": own_status_kib().get("VmHWM", 0)})
        return obj

    def snap() -> tuple[Any, dict[str, Any]]:
        s = p.snapshot(kinds=["anonymous"], progress=False)
        return s, {"bytes": s.nbytes, "count": len(s.regions())}

    try:
        before = step("before", snap)
        after = step("after", snap)

        def diff() -> tuple[Any, dict[str, Any]]:
            cm = after.diff(before)
            return cm, {"count": len(cm), "bytes": min(before.nbytes, after.nbytes)}

        cm = step("diff", diff)

        def frame() -> tuple[Any, dict[str, Any]]:
            df = cm.to_polars()
            return df, {"count": len(df), "changed": int(df["changed_bytes"].sum())}

        step("to_polars", frame)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}"})


# --------------------------------------------------------------------------- runs


def run_history(target: Target, regs: list, tmp: Path, args: argparse.Namespace) -> dict:
    """All watch cases: the C limits (spans with SPAN_GAP, and no gap) and memscan."""
    import numpy as np

    cases = []
    for watch in args.watch_list:
        for layout in args.layout_list:
            addrs = watch_addresses(regs, watch, layout)
            case_id = f"{layout}-{watch}"
            path = tmp / f"{case_id}.u64"
            addrs.astype(np.uint64).tofile(path)
            cases.append({"id": case_id, "watch": watch, "layout": layout, "file": str(path)})
    spec = tmp / "history.json"
    spec.write_text(
        json.dumps({"cases": cases, "seconds": args.seconds, "round_bytes": args.round_mib << 20})
    )
    out: dict[str, Any] = {"cases": [], "errors": []}
    ms = None
    if not args.memscan_missing:
        try:
            script = [str(Path(__file__).resolve()), "--worker", "history", str(target.pid)]
            ms = LineTool([args.python, *script, str(spec)], args.timeout)
            out["base_rss_kib"] = proc_status_kib(ms.pid).get("VmRSS", 0)
        except Exception as e:
            out["errors"].append(f"memscan history: {type(e).__name__}: {e}")
            ms = None
    for case in cases:
        res: dict[str, Any] = dict(case)
        for name, gap in (("limit", SPAN_GAP), ("limit_nogap", 0)):
            log(f"  {args.mib} MiB history {case['id']}: C limit, gap {gap}")
            argv = [str(args.limit_exe), "watch", str(target.pid), case["file"], str(gap)]
            res[name] = run_tool_steps([*argv, str(args.seconds)], ["watch"], args)["watch"]
        if ms is not None:
            log(f"  {args.mib} MiB history {case['id']}: memscan")
            try:
                res["memscan"] = ms.step(case["id"])
            except Exception as e:
                res["memscan"] = {"error": f"{type(e).__name__}: {e}"}
                ms.close(kill=True)
                ms = None
        out["cases"].append(res)
    if ms is not None:
        out["peak_rss_kib"] = proc_status_kib(ms.pid).get("VmHWM", 0)
        ms.close()
    return out


def run_tool_steps(
    argv: list[str], steps: list[str], args: argparse.Namespace, between: Any = None
) -> dict[str, Any]:
    """Run a JSON-lines tool through ``steps``; ``between(step)`` runs before each step and may
    return the number of slots the target changed. Errors end up in the records."""
    recs: dict[str, Any] = {}
    t = None
    try:
        t = LineTool(argv, args.timeout)
        recs["base_rss_kib"] = proc_status_kib(t.pid).get("VmRSS", 0)
        for name in steps:
            changed = between(name) if between else None
            rec = t.step(name)
            rec["hwm_kib"] = max(rec.get("hwm_kib", 0), proc_status_kib(t.pid).get("VmHWM", 0))
            if changed is not None:
                rec["changed_slots"] = changed
            recs[name] = rec
    except Exception as e:
        recs["error"] = f"{type(e).__name__}: {e}"
        for name in steps:
            recs.setdefault(name, {"error": recs["error"]})
        if t is not None:
            t.close(kill=True)
            t = None
    if t is not None:
        t.close()
    return recs


def run_snapshot(target: Target, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Snapshot, inc, snapshot, diff: C limit and memscan sessions, --snapshot-repeat times."""
    regions = anonymous_regions(target.pid)
    path = tmp / "regions.txt"
    path.write_text("".join(f"{lo:x} {hi:x}\n" for lo, hi in regions))

    def inc_before_after(step: str) -> int | None:
        return target.cmd("inc") if step == "after" else None

    out: dict[str, Any] = {"regions": len(regions), "bytes": sum(hi - lo for lo, hi in regions)}
    runs: dict[str, list[dict[str, Any]]] = {"limit": [], "memscan": []}
    script = [str(Path(__file__).resolve()), "--worker", "snapshot", str(target.pid)]
    tools = {
        "limit": (
            [str(args.limit_exe), "snapdiff", str(target.pid), str(path), str(args.read_repeat)],
            ["read", "before", "after", "diff"],
        ),
        "memscan": ([args.python, *script], ["before", "after", "diff", "to_polars"]),
    }
    for i in range(max(1, args.snapshot_repeat)):
        # Alternate the order: fresh memory costs more when the kernel has just handed the pages
        # of the previous session back to a hypervisor (free page reporting), so neither tool
        # always follows the other.
        for tool in ("limit", "memscan") if i % 2 == 0 else ("memscan", "limit"):
            argv, steps = tools[tool]
            if tool == "memscan" and args.memscan_missing:
                continue
            log(f"  {args.mib} MiB snapshot: {tool} (run {i + 1})")
            runs[tool].append(run_tool_steps(argv, steps, args, inc_before_after))
    out["limit"] = best_run(runs["limit"])
    out["memscan"] = (
        best_run(runs["memscan"]) if runs["memscan"] else {"error": args.memscan_missing}
    )
    return out


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge repeated snapshot sessions: per step the fastest run; the baseline and peak RSS of
    the run with the highest peak; all runs under "runs". The diff and to_polars records keep
    their own run's changed slots and range count."""
    for r in runs:
        diff = r.get("diff", {})
        if "changed_slots" in r.get("after", {}):
            diff["changed_slots"] = r["after"]["changed_slots"]
        if "to_polars" in r and "count" in diff:
            r["to_polars"]["diff_count"] = diff["count"]

    def peak(r: dict[str, Any]) -> int:
        return max((x.get("hwm_kib", 0) for x in r.values() if isinstance(x, dict)), default=0)

    top = max(runs, key=peak)
    out: dict[str, Any] = {"base_rss_kib": top.get("base_rss_kib", 0), "peak_rss_kib": peak(top)}
    for step in {k for r in runs for k, v in r.items() if isinstance(v, dict)}:
        recs = [r[step] for r in runs if "seconds" in r.get(step, {})]
        out[step] = min(recs, key=lambda x: x["seconds"]) if recs else runs[0].get(step, {})
    errors = [r["error"] for r in runs if r.get("error")]
    if errors:
        out["error"] = "; ".join(errors)
    out["runs"] = runs
    return out


def run_size(mib: int, args: argparse.Namespace) -> dict[str, Any]:
    """History and snapshot measurements on one target size."""
    args.mib = mib
    target = Target(args.target_exe, mib, args.k, args.seed, args.regions, 0)
    res: dict[str, Any] = {
        "mib": mib,
        "target": {
            "pid": target.pid,
            "bytes": target.bytes,
            "slots": target.slots,
            "k": target.k,
            "regions": args.regions,
        },
    }
    try:
        with tempfile.TemporaryDirectory(prefix="memscan-analysis-") as d:
            regs = target_regions(target, args.regions)
            res["history"] = run_history(target, regs, Path(d), args)
            res["snapshot"] = run_snapshot(target, Path(d), args)
    finally:
        target.close()
    return res


# --------------------------------------------------------------------------- report


def rate(n: float, s: float) -> float | None:
    """n per second, or None."""
    return n / s if s and s > 0 else None


def fmt_rate(r: float | None) -> str:
    """Samples per second."""
    if r is None:
        return "n/a"
    return f"{r:,.0f}/s" if r >= 100 else f"{r:.2f}/s"


def fmt_bytes(n: float) -> str:
    """Bytes with a binary unit."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_secs(s: float | None) -> str:
    """Seconds with sensible precision."""
    if s is None:
        return "n/a"
    return f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s:.3f} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    """a / b with two decimals."""
    return f"{a / b:.2f}" if a and b else "-"


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as text: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def history_rates(case: dict[str, Any]) -> dict[str, float | None]:
    """Samples/s of each tool for one case."""
    m = case.get("memscan") or {}
    lim, nog = case.get("limit") or {}, case.get("limit_nogap") or {}
    return {
        "manual": rate(m.get("manual", {}).get("samples", 0), m.get("manual", {}).get("seconds")),
        "free": rate(m.get("free", {}).get("intervals", 0), m.get("free", {}).get("seconds")),
        "limit": rate(lim.get("count", 0), lim.get("seconds")),
        "limit_nogap": rate(nog.get("count", 0), nog.get("seconds")),
    }


def history_table(res: dict[str, Any]) -> list[str]:
    """The history-sampling table of one size."""
    t = res["target"]
    out = [
        f"== {res['mib']} MiB target: history sampling, i32 watch lists "
        f"({t['bytes']:,} B in {t['regions']} regions) ==",
    ]
    head = [
        "watch",
        "layout",
        "spans",
        "read/sample",
        "record()",
        "manual",
        "Mval/s",
        "MB/s",
        "free-running",
        "Mval/s",
        "MB/s",
        "1st sample",
        "limit (C spans)",
        "read GB/s",
        "limit (C 4 B iovecs)",
        "manual/limit",
        "free/limit",
        "check",
    ]
    rows = [head]
    notes = list(res["history"].get("errors", []))
    for case in res["history"]["cases"]:
        m, lim, nog = case.get("memscan") or {}, case.get("limit") or {}, case.get("limit_nogap")
        r = history_rates(case)
        free = m.get("free", {})
        w = m.get("addresses") or lim.get("addresses") or case["watch"]
        sums = {x.get("sum") for x in (m, lim, nog or {}) if x.get("sum") is not None}
        errs = [
            f"{case['id']} {k}: {x['error']}"
            for k, x in (("memscan", m), ("limit", lim), ("limit 4 B", nog or {}))
            if x.get("error")
        ]
        errs += [f"{case['id']} memscan: {p}" for p in m.get("problems", [])]
        notes += errs
        check = "ok" if len(sums) == 1 and not errs else ("MISMATCH" if len(sums) > 1 else "-")
        if errs and check == "ok":
            check = "error"

        def vals(x: float | None, w: int = w) -> list[str]:
            return [
                fmt_rate(x),
                f"{x * w / 1e6:,.1f}" if x else "-",
                f"{x * w * 4 / 1e6:,.1f}" if x else "-",
            ]

        rows.append(
            [
                f"{w:,}",
                case["layout"],
                f"{lim['spans']:,}" if "spans" in lim else "-",
                fmt_bytes(lim["bytes"]) if "bytes" in lim else "-",
                fmt_secs(m.get("setup_s")),
                *vals(r["manual"]),
                *vals(r["free"]),
                fmt_secs(free["first_s"] / free["rounds"]) if free.get("rounds") else "n/a",
                fmt_rate(r["limit"]),
                f"{r['limit'] * lim['bytes'] / 1e9:.2f}" if r["limit"] else "-",
                fmt_rate(r["limit_nogap"]),
                fmt_ratio(r["manual"], r["limit"]),
                fmt_ratio(r["free"], r["limit"]),
                check,
            ]
        )
    out += aligned(rows)
    h = res["history"]
    if h.get("peak_rss_kib"):
        out.append(f"memscan history worker peak RSS (VmHWM): {h['peak_rss_kib'] / 1024:,.0f} MiB")
    out += [
        f"spans, read/sample: the C limit's read plan (addresses at most {SPAN_GAP} B past a",
        "  span's end join it; a call reads <= 1024 spans, <= 1 MiB); memscan's plan joins the",
        "  same way.",
        "manual = rec.sample() per Python call (interval=None); free-running = interval=0.0,",
        "  count=n (rate from the samples' timestamps, first sample left out); record() =",
        "  building the recorder (sorting the addresses, planning the reads); 1st sample = a",
        "  free-running recorder's first sample (its new thread's read buffer is touched first).",
        "Mval/s = addresses x samples/s; MB/s = implied bandwidth, addresses x 4 B x samples/s.",
        "limit (C 4 B iovecs): the same list with one iovec per address (adjacent ones joined).",
        "manual/limit, free/limit = memscan samples/s / limit (C spans) samples/s.",
        "check: memscan's last sample, the C limits' last sample (sum) and read_value() agree.",
    ]
    return out + [f"note: {n}" for n in notes]


def snapshot_table(res: dict[str, Any]) -> list[str]:
    """The snapshot + diff table of one size."""
    s = res["snapshot"]
    lim, ms = s.get("limit", {}), s.get("memscan", {})
    k = res["target"]["k"]
    out = [
        f'== {res["mib"]} MiB target: snapshot + diff, kinds=["anonymous"] '
        f"({s['regions']} regions, {s['bytes']:,} B) ==",
    ]
    head = [
        "step",
        "limit (C)",
        "",
        "memscan",
        "",
        "memscan/read",
        "memscan/C",
        "expected",
        "limit",
        "memscan",
        "check",
    ]
    rows = [head]
    read = lim.get("read", {}).get("seconds")

    def gbps(rec: dict[str, Any]) -> str:
        sec, n = rec.get("seconds"), rec.get("bytes")
        return f"{n / sec / 1e9:.2f} GB/s" if sec and n else ""

    def count_check(step: str) -> tuple[str, str, str, str]:
        a, b = lim.get(step, {}), ms.get(step, {})
        if step in ("before", "after"):
            ok = a.get("count") == b.get("count") == s["regions"] and b.get("bytes") == s["bytes"]
            return (
                str(s["regions"]),
                str(a.get("count", "-")),
                str(b.get("count", "-")),
                ("ok" if ok else "MISMATCH"),
            )
        if step == "diff":
            # Each tool's own inc: K known slots + the other slots it changed, one range each;
            # a few merge (two changed slots < 8 B apart), a few stray ranges may add.
            verdicts, wants = [], []
            for rec in (a, b):
                if "count" in rec and "changed_slots" in rec:
                    want = k + rec["changed_slots"]
                    wants.append(want)
                    verdicts.append(0.99 * want <= rec["count"] <= want + DIFF_SLACK)
            return (
                f"~{min(wants)}" if wants else "?",
                str(a.get("count", "-")),
                str(b.get("count", "-")),
                ("ok" if all(verdicts) else "MISMATCH") if verdicts else "-",
            )
        if step == "to_polars":
            ok = b.get("count") == b.get("diff_count")
            return "= diff", "", str(b.get("count", "-")), "ok" if ok else "MISMATCH"
        return "", "", "", ""

    for step in ("read", "before", "after", "diff", "to_polars"):
        a, b = lim.get(step, {}), ms.get(step, {})
        want, ca, cb, verdict = count_check(step)
        rows.append(
            [
                "read (1 MiB buffer)" if step == "read" else step,
                fmt_secs(a.get("seconds")) if "seconds" in a else "",
                gbps(a),
                fmt_secs(b.get("seconds")) if "seconds" in b else "",
                gbps(b) if step != "to_polars" else "",
                fmt_ratio(read, b.get("seconds")) if step in ("before", "after") else "",
                fmt_ratio(a.get("seconds"), b.get("seconds")) if step != "read" else "",
                want,
                ca,
                cb,
                verdict,
            ]
        )
    out += aligned(rows)
    nbytes = s["bytes"]
    out.append(
        f"peak RSS (VmHWM; base = VmRSS before the first step), snapshot = "
        f"{nbytes / 2**20:,.0f} MiB:"
    )
    for name, recs in (("memscan", ms), ("limit", lim)):
        hwm, base = recs.get("peak_rss_kib", 0), recs.get("base_rss_kib", 0)
        if hwm:
            out.append(
                f"  {name:8s} {hwm / 1024:7,.0f} MiB (base {base / 1024:4,.0f}): "
                f"(peak - base) / snapshot = {(hwm - base) * 1024 / nbytes:.2f}"
            )
    m_changed = ms.get("to_polars", {}).get("changed")
    l_changed = lim.get("diff", {}).get("changed")
    runs = max(len(lim.get("runs", [])), len(ms.get("runs", [])))
    out += [
        f"changed bytes (diff): limit {l_changed}, memscan {m_changed} (each after its own inc)",
        f"Best of {runs} sessions per tool and step (the target's inc between before and after).",
        "GB/s over the snapshot's bytes (diff: the bytes compared).",
        "memscan/read = C read time / memscan time; memscan/C = C time / memscan time, same step.",
        "limit: read = process_vm_readv of the same regions into one reused 1 MiB buffer",
        "  (best of 3); before/after = into fresh buffers (first touch), one thread; diff =",
        "  memcmp per page, then 8 B at a time, ranges merged within 8 B (memscan's gap).",
        'memscan: p.snapshot(kinds=["anonymous"], progress=False); diff = after.diff(before) and',
        "  len(); to_polars = cm.to_polars().",
        "expected: regions (before, after); ~ K + the slots the target's inc changed (diff).",
    ]
    errs = [f"{n}: {r['error']}" for n, r in (("limit", lim), ("memscan", ms)) if r.get("error")]
    return out + [f"note: {e}" for e in errs]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024", help="target sizes in MiB (default 1024)")
    ap.add_argument(
        "--watch",
        default="1000,100000,1000000",
        help="watch list sizes (addresses; default 1000,100000,1000000)",
    )
    ap.add_argument(
        "--layouts", default="spread,clustered", help="watch layouts (default spread,clustered)"
    )
    ap.add_argument("--seconds", type=float, default=1.5, help="per rate measurement (1.5)")
    ap.add_argument(
        "--round-mib", type=int, default=256, help="values per recording round (MiB, 256)"
    )
    ap.add_argument("--read-repeat", type=int, default=3, help="C read limit passes (best of)")
    ap.add_argument(
        "--snapshot-repeat", type=int, default=2, help="snapshot sessions per tool (best of, 2)"
    )
    ap.add_argument("--k", type=int, default=1000, help="known slots (the target's K)")
    ap.add_argument("--regions", type=int, default=8, help="mappings the target splits into")
    ap.add_argument("--seed", type=int, default=1, help="target fill seed")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per tool step")
    ap.add_argument("--python", default=sys.executable, help="interpreter that imports memscan")
    ap.add_argument("--json", type=Path, help="also write all results to this file")
    ap.add_argument("--worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def memscan_missing(python: str) -> str | None:
    """None if ``python`` imports memscan with the analysis API, else a short reason."""
    import subprocess

    code = "import memscan; memscan.Process.record; memscan.Process.snapshot"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["failed"])[-1]
    return f"memscan unavailable ({last})"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.worker:
        if args.worker[0] == "history":
            history_worker(int(args.worker[1]), args.worker[2])
        else:
            snapshot_worker(int(args.worker[1]))
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    args.watch_list = [int(x) for x in args.watch.split(",") if x.strip()]
    args.layout_list = [x.strip() for x in args.layouts.split(",") if x.strip()]
    if set(args.layout_list) - {"spread", "clustered"}:
        raise SystemExit("--layouts: spread and/or clustered")
    args.target_exe, args.limit_exe = build("target"), build("analysislimit")
    args.memscan_missing = memscan_missing(args.python)
    results = []
    for mib in sizes:
        log(f"{mib} MiB: starting target")
        res = run_size(mib, args)
        results.append(res)
        print("\n".join(history_table(res)) + "\n", flush=True)
        print("\n".join(snapshot_table(res)) + "\n", flush=True)
    if args.json:
        meta = {
            "watch": args.watch_list,
            "layouts": args.layout_list,
            "seconds": args.seconds,
            "round_mib": args.round_mib,
            "k": args.k,
            "regions": args.regions,
            **machine_meta(),
        }
        args.json.write_text(json.dumps({"meta": meta, "sizes": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
