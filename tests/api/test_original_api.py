"""Scripts written for the original bindings run unchanged: only their API, used the way their
examples use it, against the demo game (a real process)."""

from __future__ import annotations

import pytest

import memscan


def test_the_original_workflow(game):
    pid = memscan.find_process_by_name("memscan-demo")
    assert pid == game.pid
    proc = memscan.open_process(pid)
    assert isinstance(proc, memscan.PyProcessHandle)

    info = memscan.query_system_info()
    assert isinstance(info, memscan.PySystemInfo)
    assert info.page_size == info.granularity >= 4096
    assert info.min_app_addr < info.max_app_addr
    assert repr(info) == (
        f"SystemInfo(min_addr={info.min_app_addr:#x}, max_addr={info.max_app_addr:#x}, "
        f"page_size={info.page_size}, granularity={info.granularity})"
    )

    modules = memscan.get_process_module_regions(proc)
    assert modules and all(isinstance(r, memscan.PyMemoryRegion) for r in modules)
    r = modules[0]
    assert r.base_address == r.start and r.size == r.end - r.start
    assert r.region_type == "image" and r.state == "commit" and r.protect == r.perms

    regions = [r for r in proc.region_list() if r.writable]
    scanner = memscan.create_interactive_scanner(proc, regions, "i32")
    assert isinstance(scanner, memscan.PyInteractiveScanner)
    found = scanner.initial_scan(100)
    assert isinstance(found, int) and found == scanner.match_count() >= 1
    game.damage(1)
    assert scanner.filter_decreased() >= 1
    # The original examples pass float(input()): integral floats are integers here.
    assert scanner.filter_eq(float(99)) >= 1
    matches = scanner.get_matches()
    assert all(isinstance(m, memscan.PyMatchedAddress) for m in matches)
    health = next(m for m in matches if m.address == game.address("health"))
    assert (health.current_value, health.previous_value) == (99, 99)
    assert repr(health) == f"MatchedAddress(addr={health.address:#x}, current=99, previous=99)"

    scanner.save_checkpoint("before")
    assert scanner.list_checkpoints() == ["before"]
    assert scanner.set_value(float(500)) == scanner.match_count()
    assert game.value("health") == 500
    assert scanner.filter_checkpoint("before", "increased") >= 1
    assert scanner.add_value(5) >= 1 and game.value("health") == 505
    with pytest.raises(memscan.InvalidValue):
        scanner.set_value(1.5)  # not an integer: refused, nothing written
    assert game.value("health") == 505


def test_previous_values_appear_after_a_relative_filter(game):
    proc = memscan.open_process(game.pid)
    scanner = memscan.create_interactive_scanner(proc, None, "i32")
    scanner.initial_scan(100)
    assert all(m.previous_value is None for m in scanner.get_matches(10))
    game.damage(7)
    scanner.filter_decreased()
    health = next(m for m in scanner.get_matches() if m.address == game.address("health"))
    assert (health.current_value, health.previous_value) == (93, 100)


def test_hex_patterns_as_lists_of_bytes():
    assert memscan.parse_hex_pattern("4D 5A 90 00") == [0x4D, 0x5A, 0x90, 0x00]
    assert memscan.parse_hex_pattern("DEADBEEF") == [0xDE, 0xAD, 0xBE, 0xEF]
    assert memscan.parse_hex_pattern("de ad be ef") == [0xDE, 0xAD, 0xBE, 0xEF]
    assert memscan.parse_hex_pattern("4D ?? 00") == [0x4D, None, 0x00]
    for bad in ("ABC", "ABGH"):
        with pytest.raises(ValueError):
            memscan.parse_hex_pattern(bad)
