"""Second trust round: defects a hostile user found on the surface added by expressions, images,
cores, symbols, pointer scans and watches (issue 19). One test per defect, each failing before
its fix; every target is a real process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import build_c_target
from script_target import ScriptTarget

import memscan

# A dense web of pointers in the target: `web` (anonymous memory) holds pointers into itself,
# and `statics` (a private mapping of a ".so" file: module memory, so static bases) holds
# pointers into `web`. Pointer scans through it explode combinatorially with depth.
POINTER_WEB = """
import numpy as np, tempfile
n = 1 << 17
web = np.zeros(n, dtype=np.uint64)
base = web.ctypes.data
rng = np.random.default_rng(1)
web[:] = base + rng.integers(0, n, n).astype(np.uint64) * 8
f = tempfile.NamedTemporaryFile(suffix=".so", delete=False)
f.write(bytes(1 << 16)); f.flush()
m = mmap.mmap(f.fileno(), 1 << 16, flags=mmap.MAP_PRIVATE)
statics = np.frombuffer(m, dtype=np.uint64)
statics[:] = base + rng.integers(0, n, statics.size).astype(np.uint64) * 8
os.unlink(f.name)
out = int(base + 8 * 12345)
"""


@pytest.fixture
def target():
    with ScriptTarget() as t:
        yield t


# -- 1. deep address expressions --------------------------------------------------------------


def deep(n: int) -> str:
    return "[" * n + "0" + "]" * n


def test_deep_or_long_expressions_are_typed_errors_naming_the_limit(chain):
    p, score, _ = chain
    proc = memscan.Process(p.pid)
    for text in [deep(50_000), deep(65), "+".join(["1"] * 1_000_000)]:
        with pytest.raises(memscan.InvalidArgument, match=r"nested|limit") as e:
            memscan.Address.parse(text)
        assert len(str(e.value)) < 400  # the message quotes the text cut short
        with pytest.raises(memscan.InvalidArgument):
            proc.address(text)
    # The deepest accepted expression parses and resolves through every level (a null pointer
    # at the first read), and a long flat sum resolves exactly.
    with pytest.raises(memscan.InvalidAddress, match="null pointer"):
        proc.address(deep(64))
    assert proc.address(f"{score:x}" + "+1-1" * 2000) == score


def test_address_lists_with_deep_expressions_are_invalid_files(tmp_path):
    doc = {
        "format": "memscan.address_list",
        "version": 1,
        "entries": [{"description": "x", "expression": deep(30_000), "type": "i32"}],
    }
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(memscan.InvalidFile, match=r"nested|limit"):
        memscan.AddressList.load(path)
    offsets = "".join(f"<Offset>{i % 16:x}</Offset>" for i in range(60_000))
    ct = tmp_path / "deep.CT"
    ct.write_text(
        "<CheatTable><CheatEntries><CheatEntry><Description>x</Description>"
        "<VariableType>4 Bytes</VariableType><Address>game+10</Address>"
        f"<Offsets>{offsets}</Offsets></CheatEntry></CheatEntries></CheatTable>"
    )
    al = memscan.AddressList.from_cheat_table(ct)
    assert len(al) == 0
    assert [s.reason for s in al.skipped] == [
        "60000 offsets: address expressions have at most 64 pointer levels"
    ]


# -- 6. pointer scans stop on Ctrl-C and keep to a memory budget --------------------------------


def test_pointer_scans_stop_on_ctrl_c(target):
    addr = target.run(POINTER_WEB)
    scanner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import memscan, time
                proc = memscan.Process({target.pid})
                pm = proc.pointer_map(progress=False)
                print("scanning", flush=True)
                t = time.monotonic()
                try:
                    proc.pointer_scan({addr}, pointer_map=pm, max_depth=7, max_offset=256,
                                      max_chains=10**8, progress=False)
                    print("finished", flush=True)
                except KeyboardInterrupt:
                    print("interrupted", time.monotonic() - t, flush=True)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert scanner.stdout is not None
    assert scanner.stdout.readline().strip() == "scanning"
    time.sleep(1.5)
    sent = time.monotonic()
    scanner.send_signal(signal.SIGINT)
    out, _ = scanner.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    assert out.split()[0] == "interrupted", out
    assert stopped_after < 3, stopped_after


def test_pointer_scans_keep_to_the_memory_budget(target):
    addr = target.run(POINTER_WEB)
    proc = memscan.Process(target.pid)
    pm = proc.pointer_map(progress=False)
    with pytest.raises(memscan.MemoryBudgetExceeded):
        proc.pointer_scan(
            addr, pointer_map=pm, max_depth=6, max_offset=256, max_chains=10**8,
            memory_budget=20 << 20, progress=False,
        )  # fmt: skip
    # Within the budget the same search answers.
    chains = proc.pointer_scan(addr, pointer_map=pm, max_depth=3, max_offset=256)
    assert 0 < len(chains) < 100_000


# -- 10, 11, 12. pointer maps: targets, checksums, special files, privacy -----------------------


def test_pointer_scan_targets_and_offsets_are_exact_or_refused(chain):
    p, _, health = chain
    proc = memscan.Process(p.pid)
    pm = proc.pointer_map(progress=False)
    for bad in [-1, 2**64, [health, -8]]:
        with pytest.raises(memscan.InvalidAddress, match="outside the address space"):
            proc.pointer_scan(bad, pointer_map=pm)
    for option in ["max_offset", "max_negative_offset"]:
        with pytest.raises(memscan.InvalidArgument, match="below 2\\*\\*63"):
            proc.pointer_scan(health, pointer_map=pm, **{option: 2**64 - 1})
    # A target above 2**63 reached with the largest offset allowed: every chain found leads
    # exactly there (no offset wrapped).
    far = health + 2**63
    chains = proc.pointer_scan(far, pointer_map=pm, max_offset=2**63 - 1, max_chains=50)
    assert len(chains) == 50
    assert len(chains.rescan(proc, far)) == 50


def test_pointer_maps_are_checksummed_private_and_regular_files(chain, tmp_path):
    p, _, health = chain
    proc = memscan.Process(p.pid)
    pm = proc.pointer_map(progress=False)
    old = os.umask(0o022)
    try:
        path = tmp_path / "game.ptrmap"
        pm.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = bytearray(path.read_bytes())
    flips = [40, len(data) // 2, len(data) - 20]  # region table, columns, near the end
    for at in flips:
        bad = bytearray(data)
        bad[at] ^= 0x10
        (tmp_path / "bad.ptrmap").write_bytes(bad)
        with pytest.raises(memscan.InvalidFile, match="CRC"):
            memscan.PointerMap.load(tmp_path / "bad.ptrmap")
    loaded = memscan.PointerMap.load(path)
    assert len(proc.pointer_scan(health, pointer_map=loaded)) == len(
        proc.pointer_scan(health, pointer_map=pm)
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for special, kind in [(fifo, "FIFO"), (Path("/dev/zero"), "device"), (tmp_path, "directory")]:
        with pytest.raises(memscan.InvalidFile, match=kind):
            memscan.PointerMap.load(special)


# -- 8. a watch ends at exec --------------------------------------------------------------------


def test_a_watch_ends_when_the_process_execs_and_keeps_its_hits(tmp_path_factory):
    binary = build_c_target(tmp_path_factory, "exec_writer.c", "exec_writer", "-O0", "-no-pie")
    p = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdin is not None and p.stdout is not None
    try:
        counter = int(p.stdout.readline().split()[1], 16)
        proc = memscan.Process(p.pid)
        w = proc.watch(counter, size=8)
        p.stdin.write("w\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ok"
        p.stdin.write("e\n")
        p.stdin.flush()
        assert w.wait(5), "the watch went on recording the new program"
        assert w.ended is not None and "exec" in w.ended
        assert not proc.is_alive()
        time.sleep(0.3)  # the new program writes `counter` every millisecond meanwhile
        hits = w.hits()
        assert len(hits) == 1
    finally:
        p.kill()
        p.wait()


# -- 9. symbols come from the file that is mapped -----------------------------------------------


def test_symbols_are_read_from_the_mapped_file_not_a_rebuilt_one(tmp_path_factory, tmp_path):
    binary = build_c_target(tmp_path_factory, "stale.c", "stale", "-O0")
    p = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    try:
        score = int(p.stdout.readline().split()[1], 16)
        proc = memscan.Process(p.pid)
        assert proc.address("stale!score") == score
        image = tmp_path / "before.msimg"
        proc.save_image(image)
        # Rebuilt at the same path while it runs: `score` moves in the new file.
        source = Path(__file__).parent / "targets" / "stale.c"
        subprocess.run(["gcc", "-g", "-O0", "-DSHIFT", "-o", str(binary), str(source)], check=True)
        try:
            found = proc.address("stale!score")
        except memscan.InvalidFile as e:
            assert "rebuilt or replaced" in str(e)
        else:
            assert found == score
        assert proc.read_value(score, "i32") == 4242
        # An image matches the file on disk by build id only: the rebuilt one is refused.
        with pytest.raises(memscan.InvalidFile, match="build id"):
            memscan.open_image(image).address("stale!score")
    finally:
        p.kill()
        p.wait()
