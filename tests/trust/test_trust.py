"""Defects found by outside review, one test each (each failed before its fix): crashes and
hangs, silent wrong answers, the wrong process, memory, and bad input. Every target is a real
process; values are checked against what the target holds."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from support.script_target import ScriptTarget

import memscan

# A ctypes buffer of 4096 bytes in the target, filled with zeros; `out` is its address.
BUFFER = "buf = ctypes.create_string_buffer(4096); out = ctypes.addressof(buf)"


@pytest.fixture
def target():
    with ScriptTarget() as t:
        yield t


def region_of(proc: memscan.Process, address: int) -> memscan.Region:
    return next(r for r in proc.region_list() if r.start <= address < r.end)


def put(target: ScriptTarget, address: int, data: bytes) -> None:
    target.run(f"ctypes.memmove({address}, bytes.fromhex({data.hex()!r}), {len(data)})")


# -- crashes and hangs ----------------------------------------------------------------------------


def test_a_worker_panic_is_an_internal_error_not_a_hang():
    code = (
        "import memscan, time\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    memscan._native._panic_in_worker()\n"
        "except memscan.InternalError as e:\n"
        "    print('internal', 'test hook' in str(e), time.monotonic() - t)\n"
    )
    env = {**os.environ, "MEMSCAN_TEST_HOOKS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    kind, named, seconds = out.stdout.split()
    assert (kind, named) == ("internal", "True")
    assert float(seconds) < 5
    assert "PanicException" not in out.stderr


def test_the_panic_hook_is_off_by_default():
    with pytest.raises(memscan.InvalidArgument, match="test hooks are off"):
        memscan._native._panic_in_worker()


def test_group_offsets_are_signed_bounded_and_checked(target):
    base = target.run(BUFFER)
    put(target, base + 64, struct.pack("<ii", 111_111, 222_222))
    proc = memscan.Process(target.pid)
    r = region_of(proc, base)
    with pytest.raises(memscan.InvalidArgument, match="out of range"):
        proc.group_scan([(0, "u8", ("between", 0, 255)), (2**64 - 1, "u8", 0)], regions=[r])
    with pytest.raises(memscan.InvalidArgument, match="out of range"):
        proc.group_scan([(0, "i32", 222_222), (-(2**40), "i32", 111_111)], regions=[r])
    with pytest.raises(memscan.InvalidArgument, match="at least one member"):
        proc.group_scan([])
    # A member before the first one: found at the second value's address only.
    s = proc.group_scan([(0, "i32", 222_222), (-4, "i32", 111_111)], regions=[r])
    assert s.addresses.tolist() == [base + 68]


def test_huge_reads_are_refused_before_allocating(target):
    base = target.run(BUFFER)
    proc = memscan.Process(target.pid)
    for size in (2**40, 2**63):
        with pytest.raises(memscan.InvalidAddress):
            proc.read(base, size)
        with pytest.raises(memscan.InvalidAddress):
            proc.read_partial(base, size)
    with pytest.raises(memscan.InvalidArgument):
        proc.read(base, -1)
    assert proc.read(base, 16) == bytes(16)


def test_untouched_memory_costs_nothing_to_snapshot_or_scan(target):
    size, touched = 64 << 30, 100 << 20
    start = target.run(
        f"m = libc.mmap(None, {size}, 3, 0x22 | 0x4000, -1, 0)\n"  # MAP_PRIVATE|ANON|NORESERVE
        f"ctypes.memset(m + {size // 2}, 7, {touched})\n"
        "out = m"
    )
    proc = memscan.Process(target.pid)
    region = region_of(proc, start)
    assert region.size == size
    snap = proc.snapshot(regions=[region], progress=None)
    assert touched <= snap.nbytes <= touched + (4 << 20)
    s = proc.scanner("u32", regions=[region])
    s.progress = None
    s.first("any")
    assert len(s) == size // 4
    assert s.nbytes <= touched * 1.1
    assert s.page(size // 8, 2)[1].tolist() == [0x07070707, 0x07070707]


# -- silent wrong answers -------------------------------------------------------------------------


def test_overlapping_unaligned_candidates_keep_their_own_values(target):
    base = target.run(BUFFER)
    put(target, base + 100, bytes([1, 2, 3, 4, 5, 6, 7, 8]))
    proc = memscan.Process(target.pid)
    s = proc.scanner("i16", regions=[region_of(proc, base)], alignment=1)
    s.first("ne", 0)
    keep = np.array([base + 101, base + 102, base + 105], dtype=np.uint64)
    s.add(0, keep)  # a no-op write: the candidates stay, values unchanged
    s.first("between", 1, 0x0807)
    assert set(keep.tolist()) <= set(s.addresses.tolist())
    s.unchanged()
    got = dict(zip(s.addresses.tolist(), s.values.tolist(), strict=True))
    for a in keep.tolist():
        assert got[a] == int.from_bytes(
            bytes([1, 2, 3, 4, 5, 6, 7, 8])[a - base - 100 :][:2], "little"
        )
    rec = proc.record(keep, "i16", interval=None)
    rec.sample()
    h = rec.stop()
    assert h.values[0].tolist() == [0x0302, 0x0403, 0x0706]


def test_a_freeze_holds_what_it_can_and_reports_what_it_cannot(target):
    a, b = target.run(
        "x = libc.mmap(None, 4096, 3, 0x22, -1, 0); y = libc.mmap(None, 4096, 3, 0x22, -1, 0)\n"
        "out = sorted([x, y])"
    )
    proc = memscan.Process(target.pid)
    s = proc.scanner("i32")
    addrs = np.array([a, b], dtype=np.uint64)
    s.freeze(42, addrs)
    target.run(f"libc.munmap({a}, 4096)")
    put(target, b, struct.pack("<i", 5))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proc.read_value(b, "i32") != 42:
        time.sleep(0.01)
    assert proc.read_value(b, "i32") == 42  # the higher address is still held
    assert [x for x, _ in s.frozen()] == [b]
    lost, stopped = s.freeze_problems()
    assert [x for x, _ in lost] == [a] and stopped is None
    s.release()


def test_patterns_and_strings_find_overlapping_occurrences(target):
    base = target.run(BUFFER)
    put(target, base + 200, b"aaaa")
    proc = memscan.Process(target.pid)
    r = region_of(proc, base)
    hits = proc.find_string("aa", regions=[r]).tolist()
    assert [h for h in hits if base + 200 <= h < base + 210] == [base + 200, base + 201, base + 202]
    hits = proc.find_bytes("61 ?? 61", regions=[r]).tolist()
    assert [h for h in hits if base + 200 <= h < base + 210] == [base + 200, base + 201]


def test_f32_values_are_exact_or_refused(target):
    base = target.run(BUFFER)
    proc = memscan.Process(target.pid)
    for bad in (16_777_217, 1e-50, 0.1):
        with pytest.raises(memscan.InvalidValue, match="no exact f32"):
            proc.write_value(base, "f32", bad)
    proc.write_value(base, "f32", 16_777_216)
    assert proc.read_value(base, "f32") == 16_777_216.0


def test_nan_and_signed_zero_have_documented_meanings(target):
    base = target.run(BUFFER)
    put(target, base + 8, struct.pack("<ddd", math.nan, -0.0, 1.0))
    proc = memscan.Process(target.pid)
    r = region_of(proc, base)
    near = lambda lo, hi: [a for a in s.addresses.tolist() if lo <= a < hi]  # noqa: E731
    s = proc.scanner("f64", regions=[r], alignment=8)
    s.first("eq", math.nan)
    assert near(base, base + 4096) == [base + 8]
    s.first("eq", 0.0)  # IEEE: 0.0 == -0.0, so the -0.0 and every zero match
    assert base + 16 in s.addresses.tolist()
    with pytest.raises(memscan.InvalidValue, match="NaN"):
        s.first("lt", math.nan)


def test_relative_checkpoints_are_exact_and_need_a_move(target):
    base = target.run(BUFFER)
    top = 2**64 - 100
    proc = memscan.Process(target.pid)
    s = proc.scanner("u64", address_range=(base, base + 4096), alignment=8)
    put(target, base, struct.pack("<QQ", top, 5))
    s.first("any")
    for i, name in enumerate(["a", "b", "c"]):
        put(target, base, struct.pack("<Q", top + 3 * i))
        s.checkpoint(name)
    s.repeated("a", "b", "c", 0.0)
    assert s.addresses.tolist() == [base]  # the constant 5 (and every zero) never moved


def test_eight_byte_values_are_found_at_four_byte_alignment(target):
    base = target.run(BUFFER)
    addr = base + 4 if (base + 4) % 8 else base + 12
    put(target, addr, struct.pack("<d", 1234.5))
    proc = memscan.Process(target.pid)
    r = region_of(proc, base)
    assert proc.scanner("f64", regions=[r]).alignment == 4
    assert addr in proc.scan("f64", 1234.5, regions=[r]).addresses.tolist()
    assert addr not in proc.scan("f64", 1234.5, regions=[r], alignment=8).addresses.tolist()


def test_a_zombie_is_an_exited_process():
    p = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Opened once the child runs Python: before its exec, it is still the forked test.
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        proc = memscan.Process(p.pid)
        s = proc.scanner("i32")
        before = proc.scan("i32", 1)
        p.kill()
        time.sleep(0.2)  # killed, not reaped: a zombie
        with pytest.raises(memscan.ProcessExited, match="zombie"):
            s.first("eq", 1)
        with pytest.raises(memscan.ProcessExited, match="zombie"):
            before.next("unchanged")
        with pytest.raises(memscan.ProcessExited):
            proc.read_value(0x10000, "i32")
    finally:
        p.kill()
        p.wait()


def test_first_scans_see_new_mappings_and_given_regions_are_scanned_as_given(target):
    proc = memscan.Process(target.pid)
    s = proc.scanner("i32")
    marker = 0x5EED_1234
    s.first("eq", marker)
    before = set(s.addresses.tolist())
    addr = target.run(
        "m = libc.mmap(None, 4096, 3, 0x22, -1, 0)\n"
        f"ctypes.c_int32.from_address(m).value = {marker}; out = m"
    )
    s.first("eq", marker)
    assert addr in s.addresses.tolist() and addr not in before
    target.run(f"libc.mprotect({addr}, 4096, 1)")  # read-only now
    r = region_of(proc, addr)
    assert not r.writable
    assert proc.scan("i32", marker, regions=[r]).addresses.tolist() == [addr]


# -- the wrong process ----------------------------------------------------------------------------


def test_a_reused_pid_is_never_written():
    first = ScriptTarget()
    base = first.run(BUFFER)
    proc = memscan.Process(first.pid)
    s = proc.scanner("i32", regions=[region_of(proc, base)])
    s.first("eq", 0)
    s.freeze(1, np.array([base], dtype=np.uint64))
    pid = first.pid
    first.close()
    # Make the next process take the same pid (ns_last_pid needs root, as these tests run).
    successor = None
    for _ in range(50):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        t = ScriptTarget()
        if t.pid == pid:
            successor = t
            break
        t.close()
    if successor is None:
        pytest.fail("could not get the same pid back")
    with successor:
        successor.run(BUFFER)
        with pytest.raises(memscan.ProcessExited):
            s.write(123)
        with pytest.raises(memscan.ProcessExited):
            proc.read(base, 4)
        assert s.frozen() == []
        assert s.freeze_problems()[1] is not None  # the freeze stopped, saying why


def test_exec_is_detected(target):
    base = target.run(BUFFER)
    proc = memscan.Process(target.pid)
    before = proc.scan("i32", 0, address_range=(base, base + 4096))
    sleeper = "[sys.executable, '-c', 'import time; time.sleep(30)']"
    target.send(f"import sys; os.execv(sys.executable, {sleeper})")
    time.sleep(0.5)
    with pytest.raises(memscan.ProcessExited, match="exec"):
        proc.read(base, 4)
    with pytest.raises(memscan.ProcessExited, match="exec"):
        before.next("unchanged")


def test_a_kernel_thread_is_named_as_such():
    with pytest.raises(memscan.InvalidArgument, match="kernel thread"):
        memscan.Process(2)


# -- memory and the GIL ---------------------------------------------------------------------------


def test_columns_are_built_once_and_paged_without_building(big_target):
    proc = memscan.Process(big_target.pid)
    s = proc.scanner("u8", kinds=["anonymous", "heap"])
    s.progress = None
    s.first("any")
    a, v = s.page(1000, 5)
    assert len(a) == 5 and np.all(np.diff(a.astype(np.int64)) > 0)
    assert s.addresses.ctypes.data == s.addresses.ctypes.data  # the same buffer each time
    assert s.addresses[1000:1005].tolist() == a.tolist()
    assert s.values[1000:1005].tolist() == v.tolist()


def test_exact_first_scans_keep_to_the_budget(big_target):
    proc = memscan.Process(big_target.pid)
    s = proc.scanner("i32", kinds=["anonymous", "heap"], memory_budget=50 << 20)
    s.progress = None
    with pytest.raises(memscan.MemoryBudgetExceeded):
        s.first("eq", 0x04030201)
    assert len(s) == 0


def test_quick_calls_do_not_wait_for_a_scan(big_target):
    proc = memscan.Process(big_target.pid)
    s = proc.scanner("u8", kinds=["anonymous", "heap"])
    s.progress = None
    worker = threading.Thread(target=lambda: s.first("any"))
    worker.start()
    time.sleep(0.05)
    slowest = 0.0
    while worker.is_alive():
        t = time.perf_counter()
        len(s), s.value_type, s.history()
        slowest = max(slowest, time.perf_counter() - t)
        time.sleep(0.01)
    worker.join()
    assert len(s) > 0
    assert slowest < 0.1


# -- bad input ------------------------------------------------------------------------------------


def test_bad_input_is_a_clear_typed_error(target):
    base = target.run(BUFFER)
    proc = memscan.Process(target.pid)
    with pytest.raises(memscan.InvalidArgument):
        memscan.find_process_by_name("")
    with pytest.raises(TypeError):
        memscan.Process(True)
    with pytest.raises(TypeError):
        proc.scan("i32", np.bool_(True))
    for text in ["0x-5", "--5", "-+5", "1_0_"]:
        with pytest.raises(memscan.InvalidValue):
            proc.scan("i32", text, address_range=(base, base + 64))
    assert len(proc.scan("i32", "0x0", address_range=(base, base + 64))) == 16
    for pattern in ["4D 5", "0x0x4D 53", "+4", "4D ?"]:
        with pytest.raises(memscan.InvalidArgument):
            memscan.parse_hex_pattern(pattern)
    with pytest.raises(memscan.InvalidArgument, match="alignment"):
        proc.scanner("i32", alignment=-4)
    with pytest.raises(memscan.InvalidArgument, match="empty"):
        proc.scanner("i32", address_range=(base + 64, base))
    with pytest.raises(memscan.InvalidArgument, match="tolerance"):
        proc.scanner("f32").first("near", 1.5)


# -- nothing is lost ------------------------------------------------------------------------------
# (A write the kernel stops part way is rolled back: rust/memscan-core/tests/live_process.rs.)


def test_allocation_limits_are_errors_not_aborts(target):
    # memscan itself under RLIMIT_AS: a read the allocator refuses is an error, not an abort.
    size = 3 << 30
    start = target.run(f"out = libc.mmap(None, {size}, 3, 0x22 | 0x4000, -1, 0)")
    code = (
        "import resource, memscan\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        f"p = memscan.Process({target.pid})\n"
        "try:\n"
        f"    p.read({start}, {size})\n"
        "except memscan.MemoryBudgetExceeded:\n"
        "    print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"
