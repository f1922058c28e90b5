"""The memscan command, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import memscan
from memscan.cli import _parser, main

#: ``PF_KTHREAD`` in the flags of ``/proc/PID/stat``: a kernel thread (the tests' own reading of
#: what the engine reports as ``kernel_thread``).
PF_KTHREAD = 0x00200000


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memscan.cli", *args], capture_output=True, text=True, timeout=120
    )


def rows(out: str) -> list[list[str]]:
    """The table rows of ``out`` (lines after the header, before any ``...`` line)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] in (["#", "address"],))
    return [line.split() for line in lines[start + 1 :] if not line.startswith("...")]


@pytest.mark.ptrace
def test_demo_walks_through_the_scan_loop_and_shows_the_python_calls():
    r = run("demo")
    assert r.returncode == 0, r.stderr
    assert "health = 999" in r.stdout
    assert "after 3 hits of 50: health = 500" in r.stdout
    assert "includes u64_max: True" in r.stdout
    calls = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith(">>> ")]
    assert ">>> s = proc.scan('i32', 100)" in calls and ">>> s.write(999)" in calls
    assert ">>> gold = proc.scan('u32')" in calls and ">>> s.freeze(500)" in calls
    assert len(calls) >= 12
    assert re.search(r"snapshot: [\d,]{9,} slots", r.stdout)  # separators on counts


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"memscan {memscan.__version__}\n"


def test_every_command_and_option_has_plain_help(capsys):
    parser, commands = _parser()
    assert set(commands) == {"demo", "ps", "regions", "scan", "image", "shell"}
    for name, command in [("memscan", parser), *commands.items()]:
        for action in command._actions:
            assert action.help, (name, action.dest)
        argv = ["--help"] if name == "memscan" else [name, "--help"]
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "`" not in text and ":class:" not in text, name
        if name != "memscan":
            assert f"usage: memscan {name}" in text
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"    {name}  " in listing for name in commands)


def test_ps_is_a_plain_table_without_memscan_itself(game):
    # sh stays the parent (the `; exit` keeps it from exec-ing): it launched memscan, so it
    # is hidden too, like `sudo memscan ...`.
    command = f"{sys.executable} -m memscan.cli ps memscan; exit 0"
    r = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["pid", "user", "name", "command"]
    assert "shape:" not in r.stdout and "---" not in r.stdout and "\u2502" not in r.stdout
    listed = {int(line.split()[0]): line.split()[2] for line in lines[1:]}
    assert listed.get(game.pid) == "memscan-demo"  # its command line holds memscan._demo_target
    assert not [line for line in lines if "memscan.cli ps memscan" in line]


def test_ps_fits_the_terminal_and_wide_shows_whole_command_lines():
    marker = "memscan-wide-" + "x" * 2000  # a command line of ~2,000 characters
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", marker], stdin=subprocess.PIPE
    )
    try:
        for columns in (80, 132):
            env = {**os.environ, "COLUMNS": str(columns)}
            r = subprocess.run(
                [sys.executable, "-m", "memscan.cli", "ps", "memscan-wide-"],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert max(len(line) for line in lines) <= columns
            row = next(line for line in lines if line.split()[0] == str(sleeper.pid))
            assert len(row) == columns and row.endswith("...")
        r = subprocess.run(
            [sys.executable, "-m", "memscan.cli", "ps", "--wide", "memscan-wide-"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "80"},
        )
        row = next(line for line in r.stdout.splitlines() if line.split()[0] == str(sleeper.pid))
        assert row.endswith(marker)
    finally:
        sleeper.communicate(timeout=10)


def kernel_threads() -> dict[int, str]:
    """Every kernel thread's pid and whole name (``comm``), read from ``/proc/PID/stat``."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        close = stat.rindex(b")")
        if entry.isdigit() and int(stat[close + 2 :].split()[6]) & PF_KTHREAD:
            found[int(entry)] = stat[stat.index(b"(") + 1 : close].decode()
    return found


def test_ps_hides_kernel_threads_unless_all_and_names_them_whole():
    threads = kernel_threads()
    if not threads:
        pytest.skip("no kernel threads are visible here (a pid namespace)")
    pids = {int(line.split()[0]) for line in run("ps").stdout.splitlines()[1:]}
    listed = run("ps", "--all", "--wide").stdout.splitlines()[1:]
    everything = {int(line.split()[0]): line.split()[2:] for line in listed}
    assert not pids & threads.keys()
    shown = threads.keys() & everything.keys()  # (others come and go between the runs)
    assert shown
    # Kernel threads have no command line, and their names may pass comm's 15 bytes
    # ("pool_workqueue_release"); kworkers rename themselves as they work.
    stable = [pid for pid in shown if not threads[pid].startswith("kworker/")]
    assert all(everything[pid] == [threads[pid]] for pid in stable), [
        (threads[pid], everything[pid]) for pid in stable if everything[pid] != [threads[pid]]
    ]


def test_regions_in_hex_with_sizes(game):
    r = run("regions", str(game.pid))
    assert r.returncode == 0 and "[stack]" in r.stdout and "heap" in r.stdout
    header, first = r.stdout.splitlines()[:2]
    assert header.split() == ["start", "end", "size", "perms", "kind", "path"]
    start, end, _, unit = first.split()[:4]
    assert start.startswith("0x") and end.startswith("0x") and unit in ("B", "KiB", "MiB", "GiB")


def test_scan_shows_hex_addresses_and_module_offsets_that_resolve(game):
    value = game.set("u64_value", 0x1234_5678_9ABC_DEF1)
    r = run("scan", str(game.pid), "--type", "u64", hex(value))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"1 candidate (u64 == {value}) in ")  # singular
    assert rows(r.stdout) == [["0", f"{game.address('u64_value'):#x}", str(value), "anonymous"]]
    r = run("scan", str(game.pid), "--type", "u32", "--limit", "5")  # starts in the executable
    assert r.returncode == 0, r.stderr
    proc = memscan.Process(game.pid)
    located = [(int(addr, 16), where) for _, addr, _, where in rows(r.stdout)]
    assert len(located) == 5
    for address, where in located:
        assert re.fullmatch(r".+\+0x[0-9a-f]+", where), where
        assert proc.address(where) == address


def test_f32_values_print_as_written(game, capsys):
    value = game.value("f32_value")  # 3.14159 as an f32: 3.141590118408203 as a double
    argv = ["scan", str(game.pid), "--type", "f32", str(value), "--op", "near"]
    assert main([*argv, "--tolerance", "0.0001", "--limit", "1000"]) == 0
    listed = {int(r[1], 16): r[2] for r in rows(capsys.readouterr().out)}
    assert listed[game.address("f32_value")] == "3.14159"


def test_scan_reads_only_the_rows_it_shows(game, capsys, monkeypatch):
    def everything(*args, **kwargs):
        raise AssertionError("the CLI read every candidate")

    for name in ("to_arrow", "to_polars", "table", "__arrow_c_stream__"):
        monkeypatch.setattr(memscan.Scanner, name, everything)
    monkeypatch.setattr(memscan.compat, "get_matches", everything)
    for name in ("addresses", "values"):
        monkeypatch.setattr(memscan.Scanner, name, property(everything))
    assert main(["scan", str(game.pid), "--type", "u32", "0", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = int(lines[0].split()[0].replace(",", ""))
    assert found > 1_000_000 and lines[0].startswith(f"{found:,} candidates (u32 == 0) in ")
    assert len(lines) == 1 + 1 + 3 + 1  # count, header, 3 rows, the rest
    assert [row[2] for row in rows("\n".join(lines))] == ["0", "0", "0"]
    assert lines[-1].startswith(f"... and {found - 3:,} more (--limit to show more")


def test_scan_writes_parquet(game, tmp_path):
    out = tmp_path / "scan.parquet"
    r = run("scan", str(game.pid), "--type", "u64", "--value", str(2**64 - 1), "--out", str(out))
    assert r.returncode == 0, r.stderr
    import polars as pl

    df = pl.read_parquet(out)
    assert game.address("u64_max") in df["address"].to_list()
    assert df.schema["value"] == pl.UInt64 and (df["value"] == 2**64 - 1).all()


def test_errors_are_reported_not_raised():
    r = run("regions", "999999999")  # above any pid Linux hands out: a usage error
    assert r.returncode == 2 and r.stderr.startswith("memscan: error: ")
    assert "not a pid" in r.stderr and "Traceback" not in r.stderr
    r = run("scan", "no-such-process-xyz")  # a runtime error
    assert r.returncode == 1 and r.stderr.startswith("memscan: error: no process is named")
    assert len(r.stderr.splitlines()) == 1


def test_image_saves_a_process_that_scan_and_regions_then_read(game, tmp_path):
    path = tmp_path / "game.msimg"
    r = run("image", str(game.pid), str(path))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "on disk" in r.stdout and path.exists()
    game.damage(7)  # the image keeps the moment it was taken
    scan = run("scan", str(path), "100", "--limit", "0")
    assert scan.returncode == 0, scan.stderr
    live = memscan.open_image(path).scan("i32", 100)
    assert scan.stdout.startswith(f"{len(live):,} candidate")
    assert game.address("health") in live.addresses.tolist()
    regions = run("regions", str(path), "--limit", "1")
    assert regions.returncode == 0 and "more regions" in regions.stdout
    missing = run("scan", str(tmp_path / "none.msimg"), "100")
    assert missing.returncode == 1 and "no such file" in missing.stderr
