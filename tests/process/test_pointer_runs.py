"""Pointer chains across runs: a chain found in one run is kept when it reaches the value in every
other run (each run's pointer map, live or saved, and where the value was in it), and dropped
when it breaks in one; and chains are rescanned by the value their end holds. Every run is a
fresh process, with its own address layout."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from support.script_target import ScriptTarget

import memscan

# `libgame.so` (a private mapping of one file, the same name in every run: a module, so static
# bases) holds a pointer to the player at +0x50; the player's health (1000 + run) is at +0x28.
# The decoy at +0xa0 points 8 bytes into the player in runs 0 and 1 (so +0x20 reaches the health
# too), and elsewhere in run 2.
RUN = """
import numpy as np
lib = open({lib!r}, "r+b")
m = mmap.mmap(lib.fileno(), 1 << 16, flags=mmap.MAP_PRIVATE)
statics = np.frombuffer(m, dtype=np.uint64)
player = np.zeros(64, dtype=np.uint64)
elsewhere = np.zeros(64, dtype=np.uint64)
player[5] = 1000 + {run}
statics[10] = player.ctypes.data
statics[20] = player.ctypes.data + 8 if {run} < 2 else elsewhere.ctypes.data
out = [int(player.ctypes.data + 0x28), int(statics.ctypes.data)]
"""

GOOD = "[libgame.so+50]+28"
DECOY = "[libgame.so+a0]+20"


def start(lib: Path, run: int) -> tuple[ScriptTarget, int]:
    t = ScriptTarget()
    health, _ = t.run(RUN.format(lib=str(lib), run=run))
    return t, health


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    path = tmp_path / "libgame.so"
    path.write_bytes(bytes(1 << 16))
    return path


def test_chains_valid_in_every_run_survive_intersect_and_a_decoy_does_not(lib, tmp_path):
    runs = [start(lib, run) for run in range(3)]
    try:
        first, health0 = runs[0]
        proc0 = memscan.Process(first.pid)
        chains = proc0.pointer_scan(
            health0, max_depth=2, max_offset=0x100, modules=["libgame.so"], progress=False
        )
        found = set(chains.expressions())
        assert {GOOD, DECOY} <= found, found
        # Each later run: its map (one saved and loaded, as from an earlier session) and its
        # value's address there.
        maps = []
        for i, (t, health) in enumerate(runs[1:], start=1):
            pm = memscan.Process(t.pid).pointer_map(progress=False)
            if i == 2:
                path = tmp_path / "run2.ptrmap"
                pm.save(path)
                pm = memscan.PointerMap.load(path)
            maps.append((pm, health))
        assert maps[0][1] != health0 and maps[1][1] != health0  # the value moved between runs
        kept = set(chains.intersect(*maps).expressions())
        assert GOOD in kept and DECOY not in kept, kept
        # Valid in run 1 alone, the decoy stays; the map answers for its run as memory does.
        assert DECOY in set(chains.valid_in(*maps[0]).expressions())
        resolved = chains.resolve(maps[1][0]).filter(pl.col("expression") == GOOD)
        assert resolved["address"].to_list() == [maps[1][1]]
    finally:
        for t, _ in runs:
            t.close()


def test_rescan_by_value_keeps_chains_whose_end_holds_it(lib):
    first, health0 = start(lib, 0)
    third, _ = start(lib, 2)
    try:
        chains = memscan.Process(first.pid).pointer_scan(
            health0, max_depth=2, max_offset=0x100, modules=["libgame.so"], progress=False
        )
        later = memscan.Process(third.pid)
        kept = set(chains.rescan(later, value=1002, value_type="u64").expressions())
        assert GOOD in kept and DECOY not in kept, kept
        assert not len(chains.rescan(later, value=999, value_type="u64"))
        with pytest.raises(memscan.InvalidArgument):
            chains.rescan(later)
        with pytest.raises(memscan.InvalidArgument):
            chains.rescan(later, value=1002)
        with pytest.raises(memscan.InvalidArgument):
            chains.rescan(later, value=1002, value_type="u65")
        with pytest.raises(memscan.InvalidArgument):
            chains.rescan(later, 0x1000, value=1002, value_type="u64")
    finally:
        first.close()
        third.close()
