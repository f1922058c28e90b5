"""Histories, snapshots and change maps, Parquet round trips and datasets, against the demo."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

import memscan
from memscan.io import Dataset


def record_game(game, proc):
    """Samples health, max_health and gold after each event of the game, labelling them."""
    addrs = [game.address(f) for f in ("health", "max_health", "gold")]
    rec = proc.record(addrs, "i32", interval=None)
    rec.sample()
    for step in range(12):
        if step % 3 == 0:
            game.damage(10)
            rec.sample("took damage")
        elif step % 3 == 1:
            game.gain_gold(5)
            rec.sample("gold")
        else:
            rec.sample()
    return rec.stop(), addrs


def test_free_running_recording_with_marks(game, proc):
    rec = proc.record([game.address("health"), game.address("gold")], "i32", interval=0.005)
    for _ in range(3):
        time.sleep(0.03)
        game.damage(1)
        rec.mark("hit")
    time.sleep(0.05)
    h = rec.stop()
    assert h.samples >= 10 and h.labels.count("hit") == 3
    assert h.changed_with("hit", window=1)["address"].to_list() == [game.address("health")]


def test_history_records_changes_with_labels(game, proc):
    h, (health, max_health, gold) = record_game(game, proc)
    assert h.samples == 13
    assert h.values.shape == (h.samples, 3)
    assert h.values.dtype == np.int32
    owner = h.values
    while isinstance(owner, np.ndarray):  # the values view Rust's buffer, not a copy
        assert not owner.flags.owndata
        owner = owner.base
    assert isinstance(owner, memscan._native.BufferOwner)
    col = {a: j for j, a in enumerate(h.addresses.tolist())}
    assert h.values[0, col[health]] == 100 and h.values[-1, col[health]] == 60
    assert (np.diff(h.timestamps_ns) > 0).all()
    assert h.labels.count("took damage") == 4

    stats = h.change_stats().to_dicts()
    by = {r["address"]: r for r in stats}
    assert by[health]["changes"] == 4 and by[health]["decreasing"] and not by[health]["increasing"]
    assert by[health]["constant_step"] == -10
    assert by[max_health]["changes"] == 0 and by[max_health]["first_change"] is None
    assert by[gold]["increasing"] and by[gold]["constant_step"] == 5

    assert h.changed_with("took damage")["address"].to_list() == [health]
    assert h.changed_with("gold")["address"].to_list() == [gold]
    shown = h.values[:, col[health]].astype(float) * 2 + 1  # what a screen would show
    assert h.correlate(shown)["address"][0] == health

    wide, long = h.to_wide(), h.to_long()
    assert wide.height == h.samples and hex(health) in wide.columns
    assert long.height == h.samples * 3 and long.schema["value"] == pl.Int32


def test_recording_candidates_and_bad_input(game, proc):
    s = proc.scan("u64", 0, address_range=(game.base, game.base + 256))
    rec = s.record(count=5)
    h = rec.wait()
    assert h.samples == 5 and len(h.addresses) == len(s)
    with pytest.raises(memscan.InvalidArgument):
        h.correlate([1.0, 2.0])
    with pytest.raises(memscan.InvalidArgument):
        h.changed_with("never")
    with pytest.raises(memscan.InvalidArgument):
        proc.record([], "i32")
    with pytest.raises(memscan.InvalidValue):
        proc.record([game.address("health")], "i32", interval=-1)


def test_recording_stops_when_the_target_exits(game, proc):
    rec = proc.record([game.address("health")], "i32", interval=0.005)
    time.sleep(0.1)
    game.stop()
    time.sleep(0.1)
    assert not rec.is_running()
    h = rec.history()
    assert h.samples >= 5 and "exited" in (rec.error() or "")


def test_snapshot_diff_names_the_changed_bytes(game, proc):
    before = proc.snapshot(kinds=["anonymous", "heap"])
    # Blocks of zeros are not stored: a snapshot holds at most the bytes of its regions.
    assert 0 < before.nbytes <= sum(r.size for r in before.regions())
    game.gain_gold(0x10000)  # changes byte 2 of the u32 gold field only
    after = proc.snapshot(kinds=["anonymous", "heap"])
    changes = after.diff(before, gap=0)
    df = changes.to_polars()
    gold = game.address("gold")
    hit = df.filter((pl.col("start") <= gold + 2) & (pl.col("end") > gold + 2))
    assert hit.height == 1
    assert hit["start"][0] == gold + 2 and hit["changed_bytes"][0] == 1
    assert hit["region_kind"][0] == "anonymous"
    regions = changes.by_region()
    assert regions.filter(pl.col("region_start") == hit["region_start"][0])["changed_bytes"][0] >= 1
    assert changes.by_page()["changed_bytes"].sum() == df["changed_bytes"].sum()


def test_region_usage_over_time(game, proc):
    df = proc.region_usage_over_time(interval=0.01, count=3)
    assert df["sample"].unique().sort().to_list() == [0, 1, 2]
    per_sample = df.group_by("sample").agg(pl.len())["len"].to_list()
    assert min(per_sample) > 10
    assert df.schema["timestamp"] == pl.Datetime("ns")


def test_region_usage(proc):
    usage = proc.region_usage().to_polars()
    assert {"rss", "private_dirty", "swap"} <= set(usage.columns)
    assert usage["rss"].sum() > 0
    assert (usage["rss"] <= usage["size"]).all()


@pytest.mark.parametrize(
    "vtype", ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64"]
)
def test_scan_parquet_round_trip_is_exact(game, proc, tmp_path, vtype):
    field = {
        "i8": "i8_value",
        "u8": "u8_value",
        "i16": "i16_value",
        "u16": "u16_value",
        "i32": "i32_value",
        "u32": "u32_value",
        "i64": "i64_min",
        "u64": "u64_max",
        "f32": "f32_value",
        "f64": "f64_value",
    }[vtype]
    s = proc.scan(vtype, game.value(field), address_range=(game.base, game.base + 512))
    path = tmp_path / f"{vtype}.parquet"
    s.to_parquet(str(path), note="test")
    loaded = memscan.load(path)
    assert loaded.kind == "scan" and loaded.metadata["value_type"] == vtype
    assert loaded.metadata["pid"] == str(game.pid) and loaded.metadata["note"] == "test"
    assert loaded.metadata["version"] == memscan.__version__
    assert loaded.frame.equals(s.to_polars())
    assert pl.read_parquet(path).schema == s.to_polars().schema


def test_history_parquet_round_trip(game, proc, tmp_path):
    h, _ = record_game(game, proc)
    path = tmp_path / "h.parquet"
    h.to_parquet(str(path))
    back = memscan.load(path).history()
    assert back.value_type == "i32"
    assert (back.values == h.values).all() and back.values.dtype == h.values.dtype
    assert back.labels == h.labels
    assert (back.timestamps_ns == h.timestamps_ns).all()


def test_change_map_parquet(game, proc, tmp_path):
    before = proc.snapshot()
    game.damage(1)
    cm = proc.snapshot().diff(before)
    cm.to_parquet(str(tmp_path / "cm.parquet"))
    loaded = memscan.load(tmp_path / "cm.parquet")
    assert loaded.kind == "change_map" and loaded.frame.equals(cm.to_polars())


def test_dataset_is_queryable_by_duckdb(game, proc, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    ds = Dataset(tmp_path / "recording")
    for chunk in range(3):
        game.damage(1)
        h = proc.record([game.address("health")], "i32", count=4).wait()
        ds.append(h.to_long(), session="run1", chunk=chunk)
    assert len(ds.files()) == 3
    lazy = ds.scan().collect()
    assert lazy.height == 12 and set(lazy["chunk"].to_list()) == {0, 1, 2}
    q = duckdb.sql(
        f"select chunk, min(value) as v from read_parquet('{tmp_path}/recording/**/*.parquet', "
        "hive_partitioning=true) group by chunk order by chunk"
    ).fetchall()
    assert q == [(0, 99), (1, 98), (2, 97)]
    with pytest.raises(memscan.InvalidArgument):
        ds.append(lazy, session="../x")


def test_failed_write_leaves_no_partial_file(tmp_path):
    from memscan.io import write_parquet

    df = pl.DataFrame({"x": [1, 2, 3]})
    target = tmp_path / "out.parquet"
    write_parquet(df, target, {"kind": "test"})

    class Boom(pl.DataFrame):
        def write_parquet(self, *a, **k):  # type: ignore[override]
            open(a[0], "wb").write(b"PAR1 half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_parquet(Boom({"x": [9]}), target, {"kind": "test"})
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    assert pl.read_parquet(target)["x"].to_list() == [1, 2, 3]
