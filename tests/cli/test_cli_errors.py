"""The memscan command with hostile names and paths, ambiguous names and failing arguments:
one escaped error line and a meaningful exit status, never a traceback or raw control text."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import memscan
from memscan.cli import clean, main

#: A child that renames itself (PR_SET_NAME) and optionally maps a file, then waits.
CHILD = textwrap.dedent(
    """
    import ctypes, mmap, os, sys
    ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "wb") as f:
            f.write(bytes(4096))
        keep = mmap.mmap(os.open(sys.argv[2], os.O_RDWR), 4096)
    print("ready", flush=True)
    sys.stdin.read()
    """
)

ESC_NAME = "ms\x1b[2J\x1b]0;x"  # clear screen, then start a set-title sequence (15 bytes max)


@pytest.fixture
def spawn() -> Iterator:
    children: list[subprocess.Popen[str]] = []

    def start(name: str, *extra: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-c", CHILD, name, *extra]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return p

    yield start
    for p in children:
        p.kill()
        p.wait()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the command in a new process, as a user does."""
    return subprocess.run(
        [sys.executable, "-m", "memscan.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def cli(capsys):
    """Runs ``memscan.cli.main`` in this process: (status, stdout, stderr)."""

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), status, out, err)

    return call


def assert_one_error_line(r: subprocess.CompletedProcess[str], status: int, match: str) -> None:
    assert r.returncode == status, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("memscan: error: "), r.stderr
    assert match in lines[0]
    assert "Traceback" not in r.stderr


def no_control_characters(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


def test_clean_escapes_control_characters_repr_style():
    assert clean("ok name") == "ok name"
    assert clean("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert clean("tab\there\n") == "tab\\there\\n"
    assert clean("\u202eevil\u2028") == "\\u202eevil\\u2028"
    assert clean("back\\slash") == "back\\\\slash"
    assert clean("\udcff") == "\\udcff"  # a lone surrogate from an undecodable byte


def test_process_names_and_paths_are_escaped(spawn, cli):
    folder = Path(tempfile.mkdtemp(prefix="ms", dir="/tmp"))  # short: paths print whole
    try:
        child = spawn(ESC_NAME, str(folder / "map\x1b]0;pwned\x07.bin"))
        r = cli("ps", ESC_NAME, "--limit", "1000")
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and no_control_characters(r.stdout)
        assert "ms\\x1b[2J\\x1b]0;x" in r.stdout and str(child.pid) in r.stdout

        r = cli("regions", str(child.pid), "--limit", "1000")
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout
        assert "map\\x1b]0;pwned\\x07.bin" in r.stdout
    finally:
        shutil.rmtree(folder)


def test_a_unique_name_is_resolved(spawn, cli):
    child = spawn("ms-unique-7f3a")
    r = cli("regions", "ms-unique-7f3a")
    assert r.returncode == 0, r.stderr
    assert "[stack]" in r.stdout
    assert child.poll() is None


def test_names_with_colons_are_shown_and_resolved_whole(spawn, cli):
    child = spawn("ms:colon:7f3a")
    r = cli("ps", "ms:colon")
    assert r.returncode == 0, r.stderr
    [row] = [line.split() for line in r.stdout.splitlines()[1:]]
    assert row[0] == str(child.pid) and row[2] == "ms:colon:7f3a"
    r = cli("regions", "ms:colon:7f3a")
    assert r.returncode == 0 and "[stack]" in r.stdout


def test_names_with_parentheses_and_spaces_are_shown_and_resolved_whole(spawn, cli):
    name = "ms) (x) 7f3a"  # what a careless reading of /proc/PID/stat cuts
    child = spawn(name)
    r = cli("ps", "ms) (x)")
    assert r.returncode == 0, r.stderr
    [row] = r.stdout.splitlines()[1:]
    assert row.split()[0] == str(child.pid) and f"  {name}  " in row
    r = cli("regions", name)
    assert r.returncode == 0 and "[stack]" in r.stdout


def test_an_ambiguous_name_lists_the_processes_and_asks_for_a_pid(spawn):
    a, b = spawn(ESC_NAME), spawn(ESC_NAME)
    r = run("scan", ESC_NAME, "--value", "1")
    assert r.returncode == 2, r.stderr
    first, *listed = r.stderr.splitlines()
    assert first.startswith("memscan: error: 2 processes are named") and "pid" in first
    assert len(listed) == 2 and "Traceback" not in r.stderr
    assert [int(line.split()[0]) for line in listed] == sorted([a.pid, b.pid])
    assert all("python" in line for line in listed)  # the command line is shown
    assert "\x1b" not in r.stderr and r.stdout == ""


def test_missing_out_folder_is_an_error_before_scanning(game, tmp_path):
    out = str(tmp_path / "no" / "x.parquet")
    r = run("scan", str(game.pid), "--value", "100", "--out", out)  # as a user runs it
    assert_one_error_line(r, 2, "does not exist")
    assert r.stdout == ""
    assert main(["scan", str(game.pid), "--type", "u8", "--out", out]) == 2  # unknown value
    assert main(["scan", str(game.pid), "--value", "1", "--out", str(tmp_path)]) == 2  # a folder
    assert not (tmp_path / "no").exists()


def test_pids_that_cannot_exist_are_usage_errors(cli):
    assert_one_error_line(run("scan", "99999999999"), 2, "not a pid")
    for pid in ("0", "4194305", "1" * 40, "-5", "+0"):
        assert_one_error_line(cli("regions", pid), 2, "not a pid")


def test_a_dead_pid_is_a_runtime_error(cli):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert_one_error_line(cli("scan", str(p.pid), "--value", "1"), 1, str(p.pid))
    assert_one_error_line(cli("regions", str(p.pid)), 1, str(p.pid))


def test_usage_errors_are_one_line_with_status_2(game, capsys):
    pid = str(game.pid)
    cases = [
        ["scan", pid, "--value", "0x-5"],
        ["scan", pid, "--value", "1", "--op", "approx"],
        ["scan", pid, "--value", "1", "--op", "near"],  # no tolerance
        ["scan", pid, "--value", "1", "--tolerance", "0.5"],  # tolerance without near
        ["scan", pid, "--value", "1", "--op", "near", "--tolerance", "-1"],
        ["scan", pid, "--value", "1", "--op", "between"],  # no high
        ["scan", pid, "--op", "gt"],  # no value
        ["scan", pid, "--type", "i33", "--value", "1"],
        ["scan", pid, "--type", "u8", "--value", "256"],
        ["scan", pid, "--value", str(10**40)],
        ["scan", pid, "--value", "1", "--alignment", "-4"],
        ["scan", pid, "--value", "1", "--kinds", "heap,nowhere"],
        ["regions", pid, "--limit", "-1"],
        ["frobnicate"],
        [],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("memscan: error: "), (argv, err)
        assert out == "", argv


def test_near_takes_a_tolerance(game, capsys):
    f32 = game.value("f32_value")
    argv = ["scan", str(game.pid), "--type", "f32", "--value", str(f32 + 0.01)]
    assert main([*argv, "--op", "near", "--tolerance", "0.05", "--limit", "1000"]) == 0
    out, _ = capsys.readouterr()
    assert "near" in out.splitlines()[0] and "0.05" in out.splitlines()[0]
    assert hex(game.address("f32_value")) in out


def test_unknown_value_scan_says_what_it_did(game, capsys):
    assert main(["scan", str(game.pid), "--type", "u16", "--kinds", "stack", "--limit", "2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "None" not in first and "eq" not in first
    assert "unknown initial value" in first and "u16" in first


def test_scan_summary_names_the_comparison(game, capsys):
    assert main(["scan", str(game.pid), "--value", "10", "--op", "between", "--high", "0x14"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "i32 between 10 and 20" in first


def test_out_writes_a_file_memscan_loads(game, tmp_path, capsys):
    out = tmp_path / "scan.parquet"
    argv = ["scan", str(game.pid), "--type", "u64", "--value", str(2**64 - 1), "--out", str(out)]
    assert main(argv) == 0
    loaded = memscan.load(out)
    assert loaded.kind == "scan" and loaded.metadata["value_type"] == "u64"
    assert game.address("u64_max") in loaded.frame["address"].to_list()
    assert loaded.frame.schema["value"] == pl.UInt64
    assert f"wrote {out}" in capsys.readouterr().out
    assert [p.name for p in Path(tmp_path).iterdir()] == ["scan.parquet"]


def test_help_returns_zero(capsys):
    assert main(["scan", "--help"]) == 0
    assert "--tolerance" in capsys.readouterr().out
