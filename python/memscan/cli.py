"""The memscan command: demo, ps, regions, scan and an interactive shell.

Errors print one line, "memscan: error: ...", on stderr and exit with 2 for usage errors (bad
arguments, an ambiguous process name) or 1 for runtime errors (no such process, access denied,
the process exited, a failed write). Text that other programs control (process names, command
lines, mapped paths, module names) is printed with control characters escaped repr-style
("\\x1b"), so it cannot move the cursor, clear the screen or retitle the terminal.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from . import display, errors

#: The largest pid there can be: Linux's ``PID_MAX_LIMIT`` on 64-bit systems; a Windows pid is
#: any 32-bit number.
PID_MAX = 2**32 - 1 if sys.platform == "win32" else 4_194_304
#: Matching processes listed when a name is ambiguous.
AMBIGUOUS_SHOWN = 20
#: The fewest characters of a command line ``ps`` shows, however narrow the terminal.
PS_MIN_COMMAND = 20
#: Next-scan and first-scan comparisons, as ``--op`` names them.
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", "near")


class UsageError(Exception):
    """A bad command line: reported as ``memscan: error: ...`` with exit status 2. ``details``
    are further lines (already escaped) printed after the error line."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


# -- text --------------------------------------------------------------------------------------


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


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[str] = (),
    indent: str = "",
) -> None:
    """Prints ``rows`` as columns aligned under ``headers`` (the ``right`` ones right-aligned),
    each line after ``indent``; the last column is not padded."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        cells = [
            c.rjust(w) if h in right else c.ljust(w)
            for c, w, h in zip(row, widths, headers, strict=True)
        ]
        print(indent + "  ".join(cells).rstrip())


def value_text(value: int | float, value_type: str) -> str:
    """A value as Python writes it (exact: ``18446744073709551615``, ``1.5``, ``nan``); an
    ``f32`` in the fewest digits that read back as the same f32 (``1.1``, not
    ``1.100000023841858``)."""
    if value_type == "f32":
        import numpy as np

        return str(np.float32(value))
    return repr(value)


# -- candidates --------------------------------------------------------------------------------


def print_candidates(
    s: Any, proc: Any, offset: int = 0, count: int = 20, *, now: bool = False, indent: str = ""
) -> int:
    """Prints candidates ``offset`` .. ``offset + count`` of scanner ``s`` (index, address in
    hex, value at the last scan, the value before it when there is one, with ``now`` the value
    read now, and module+offset or region kind), reading only those rows. Returns how many were
    printed."""
    addresses, values = s.page(offset, count)
    if len(addresses) == 0:
        return 0
    previous = s.previous_page(offset, count) if len(s.history()) > 1 else None
    where = display.Locator(proc.region_list())
    headers = ["#", "address", "value"]
    headers += ["previous"] * (previous is not None) + ["now"] * now + ["where"]
    rows = []
    for i, (address, value) in enumerate(zip(addresses.tolist(), values.tolist(), strict=True)):
        row = [str(offset + i), f"{address:#x}", value_text(value, s.value_type)]
        if previous is not None:
            row.append(value_text(previous[i].item(), s.value_type))
        if now:
            row.append(_read_now(proc, address, s.value_type))
        rows.append([*row, clean(where.describe(address))])
    print_table(headers, rows, right=("#", "value", "previous", "now"), indent=indent)
    return len(addresses)


def _read_now(proc: Any, address: int, value_type: str) -> str:
    try:
        return value_text(proc.read_value(address, value_type), value_type)
    except errors.MemscanError:
        return "unreadable"


def first_scan_line(s: Any) -> str:
    """The count after a first scan, what it looked for in the engine's words and its time:
    ``1,412 candidates (i32 == 100) in 42.0 ms``, ``... (f32 near 1 ± 0.1) ...``."""
    steps = s.history()
    what = steps[0][0].removeprefix("first scan ") if steps else "scan"
    if what == "any":
        what = f"every {s.value_type} slot: unknown initial value"
    else:
        what = f"{s.value_type} {what}"
    took = display.milliseconds(s.stats()[3])
    return f"{display.count(len(s), 'candidate')} ({clean(what)}) in {took}"


# -- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRow:
    """One process as ``ps`` shows it; ``name`` is the whole ``comm`` (``memfd:x`` included)."""

    pid: int
    ppid: int
    name: str
    uid: int
    exe: str | None
    cmdline: list[str]
    kernel_thread: bool

    @property
    def command(self) -> str:
        return " ".join(self.cmdline)


def processes() -> list[ProcessRow]:
    """Every process, sorted by pid, with its full name and kernel-thread flag (as the engine
    lists them: ``memscan.list_processes()``)."""
    import memscan

    table = memscan.list_processes().to_polars().sort("pid")
    columns = ("pid", "ppid", "name", "uid", "exe", "cmdline", "kernel_thread")
    return [
        ProcessRow(pid, ppid, name, uid, exe, cmdline or [], bool(kernel_thread))
        for pid, ppid, name, uid, exe, cmdline, kernel_thread in table.select(columns).iter_rows()
    ]


def _ancestors(rows: list[ProcessRow]) -> set[int]:
    """This process and its ancestors among ``rows`` (their command lines hold the name being
    looked up)."""
    parent = {r.pid: r.ppid for r in rows}
    pids, pid = set(), os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        if pid not in parent:
            break
        pid = parent[pid]
    return pids


def _own(rows: list[ProcessRow]) -> set[int]:
    """This memscan process and the ancestors that only launched it (``sudo memscan ...``,
    ``uv run memscan ...``, ``bash -c "memscan ..."``): their command lines name memscan."""
    mine = _ancestors(rows)
    return {
        r.pid for r in rows if r.pid in mine and (r.pid == os.getpid() or "memscan" in r.command)
    }


@functools.cache
def _user(uid: int) -> str:
    """The user name of ``uid``, or the number when it has none (or the system has no user
    database by uid: Windows)."""
    try:
        import pwd
    except ImportError:
        return str(uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def cmd_ps(args: argparse.Namespace) -> int:
    """Lists processes as an aligned table."""
    rows = processes()
    if not args.all:
        own = _own(rows)
        rows = [r for r in rows if not r.kernel_thread and r.pid not in own]
    if args.name:
        needle = args.name.lower()
        rows = [r for r in rows if needle in r.name.lower() or needle in r.command.lower()]
    shown = rows if args.limit is None else rows[: args.limit]
    table = [[str(r.pid), clean(_user(r.uid)), clean(r.name), clean(r.command)] for r in shown]
    if not table:
        print(f"no process matches {clean(args.name)!r}" if args.name else "no processes")
        return 0
    headers = ["pid", "user", "name", "command"]
    if not args.wide:  # one row per line, as ps and htop cut the command
        used = sum(max(len(x[i]) for x in [headers, *table]) + 2 for i in range(3))
        width = max(shutil.get_terminal_size().columns - used, PS_MIN_COMMAND)
        table = [[*t[:3], _shorten(t[3], width)] for t in table]
    print_table(headers, table, right=("pid",))
    _more(len(rows) - len(shown), "process", "processes")
    return 0


def _more(hidden: int, noun: str, nouns: str | None = None) -> None:
    if hidden > 0:
        what = noun if hidden == 1 else nouns or noun + "s"
        print(f"... and {hidden:,} more {what} (--limit to show more)")


def _resolve_pid(target: str) -> int:
    """A pid, or the one process named ``target`` (its name, executable or argv[0]). Several
    processes of that name are listed, and the user is asked for a pid."""
    if re.fullmatch(r"[+-]?[0-9]+", target):
        pid = int(target)
        if not 1 <= pid <= PID_MAX:
            raise UsageError(f"{target!r} is not a pid (1 to {PID_MAX})")
        return pid
    if not target:
        raise UsageError("give a pid or a process name")
    rows = processes()
    mine = _ancestors(rows)

    def named(r: ProcessRow) -> bool:
        exe = os.path.basename(r.exe or "")
        arg0 = os.path.basename(r.cmdline[0]) if r.cmdline else ""
        return target in (r.name, exe, arg0)

    found = [r for r in rows if not r.kernel_thread and r.pid not in mine and named(r)]
    if len(found) == 1:
        return found[0].pid
    if not found:
        raise errors.ProcessNotFound(
            f"no process is named {target!r} (`memscan ps {target!r}` lists "
            "processes whose name or command line contains it)"
        )
    details = [
        f"  {r.pid:>8}  {clean(r.name)}  {_shorten(clean(r.command), 120)}"
        for r in found[:AMBIGUOUS_SHOWN]
    ]
    if len(found) > AMBIGUOUS_SHOWN:
        details.append(f"  ... and {len(found) - AMBIGUOUS_SHOWN:,} more")
    raise UsageError(
        f"{display.count(len(found), 'process', 'processes')} are named {target!r}; "
        "give one of their pids:",
        details,
    )


# -- regions and scans -------------------------------------------------------------------------


def _open_target(target: str) -> Any:
    """A live process by pid or name, or a saved image or core file given by its path."""
    import memscan

    if any(sep in target for sep in (os.sep, os.altsep) if sep) or os.path.isfile(target):
        return memscan.open_image(target)
    return memscan.Process(_resolve_pid(target))


def cmd_image(args: argparse.Namespace) -> int:
    """Saves a process's memory to an image file."""
    import memscan

    proc = memscan.Process(_resolve_pid(args.target))
    kinds = args.kinds.split(",") if args.kinds is not None else None
    info = proc.save_image(args.file, kinds=kinds, writable_only=args.writable_only or None)
    print(
        f"wrote {clean(args.file)}: {display.count(info['regions'], 'region')}, "
        f"{display.human_bytes(info['memory_bytes'])} of memory, "
        f"{display.human_bytes(info['stored_bytes'])} not zero, "
        f"{display.human_bytes(info['file_bytes'])} on disk"
    )
    return 0


def cmd_regions(args: argparse.Namespace) -> int:
    """Lists the mapped regions of one process."""

    proc = _open_target(args.target)
    regions = sorted(proc.region_list(), key=lambda r: r.start)
    shown = regions if args.limit is None else regions[: args.limit]
    rows = [
        [
            f"{r.start:#x}",
            f"{r.end:#x}",
            display.human_bytes(r.size),
            r.perms,
            r.kind,
            clean(r.path),
        ]
        for r in shown
    ]
    print_table(["start", "end", "size", "perms", "kind", "path"], rows, right=("size",))
    _more(len(regions) - len(shown), "region")
    return 0


def _check_scan_args(args: argparse.Namespace) -> None:
    if args.value_option is not None:
        if args.value is not None:
            raise UsageError("give the value once: VALUE or --value")
        args.value = args.value_option
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
            raise UsageError("--op, --high and --tolerance need a value")
        return
    if (op == "between") != (args.high is not None):
        raise UsageError("--op between needs --high, and --high is only for --op between")
    if (op == "near") != (args.tolerance is not None):
        raise UsageError("--op near needs --tolerance, and --tolerance is only for --op near")


def cmd_scan(args: argparse.Namespace) -> int:
    """A first scan: prints the count and the first ``--limit`` candidates (read page-wise)."""

    _check_scan_args(args)
    proc = _open_target(args.target)
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
    print(first_scan_line(s))
    if args.out:
        s.to_parquet(args.out)
        print(f"wrote {clean(args.out)}")
    shown = print_candidates(s, proc, 0, args.limit)
    if len(s) > shown:
        hint = "--limit to show more" + ("" if args.out else ", --out to save them all")
        print(f"... and {len(s) - shown:,} more ({hint})")
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    """The interactive scan loop (see :mod:`memscan.shell`)."""
    import memscan

    from .shell import run

    proc = memscan.Process(_resolve_pid(args.target))
    return run(proc, args.type)


# -- the demo ----------------------------------------------------------------------------------


def _step(n: int, text: str, *calls: str) -> None:
    print(f"\n[{n}] {text}")
    for call in calls:
        print(f"  >>> {call}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Walks through the scan-narrow-write loop against the built-in demo target, showing the
    Python call behind each step."""
    import memscan

    with memscan.demo.start() as game:
        print(f"memscan {memscan.__version__}: demo game started as pid {game.pid}")
        print("  >>> import memscan")
        print("  >>> game = memscan.demo.start(); proc = memscan.Process(game.pid)")
        proc = memscan.Process(game.pid)
        health = game.address("health")

        _step(
            1,
            "First scan: every i32 equal to the player's health (100)",
            "s = proc.scan('i32', 100)",
        )
        s = proc.scan("i32", 100)
        print(f"    {display.count(len(s), 'candidate')} in {display.milliseconds(s.stats()[3])}")

        _step(
            2,
            "The player takes 7 damage; keep values that decreased, then those equal to 93",
            "game.damage(7)",
            "s.decreased(); len(s)",
        )
        game.damage(7)
        s.decreased()
        print(f"    {display.count(len(s), 'candidate')}")
        print("  >>> s.eq(93); s.to_polars()")
        s.eq(93)
        print(f"    {display.count(len(s), 'candidate')}:")
        print_candidates(s, proc, 0, 10, indent="    ")
        if health not in s.addresses:
            print("memscan: error: the demo's health was not found", file=sys.stderr)
            return 1
        print(f"    health is at {health:#x}")

        _step(3, "Write 999 to the candidates; the game now reports:", "s.write(999)")
        s.write(999)
        print(f"    health = {game.value('health')}")

        _step(
            4,
            "Unknown initial value: snapshot every u32, then the gold goes up by 25",
            "gold = proc.scan('u32')",
        )
        gold = proc.scan("u32")
        print(
            f"    snapshot: {display.count(len(gold), 'slot')}, {display.human_bytes(gold.nbytes)}"
        )
        print("  >>> game.gain_gold(25); gold.increased(25)")
        game.gain_gold(25)
        gold.increased(25)
        print(f"    {display.count(len(gold), 'candidate')}; gold is at {game.address('gold'):#x}")
        print("  >>> gold.write(1_000_000, gold.addresses == game.address('gold'))")
        gold.write(1_000_000, gold.addresses == game.address("gold"))
        print(f"    gold = {game.value('gold'):,}")

        _step(
            5,
            "Freeze health at 500 while the game keeps damaging the player",
            "s.freeze(500)",
            "game.damage(50)  # three times",
        )
        s.freeze(500)
        for _ in range(3):
            game.damage(50)
            time.sleep(0.05)
        print(f"    after 3 hits of 50: health = {game.value('health')}")
        print("  >>> s.release()")
        s.release()

        _step(
            6,
            "Exact 64-bit values, byte signatures and strings",
            "u = proc.scan('u64', 2**64 - 1)",
        )
        u = proc.scan("u64", 2**64 - 1)
        found = game.address("u64_max") in u.addresses
        print(f"    {display.count(len(u), 'hit')}, includes u64_max: {found}")
        print("  >>> proc.find_bytes('4D 53 43 4E DE AD ?? EF')")
        sig = proc.find_bytes("4D 53 43 4E DE AD ?? EF")
        print(f"    at {', '.join(hex(a) for a in sig[:4])}")
        print("  >>> proc.find_string('Hero of Memscan', 'utf16')")
        txt = proc.find_string("Hero of Memscan", "utf16")
        print(f"    at {', '.join(hex(a) for a in txt[:4])}")
    print("\ndone: the demo target has exited. `memscan shell PID` runs this loop interactively.")
    return 0


# -- arguments ---------------------------------------------------------------------------------


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


TYPES_HELP = "value type: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 (default: i32)"
EXAMPLES = """examples:
  memscan demo                         the scan-narrow-write loop against a demo game
  memscan ps game                      processes whose name or command line holds "game"
  memscan regions 1234                 the memory regions of pid 1234
  memscan scan mygame 100              every i32 equal to 100 in the process named mygame
  memscan scan 1234 --type f32 1.5 --op near --tolerance 0.01
  memscan shell 1234                   scan, narrow, list and write interactively
"""


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    """The ``memscan`` parser and each command's parser."""
    import memscan

    parser = _Parser(
        prog="memscan",
        description="Scan and edit the memory of live processes on Linux and Windows.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"memscan {memscan.__version__}")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="one of these (memscan COMMAND --help shows its options):",
    )

    def command(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
        p.set_defaults(func=func)
        return p

    command("demo", "walk through a scan session against the built-in demo game", cmd_demo)

    ps = command("ps", "list processes, without kernel threads and memscan itself", cmd_ps)
    ps.add_argument("name", nargs="?", help="only processes whose name or command line holds it")
    ps.add_argument("--all", action="store_true", help="kernel threads and memscan itself too")
    ps.add_argument("--limit", type=count, default=None, metavar="N", help="show N rows at most")
    ps.add_argument(
        "--wide", action="store_true", help="whole command lines (default: cut to the terminal)"
    )

    target_help = "a pid, or the name of exactly one process"
    source_help = target_help + ", or a saved image or core file (a path)"
    rg = command("regions", "list the memory regions of a process or image", cmd_regions)
    rg.add_argument("target", metavar="PID|NAME|FILE", help=source_help)
    rg.add_argument("--limit", type=count, default=None, metavar="N", help="show N rows at most")

    sc = command(
        "scan",
        "one first scan of a process or image: the count and the first candidates",
        cmd_scan,
    )
    sc.add_argument("target", metavar="PID|NAME|FILE", help=source_help)
    sc.add_argument(
        "value",
        nargs="?",
        type=number,
        metavar="VALUE",
        help="the value to look for (100, -5, 0x1F, 1.5); omit for an unknown initial value",
    )
    sc.add_argument("--type", default="i32", help=TYPES_HELP)
    sc.add_argument(
        "--value",
        dest="value_option",
        type=number,
        default=None,
        metavar="VALUE",
        help="same as VALUE",
    )
    sc.add_argument(
        "--op", choices=OPS, default=None, help="how candidates compare with VALUE (default eq)"
    )
    sc.add_argument("--high", type=number, default=None, help="the upper bound for --op between")
    sc.add_argument(
        "--tolerance", type=tolerance, default=None, help="the allowed difference for --op near"
    )
    sc.add_argument(
        "--kinds", metavar="KIND,...", help="only these region kinds (heap,stack,anonymous,...)"
    )
    sc.add_argument("--all-regions", action="store_true", help="read-only regions too")
    sc.add_argument(
        "--alignment", type=positive, default=None, metavar="N", help="look every N bytes"
    )
    sc.add_argument(
        "--out", metavar="FILE", help="write every candidate to this Parquet file (memscan.load)"
    )
    sc.add_argument(
        "--limit", type=count, default=20, metavar="N", help="candidates shown (default 20)"
    )

    im = command(
        "image", "save a process's memory to an image file (memscan.open_image)", cmd_image
    )
    im.add_argument("target", metavar="PID|NAME", help=target_help)
    im.add_argument("file", metavar="FILE", help="the image file to write (replaced atomically)")
    im.add_argument(
        "--kinds", metavar="KIND,...", help="only these region kinds (default: every readable one)"
    )
    im.add_argument("--writable-only", action="store_true", help="only writable regions")

    sh = command("shell", "scan, narrow, list and write interactively (type help)", cmd_shell)
    sh.add_argument("target", metavar="PID|NAME", help=target_help)
    sh.add_argument("--type", default="i32", help=TYPES_HELP)
    return parser, sub.choices


# -- running -----------------------------------------------------------------------------------


def status_of(e: BaseException) -> int:
    """The exit status for an error: 2 for a usage error or a bad value, else 1."""
    usage = (UsageError, errors.InvalidArgument, errors.InvalidValue, OverflowError)
    return 2 if isinstance(e, usage) else 1


def message_of(e: BaseException) -> str:
    """One escaped line saying what went wrong."""
    if isinstance(e, OSError) and not isinstance(e, errors.MemscanError):
        where = f"{e.filename}: " if e.filename else ""
        return clean(f"{where}{e.strerror or e}", backslash=False)
    if isinstance(e, UsageError | errors.MemscanError | OverflowError):
        return clean(e, backslash=False)
    return clean(f"{type(e).__name__}: {e}", backslash=False)


def _fail(e: BaseException, status: int, details: list[str] | None = None) -> int:
    print(f"memscan: error: {message_of(e)}", file=sys.stderr)
    for line in details or []:
        print(line, file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        argv = sys.argv[1:] if argv is None else argv
        parser, commands = _parser()
        if argv and argv[0] in commands:  # options may come after VALUE: scan 1234 --type u8 7
            args = commands[argv[0]].parse_intermixed_args(argv[1:])
        else:
            args = parser.parse_args(argv)
        return int(args.func(args))
    except UsageError as e:
        return _fail(e, 2, e.details)
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("memscan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (memscan ps | head): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as e:
        return _fail(e, status_of(e))


if __name__ == "__main__":
    sys.exit(main())
