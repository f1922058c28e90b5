"""The memscan command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import memscan


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memscan.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_demo_walks_through_the_scan_loop():
    r = run("demo")
    assert r.returncode == 0, r.stderr
    assert "health = 999" in r.stdout
    assert "after 3 hits of 50: health = 500" in r.stdout
    assert "includes u64_max: True" in r.stdout


def test_ps_and_regions(game):
    r = run("ps", "memscan._demo_target")
    assert r.returncode == 0 and str(game.pid) in r.stdout
    r = run("regions", str(game.pid))
    assert r.returncode == 0 and "[stack]" in r.stdout and "heap" in r.stdout


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
    assert memscan.__version__
