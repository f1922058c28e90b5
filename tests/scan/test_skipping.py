"""Scans skip pages a process never used (they hold zeros) and must find exactly what a full
read finds: checked against NumPy over /proc/PID/mem on a target with written, read-only and
untouched pages, values that straddle into an unused page, and an untouched private file
mapping (whose pages hold the file's bytes, not zeros)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.processes import build_c_target

import memscan

VALUE = 0x5EED
SIZE = 64 << 20
PAGE = 4096


@pytest.fixture(scope="module")
def sparse_binary(tmp_path_factory) -> Path:
    return build_c_target(tmp_path_factory, "sparse.c", "sparse", "-O1")


@pytest.fixture
def sparse(sparse_binary, tmp_path):
    data = np.zeros(1 << 20, dtype=np.uint32)
    data[np.random.default_rng(1).choice(len(data), 50, replace=False)] = VALUE
    path = tmp_path / "values.bin"
    data.tofile(path)
    p = subprocess.Popen(
        [str(sparse_binary), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    _, anon, file, length, thp = p.stdout.readline().split()
    yield p, int(anon, 16), int(file, 16), int(length), int(thp, 16)
    p.kill()
    p.wait()


def present_pages(pid: int, start: int, size: int) -> int:
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        entries = np.frombuffer(f.read(size // PAGE * 8), dtype=np.uint64)
    return int(((entries >> np.uint64(63)) & np.uint64(1)).sum())


def reference(pid: int, start: int, size: int, dtype: str, value: int, stride: int) -> list[int]:
    """Every address in [start, start+size) holding `value`, at `stride`, by a plain read."""
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(start)
        raw = f.read(size)
    width = np.dtype(dtype).itemsize
    windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(raw, np.uint8), width)
    vals = windows[::stride].copy().view(dtype).ravel()
    return (start + np.flatnonzero(vals == value) * stride).tolist()


@pytest.mark.parametrize(("dtype", "value_type", "stride"), [("<u4", "u32", 4), ("<u4", "u32", 1)])
def test_skipping_unused_pages_finds_exactly_what_a_full_read_finds(
    sparse, dtype, value_type, stride
):
    p, anon, file, length, thp = sparse
    proc = memscan.Process(p.pid)
    before = present_pages(p.pid, anon, SIZE)
    s = proc.scan(value_type, VALUE, alignment=stride, address_range=(anon, anon + SIZE))
    f = proc.scan(value_type, VALUE, alignment=stride, address_range=(file, file + length))
    # The scan left the target's page tables as they were: it read no unused page.
    assert present_pages(p.pid, anon, SIZE) == before
    assert s.addresses.tolist() == reference(p.pid, anon, SIZE, dtype, VALUE, stride)
    assert len(s) > 60
    assert f.addresses.tolist() == reference(p.pid, file, length, dtype, VALUE, stride)
    assert len(f) == 50
    huge = 16 << 20
    h = proc.scan(value_type, VALUE, alignment=stride, address_range=(thp, thp + huge))
    assert h.addresses.tolist() == reference(p.pid, thp, huge, dtype, VALUE, stride)
    assert h.addresses.tolist() == [thp + (14 << 20) + 4096]


def test_zero_is_found_in_unused_pages_too(sparse):
    p, anon, _, _, _ = sparse
    proc = memscan.Process(p.pid)
    s = proc.scan("u32", 0, address_range=(anon, anon + SIZE))
    assert len(s) == len(reference(p.pid, anon, SIZE, "<u4", 0, 4))
    assert len(s) > SIZE // 4 - 1000


def test_a_snapshot_of_unused_pages_reads_as_zeros(sparse):
    p, anon, _, _, _ = sparse
    proc = memscan.Process(p.pid)
    before = present_pages(p.pid, anon, SIZE)
    u = proc.scan("u32", address_range=(anon, anon + SIZE))
    assert present_pages(p.pid, anon, SIZE) == before
    # Next scans over the snapshot read only the pages in use too.
    u.next("unchanged")
    assert present_pages(p.pid, anon, SIZE) == before
    u.eq(VALUE)
    assert u.addresses.tolist() == reference(p.pid, anon, SIZE, "<u4", VALUE, 4)


def own_rss() -> int:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) * 1024


def test_an_unknown_value_scan_holds_only_the_pages_in_use(sparse):
    p, anon, _, _, _ = sparse
    proc = memscan.Process(p.pid)
    before = own_rss()
    u = proc.scan("u32", address_range=(anon, anon + SIZE))
    grown = own_rss() - before
    # ~130 pages of 64 MiB are in use; every 4 MiB block holds one, and used to be kept whole.
    assert grown < SIZE // 4, f"{grown / 2**20:.1f} MiB held for a scan of 64 MiB"
    u.eq(VALUE)
    assert u.addresses.tolist() == reference(p.pid, anon, SIZE, "<u4", VALUE, 4)


FILLED_TARGET = """
import ctypes, mmap, sys
size, value, fill = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
m = mmap.mmap(-1, size)
if fill == "zeros":  # every page written (present), all zeros, VALUE once per MiB
    m.write(bytes(size))
    places = range(8, size, 1 << 20)
else:  # small ints, as heaps hold, VALUE once per 3 MiB
    row = b"".join(i.to_bytes(4, "little") for i in range(1, 1025))
    m.write(row * (size // len(row)))
    places = range(4096 + 12, size, 3 << 20)
for at in places:
    m[at : at + 4] = value.to_bytes(4, "little")
print(ctypes.addressof(ctypes.c_char.from_buffer(m)), flush=True)
for line in sys.stdin:  # "w OFFSET VALUE": write a u32
    _, at, v = line.split()
    m[int(at) : int(at) + 4] = int(v).to_bytes(4, "little")
    print("ok", flush=True)
"""


@pytest.fixture
def filled():
    """Starts a Python process with SIZE bytes of memory filled as asked; yields (process,
    start address)."""
    started: list[subprocess.Popen[str]] = []

    def start(fill: str) -> tuple[subprocess.Popen[str], int]:
        p = subprocess.Popen(
            [sys.executable, "-c", FILLED_TARGET, str(SIZE), str(VALUE), fill],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(p)
        assert p.stdout is not None
        return p, int(p.stdout.readline())

    yield start
    for p in started:
        p.kill()
        p.wait()


def test_pages_in_use_that_hold_zeros_are_not_kept(filled):
    # Memory a program cleared (calloc, memset, a huge page written in one place) is in use, yet
    # holds zeros: an unknown-value scan keeps only the pages that hold something.
    p, start = filled("zeros")
    proc = memscan.Process(p.pid)
    assert present_pages(p.pid, start, SIZE) == SIZE // PAGE
    before = own_rss()
    u = proc.scan("u32", address_range=(start, start + SIZE))
    grown = own_rss() - before
    assert grown < SIZE // 8, f"{grown / 2**20:.1f} MiB held for 64 MiB holding 64 values"
    assert u.nbytes < SIZE // 8
    u.eq(VALUE)
    assert u.addresses.tolist() == reference(p.pid, start, SIZE, "<u4", VALUE, 4)
    assert len(u) == SIZE >> 20


def test_compressed_snapshots_hold_less_and_answer_the_same(filled):
    p, start = filled("ints")
    assert p.stdin is not None and p.stdout is not None
    proc = memscan.Process(p.pid)
    span = (start, start + SIZE)
    held = proc.scanner("u32", address_range=span)
    packed = proc.scanner("u32", address_range=span, compress=True)
    held.first("any")
    packed.first("any")
    assert held.nbytes >= SIZE
    assert packed.nbytes < SIZE // 4, f"{packed.nbytes / 2**20:.1f} MiB kept for 64 MiB"
    # The same answers from both, next scan after next scan, checked against a plain read.
    for at, v in [(8, 7), (4096 * 100 + 4, 99999), (SIZE - 4, 3)]:
        p.stdin.write(f"w {at} {v}\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ok"
    for s in (held, packed):
        s.next("changed")
    assert packed.addresses.tolist() == held.addresses.tolist()
    assert packed.values.tolist() == held.values.tolist() == [7, 99999, 3]
    u = proc.scanner("u32", address_range=span, compress=True)
    u.first("any")
    u.eq(VALUE)
    assert u.addresses.tolist() == reference(p.pid, start, SIZE, "<u4", VALUE, 4)
    # A next scan that finds nothing changed shares the bytes kept before: no new copy.
    again = proc.scanner("u32", address_range=span)
    again.first("any")
    grown = own_rss()
    for _ in range(3):
        again.next("unchanged")
    assert own_rss() - grown < SIZE // 4, "each unchanged step copied the snapshot"
    assert len(again) == SIZE // 4
    # By default blocks are compressed once half the memory budget is held: a budget below the
    # raw size is then enough.
    tight = proc.scanner("u32", address_range=span, memory_budget=SIZE * 3 // 4)
    tight.first("any")
    assert SIZE // 4 < tight.nbytes < SIZE * 3 // 4
    tight.eq(VALUE)
    assert tight.addresses.tolist() == reference(p.pid, start, SIZE, "<u4", VALUE, 4)
    # Snapshots compress the same way and diff alike.
    a = proc.snapshot(progress=None, address_range=span, compress=True)
    b = proc.snapshot(progress=None, address_range=span)
    assert a.nbytes < SIZE // 4 < b.nbytes
    assert len(a.diff(b)) == 0


@pytest.fixture
def swap(tmp_path):
    """A swap file for this test, where the kernel allows one (root, a file system that takes
    swap files); removed afterwards."""
    path = tmp_path / "swapfile"
    subprocess.run(["fallocate", "-l", "64M", str(path)], check=True)
    path.chmod(0o600)
    made = subprocess.run(["mkswap", str(path)], capture_output=True)
    on = made.returncode == 0 and subprocess.run(["swapon", str(path)], capture_output=True)
    if not on or on.returncode != 0:
        pytest.skip("this kernel or file system takes no swap file here")
    yield path
    subprocess.run(["swapoff", str(path)], check=True)


def swapped_pages(pid: int, start: int, size: int) -> int:
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        entries = np.frombuffer(f.read(size // PAGE * 8), dtype=np.uint64)
    return int(((entries >> np.uint64(62)) & np.uint64(1)).sum())


def test_swapped_pages_hold_data_and_are_read(sparse, swap):
    p, anon, _, _, _ = sparse
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("p\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "0"
    if swapped_pages(p.pid, anon, SIZE) == 0:
        pytest.skip("MADV_PAGEOUT swapped nothing out")
    proc = memscan.Process(p.pid)
    s = proc.scan("u32", VALUE, address_range=(anon, anon + SIZE))
    assert len(s) > 60
    assert s.addresses.tolist() == reference(p.pid, anon, SIZE, "<u4", VALUE, 4)
