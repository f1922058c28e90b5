"""One object model: composed classes, one verb per act, the original names in memscan.compat,
one table of value types."""

from __future__ import annotations

import numpy as np
import pytest

import memscan
from memscan import _native, compat, value_types


def public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def test_no_native_class_is_subclassed():
    for cls in (memscan.Process, memscan.Scanner, memscan.Address):
        assert not any(base.__module__ == "memscan._native" for base in cls.__mro__), cls


def test_scanner_shows_one_verb_per_act():
    names = public(memscan.Scanner)
    assert {"first", "next", "write", "freeze", "release", "checkpoint", "undo"} <= names
    old = {"set", "hold", "unfreeze", "stop_freezing", "save_checkpoint", "first_scan"}
    old |= {"initial_scan", "next_scan", "set_value", "filter_eq", "get_matches", "read_current"}
    assert not names & old
    assert len(names) <= 55
    # The original names are on the scanner create_interactive_scanner returns.
    assert {"initial_scan", "filter_eq", "set_value", "save_checkpoint"} <= public(
        compat.InteractiveScanner
    )


def test_all_lists_the_modern_api_and_compat_names_stay_importable():
    for name in compat.__all__:
        if name.startswith("Py") or name in ("InteractiveScanner", "MatchedAddress"):
            continue
        assert name not in memscan.__all__
    for name in ("open_process", "create_interactive_scanner", "read_process_memory"):
        assert getattr(memscan, name) is getattr(compat, name)
    assert memscan.PyInteractiveScanner is compat.InteractiveScanner
    assert all(hasattr(memscan, n) for n in memscan.__all__)


def test_renamed_verbs_warn_and_still_work(game, proc):
    s = proc.scan("i32", 100, address_range=(game.base, game.base + 8))
    with pytest.warns(DeprecationWarning, match="Scanner.write"):
        s.set(100, s.addresses == game.address("health"))
    with pytest.warns(DeprecationWarning, match="Scanner.release"):
        s.stop_freezing()
    with pytest.raises(AttributeError):
        s.no_such_verb  # noqa: B018


def test_regions_take_a_table_as_well_as_a_list(game, proc):
    health = game.address("health")
    table = (
        proc.regions()
        .to_polars()
        .filter(start=next(r.start for r in proc.region_list() if r.start <= health < r.end))
    )
    s = proc.scan("i32", 100, regions=table)
    assert health in s.addresses
    assert s.region_list()[0].start == table["start"][0]
    same = proc.scan(
        "i32", 100, regions=[r for r in proc.region_list() if r.start == s.region_list()[0].start]
    )
    assert np.array_equal(s.addresses, same.addresses)
    with pytest.raises(memscan.InvalidArgument, match="not a region"):
        proc.scan("i32", 100, regions=table.with_columns(start=table["start"] + 1))
    with pytest.raises(memscan.InvalidArgument):
        proc.scan("i32", 100, regions=42)
    found = proc.find_bytes(proc.read(health, 4), regions=proc.regions())
    assert health in found


def test_native_objects_are_unwrapped_where_the_engine_takes_a_process(game, proc):
    assert memscan.read_process_memory(proc, game.address("health"), 4) == proc.read(
        game.address("health"), 4
    )
    assert memscan.Address.parse(hex(game.address("health"))).resolve(proc) == game.address(
        "health"
    )
    assert memscan.Process._wrap(proc._native).pid == proc.pid
    s = memscan.Scanner(proc._native, "i32")  # a native process is taken too
    assert s.process.pid == proc.pid


def test_the_value_type_table_agrees_with_the_engine(game, proc):
    assert value_types.NAMES == ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64")
    for t in value_types.VALUE_TYPES:
        s = _native.Scanner(proc._native, t.name)
        assert s.value_type == t.name
        for alias in t.aliases:
            assert _native.Scanner(proc._native, alias).value_type == t.name
            assert value_types.canonical_value_type(f" {alias.upper()}\t") == t.name
        s = _native.Scanner(proc._native, t.name, address_range=(game.base, game.base + 64))
        s.first_scan("any", [])
        values = s.values()
        assert values.dtype == t.dtype and t.dtype.itemsize == t.size
        assert (t.dtype.kind == "f") == t.is_float
        assert (t.dtype.kind in "if") == t.signed
        assert t.polars_dtype.__name__ == t.polars_name
    if hasattr(_native, "VALUE_TYPES"):
        assert [r["name"] for r in _native.VALUE_TYPES] == list(value_types.NAMES)
    for bad in ("i33", "\x1ci32", "İnt"):  # the engine trims Unicode white space only
        assert value_types.canonical_value_type(bad) is None
        with pytest.raises(memscan.InvalidArgument):
            _native.Scanner(proc._native, bad)


def test_address_list_writes_with_write_and_set_warns(game, proc):
    al = memscan.AddressList().attach(proc)
    al.add("health", hex(game.address("health")), "i32")
    al.write("health", 321)
    assert game.value("health") == 321
    with pytest.warns(DeprecationWarning, match="AddressList.write"):
        al.set("health", 100)
    assert game.value("health") == 100
    al.detach()
