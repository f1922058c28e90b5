"""The native module's single tables (value types, error classes) and its standalone freezer."""

from __future__ import annotations

import time

import numpy as np
import pytest

import memscan
from memscan import _native, errors


def test_every_error_class_is_reachable_from_a_core_error():
    classes = {
        name
        for name in dir(errors)
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), errors.MemscanError)
    }
    assert set(_native._error_classes()) == classes


def test_value_type_table_matches_numpy_and_the_parser(proc):
    names = [t["name"] for t in _native.VALUE_TYPES]
    assert names == ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64"]
    for t in _native.VALUE_TYPES:
        dtype = np.dtype(t["numpy"])
        assert dtype.itemsize == t["size"]
        assert (dtype.kind == "f") == t["float"]
        assert (dtype.kind in "if") == t["signed"]
        # Every alias, in any case and with spaces around it, is the same type to the engine.
        for alias in (t["name"], *t["aliases"]):
            assert _native.Scanner(proc._native, f" {alias.upper()} ").value_type == t["name"]


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_freezer_holds_values_of_several_types(game, proc):
    f = _native.Freezer(proc._native, interval_ms=5)
    health = np.array([game.address("health")], dtype=np.uint64)
    speed = np.array([game.address("speed")], dtype=np.uint64)
    assert f.freeze(health, "i32", 250) == 1
    assert f.freeze(speed, "f32", 2.5) == 1
    assert f.running
    game.damage(10)  # the game writes; the freezer writes back
    assert wait_for(lambda: game.value("health") == 250)
    assert game.value("speed") == 2.5
    held = dict(f.frozen())
    assert held[int(health[0])] == np.int32(250).tobytes()
    assert dict(f.frozen_values("i32"))[int(health[0])] == 250
    f.release(health)
    assert [a for a, _ in f.frozen()] == [int(speed[0])]
    assert game.damage(5) == 245  # released: the game's write stays
    f.stop()
    assert not f.running and f.frozen() == []


def test_freezer_refuses_bad_input_and_holds_nothing(game, proc):
    f = _native.Freezer(proc._native)
    at = np.array([game.address("health")], dtype=np.uint64)
    with pytest.raises(memscan.InvalidArgument, match="unknown value type"):
        f.freeze(at, "int33", 1)
    with pytest.raises(memscan.InvalidValue):
        f.freeze(at, "u8", 256)
    with pytest.raises(memscan.InvalidAddress):
        f.freeze(np.array([8], dtype=np.uint64), "i32", 1)
    assert f.frozen() == [] and game.value("health") == 100


def test_freezer_stops_when_the_process_exits(game, proc):
    f = _native.Freezer(proc._native, interval_ms=1)
    f.freeze(np.array([game.address("gold")], dtype=np.uint64), "u32", 7)
    game.stop()
    assert wait_for(lambda: not f.running)
    _, stopped = f.problems()
    assert stopped and "exited" in stopped
    with pytest.raises(memscan.ProcessExited):
        f.freeze(np.array([game.address("gold")], dtype=np.uint64), "u32", 7)


def test_the_docs_region_defaults_table_is_the_engines():
    """docs/concepts.md's defaults table says what the engine does."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "concepts.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in _native.REGION_DEFAULTS:
            rows[cells[0]] = {
                "writable_only": cells[1] == "True",
                "special": cells[2] == "yes",
            }
    assert rows == _native.REGION_DEFAULTS


def test_options_are_checked_by_name_and_type(proc):
    with pytest.raises(TypeError, match="unexpected keyword argument 'alignment'"):
        proc._native.find_pattern(hex="00", alignment=4)
    with pytest.raises(TypeError, match="option kinds"):
        _native.Scanner(proc._native, "i32", kinds=7)
    with pytest.raises(memscan.InvalidArgument, match="unknown region kind"):
        _native.MemorySnapshot(proc._native, kinds=["heap", "heaps"])
    with pytest.raises(memscan.InvalidArgument, match="empty"):
        _native.Scanner(proc._native, "i32", address_range=(5, 5))
    with pytest.raises(memscan.InvalidArgument, match="memory_budget"):
        _native.MemorySnapshot(proc._native, memory_budget=-1)
