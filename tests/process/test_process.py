"""Processes, regions, exact reads and writes, and the errors they raise."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.known_values import EXACT_CASES
from support.processes import as_nobody

import memscan
from memscan import errors


def test_open_reports_identity(game, proc):
    assert proc.pid == game.pid
    assert proc.is_alive()
    assert proc.exe and os.path.basename(proc.exe).startswith("python")
    assert "memscan._demo_target" in " ".join(proc.cmdline)
    assert proc.uid == os.getuid()
    assert memscan.open_process(game.pid).pid == game.pid


@pytest.mark.parametrize(("field", "vtype", "expected"), EXACT_CASES)
def test_read_value_is_exact(game, proc, field, vtype, expected):
    value = proc.read_value(game.address(field), vtype)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("field", "vtype", "new"),
    [
        ("u64_value", "u64", 2**64 - 1),
        ("i64_value", "i64", -(2**63)),
        ("i8_value", "i8", -128),
        ("u16_value", "u16", 65535),
        ("f64_value", "f64", -1.0e300),
        ("f32_value", "f32", 0.5),
    ],
)
def test_write_value_round_trips(game, proc, field, vtype, new):
    proc.write_value(game.address(field), vtype, new)
    assert proc.read_value(game.address(field), vtype) == new
    assert game.value(field) == new


def test_value_out_of_range_is_rejected_and_nothing_written(game, proc):
    addr = game.address("u8_value")
    for bad in (256, -1, 2**64, 1.5):
        with pytest.raises(memscan.InvalidValue):
            proc.write_value(addr, "u8", bad)
    with pytest.raises(memscan.InvalidValue):
        proc.write_value(game.address("u64_value"), "u64", 2**64)
    with pytest.raises(memscan.InvalidValue):
        proc.write_value(game.address("f32_value"), "f32", 1e300)
    assert game.value("u8_value") == 201


def test_wrong_type_name_and_malformed_values(game, proc):
    with pytest.raises(memscan.InvalidArgument, match="unknown value type"):
        proc.read_value(game.address("health"), "i33")
    with pytest.raises(TypeError):
        proc.write_value(game.address("health"), "i32", [1])
    with pytest.raises(TypeError):
        proc.write_value(game.address("health"), "i32", True)
    with pytest.raises(memscan.InvalidValue):
        proc.write_value(game.address("health"), "i32", "12abc")
    proc.write_value(game.address("health"), "i32", "0x2A")
    assert game.value("health") == 42
    proc.write_value(game.address("health"), "i32", np.int64(7))
    assert game.value("health") == 7


def test_errors_form_a_typed_hierarchy():
    assert issubclass(errors.AccessDenied, PermissionError)
    assert issubclass(errors.InvalidValue, ValueError)
    assert issubclass(errors.InvalidAddress, ValueError)
    assert issubclass(errors.ProcessNotFound, LookupError)
    for cls in (
        errors.AccessDenied,
        errors.ProcessExited,
        errors.InvalidArgument,
        errors.WriteFailed,
    ):
        assert issubclass(cls, memscan.MemscanError)


def test_dead_pid_raises_process_not_found():
    with pytest.raises(memscan.ProcessNotFound):
        memscan.open_process(2**22 + 12345)
    with pytest.raises(memscan.ProcessNotFound):
        memscan.Process(-5)


def test_no_permission_raises_access_denied_with_reason(game):
    """A child running as nobody may not open a root-owned process."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")

    def open_it() -> str:
        try:
            memscan.open_process(game.pid)
        except memscan.AccessDenied as e:
            return f"AccessDenied|{isinstance(e, PermissionError)}|{e}"
        return "opened"

    out = as_nobody(open_it)
    kind, is_perm, reason = out.split("|", 2)
    assert kind == "AccessDenied", out
    assert is_perm == "True"
    assert "uid 0" in reason and "CAP_SYS_PTRACE" in reason


def test_regions_table_and_kinds(game, proc):
    df = proc.regions().to_polars()
    assert {"start", "end", "size", "perms", "offset", "dev", "inode", "path", "kind"} <= set(
        df.columns
    )
    assert str(df.schema["start"]) == "UInt64"
    kinds = set(df["kind"].to_list())
    assert {"executable", "library", "anonymous", "stack", "special"} <= kinds
    assert (df["size"] == df["end"] - df["start"]).all()
    base = game.address("health")
    holder = df.filter((df["start"] <= base) & (df["end"] > base))
    assert holder.height == 1 and holder["writable"][0]
    libs = memscan.get_process_module_regions(proc)
    assert libs and {r.kind for r in libs} <= {"executable", "library"}
    assert any(r.path.endswith(".so") or ".so." in r.path for r in libs)
    assert len(proc.regions()) == len(proc.region_list())


def test_regions_reach_pandas_and_pyarrow(proc):
    pa = pytest.importorskip("pyarrow")
    t = proc.regions()
    assert pa.table(t).num_rows == len(t)
    assert len(t.to_pandas()) == len(t)


def test_read_and_write_bytes_explicit_api(game, proc):
    addr = game.address("signature")
    data = memscan.read_process_memory(proc, addr, 12)
    assert data == bytes.fromhex("4D 53 43 4E DE AD BE EF 13 37 C0 DE")
    memscan.write_process_memory(proc, addr, b"\x00\x11")
    assert proc.read(addr, 4) == b"\x00\x11\x43\x4e"


def test_invalid_addresses(game, proc):
    with pytest.raises(memscan.InvalidAddress):
        proc.read(8, 4)
    with pytest.raises(memscan.InvalidAddress):
        proc.read(2**64 - 2, 4)
    with pytest.raises(memscan.InvalidAddress):
        proc.write(16, b"\x01")
    with pytest.raises(memscan.InvalidArgument):
        proc.read(game.address("health"), 0)


def test_write_spanning_into_unmapped_memory_changes_nothing(proc):
    regions = proc.region_list()
    # A writable region followed by a gap: a write across its end must fail and change nothing.
    for r, nxt in itertools.pairwise(regions):
        if r.writable and nxt.start > r.end:
            before = proc.read(r.end - 4, 4)
            with pytest.raises(memscan.InvalidAddress):
                proc.write(r.end - 4, b"\xff" * 8)
            assert proc.read(r.end - 4, 4) == before
            return
    pytest.skip("no writable region followed by a gap")


def test_partial_reads_report_unreadable_pages(proc):
    regions = proc.region_list()
    for r, nxt in itertools.pairwise(regions):
        if r.readable and nxt.start > r.end:
            data, holes = proc.read_partial(r.end - 16, 4096 + 32)
            assert len(data) == 4096 + 32
            assert data[:16] == proc.read(r.end - 16, 16)
            assert holes and holes[0][0] == r.end
            assert data[16 : 16 + holes[0][1]] == bytes(holes[0][1])
            return
    pytest.skip("no readable region followed by a gap")


def test_read_only_pages_need_force(proc):
    exe = next(r for r in proc.region_list() if r.kind == "executable" and r.perms == "r--p")
    original = proc.read(exe.start + 8, 4)
    with pytest.raises(memscan.InvalidAddress, match="not writable"):
        proc.write(exe.start + 8, b"\x01\x02\x03\x04")
    proc.write(exe.start + 8, b"\x01\x02\x03\x04", force=True)
    assert proc.read(exe.start + 8, 4) == b"\x01\x02\x03\x04"
    proc.write(exe.start + 8, original, force=True)
    assert proc.read(exe.start + 8, 4) == original


def test_process_exit_is_reported(game):
    p = memscan.Process(game.pid)
    s = p.scan("i32", 100)
    count, addrs = len(s), s.addresses.copy()
    game.stop()
    assert not p.is_alive()
    with pytest.raises((memscan.ProcessExited, memscan.ProcessNotFound)):
        p.read_value(game.address("health"), "i32")
    with pytest.raises(memscan.ProcessExited):
        s.decreased()
    assert len(s) == count
    assert (s.addresses == addrs).all()
    assert len(s.to_polars()) == count


def test_find_processes_and_system_info(game):
    pids = memscan.find_processes("memscan._demo_target").to_polars()["pid"].to_list()
    assert game.pid in pids
    assert memscan.find_process_by_name("no-such-process-xyz") is None
    me = memscan.find_process_by_name(memscan.Process(os.getpid()).name)
    assert isinstance(me, int)
    everyone = memscan.list_processes().to_polars()
    assert os.getpid() in everyone["pid"].to_list()
    info = memscan.query_system_info()
    assert info["page_size"] >= 4096 and info["cpu_count"] >= 1
    assert info["min_address"] < info["max_address"]


@pytest.fixture
def colon_named():
    """A process whose name (``comm``, set with ``prctl(PR_SET_NAME)``) holds a colon."""
    code = "import ctypes,sys; ctypes.CDLL(None).prctl(15, b'ab:cd', 0, 0, 0); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/comm").read_text().strip() != "ab:cd":
            assert child.poll() is None and time.monotonic() < deadline, "prctl did not run"
            time.sleep(0.01)
        yield child.pid
    finally:
        child.stdin.close()
        child.wait(10)


def test_names_keep_their_colons(colon_named):
    """Names come whole from /proc/PID/comm (the status parser used to cut them at ':')."""
    found = memscan.find_processes("ab:cd", exact=True).to_polars()
    assert found["pid"].to_list() == [colon_named] and found["name"].to_list() == ["ab:cd"]
    assert memscan.Process(colon_named).name == "ab:cd"


def test_parse_hex_pattern():
    data, mask = memscan.hex_pattern_bytes("DE AD ?? EF")
    assert data == b"\xde\xad\x00\xef" and mask == b"\xff\xff\x00\xff"
    assert memscan.hex_pattern_bytes("dead??ef") == (data, mask)
    assert memscan.parse_hex_pattern("DE AD ?? EF") == [0xDE, 0xAD, None, 0xEF]
    for bad in ("", "?? ??", "XYZ", "ABC", "1 2 345"):
        with pytest.raises(memscan.InvalidArgument):
            memscan.parse_hex_pattern(bad)
        with pytest.raises(memscan.InvalidArgument):
            memscan.hex_pattern_bytes(bad)


def test_demo_target_dies_with_its_parent(tmp_path):
    """The demo target never outlives the Python process that started it."""
    import subprocess
    import sys
    import time

    code = (
        "import memscan, sys; g = memscan.demo.start(); print(g.pid, flush=True); sys.stdin.read()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{child_pid}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                return
        time.sleep(0.02)
    pytest.fail("demo target outlived its parent")
