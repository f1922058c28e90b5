"""``memscan shell PID``: scanmem's interactive loop (scan, narrow, list, write, undo) on memscan's
engine.

On a terminal it reads lines with prompt_toolkit (history, completion; ``pip install
memscan[cli]``) or else the standard library's readline. Otherwise it runs stdin as a script,
one command a line, and stops at the first error with memscan's exit status::

    printf '100\\nlist\\nwrite 0 999\\n' | memscan shell 1234
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from . import errors
from .cli import (
    UsageError,
    clean,
    first_scan_line,
    message_of,
    number,
    print_candidates,
    print_table,
    status_of,
)
from .display import count, milliseconds

#: Candidates per ``list`` page.
PAGE = 20
#: The most candidates ``write VALUE`` writes at once (more: narrow first, or name them).
SET_ALL_MAX = 1_000
#: Comparison words and symbols, as the engine names them.
OPS = {
    "=": "eq",
    "==": "eq",
    "eq": "eq",
    "!=": "ne",
    "ne": "ne",
    "<": "lt",
    "lt": "lt",
    "<=": "le",
    "le": "le",
    ">": "gt",
    "gt": "gt",
    ">=": "ge",
    "ge": "ge",
}
RELATIVE = {
    "+": "increased",
    "increased": "increased",
    "-": "decreased",
    "decreased": "decreased",
    "changed": "changed",
    "unchanged": "unchanged",
}
#: Words that start a first scan without naming a type.
CONSTANT_WORDS = ("between", "near", "unknown")
QUIT = ("quit", "exit", "q")
#: The write command, and ``set`` (scanmem's word) for it.
WRITE_WORDS = ("write", "set")
HELP = [
    ("VALUE", "first scan for VALUE; after it, keep the candidates equal to VALUE"),
    ("scan [TYPE] [OP] VALUE", "a new first scan (OP: = != < <= > >=, default =)"),
    ("scan [TYPE] between LOW HIGH", "a new first scan for LOW <= value <= HIGH"),
    ("scan [TYPE] near VALUE TOL", "a new first scan for values within TOL of VALUE"),
    ("scan [TYPE] unknown", "a new first scan of every slot (unknown initial value)"),
    ("= != < <= > >= VALUE", "keep the candidates that compare so with VALUE"),
    ("between LOW HIGH", "keep the candidates from LOW to HIGH"),
    ("near VALUE TOL", "keep the candidates within TOL of VALUE"),
    ("increased [N], decreased [N]", "keep the values that went up or down (by exactly N)"),
    ("changed, unchanged", "keep the values that changed, or not, since the last scan"),
    ("= or != alone", "the same as unchanged or changed; + and - as increased and decreased"),
    ("list [PAGE]", f"show the candidates, {PAGE} a page, with their values now"),
    ("write VALUE", f"write VALUE to every candidate (at most {SET_ALL_MAX:,}; or: set)"),
    ("write I,J,... VALUE", f"write VALUE to the candidates listed (at most {SET_ALL_MAX:,})"),
    ("write ADDRESS VALUE", "write VALUE at ADDRESS (0x7f3a..., game+0x4140, [game+0x10]+8)"),
    ("undo", "undo the last next scan"),
    ("history", "the scans so far, with their counts"),
    ("type [TYPE]", "show the value type, or change it (this clears the candidates)"),
    ("reset", "clear the candidates"),
    ("help", "this list"),
    ("quit", "leave (also exit, q, Ctrl-D)"),
]


def _number(text: str) -> int | float:
    try:
        return number(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a number") from None


class Shell:
    """The state of one session: the process, the value type and the current scan. Feed it
    lines with :meth:`execute` or :meth:`loop`."""

    def __init__(self, proc: Any, value_type: str = "i32") -> None:
        self.proc = proc
        self.value_type = proc.scanner(value_type).value_type
        self.scanner: Any = None

    def prompt(self) -> str:
        """``i32> `` before a scan, ``i32 1,412> `` with candidates."""
        n = "" if self.scanner is None else f" {len(self.scanner):,}"
        return f"{self.value_type}{n}> "

    # -- commands ---------------------------------------------------------------------------

    def execute(self, line: str) -> bool:
        """Runs one command line; False once the user asks to quit."""
        words = line.split()
        if not words or words[0].startswith("#"):
            return True
        word, args = words[0].lower(), words[1:]
        if word in QUIT:
            return False
        if word == "scan":
            self._first_scan(args)
        elif word in OPS or word in RELATIVE or word in ("between", "near"):
            self._compare(word, args)
        elif word == "list":
            self._list(args)
        elif word in WRITE_WORDS:
            self._write(word, args)
        elif word == "undo":
            self._expect(args, 0, "undo")
            self._need_scan().undo()
            self._report()
        elif word == "history":
            self._history()
        elif word == "type":
            self._type(args)
        elif word == "reset":
            self._expect(args, 0, "reset")
            self.scanner = None
            print("candidates cleared")
        elif word in ("help", "?"):
            print_table(["command", "what it does"], HELP)
        elif _is_number(word):
            self._compare("=", words)  # a first scan, then "= VALUE"
        else:
            raise UsageError(f"unknown command {words[0]!r} (type help)")
        return True

    def _expect(self, args: list[str], n: int, usage: str) -> None:
        if len(args) != n:
            raise UsageError(f"usage: {usage} (type help)")

    def _need_scan(self) -> Any:
        if self.scanner is None:
            raise UsageError("no scan yet: give a VALUE, or `scan unknown` (type help)")
        return self.scanner

    def _criterion(self, word: str, args: list[str]) -> tuple[str, list[int | float], float | None]:
        """(op, values, tolerance) of a comparison with constants."""
        if word == "between":
            self._expect(args, 2, "between LOW HIGH")
            return "between", [_number(a) for a in args], None
        if word == "near":
            self._expect(args, 2, "near VALUE TOLERANCE")
            return "near", [_number(args[0])], float(_number(args[1]))
        if word not in OPS:
            raise UsageError(f"unknown command {word!r} (type help)")
        self._expect(args, 1, f"{word} VALUE")
        return OPS[word], [_number(args[0])], None

    def _first_scan(self, args: list[str]) -> None:
        words = [w.lower() for w in args]
        value_type = self.value_type
        if words and not _is_number(words[0]) and words[0] not in (*OPS, *CONSTANT_WORDS):
            value_type, words = words[0], words[1:]
        s = self.proc.scanner(value_type)
        if words == ["unknown"]:
            s.first("any")
        elif not words:
            raise UsageError("usage: scan [TYPE] [OP] VALUE, or scan [TYPE] unknown (type help)")
        else:
            if _is_number(words[0]):
                words = ["=", *words]
            op, values, tol = self._criterion(words[0], words[1:])
            s.first(op, *values, tolerance=tol)
        self.scanner, self.value_type = s, s.value_type
        print(first_scan_line(s))

    def _compare(self, word: str, args: list[str]) -> None:
        if word in RELATIVE or (word in ("=", "!=") and not args):
            op = RELATIVE.get(word) or ("unchanged" if word == "=" else "changed")
            s = self._need_scan()
            if args and op in ("increased", "decreased"):
                self._expect(args, 1, f"{word} [N]")
                s.next(f"{op}_by", _number(args[0]))
            else:
                self._expect(args, 0, f"{word} [N]" if op.endswith("creased") else word)
                s.next(op)
            self._report()
        elif self.scanner is None:
            self._first_scan([word, *args])
        else:
            op, values, tol = self._criterion(word, args)
            self.scanner.next(op, *values, tolerance=tol)
            self._report()

    def _report(self) -> None:
        s = self.scanner
        what = s.history()[-1][0]
        hint = " (undo goes back)" if len(s) == 0 else ""
        print(f"{count(len(s), 'candidate')} ({clean(what)}) in {milliseconds(s.stats()[3])}{hint}")

    def _list(self, args: list[str]) -> None:
        if len(args) > 1 or not all(a.isdigit() and int(a) > 0 for a in args):
            raise UsageError("usage: list [PAGE] (PAGE counts from 1)")
        s = self._need_scan()
        page = int(args[0]) if args else 1
        pages = -(-len(s) // PAGE)
        if pages == 0:
            print("no candidates")
            return
        if page > pages:
            raise UsageError(f"there are {count(pages, 'page')}")
        print_candidates(s, self.proc, (page - 1) * PAGE, PAGE, now=True)
        if pages > 1:
            more = f" (list {page + 1} for the next)" if page < pages else ""
            print(f"page {page:,} of {pages:,}{more}")

    def _write(self, word: str, args: list[str]) -> None:
        if len(args) not in (1, 2):
            raise UsageError(f"usage: {word} VALUE, {word} I,J,... VALUE or {word} ADDRESS VALUE")
        value = _number(args[-1])
        if len(args) == 2 and not _is_indices(args[0]):
            address = self.proc.address(args[0])
            self.proc.write_value(address, self.value_type, value)
            print(f"wrote {value!r} at {address:#x}")
            return
        s = self._need_scan()
        if len(args) == 2:
            # Each candidate once: a repeated index is one write, and counts once against
            # the limit and in the message.
            indices = sorted({int(i) for i in args[0].split(",")})
            if len(indices) > SET_ALL_MAX:
                raise UsageError(
                    f"{word} I,J,... writes at most {SET_ALL_MAX:,} candidates at once, and "
                    f"{len(indices):,} are listed: narrow them first"
                )
            written = s.write(value, indices)
        elif len(s) > SET_ALL_MAX:
            raise UsageError(
                f"{word} VALUE writes every candidate, and there are {len(s):,}: narrow "
                f"them first, or name them ({word} I,J VALUE)"
            )
        else:
            written = s.write(value)
        print(f"wrote {value!r} to {count(written, 'candidate')}")

    def _history(self) -> None:
        s = self._need_scan()
        rows = [[str(i), clean(what), f"{n:,}"] for i, (what, n) in enumerate(s.history(), 1)]
        print_table(["step", "scan", "candidates"], rows, right=("step", "candidates"))

    def _type(self, args: list[str]) -> None:
        if len(args) > 1:
            raise UsageError("usage: type [TYPE]")
        if args:
            self.value_type = self.proc.scanner(args[0]).value_type
            self.scanner = None
        print(f"type {self.value_type}" + ("; candidates cleared" if args else ""))

    # -- the loop ---------------------------------------------------------------------------

    def loop(self, lines: Iterable[str], *, interactive: bool) -> int:
        """Runs ``lines`` until quit or their end; returns the exit status. Interactively an
        error is printed and the loop goes on (unless the process exited); otherwise the
        first error ends it, as ``memscan: error: line N: ...``."""
        for n, line in enumerate(lines, 1):
            try:
                if not self.execute(line):
                    break
            except KeyboardInterrupt:
                if not interactive:
                    raise
                print("interrupted: the candidates are those of the last finished scan")
            except Exception as e:
                if not interactive:
                    print(f"memscan: error: line {n}: {message_of(e)}", file=sys.stderr)
                    return status_of(e)
                print(f"error: {message_of(e)}", file=sys.stderr)
                if isinstance(e, errors.ProcessExited):
                    return 1
            sys.stdout.flush()
        return 0


def _is_number(text: str) -> bool:
    try:
        number(text)
    except ValueError:
        return False
    return True


def _is_indices(text: str) -> bool:
    return all(part.isdigit() for part in text.split(","))


def prompt_lines(shell: Shell, **session: Any) -> Iterator[str]:
    """Lines typed at ``shell``'s prompt: with prompt_toolkit when installed (``session`` are
    further ``PromptSession`` arguments, e.g. ``input``/``output`` in tests), else ``input()``
    with readline. Ctrl-C clears the line; Ctrl-D ends."""
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
    except ImportError:
        yield from _readline_lines(shell)
        return
    words = ["scan", "unknown", "between", "near", "increased", "decreased", "changed"]
    words += ["unchanged", "list", "write", "undo", "history", "type", "reset", "help", "quit"]
    words += ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64"]
    prompt_session: Any = PromptSession(completer=WordCompleter(words), **session)
    while True:
        try:
            yield prompt_session.prompt(shell.prompt())
        except KeyboardInterrupt:
            continue
        except EOFError:
            return


def _readline_lines(shell: Shell) -> Iterator[str]:
    try:
        import readline  # noqa: F401 (gives input() line editing and history)
    except ImportError:  # Windows has none; its console edits lines itself
        pass

    while True:
        try:
            yield input(shell.prompt())
        except KeyboardInterrupt:
            print()
        except EOFError:
            print()
            return


def run(proc: Any, value_type: str) -> int:
    """The shell on ``proc``: interactive on a terminal, else a script read from stdin."""
    shell = Shell(proc, value_type)
    if sys.stdin.isatty() and sys.stdout.isatty():
        print(
            f"memscan shell on pid {proc.pid} ({clean(proc.name)}), type {shell.value_type}. "
            "Type a value to scan for it, help for the commands, quit to leave."
        )
        return shell.loop(prompt_lines(shell), interactive=True)
    return shell.loop(sys.stdin, interactive=False)
