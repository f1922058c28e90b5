"""``memscan shell``: the interactive scan loop, driven through stdin against the demo game."""

from __future__ import annotations

import builtins
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

import memscan
from memscan.cli import main
from memscan.shell import Shell, prompt_lines


class Script:
    """Stands in for a piped stdin: yields the command lines, running the callables (changes
    to the game) between them, when the shell reaches them."""

    def __init__(self, *steps: str | Callable[[], object]) -> None:
        self.steps = steps

    def isatty(self) -> bool:
        return False

    def __iter__(self) -> Iterator[str]:
        for step in self.steps:
            if callable(step):
                step()
            else:
                yield step + "\n"


def counts(out: str) -> list[int]:
    """The candidate counts the shell reported, in order."""
    return [
        int(m.group(1).replace(",", "")) for m in re.finditer(r"^([\d,]+) candidates? ", out, re.M)
    ]


def shell(game, capsys, monkeypatch, *steps: str | Callable[[], object]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", Script(*steps))
    status = main(["shell", str(game.pid)])
    out, err = capsys.readouterr()
    return status, out, err


def test_scan_narrow_list_set_undo(game, capsys, monkeypatch):
    health = game.address("health")
    status, out, err = shell(
        game,
        capsys,
        monkeypatch,
        "scan i32 100",
        lambda: game.damage(7),
        "decreased",
        "= 93",
        "list",
        "set 999",
        "undo",
        "history",
    )
    assert status == 0, err
    first, decreased, eq, undone = counts(out)
    assert first > decreased >= eq >= 1 and undone == decreased
    assert f"{health:#x}" in out  # listed in hex
    assert f"wrote 999 to {eq} candidate" in out
    assert memscan.Process(game.pid).read_value(health, "i32") == 999
    assert game.value("health") == 999
    steps = out[out.index("step") :].splitlines()[1:]
    assert [line.split()[0] for line in steps] == ["1", "2"]  # the eq step was undone
    assert "first scan == 100" in steps[0] and "decreased" in steps[1]


def test_unknown_value_then_increased_by(game, capsys, monkeypatch):
    gold = game.address("gold")
    status, out, err = shell(
        game,
        capsys,
        monkeypatch,
        "scan u32 unknown",
        lambda: game.gain_gold(25),
        "increased 25",
        lambda: game.spend_gold(5),
        "-",
        "list",
        f"set {gold:#x} 123456",
    )
    assert status == 0, err
    assert "every u32 slot: unknown initial value" in out.splitlines()[0]
    snapshot, increased, decreased = counts(out)
    assert snapshot > 1_000_000 and f"{snapshot:,} candidates" in out
    assert increased < 100 and 1 <= decreased <= increased
    listed = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+0x", line)]
    row = next(r for r in listed if r[1] == f"{gold:#x}")
    assert row[2:5] == ["270", "275", "270"]  # value, previous, now
    assert f"wrote 123456 at {gold:#x}" in out
    assert game.value("gold") == 123456


def test_a_bare_number_starts_and_then_narrows(game, capsys, monkeypatch):
    status, out, _ = shell(game, capsys, monkeypatch, "100", "100", "type", "type u8", "50")
    assert status == 0
    assert "(i32 == 100)" in out and "(== 100)" in out
    assert "type i32" in out and "type u8; candidates cleared" in out and "(u8 == 50)" in out


def test_a_script_from_a_pipe_stops_at_the_first_error(game):
    u64_max = game.address("u64_max")
    script = f"scan u64 {2**64 - 1}\nset {u64_max:#x} {2**64 - 2}\nlist\nfrobnicate\nlist\n"
    r = subprocess.run(
        [sys.executable, "-m", "memscan.cli", "shell", str(game.pid)],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr == "memscan: error: line 4: unknown command 'frobnicate' (type help)\n"
    assert r.stdout.count("page 1 of") <= 1 and r.stdout.count("  address  ") == 1  # one list
    assert f"wrote {2**64 - 2} at {u64_max:#x}" in r.stdout
    assert memscan.Process(game.pid).read_value(u64_max, "u64") == 2**64 - 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("decreased", "no scan yet"),
        ("list", "no scan yet"),
        ("scan i33 1", 'unknown value type "i33"'),
        ("scan u8 256", "does not fit in u8"),
        ("between 1", "usage: between LOW HIGH"),
        ("= abc", "'abc' is not a number"),
        ("list 0", "usage: list [PAGE]"),
        ("set 1 2 3", "usage: set VALUE"),
    ],
)
def test_bad_input_is_one_error_line(game, capsys, monkeypatch, line, message):
    status, out, err = shell(game, capsys, monkeypatch, line)
    assert status == 2 and out == ""
    assert err.startswith("memscan: error: line 1: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_set_refuses_to_write_a_million_candidates(game, capsys, monkeypatch):
    status, out, err = shell(game, capsys, monkeypatch, "scan u8 0", "set 1")
    assert status == 2 and "narrow them first" in err
    assert "wrote" not in out


def test_interactive_errors_are_reported_and_the_loop_goes_on(game, capsys):
    pipe_input = pytest.importorskip("prompt_toolkit.input").create_pipe_input
    from prompt_toolkit.output import DummyOutput

    s = Shell(memscan.Process(game.pid), "i32")
    with pipe_input() as keys:
        keys.send_text("100\nfrobnicate\nundo\n= 100\nquit\nlist\n")
        status = s.loop(prompt_lines(s, input=keys, output=DummyOutput()), interactive=True)
    out, err = capsys.readouterr()
    assert status == 0
    assert err.splitlines() == [
        "error: unknown command 'frobnicate' (type help)",
        "error: invalid argument: nothing to undo",
    ]
    assert len(counts(out)) == 2 and "address" not in out  # nothing ran after quit
    assert s.prompt() == f"i32 {len(s.scanner):,}> "


def test_without_prompt_toolkit_input_and_readline_are_used(game, capsys, monkeypatch):
    typed = iter(["100", "history"])

    def fake_input(prompt: str) -> str:
        print(prompt, end="")
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setitem(sys.modules, "prompt_toolkit", None)  # import fails
    monkeypatch.setattr(builtins, "input", fake_input)
    s = Shell(memscan.Process(game.pid), "i32")
    assert s.loop(prompt_lines(s), interactive=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("i32> ") and "first scan == 100" in out
    assert f"i32 {len(s.scanner):,}> " in out


def test_the_target_exiting_ends_the_script_with_status_1(game, capsys, monkeypatch):
    status, out, err = shell(game, capsys, monkeypatch, "100", game.stop, "= 100", "list")
    assert status == 1 and len(counts(out)) == 1
    assert err.startswith("memscan: error: line 2: ") and str(game.pid) in err
    assert len(err.splitlines()) == 1
