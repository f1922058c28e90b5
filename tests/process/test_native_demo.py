"""The native demo game (``memscan.demo.start(native=True)``): state in the extension module's
statics and heap, written by its code. The notebooks' stable-address and watch stories run on
it, with no compiler and no checkout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import memscan
from memscan import _native
from memscan.demo import DemoTarget


@pytest.fixture
def native() -> Iterator[DemoTarget]:
    with memscan.demo.start(native=True) as g:
        yield g


def module_of(proc: memscan.Process, name: str) -> tuple[int, int]:
    """(base, end) of the module ``name``."""
    row = proc.modules().to_polars().filter(name=name).row(0, named=True)
    return row["base"], row["end"]


def test_statics_in_the_extension_and_heap_objects_written_by_actions(native):
    proc = memscan.Process(native.pid)
    assert native.module == _native.__file__.rsplit("/", 1)[-1]
    base, end = module_of(proc, native.module)
    assert base <= native.address("score") < end
    (region,) = [r for r in proc.region_list() if r.start <= native.address("health") < r.end]
    assert region.kind == "heap"
    assert native.value("score") == 1_234_567 and native.value("health") == 100
    assert native.damage(7) == 93 and native.heal() == 100
    assert native.gain_gold(5) == 255 and native.spend_gold(55) == 200
    assert native.tick(3) == 3 and native.set("score", 42) == 42
    assert proc.read_value(native.address("gold"), "u32") == 200


def test_bad_actions_and_values_are_typed_errors():
    with pytest.raises(memscan.InvalidArgument, match="unknown demo game action"):
        _native.demo_game("explode")
    with pytest.raises(memscan.InvalidArgument, match="out of range"):
        _native.demo_game("damage", 2**40)
    with pytest.raises(memscan.InvalidValue, match="does not fit"):
        _native.demo_game_set("gold", -1)
    with pytest.raises(memscan.InvalidArgument, match="no demo game field"):
        _native.demo_game_set("mana", 1)


def test_pointer_chain_from_the_module_survives_a_restart(native):
    proc = memscan.Process(native.pid)
    health = native.address("health")
    chains = proc.pointer_scan(health, max_depth=3)
    ours = [e for e in chains.expressions() if e.startswith(f"[[{native.module}+")]
    assert ours and all(proc.address(e) == health for e in ours)
    score = f"{native.module}+{native.address('score') - module_of(proc, native.module)[0]:x}"
    with memscan.demo.start(native=True) as again:
        proc2 = memscan.Process(again.pid)
        moved = again.address("health")
        assert moved != health  # the heap moved
        kept = chains.rescan(proc2, moved).expressions()
        assert set(ours) <= set(kept)
        assert all(proc2.address(e) == moved for e in ours)
        assert proc2.address(score) == again.address("score")


def test_a_watch_reports_writers_inside_the_extension(native):
    proc = memscan.Process(native.pid)
    with proc.watch(native.address("health"), value_type="i32") as w:
        native.damage(5)
        native.heal()
    summary = w.hits().summary()
    assert len(summary) == 2  # the damage and the heal stores
    assert all(loc.startswith(native.module) for loc in summary["location"].to_list())
    base, end = module_of(proc, native.module)
    assert all(base <= a < end for a in summary["instruction_address"].to_list())
    store = int(w.hits().to_polars()["instruction_address"][0])  # damage's store
    with proc.watch(store, on="execute") as x:
        x.mark("damage")
        native.damage(1)
        x.mark("gold")
        native.gain_gold(10)
    assert x.hits().to_polars()["label"].to_list() == ["damage"]
