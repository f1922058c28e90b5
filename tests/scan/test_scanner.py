"""The scan-and-narrow loop against the demo target: every scan kind, next-scan kind,
checkpoint, undo, write op and freeze, checked against the values the target reports."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from support.known_values import EXACT_CASES

import memscan


def addr_in(game, field: str, s) -> bool:
    return game.address(field) in s.addresses


@pytest.mark.parametrize(("field", "vtype", "value"), EXACT_CASES)
def test_exact_first_scan_finds_every_type(game, proc, field, vtype, value):
    s = proc.scan(vtype, value)
    assert addr_in(game, field, s)
    assert s.values.dtype == np.dtype(f"{vtype[0]}{int(vtype[1:]) // 8}")
    assert (s.values == np.array(value, dtype=s.values.dtype)).all()
    assert s.values.tolist()[0] == value


def test_float_scans_exact_and_near(game, proc):
    # 3.14 has no exact f32: refused (it would silently mean 3.1400001049041748), not rounded.
    with pytest.raises(memscan.InvalidValue, match="no exact f32"):
        proc.scan("f32", 3.14)
    assert addr_in(game, "f32_value", proc.scan("f32", np.float32(3.14159)))
    near = proc.scan("f32", 3.14, op="near", tolerance=0.01)
    assert addr_in(game, "f32_value", near)
    assert (np.abs(near.values - 3.14) <= 0.01).all()
    assert addr_in(game, "speed", proc.scan("f32", 1.5))


def test_comparison_first_scans(game, proc):
    lt = proc.scan("i16", -12_000, op="lt", kinds=["anonymous"])
    assert addr_in(game, "i16_value", lt) and (lt.values < -12_000).all()
    ge = proc.scan("u32", 2_999_999_999, op="ge", kinds=["anonymous"])
    assert addr_in(game, "u32_value", ge) and (ge.values >= 2_999_999_999).all()
    ne = proc.scan("u8", 0, op="ne", kinds=["anonymous"], address_range=(game.base, game.base + 64))
    assert (ne.values != 0).all() and addr_in(game, "level", ne)
    bt = proc.scan("i32", 99, op="between", high=101)
    assert addr_in(game, "health", bt) and ((bt.values >= 99) & (bt.values <= 101)).all()
    with pytest.raises(memscan.InvalidValue):
        proc.scan("i32", 10, op="between", high=5)


def test_narrowing_with_next_scans(game, proc):
    s = proc.scan("i32", 100)
    first = len(s)
    game.damage(10)
    s.decreased()
    assert addr_in(game, "health", s) and len(s) < first
    s.eq(90)
    assert addr_in(game, "health", s)
    game.damage(5)
    s.decreased(5)
    assert addr_in(game, "health", s)
    s.ne(0).lt(86).gt(84).le(85).ge(85).between(80, 90)
    assert addr_in(game, "health", s)
    assert (s.values == 85).all()
    game.heal()
    s.increased(15)
    assert addr_in(game, "health", s)
    s.changed()
    assert not addr_in(game, "health", s)  # unchanged since the last scan
    s.undo()
    s.unchanged()
    assert addr_in(game, "health", s)


def test_relative_filters_against_first_scan(game, proc):
    s = proc.scan("u32", 250)
    game.gain_gold(10)
    s.increased()
    game.gain_gold(10)
    s.increased(20, against="first")
    assert addr_in(game, "gold", s)
    assert s.values[s.addresses == game.address("gold")][0] == 270


def test_undo_many_levels(game, proc):
    s = proc.scan("i32", 100)
    counts = [len(s)]
    for _ in range(3):
        game.damage(1)
        s.decreased()
        counts.append(len(s))
    history = s.history()
    assert [n for _, n in history] == counts
    for expected in reversed(counts[:-1]):
        assert s.undo() == expected
    with pytest.raises(memscan.InvalidArgument, match="nothing to undo"):
        s.undo()


def test_unknown_initial_value_then_increased(game, proc):
    s = proc.scan("u64", kinds=["anonymous"])
    assert s.is_dense
    assert s.nbytes <= 1.15 * sum(r.size for r in s.region_list())
    game.tick(3)
    s.increased(3)
    assert addr_in(game, "ticks", s)
    assert not s.is_dense
    row = s.to_polars().filter(address=game.address("ticks"))
    assert row["value"][0] == 3 and row["previous"][0] == 0


def test_unknown_scan_unaligned(game, proc):
    s = proc.scan("i16", alignment=1, address_range=(game.base, game.base + 256))
    assert len(s) == 255
    game.set("ammo", 77)
    s.eq(77)
    assert addr_in(game, "ammo", s)


def test_checkpoints(game, proc):
    s = proc.scan("u64", kinds=["anonymous"], address_range=(game.base, game.base + 512))
    assert s.checkpoint("start") == len(s)
    game.tick(1)
    s.checkpoint("t1")
    game.tick(1)
    s.checkpoint("t2")
    game.set("xp", 10)
    assert [n for n, _ in s.checkpoint_counts()] == ["start", "t1", "t2"]
    assert len(s.repeated("start", "t1", "t2", 10.0)) >= 1
    assert addr_in(game, "ticks", s)
    s.undo()
    s.increased(against="start")
    assert addr_in(game, "ticks", s)
    s.delete_checkpoint("t1")
    with pytest.raises(memscan.InvalidArgument, match="no checkpoint"):
        s.changed(against="t1")


def test_seed_explicit_api(game):
    proc = memscan.open_process(
        memscan.find_processes("memscan._demo_target").to_polars().filter(pid=game.pid)["pid"][0]
    )
    scanner = memscan.create_interactive_scanner(proc, None, "i32")
    assert scanner.initial_scan(100) == scanner.match_count() > 0
    game.damage(3)
    assert scanner.filter_decreased() >= 1
    assert scanner.filter_eq(97) >= 1
    matches = {m.address: m for m in scanner.get_matches()}
    assert matches[game.address("health")].current_value == 97
    assert matches[game.address("health")].previous_value == 97  # before eq 97: after damage
    scanner.save_checkpoint("a")
    assert scanner.list_checkpoints() == ["a"]
    scanner.save_checkpoint("b")
    scanner.save_checkpoint("c")
    assert scanner.filter_checkpoint_relative("a", "b", "c", 0.0) == 0  # needs a move
    scanner.undo()
    scanner.delete_checkpoint("b")
    scanner.delete_checkpoint("c")
    assert ("a", scanner.match_count()) in scanner.checkpoint_counts()
    scanner.set_value_at(game.address("health"), 50)
    assert game.value("health") == 50
    assert scanner.filter_checkpoint("a", "decreased") >= 1
    scanner.add_value(10)
    assert game.value("health") == 60
    scanner.sub_value(20)
    scanner.mul_value(3)
    scanner.div_value(4)
    assert game.value("health") == 30
    scanner.set_value(1)
    assert game.value("health") == 1
    scanner.delete_checkpoint("a")
    assert scanner.list_checkpoints() == []
    assert scanner.filter_gt(0) >= 1 and scanner.filter_lt(2) >= 1
    assert scanner.filter_unchanged() >= 1
    game.damage(1)
    assert scanner.filter_changed() >= 1


def test_writes_on_selections(game, proc):
    s = proc.scan("i32", 100)
    i = int(np.flatnonzero(s.addresses == game.address("health"))[0])
    assert s.write(77, [i]) == 1
    assert game.value("health") == 77
    mask = s.addresses == game.address("max_health")
    assert s.add(1, mask) == 1
    assert game.value("max_health") == 101
    assert s.sub(7, np.array([game.address("health")], dtype=np.uint64)) == 1
    assert game.value("health") == 70
    with pytest.raises(memscan.InvalidArgument):
        s.write(1, [len(s) + 5])
    with pytest.raises(memscan.InvalidArgument):
        s.write(1, np.zeros(3, dtype=bool))


def test_checked_overflow_writes_nothing(game, proc):
    # The field alone: other bytes near it (the tick counter, the heap after the state) may
    # hold 201 at any moment.
    at = game.address("u8_value")
    s = proc.scan("u8", 201, address_range=(at, at + 1))
    assert len(s) == 1
    with pytest.raises(memscan.InvalidValue, match="nothing was written"):
        s.add(100)
    with pytest.raises(memscan.InvalidValue):
        s.div(0)
    with pytest.raises(memscan.InvalidValue):
        s.write(300)
    assert game.value("u8_value") == 201
    s.mul(1)
    s.div(3)
    assert game.value("u8_value") == 67


def test_freeze_holds_values_until_released(game, proc):
    s = proc.scan("i32", 100, address_range=(game.base, game.base + 8))
    with s:
        s.freeze(500, s.addresses == game.address("health"))
        assert s.frozen() == [(game.address("health"), 500)]
        game.damage(50)
        time.sleep(0.1)
        assert game.value("health") == 500
        s.release()
        assert s.frozen() == []
        game.damage(50)
        time.sleep(0.05)
        assert game.value("health") == 450
        s.freeze(None, s.addresses == game.address("max_health"))
        game.set("max_health", 1)
        time.sleep(0.1)
        assert game.value("max_health") == 100
    game.set("max_health", 2)
    time.sleep(0.05)
    assert game.value("max_health") == 2  # the context manager stopped freezing


def test_results_are_zero_copy(game, proc):
    s = proc.scan("i32", 100)
    a, v = s.addresses, s.values
    assert a.dtype == np.uint64 and v.dtype == np.int32
    assert not a.flags.owndata and not v.flags.owndata
    assert not a.flags.writeable
    assert type(a.base).__name__ == "BufferOwner" and type(v.base).__name__ == "BufferOwner"
    assert a.base.nbytes == a.nbytes
    # The same Rust buffer every time: no second buffer is allocated per access.
    assert s.addresses.ctypes.data == a.ctypes.data
    pl = pytest.importorskip("polars")
    df = pl.DataFrame(s.table())
    assert df["address"].to_numpy().ctypes.data == a.ctypes.data
    assert df.schema["value"] == pl.Int32 and df.schema["address"] == pl.UInt64


def test_tables_for_arrow_consumers(game, proc):
    s = proc.scan("i32", 100)
    game.damage(1)
    s.decreased()
    df = s.to_polars()
    assert df.columns == [
        "address",
        "value",
        "previous",
        "region_start",
        "region_kind",
        "module",
        "module_offset",
    ]
    row = df.filter(address=game.address("health"))
    assert row["value"][0] == 99 and row["previous"][0] == 100
    assert len(s.to_pandas()) == len(s)
    pa = pytest.importorskip("pyarrow")
    assert pa.table(s.table()).num_rows == len(s)
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("candidates", s.table().to_pyarrow())
    assert con.sql("select count(*) from candidates").fetchall()[0][0] == len(s)


def test_module_offsets_for_file_backed_candidates(game, proc):
    s = proc.scan("u8", 0, kinds=["executable"], writable_only=False)
    df = s.to_polars()
    assert df["module"].null_count() == 0
    assert (df["module_offset"] >= 0).all()


def test_pattern_and_string_searches(game, proc):
    assert game.address("signature") in proc.find_bytes("4D 53 43 4E DE AD ?? EF 13 ?? C0 DE")
    assert game.address("signature") in proc.find_bytes(bytes.fromhex("4D53434EDEADBEEF"))
    assert game.address("text_utf8") in proc.find_string("memscan demo player \u2605")
    assert game.address("text_utf16") in proc.find_string("Hero of Memscan", encoding="utf16")
    with pytest.raises(memscan.InvalidArgument):
        proc.find_bytes("")
    with pytest.raises(memscan.InvalidArgument):
        proc.find_string("")
    with pytest.raises(memscan.InvalidArgument):
        proc.find_string("x", encoding="latin-9")


def test_group_scan_finds_structs(game, proc):
    s = proc.group_scan([(0, "i32", 100), (4, "i32", 100), (8, "u32", ("between", 200, 300))])
    assert list(s.addresses) == [game.address("health")]
    game.damage(1)
    s.decreased()
    assert list(s.addresses) == [game.address("health")]


def test_any_number_scan_keeps_each_type(game, proc):
    m = proc.scan_any(3_000_000_000, "int")
    counts = m.counts()
    assert set(counts) == {"i64", "u32", "u64"}  # the integer types that can hold 3e9
    assert game.address("u32_value") in m.scanners["u32"].addresses
    df = m.to_polars()
    assert len(df) == len(m) == sum(counts.values())
    assert set(df["type"].to_list()) == {t for t, n in counts.items() if n}
    assert (df["value"] == "3000000000").all()
    m.next("eq", 3_000_000_000)
    assert game.address("u32_value") in m.scanners["u32"].addresses
    numbers = proc.scan_any(2.718281828459045)
    # e has no exact f32, so only f64 is scanned (an f32 scan would look for another number).
    assert set(numbers.counts()) == {"f64"}
    assert game.address("f64_value") in numbers.scanners["f64"].addresses


def test_bad_input_raises_typed_errors(game, proc):
    with pytest.raises(memscan.InvalidArgument, match="unknown value type"):
        proc.scan("int33", 1)
    with pytest.raises(memscan.InvalidArgument, match="unknown scan operator"):
        proc.scan("i32", 1, op="roughly")
    with pytest.raises(memscan.InvalidValue, match="does not fit"):
        proc.scan("u8", 256)
    with pytest.raises(memscan.InvalidValue):
        proc.scan("i32", 1.5)
    with pytest.raises(memscan.InvalidArgument, match="unknown region kind"):
        proc.scan("i32", 1, kinds=["nowhere"])
    with pytest.raises(memscan.InvalidArgument, match="alignment"):
        proc.scan("i32", 1, alignment=0)
    s = proc.scanner("i32")
    with pytest.raises(memscan.InvalidArgument, match="no scan yet"):
        s.decreased()
    with pytest.raises(memscan.InvalidArgument):
        proc.scan("i32", 1).next("increased", 5)
    with pytest.raises(memscan.InvalidArgument, match="cannot start a scan"):
        proc.scan("i32", 1, op="increased")


def test_memory_budget_refuses_large_snapshots(proc):
    s = proc.scanner("i32", memory_budget=4096)
    total = sum(r.size for r in s.region_list())
    assert total < s.estimate_bytes() <= 1.04 * total
    with pytest.raises(memscan.MemoryBudgetExceeded):
        s.first("any")
    with pytest.raises(memscan.InvalidArgument, match="no scan yet"):
        len(s.values)


def test_progress_callback_and_ctrl_c(big_target):
    """A long scan reports progress, stops on Ctrl-C within 0.2 s and keeps earlier results."""
    p = memscan.Process(big_target.pid)
    s = p.scan("u32", 0x04030201, kinds=["anonymous", "heap"])
    before = len(s)
    assert before >= (128 << 20)
    calls = []
    s.progress = lambda done, total: calls.append((done, total))
    main = threading.get_ident()
    fired = []

    def interrupt() -> None:
        fired.append(time.perf_counter())
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(0.15, interrupt)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in range(50):
            s.unchanged()
            s.undo()
    stopped = time.perf_counter()
    timer.join()
    assert stopped - fired[0] < 0.2 + 0.05, f"took {stopped - fired[0]:.3f}s to stop"
    assert stopped - t0 < 5
    assert len(s) == before
    assert calls and calls[-1][1] > 0
