"""The ``memscan`` command: ``demo``, ``ps``, ``regions``, ``scan``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from . import errors


def _print_frame(df: Any, rows: int = 20) -> None:
    """Prints a polars frame with addresses in hex."""
    import polars as pl

    hex_cols = [
        pl.col(c).map_elements(hex, return_dtype=pl.String)
        for c in ("address", "start", "end", "region_start")
        if c in df.columns
    ]
    with pl.Config(tbl_rows=rows, tbl_cols=12, fmt_str_lengths=60, tbl_width_chars=160):
        print(df.with_columns(hex_cols) if hex_cols else df)


def _step(n: int, text: str) -> None:
    print(f"\n[{n}] {text}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Walks through the scan-narrow-write loop against the built-in demo target."""
    import memscan

    with memscan.demo.start() as game:
        print(f"memscan {memscan.__version__}: demo game started as pid {game.pid}")
        proc = memscan.Process(game.pid)
        health = game.address("health")

        _step(1, "First scan: every i32 equal to the player's health (100)")
        s = proc.scan("i32", 100)
        print(f"    {len(s)} candidates in {s.stats()[3] * 1000:.1f} ms")

        _step(2, "The player takes 7 damage; keep values that decreased, then those equal to 93")
        game.damage(7)
        s.decreased()
        print(f"    decreased: {len(s)} candidates")
        s.eq(93)
        print(f"    == 93:     {len(s)} candidates")
        _print_frame(s.to_polars())
        if health not in s.addresses:
            print("    health was not found", file=sys.stderr)
            return 1
        print(f"    health is at {health:#x}")

        _step(3, "Write 999 to the candidates; the game now reports:")
        s.set(999)
        print(f"    health = {game.value('health')}")

        _step(4, "Unknown initial value: snapshot every u32, then the gold goes up by 25")
        gold = proc.scan("u32")
        print(f"    snapshot: {len(gold):,} slots, {gold.nbytes / 2**20:.1f} MiB")
        game.gain_gold(25)
        gold.increased(25)
        print(f"    increased by 25: {len(gold)} candidates; gold at {game.address('gold'):#x}")
        gold.set(1_000_000, gold.addresses == game.address("gold"))
        print(f"    gold set to {game.value('gold'):,}")

        _step(5, "Freeze health at 500 while the game keeps damaging the player")
        s.hold(500)
        for _ in range(3):
            game.damage(50)
            time.sleep(0.05)
        print(f"    after 3 hits of 50: health = {game.value('health')}")
        s.release()
        s.stop_freezing()

        _step(6, "Exact 64-bit values, byte signatures and strings")
        u = proc.scan("u64", 2**64 - 1)
        found = game.address("u64_max") in u.addresses
        print(f"    u64 2**64-1: {len(u)} hits, includes u64_max: {found}")
        sig = proc.find_bytes("4D 53 43 4E DE AD ?? EF")
        print(f"    signature 4D 53 43 4E DE AD ?? EF at {[hex(a) for a in sig[:4]]}")
        txt = proc.find_string("Hero of Memscan", "utf16")
        print(f"    UTF-16 'Hero of Memscan' at {[hex(a) for a in txt[:4]]}")
    print("\ndone: the demo target has exited.")
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    import memscan

    table = memscan.find_processes(args.name) if args.name else memscan.list_processes()
    df = table.to_polars().select("pid", "name", "uid", "exe")
    _print_frame(df, rows=args.limit)
    return 0


def _resolve_pid(target: str) -> int:
    import memscan

    if target.isdigit():
        return int(target)
    pid = memscan.find_process_by_name(target)
    if pid is None:
        raise errors.ProcessNotFound(f"no process named {target!r}")
    return pid


def cmd_regions(args: argparse.Namespace) -> int:
    import memscan

    proc = memscan.Process(_resolve_pid(args.target))
    df = proc.regions().to_polars().select("start", "end", "size", "perms", "kind", "path")
    _print_frame(df, rows=args.limit)
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    import memscan

    proc = memscan.Process(_resolve_pid(args.target))
    kinds = args.kinds.split(",") if args.kinds else None
    s = proc.scan(
        args.type,
        args.value,
        op=args.op,
        high=args.high,
        kinds=kinds,
        writable_only=not args.all_regions,
        alignment=args.alignment,
    )
    secs = s.stats()[3]
    print(f"{len(s)} candidates ({args.type} {args.op} {args.value}) in {secs * 1000:.1f} ms")
    df = s.to_polars()
    if args.out:
        df.write_parquet(args.out)
        print(f"wrote {args.out}")
    _print_frame(df, rows=args.limit)
    return 0


def _number(text: str) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memscan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="scan session against the built-in demo target").set_defaults(
        func=cmd_demo
    )
    ps = sub.add_parser("ps", help="list processes (optionally matching NAME)")
    ps.add_argument("name", nargs="?")
    ps.add_argument("--limit", type=int, default=50)
    ps.set_defaults(func=cmd_ps)
    rg = sub.add_parser("regions", help="list the regions of PID or NAME")
    rg.add_argument("target")
    rg.add_argument("--limit", type=int, default=100)
    rg.set_defaults(func=cmd_regions)
    sc = sub.add_parser("scan", help="one-shot first scan of PID or NAME")
    sc.add_argument("target")
    sc.add_argument("--type", default="i32")
    sc.add_argument("--value", type=_number, default=None, help="omit for unknown initial value")
    sc.add_argument("--op", default="eq", help="eq ne lt le gt ge between near")
    sc.add_argument("--high", type=_number, default=None, help="upper bound for between")
    sc.add_argument("--kinds", help="comma-separated region kinds (heap,stack,anonymous,...)")
    sc.add_argument("--all-regions", action="store_true", help="read-only regions too")
    sc.add_argument("--alignment", type=int, default=None)
    sc.add_argument("--out", help="write the candidates to this Parquet file")
    sc.add_argument("--limit", type=int, default=20)
    sc.set_defaults(func=cmd_scan)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except errors.MemscanError as e:
        print(f"memscan: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("memscan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
