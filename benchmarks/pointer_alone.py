"""One pointer scan of a live process, end to end (map capture and search), alone in this
process: memscan, or libmemscan (brkzlr/libmemscan, PINCE's engine) through its C ABI, loaded
with ctypes from a library the user built. Benchmark harness only: libmemscan is never a
dependency of memscan, and this repository holds no recipe that builds it.

    python benchmarks/pointer_alone.py memscan|memscan-file|libmemscan PID TARGET DEPTH
        MAX_CHAINS MAX_OFFSET [--library PATH] [--level all_rw|all] [--chains FILE]

``memscan`` returns the chains as a table in memory; ``memscan-file`` writes them to a file as
they are found (``pointer_scan(..., output=path)``), as libmemscan does.

Prints one JSON object: chains found, wall and CPU seconds of the scan (CPU: every thread of
this process), and the peak resident memory while it ran (the peak is reset just before it,
through /proc/self/clear_refs, so it counts what the scan keeps resident, the interpreter
included, with the resident memory before it). ``--chains FILE`` writes the chains as JSON lines
``[module, base offset, offsets, base address]`` after the timing: the two tools name some module
bases differently (libmemscan, as scanmem, takes a module's load address from its executable
mapping; memscan from where its ELF header is mapped), so chains compare by base address.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import tempfile
import time
from pathlib import Path


def status_mib(field: str) -> float:
    m = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(m[1]) / 1024 if m else float("nan")


def timed(scan):  # type: ignore[no-untyped-def]
    """Runs `scan()` with the peak reset: (its result, {wall, cpu, peak_mib, before_mib})."""
    Path("/proc/self/clear_refs").write_text("5")
    before = status_mib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    out = scan()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, {"wall": wall, "cpu": cpu, "peak_mib": status_mib("VmHWM"), "before_mib": before}


def run_memscan(args: argparse.Namespace) -> tuple[dict[str, object], list[list[object]]]:
    import polars  # imported before the timing, as memscan imports it lazily

    import memscan

    proc = memscan.Process(args.pid)
    tmp = tempfile.TemporaryDirectory()
    output = Path(tmp.name, "chains.arrow") if args.tool == "memscan-file" else None

    def scan():  # type: ignore[no-untyped-def]
        # As a user calls it: the scan captures its own map (and frees it once searched).
        return proc.pointer_scan(
            [args.target], max_depth=args.depth, max_chains=args.max_chains,
            max_offset=args.max_offset, progress=None, output=output,
        )  # fmt: skip

    chains, run = timed(scan)
    frame = chains.to_polars()
    modules = polars.DataFrame(proc.modules())
    bases = dict(zip(modules["name"], modules["base"], strict=True))
    rows = [
        [Path(m).name, b, list(o), bases[Path(m).name] + b]
        for m, b, o in zip(frame["module"], frame["base_offset"], frame["offsets"], strict=True)
    ]
    return {"chains": len(chains), **run}, rows


def run_libmemscan(args: argparse.Namespace) -> tuple[dict[str, object], list[list[object]]]:
    from libmemscan_abi import LEVELS, MAP_END, Libmemscan, PointerPathRecord, PointerScanOptions

    lm = Libmemscan(args.library)
    lm.call("set_scan_level", LEVELS[args.level])
    options = PointerScanOptions(
        pointer_width=8, max_depth=args.depth, module_base_only=True, has_max_results=True,
        endianness=0, max_positive_offset=args.max_offset, max_negative_offset=0,
        max_results=args.max_chains,
    )  # fmt: skip
    found = ctypes.c_uint64(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp, "paths.lmptr").resolve()).encode()

        def scan() -> None:
            # Attaching reads the regions: part of the scan, as memscan's capture lists them.
            lm.call("attach", args.pid)
            lm.call("pointer_scan", args.target, path, options, ctypes.byref(found))

        _, run = timed(scan)
        bases = module_bases(Path(path.decode()))
        rows = []
        reader = ctypes.c_void_p()
        lm.check(lm.lib.lm_pointer_map_open(path, ctypes.byref(reader)), "pointer_map_open")
        record = PointerPathRecord()
        while (status := lm.lib.lm_pointer_map_next(reader, ctypes.byref(record))) == 0:
            if record.base_kind != 0:
                continue
            name = bytes(record.module_name[: record.module_name_len]).decode(errors="replace")
            offsets = list(record.offsets[: record.offset_count])
            base = bases[record.module_index] + record.base_value
            rows.append([name, record.base_value, offsets, base])
        lm.lib.lm_pointer_map_close(reader)
        if status != MAP_END:
            lm.check(status, "pointer_map_next")
    lm.close()
    return {"chains": found.value, **run}, rows


def module_bases(path: Path) -> list[int]:
    """The module bases in a libmemscan pointer map's header (pointerscan.zig: 24 bytes, "LBMEMPTR",
    the module count at 12, then per module: base u64, size u64, name length u32, name)."""
    data = path.read_bytes()
    if data[:8] != b"LBMEMPTR":
        raise RuntimeError(f"{path}: not a libmemscan pointer map")
    count = int.from_bytes(data[12:16], "little")
    bases, at = [], 24
    for _ in range(count):
        bases.append(int.from_bytes(data[at : at + 8], "little"))
        at += 20 + int.from_bytes(data[at + 16 : at + 20], "little")
    return bases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tool", choices=["memscan", "memscan-file", "libmemscan"])
    ap.add_argument("pid", type=int)
    ap.add_argument("target", type=lambda s: int(s, 0))
    ap.add_argument("depth", type=int)
    ap.add_argument("max_chains", type=int)
    ap.add_argument("max_offset", type=int)
    ap.add_argument("--library", default=os.environ.get("LIBMEMSCAN", "libmemscan.so"))
    # all_rw (pointers in writable memory) is libmemscan's faster and leaner form here.
    ap.add_argument("--level", choices=["all", "all_rw"], default="all_rw")
    ap.add_argument("--chains", type=Path)
    args = ap.parse_args()
    result, rows = (run_libmemscan if args.tool == "libmemscan" else run_memscan)(args)
    if args.chains is not None:
        args.chains.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
