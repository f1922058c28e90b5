"""The ``memscan`` command: ``demo``, ``ps``, ``regions``, ``scan``.

Errors print one line, ``memscan: error: ...``, on stderr and exit with 2 for usage errors (bad
arguments, an ambiguous process name) or 1 for runtime errors (no such process, access denied,
the process exited, a failed write). Text that other programs control (process names, command
lines, mapped paths, module names) is printed with control characters escaped repr-style
(``\\x1b``), so it cannot move the cursor, clear the screen or retitle the terminal.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from . import errors

#: The largest pid Linux can hand out (``PID_MAX_LIMIT`` on 64-bit systems).
PID_MAX = 4_194_304
#: Matching processes listed when a name is ambiguous.
AMBIGUOUS_SHOWN = 20


class UsageError(Exception):
    """A bad command line: reported as ``memscan: error: ...`` with exit status 2. ``details``
    are further lines (already escaped) printed after the error line."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def clean(text: object, *, backslash: bool = True) -> str:
    """``text`` with every character that is not printable (control and format characters,
    line separators, lone surrogates) escaped as ``repr`` escapes it (``\\x1b``), and with
    ``backslash`` the backslash too (so the escapes are unambiguous)."""
    s = str(text)
    if s.isprintable() and not (backslash and "\\" in s):
        return s
    return "".join(
        c if c.isprintable() and not (backslash and c == "\\") else repr(c)[1:-1] for c in s
    )


#: Characters :func:`clean` escapes, as a Rust regex (to find the rows that need it).
_UNSAFE = r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\\]|[\p{Zs}&&[^ ]]"


def _clean_frame(df: Any) -> Any:
    """``df`` with its text columns escaped by :func:`clean` (only rows that need it)."""
    import polars as pl

    for name, dtype in df.schema.items():
        if dtype == pl.List(pl.String):
            col = df[name].list.join(" ")
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            col = df[name].cast(pl.String)
        else:
            continue
        unsafe = col.str.contains(_UNSAFE).fill_null(False)
        if unsafe.any():
            idx = unsafe.arg_true()
            col = col.scatter(idx, [clean(x) for x in col.gather(idx).to_list()])
        df = df.with_columns(col.alias(name))
    return df


def _print_frame(df: Any, rows: int = 20) -> None:
    """Prints a polars frame with addresses in hex and text escaped."""
    import polars as pl

    hex_cols = [
        pl.col(c).map_elements(hex, return_dtype=pl.String)
        for c in ("address", "start", "end", "region_start")
        if c in df.columns
    ]
    df = _clean_frame(df.with_columns(hex_cols) if hex_cols else df)
    with pl.Config(tbl_rows=rows, tbl_cols=12, fmt_str_lengths=60, tbl_width_chars=160):
        print(df)


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
            print("memscan: error: the demo's health was not found", file=sys.stderr)
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


def _ancestors() -> set[int]:
    """This process and its ancestors (their command lines hold the name being looked up)."""
    pids, pid = set(), os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            pid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _resolve_pid(target: str) -> int:
    """A pid, or the one process named ``target`` (its name, executable or argv[0]). Several
    processes of that name are listed, and the user is asked for a pid."""
    import memscan

    if re.fullmatch(r"[+-]?[0-9]+", target):
        pid = int(target)
        if not 1 <= pid <= PID_MAX:
            raise UsageError(f"{target!r} is not a pid (1 to {PID_MAX})")
        return pid
    if not target:
        raise UsageError("give a pid or a process name")
    mine = _ancestors()
    found = memscan.find_processes(target, exact=True).to_polars()
    found = found.filter(~found["pid"].is_in(list(mine))).sort("pid")
    if found.height == 1:
        return int(found["pid"][0])
    if found.height == 0:
        raise errors.ProcessNotFound(
            f"no process is named {target!r} (`memscan ps {target!r}` lists "
            "processes whose name or command line contains it)"
        )
    details = [
        f"  {pid:>8}  {clean(name)}  {_shorten(clean(' '.join(cmd or [])))}"
        for pid, name, cmd in found.head(AMBIGUOUS_SHOWN)
        .select("pid", "name", "cmdline")
        .iter_rows()
    ]
    if found.height > AMBIGUOUS_SHOWN:
        details.append(f"  ... and {found.height - AMBIGUOUS_SHOWN} more")
    raise UsageError(
        f"{found.height} processes are named {target!r}; give one of their pids:", details
    )


def cmd_regions(args: argparse.Namespace) -> int:
    import memscan

    proc = memscan.Process(_resolve_pid(args.target))
    df = proc.regions().to_polars().select("start", "end", "size", "perms", "kind", "path")
    _print_frame(df, rows=args.limit)
    return 0


def _check_scan_args(args: argparse.Namespace) -> None:
    if args.out is not None:
        out = Path(args.out)
        if not args.out or "\0" in args.out:
            raise UsageError(f"--out {args.out!r} is not a file name")
        if not out.parent.is_dir():
            raise UsageError(f"--out: the folder {str(out.parent)!r} does not exist")
        if out.is_dir():
            raise UsageError(f"--out: {str(out)!r} is a folder")
    op = args.op or "eq"
    if args.value is None:
        if args.op is not None or args.high is not None or args.tolerance is not None:
            raise UsageError("--op, --high and --tolerance need --value")
        return
    if (op == "between") != (args.high is not None):
        raise UsageError("--op between needs --high, and --high is only for --op between")
    if (op == "near") != (args.tolerance is not None):
        raise UsageError("--op near needs --tolerance, and --tolerance is only for --op near")


def _describe(s: Any, value_type: str) -> str:
    """What the first scan did, in the engine's words (``i32 == 100``, ``f32 near 1 ± 0.1``)."""
    steps = s.history()
    what = steps[-1][0] if steps else "scan"
    what = what.removeprefix("first scan ")
    if what == "any":
        return f"every {value_type} slot: unknown initial value"
    return f"{value_type} {what}"


def cmd_scan(args: argparse.Namespace) -> int:
    import memscan

    _check_scan_args(args)
    pid = _resolve_pid(args.target)
    proc = memscan.Process(pid)
    kinds = args.kinds.split(",") if args.kinds is not None else None
    s = proc.scan(
        args.type,
        args.value,
        op=args.op or "eq",
        high=args.high,
        tolerance=args.tolerance,
        kinds=kinds,
        writable_only=not args.all_regions,
        alignment=args.alignment,
    )
    secs = s.stats()[3]
    print(f"{len(s)} candidates ({clean(_describe(s, s.value_type))}) in {secs * 1000:.1f} ms")
    if args.out:
        s.to_parquet(args.out)
        print(f"wrote {clean(args.out)}")
    _print_frame(s.to_polars(), rows=args.limit)
    return 0


def number(text: str) -> int | float:
    """A number as Python writes it: ``int(text, 0)`` (``0x1F``, ``-5``, ``1_000``), else
    ``float(text)`` (``1.5``, ``1e3``, ``nan``)."""
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def tolerance(text: str) -> float:
    """A finite, non-negative float."""
    x = float(text)
    if not math.isfinite(x) or x < 0:
        raise ValueError(text)
    return x


def count(text: str) -> int:
    """A non-negative int."""
    n = int(text)
    if n < 0:
        raise ValueError(text)
    return n


def positive(text: str) -> int:
    """A positive int."""
    n = int(text)
    if n < 1:
        raise ValueError(text)
    return n


class _Parser(argparse.ArgumentParser):
    """Reports errors as :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="memscan", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="scan session against the built-in demo target").set_defaults(
        func=cmd_demo
    )
    ps = sub.add_parser("ps", help="list processes (optionally matching NAME)")
    ps.add_argument("name", nargs="?")
    ps.add_argument("--limit", type=count, default=50)
    ps.set_defaults(func=cmd_ps)
    rg = sub.add_parser("regions", help="list the regions of PID or NAME")
    rg.add_argument("target")
    rg.add_argument("--limit", type=count, default=100)
    rg.set_defaults(func=cmd_regions)
    sc = sub.add_parser("scan", help="one-shot first scan of PID or NAME")
    sc.add_argument("target", help="a pid, or the name of exactly one process")
    sc.add_argument("--type", default="i32")
    sc.add_argument("--value", type=number, default=None, help="omit for unknown initial value")
    sc.add_argument(
        "--op",
        choices=["eq", "ne", "lt", "le", "gt", "ge", "between", "near"],
        default=None,
        help="comparison with --value (default eq)",
    )
    sc.add_argument("--high", type=number, default=None, help="upper bound for --op between")
    sc.add_argument(
        "--tolerance", type=tolerance, default=None, help="allowed difference for --op near"
    )
    sc.add_argument("--kinds", help="comma-separated region kinds (heap,stack,anonymous,...)")
    sc.add_argument("--all-regions", action="store_true", help="read-only regions too")
    sc.add_argument("--alignment", type=positive, default=None)
    sc.add_argument("--out", help="write the candidates to this Parquet file (memscan.load)")
    sc.add_argument("--limit", type=count, default=20)
    sc.set_defaults(func=cmd_scan)
    return parser


def _fail(message: object, status: int, details: list[str] | None = None) -> int:
    print(f"memscan: error: {clean(message, backslash=False)}", file=sys.stderr)
    for line in details or []:
        print(line, file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        return int(args.func(args))
    except UsageError as e:
        return _fail(e, 2, e.details)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("memscan: interrupted", file=sys.stderr)
        return 130
    except (errors.InvalidArgument, errors.InvalidValue, OverflowError) as e:
        return _fail(e, 2)
    except errors.MemscanError as e:
        return _fail(e, 1)
    except BrokenPipeError:  # the reader went away (memscan ps | head): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or e}", 1)
    except Exception as e:
        return _fail(f"{type(e).__name__}: {e}", 1)


if __name__ == "__main__":
    sys.exit(main())
