"""Stable addresses: modules with their `.bss`, module offsets as `nm` gives them, and address
expressions, against a C target built here (and a program from Debian's packages)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import memscan


def start(binary: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def nm(binary: Path, symbol: str) -> int:
    out = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    return next(
        int(line.split()[0], 16) for line in out.splitlines() if line.endswith(f" {symbol}")
    )


def test_a_bss_global_belongs_to_the_executable_at_its_nm_offset(chain, chain_binary):
    p, score, _ = chain
    proc = memscan.Process(p.pid)
    s = proc.scan("i32", 1234567)
    assert score in s.addresses.tolist()
    row = s.to_polars().filter(address=score).row(0, named=True)
    assert row["module"] == "chaingame"
    assert row["region_kind"] == "executable"
    assert row["module_offset"] == nm(chain_binary, "score")
    modules = proc.modules().to_polars()
    exe = modules.filter(name="chaingame").row(0, named=True)
    assert exe["kind"] == "executable" and exe["base"] <= score < exe["end"]
    # The seed workflow: module regions reach the .bss global.
    regions = memscan.get_process_module_regions(proc)
    scanner = memscan.create_interactive_scanner(proc, regions, "i32")
    scanner.initial_scan(1234567)
    assert score in [m.address for m in scanner.get_matches()]


def test_a_change_map_names_the_module_and_offset_of_a_bss_change(chain, chain_binary):
    p, score, _ = chain
    proc = memscan.Process(p.pid)
    before = proc.snapshot()
    proc.write_value(score, "i32", 1234568)  # only the low byte changes
    changes = proc.snapshot().diff(before).to_polars().filter(start=score)
    assert changes.height == 1
    row = changes.row(0, named=True)
    assert row["module"] == "chaingame"
    assert row["module_offset"] == nm(chain_binary, "score")


def test_a_history_names_the_module_and_offset_of_a_bss_global(chain, chain_binary, tmp_path):
    p, score, health = chain
    proc = memscan.Process(p.pid)
    rec = proc.record([score, health], "i32", interval=None)
    rec.sample()
    long = rec.stop().to_long()
    row = long.filter(address=score).row(0, named=True)
    assert (row["module"], row["module_offset"]) == ("chaingame", nm(chain_binary, "score"))
    assert long.filter(address=health)["module"].to_list() == [None]  # on the heap
    rec.history().to_parquet(str(tmp_path / "h.parquet"))
    back = memscan.load(str(tmp_path / "h.parquet")).history().to_long()
    assert back.select("address", "module", "module_offset").equals(
        long.select("address", "module", "module_offset")
    )


def test_address_expressions_resolve_modules_and_pointer_paths(chain, chain_binary):
    p, score, health = chain
    proc = memscan.Process(p.pid)
    off = nm(chain_binary, "score")
    assert proc.address(f"chaingame+{off:x}") == score
    assert proc.address(f"chaingame + 0x{off:x}") == score
    assert proc.address(hex(score)) == score
    root = nm(chain_binary, "root")
    path = memscan.Address.parse(f"[[chaingame+{root:x}]+10]+18")  # a.b at 0x10, b.health at 0x18
    assert path.depth == 2
    assert path.resolve(proc) == health
    assert proc.read_value(health, "i32") == 777777
    with pytest.raises(memscan.InvalidArgument, match="unknown module"):
        proc.address("nosuchmodule+10")
    with pytest.raises(memscan.InvalidAddress, match="pointer level 1"):
        proc.address("[0]+8")
    for bad in ["[chaingame+10", "chaingame+", "]", "a b"]:
        with pytest.raises(memscan.InvalidArgument, match="address expression"):
            memscan.Address.parse(bad)


def test_the_same_expression_survives_a_restart(chain_binary):
    root = nm(chain_binary, "root")
    path = memscan.Address.parse(f"[[chaingame+{root:x}]+10]+18")
    seen = set()
    for _ in range(2):
        p = subprocess.Popen(
            [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert p.stdout is not None
            _, _, health = p.stdout.readline().split()
            assert path.resolve(memscan.Process(p.pid)) == int(health, 16)
            seen.add(int(health, 16))
        finally:
            p.kill()
            p.wait()
    assert len(seen) == 2  # the heap moved, the expression followed


def image_end(binary: str) -> int:
    """The end of the ELF image (all PT_LOAD memory, .bss included), as readelf gives it,
    relative to the first segment's page."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True)
    loads = [line.split() for line in out.stdout.splitlines() if line.strip().startswith("LOAD")]
    first = min(int(f[2], 16) for f in loads) & ~0xFFF
    end = max(int(f[2], 16) + int(f[5], 16) for f in loads)
    return (end - first + 0xFFF) & ~0xFFF


def test_a_debian_program_has_its_bss_attributed():
    # bash (Debian's package) keeps its globals in a .bss tail mapped as anonymous memory.
    p = subprocess.Popen(["/usr/bin/bash", "-c", "read x"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        proc = memscan.Process(p.pid)
        regions = proc.regions().to_polars()
        mine = regions.filter(module="bash")
        tail = mine.filter(path="")
        assert len(tail) >= 1, "the .bss tail is attributed to bash"
        assert (tail["kind"] == "executable").all()
        base = mine["module_base"][0]
        assert tail["end"].max() == base + image_end("/usr/bin/bash")
        assert proc.address("bash") == base
        modules = proc.modules().to_polars().filter(name="bash")
        assert modules["end"][0] == base + image_end("/usr/bin/bash")
    finally:
        p.kill()
        p.wait()


def test_a_pointer_scan_finds_the_chain_and_a_rescan_keeps_it(chain_binary, tmp_path):
    root = nm(chain_binary, "root")
    true_chain = f"[[chaingame+{root:x}]+10]+18"
    p = start(chain_binary)
    try:
        assert p.stdout is not None
        _, _, health = p.stdout.readline().split()
        proc = memscan.Process(p.pid)
        pm = proc.pointer_map(progress=None)
        assert len(pm) > 0 and pm.width == 8
        chains = proc.pointer_scan(int(health, 16), max_depth=3, pointer_map=pm)
        assert true_chain in chains.expressions()
        row = chains.to_polars().filter(expression=true_chain).row(0, named=True)
        assert (row["module"], row["base_offset"], row["offsets"], row["depth"]) == (
            "chaingame",
            root,
            [0x10, 0x18],
            2,
        )
        resolved = chains.resolve(proc)
        assert resolved.filter(expression=true_chain)["address"][0] == int(health, 16)
        # An Arrow stream like every other result: polars and pyarrow read it as it is.
        assert pl.DataFrame(chains).equals(chains.to_polars())
        assert pa.table(chains).num_rows == len(chains)
        # Written to a file as found: the same chains, in a private file every reader takes.
        out = tmp_path / "chains.arrow"
        on_disk = proc.pointer_scan(int(health, 16), max_depth=3, pointer_map=pm, output=out)
        assert on_disk.to_polars().equals(chains.to_polars())
        assert out.stat().st_mode & 0o777 == 0o600
        assert pa.ipc.open_file(out).read_all().num_rows == len(chains)
        with pytest.raises(IsADirectoryError):  # and nothing is left behind
            proc.pointer_scan(int(health, 16), max_depth=3, pointer_map=pm, output=tmp_path)
        assert sorted(x.name for x in tmp_path.iterdir()) == ["chains.arrow"]
        # Without a map, the scan captures one for itself (freed once searched): the same
        # chains, in memory and in a file.
        alone = proc.pointer_scan(int(health, 16), max_depth=3, progress=None)
        assert alone.to_polars().equals(chains.to_polars())
        alone = proc.pointer_scan(int(health, 16), max_depth=3, output=tmp_path / "alone.arrow")
        assert alone.to_polars().equals(chains.to_polars())
        with pytest.raises(memscan.InvalidArgument, match="max_depth"):
            proc.pointer_scan(int(health, 16), max_depth=0, pointer_map=pm)
        with pytest.raises(memscan.InvalidArgument, match="max_depth"):
            proc.pointer_scan(int(health, 16), max_depth=50, pointer_map=pm)
        # Without a map, bad limits fail before one is captured.
        reported: list[tuple[int, int]] = []

        def report(done: int, total: int) -> None:
            reported.append((done, total))

        with pytest.raises(memscan.InvalidArgument, match="max_offset"):
            proc.pointer_scan(int(health, 16), max_offset=2**63, progress=report)
        assert reported == []
        proc.pointer_scan(int(health, 16), max_depth=2, progress=report)
        assert reported  # the same callback hears a capture that does run
    finally:
        p.kill()
        p.wait()
    q = start(chain_binary)
    try:
        assert q.stdout is not None
        _, _, health2 = q.stdout.readline().split()
        assert health2 != health  # the heap moved
        kept = chains.rescan(memscan.Process(q.pid), int(health2, 16))
        assert true_chain in kept.expressions()
        assert 0 < len(kept) <= len(chains)
    finally:
        q.kill()
        q.wait()


def test_thread_stacks_are_stacks():
    code = (
        "import threading, time, sys\n"
        "t = threading.Thread(target=time.sleep, args=(60,), daemon=True); t.start()\n"
        "print(t.native_id, flush=True); sys.stdin.read()\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        tid = int(p.stdout.readline())
        time.sleep(0.1)
        regions = memscan.Process(p.pid).regions().to_polars()
        stack = regions.filter(path=f"[stack:{tid}]")
        assert len(stack) == 1 and stack["kind"][0] == "stack"
        assert len(regions.filter(path="[stack]")) == 1  # the main thread's
    finally:
        p.kill()
        p.wait()


def test_symbols_resolve_in_the_executable_and_in_libraries(chain, chain_binary):
    p, score, _ = chain
    proc = memscan.Process(p.pid)
    assert proc.address("chaingame!score") == score
    assert proc.address("chaingame!score+4") == score + 4
    libc = proc.modules().to_polars().filter(name="libc.so.6").row(0, named=True)
    dynamic = subprocess.run(["nm", "-D", libc["path"]], capture_output=True, text=True).stdout
    malloc = next(int(ln.split()[0], 16) for ln in dynamic.splitlines() if " malloc@@" in ln)
    assert proc.address("libc.so.6!malloc") == libc["base"] + malloc
    with pytest.raises(memscan.InvalidArgument, match="no symbol"):
        proc.address("libc.so.6!no_such_symbol_here")


def test_a_saved_pointer_map_is_searched_offline(chain, chain_binary, tmp_path):
    p, _, health = chain
    proc = memscan.Process(p.pid)
    pm = proc.pointer_map(progress=None)
    path = tmp_path / "game.ptrmap"
    pm.save(path)
    p.kill()
    p.wait()  # the process is gone: the search runs on the file alone
    loaded = memscan.PointerMap.load(path)
    assert len(loaded) == len(pm) and loaded.width == pm.width
    online = set(proc.pointer_scan(health, max_depth=3, pointer_map=pm).expressions())
    offline = set(proc.pointer_scan(health, max_depth=3, pointer_map=loaded).expressions())
    assert offline == online and f"[[chaingame+{nm(chain_binary, 'root'):x}]+10]+18" in offline
    data = path.read_bytes()
    for bad in (data[: len(data) // 2], b"not a pointer map", data + b"x", b""):
        path.write_bytes(bad)
        with pytest.raises(memscan.InvalidFile):
            memscan.PointerMap.load(path)
    with pytest.raises(memscan.InvalidFile):
        memscan.PointerMap.load(tmp_path / "missing")
