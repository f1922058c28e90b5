"""Defects of the Python layer found by an outside review (issue 19): image scans that leave
partial or duplicated datasets, text an address list cannot save, a shell that counts repeated
indices, an analysis that loops over its window, widgets whose threads outlive them, and files
holding another process's memory that other users could read."""

from __future__ import annotations

import gc
import glob
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import memscan
from memscan.history import History

SCORE = 1234567


@pytest.fixture(scope="module")
def chain_images(chain_binary, tmp_path_factory) -> Path:
    """Three images of the C chain target (score 1234567 in .bss), one per run."""
    import subprocess

    folder = tmp_path_factory.mktemp("good-images")
    for i in range(3):
        p = subprocess.Popen(
            [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert p.stdout is not None
            p.stdout.readline()
            memscan.Process(p.pid).save_image(folder / f"good-{i}.msimg", progress=None)
        finally:
            p.kill()
            p.wait()
    return folder


# -- 13: scan_images writes each run once and leaves nothing of a failed call -----------------


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_corrupt_image_leaves_no_partition_of_the_failed_call(
    chain_images, dask_client, tmp_path
):
    from memscan.images import scan_images

    out = tmp_path / "hits"
    # An earlier call's run stays; the failed call below must not touch it.
    scan_images([chain_images / "good-0.msimg"], "i32", SCORE, output=out, client=dask_client)
    before = everything_under(out)
    assert [p for p in before if p.endswith(".parquet")]

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in (1, 2):
        (mixed / f"good-{i}.msimg").symlink_to(chain_images / f"good-{i}.msimg")
    data = (chain_images / "good-1.msimg").read_bytes()
    (mixed / "cut.msimg").write_bytes(data[: len(data) // 2])
    with pytest.raises(memscan.InvalidFile, match=r"cut\.msimg"):
        scan_images(mixed, "i32", SCORE, output=out, client=dask_client)
    assert everything_under(out) == before
    time.sleep(2)  # nothing of the failed call arrives late from a worker either
    assert everything_under(out) == before
    # the call can be run again once the image is removed, and writes every run
    (mixed / "cut.msimg").unlink()
    scan_images(mixed, "i32", SCORE, output=out, client=dask_client)
    assert sorted(p.name for p in out.iterdir()) == ["run=good-0", "run=good-1", "run=good-2"]


def test_a_failed_local_cluster_call_leaves_no_new_folder(chain_images, tmp_path):
    pytest.importorskip("dask.distributed")
    from memscan.images import scan_images

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good-0.msimg").symlink_to(chain_images / "good-0.msimg")
    data = (chain_images / "good-0.msimg").read_bytes()
    (bad / "cut.msimg").write_bytes(data[: len(data) // 3])
    out = tmp_path / "new-output"
    with pytest.raises(memscan.InvalidFile, match=r"cut\.msimg"):
        scan_images(bad, "i32", SCORE, output=out, workers=1)
    assert not out.exists()


def test_a_task_run_twice_leaves_one_file_and_one_copy_of_each_hit(chain_images, tmp_path):
    from memscan.images import _scan_one, run_name

    path = chain_images / "good-0.msimg"
    kwargs = {
        "root": str(tmp_path / "hits"),
        "value_type": "i32",
        "op": "eq",
        "values": [SCORE],
        "tolerance": None,
        "options": {},
    }
    run = run_name(path)
    first = _scan_one(str(path), run, **kwargs)
    again = _scan_one(str(path), run, **kwargs)  # what Dask does when a worker dies
    assert first["part"] == again["part"]
    files = sorted((tmp_path / "hits").rglob("*"))
    assert [p.name for p in files if p.is_file()] == [Path(first["part"]).name]
    hits = pl.read_parquet(first["part"])
    assert hits.height == first["rows"] > 0
    assert hits["address"].n_unique() == hits.height
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path / "hits"
    n = duckdb.sql(
        f"select count(*) from read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert n == [(first["rows"],)]


# -- 12: files holding another process's memory are private to their owner --------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: str | os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_files_holding_memory_are_written_0600(umask_022, game, proc, chain_images, tmp_path):
    from memscan.images import _scan_one

    s = proc.scan("i32", 100)
    s.to_parquet(str(tmp_path / "scan.parquet"))
    rec = s.record(interval=None)
    rec.sample()
    rec.sample("x")
    h = rec.stop()
    h.to_parquet(str(tmp_path / "history.parquet"))
    before = proc.snapshot(progress=None)
    game.gain_gold(1)
    proc.snapshot(progress=None).diff(before).to_parquet(str(tmp_path / "changes.parquet"))
    part = memscan.Dataset(tmp_path / "ds").append(h.to_long(), session="a")
    image_part = _scan_one(
        str(chain_images / "good-0.msimg"),
        "good-0",
        root=str(tmp_path / "images"),
        value_type="i32",
        op="eq",
        values=[SCORE],
        tolerance=None,
        options={},
    )["part"]
    for p in ["scan.parquet", "history.parquet", "changes.parquet", part, image_part]:
        assert mode(tmp_path / p) == 0o600, p
    # an address list holds no memory: it keeps the usual mode
    al = memscan.AddressList()
    al.add("health", hex(game.address("health")), "i32")
    assert mode(al.save(tmp_path / "list.json")) == 0o644


def test_watch_hits_are_written_0600_and_atomically(umask_022, tmp_path):
    pa = pytest.importorskip("pyarrow")
    from memscan.table import Table
    from memscan.watch import WatchHits

    table = pa.table(
        {
            "time": pa.array([1, 2], pa.int64()).cast(pa.timestamp("ns")),
            "address": pa.array([16, 16], pa.uint64()),
            "value": pa.array([5, 6], pa.int64()),
        }
    )
    hits = WatchHits(Table(table), lost=0, throttled=0, ended="stopped")
    path = tmp_path / "hits.parquet"
    hits.to_parquet(str(path), note="x")
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["hits.parquet"]
    meta = pl.read_parquet_metadata(path)
    assert meta["memscan.kind"] == "watch" and meta["memscan.note"] == "x"


# -- 15: address list text that cannot be saved is refused where it comes in -------------------


@pytest.mark.parametrize("field", ["description", "expression"])
def test_a_lone_surrogate_is_refused_when_added(field):
    al = memscan.AddressList()
    args = {"description": "hp", "expression": "0x1000", "type": "i32"}
    args[field] = "hp\ud800" if field == "description" else '"mod\ud800"+10'
    with pytest.raises(memscan.InvalidArgument, match=field) as e:
        al.add(args["description"], args["expression"], args["type"])
    assert "\\ud800" in str(e.value)
    assert len(al) == 0
    with pytest.raises(memscan.InvalidArgument):
        al.add("ok", "0x1000", "i32\ud800")
    with pytest.raises(memscan.InvalidArgument, match="description"):
        memscan.AddressList([memscan.address_list.Entry("a\udfff", "0x10", "i32")])


@pytest.mark.parametrize("field", ["description", "expression"])
def test_a_lone_surrogate_in_a_file_is_refused_when_loaded(field, tmp_path):
    entry = {"description": "hp", "expression": "0x1000", "type": "i32"}
    entry[field] = "hp\ud800" if field == "description" else '"mod\ud800"+10'
    doc = {"format": "memscan.address_list", "version": 1, "entries": [entry]}
    path = tmp_path / "list.json"
    path.write_text(json.dumps(doc))  # ASCII: the surrogate is written as \ud800
    with pytest.raises(memscan.InvalidFile, match=rf"entry 0.*{field}"):
        memscan.AddressList.load(path)


def test_text_that_loads_saves_and_exports(tmp_path):
    al = memscan.AddressList()
    al.add("\U0001f600 héros \u00e9", '"lib\u00e9.so"+10', "i32")
    al.add("tab\there", "0x1000", "u8")
    back = memscan.AddressList.load(al.save(tmp_path / "list.json"))
    assert back == al
    al.to_cheat_table(tmp_path / "list.CT")
    assert len(memscan.AddressList.from_cheat_table(tmp_path / "list.CT")) == 2


def test_a_surrogate_character_reference_in_a_cheat_table_is_a_typed_error(tmp_path):
    path = tmp_path / "bad.CT"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<CheatTable><CheatEntries><CheatEntry>'
        "<Description>&#xD800;</Description><VariableType>4 Bytes</VariableType>"
        "<Address>1000</Address></CheatEntry></CheatEntries></CheatTable>"
    )
    with pytest.raises(memscan.InvalidFile):
        memscan.AddressList.from_cheat_table(path)


# -- 16: the shell counts distinct candidates ---------------------------------------------------


def run_shell(game, capsys, monkeypatch, *lines: str) -> tuple[int, str, str]:
    import sys

    from memscan.cli import main

    class Script:
        def isatty(self) -> bool:
            return False

        def __iter__(self) -> Iterator[str]:
            for line in lines:
                yield line + "\n"

    monkeypatch.setattr(sys, "stdin", Script())
    status = main(["shell", str(game.pid)])
    out, err = capsys.readouterr()
    return status, out, err


def test_set_counts_a_repeated_index_once(game, capsys, monkeypatch):
    repeated = ",".join(["0"] * 200_000)
    status, out, err = run_shell(game, capsys, monkeypatch, "scan i32 100", f"set {repeated} 100")
    assert status == 0, err
    assert "wrote 100 to 1 candidate\n" in out


def test_set_with_listed_indices_keeps_to_the_write_limit(game, capsys, monkeypatch):
    from memscan.shell import SET_ALL_MAX

    many = ",".join(str(i) for i in range(SET_ALL_MAX + 1))
    # u8 0 has far more than SET_ALL_MAX candidates; health (100) is not one of them
    status, out, err = run_shell(game, capsys, monkeypatch, "scan u8 0", f"set {many} 7")
    assert status != 0
    assert f"{SET_ALL_MAX + 1:,}" in err and "at most" in err
    assert "wrote" not in out
    assert game.value("health") == 100
    exactly = ",".join(str(i) for i in range(SET_ALL_MAX)) + ",0,1"
    status, out, err = run_shell(game, capsys, monkeypatch, "scan u8 0", f"set {exactly} 0")
    assert status == 0, err
    assert f"wrote 0 to {SET_ALL_MAX:,} candidates" in out


# -- 17: History.changed_with is vectorised; bad counts are typed errors ------------------------


def changed_with_by_definition(h: History, label: str, window: int) -> dict[int, int]:
    """address -> changes, for the addresses that changed within ``window`` samples of every
    sample labelled ``label`` (after the first) and at no sample farther from every such label
    (a change at sample s is a difference from sample s-1; NaN equals NaN)."""
    marked = [s for s in range(1, h.samples) if h.labels[s] == label]
    out = {}
    for j, address in enumerate(h.addresses.tolist()):
        col = h.values[:, j].tolist()
        changes = [
            s
            for s in range(1, h.samples)
            if not (col[s] == col[s - 1] or (col[s] != col[s] and col[s - 1] != col[s - 1]))
        ]
        near = all(any(abs(s - m) <= window for s in changes) for m in marked)
        only = all(any(abs(s - m) <= window for m in marked) for s in changes)
        if near and only:
            out[address] = len(changes)
    return out


def random_history(rng: np.random.Generator, n: int, m: int, dtype: str) -> History:
    values = rng.integers(0, 3, size=(n, m)) * (rng.random((n, m)) < 0.15)
    values = np.cumsum(values, axis=0).astype(dtype)
    labels: list[str | None] = [None] * n
    for s in rng.choice(n, size=max(1, n // 8), replace=False).tolist():
        labels[s] = "hit" if rng.random() < 0.7 else "other"
    labels[int(rng.integers(1, n))] = "hit"
    # an address that changes exactly at every "hit", one at every "hit" and once more
    hits = [s for s in range(1, n) if labels[s] == "hit"]
    exact = np.zeros(n, dtype=dtype)
    for s in hits:
        exact[s:] += 1
    values[:, 0] = exact
    values[:, 1] = exact
    values[n // 2 :, 1] += 1
    if dtype.startswith("f"):
        values[::3, 2] = np.nan
    return History(
        value_type={"int64": "i64", "uint8": "u8", "float64": "f64"}[dtype],
        addresses=np.arange(m, dtype=np.uint64) * 4 + 0x1000,
        timestamps_ns=np.arange(n, dtype=np.int64) * 1000,
        labels=labels,
        values=values,
    )


@pytest.mark.parametrize("dtype", ["int64", "uint8", "float64"])
def test_changed_with_matches_its_definition(dtype):
    rng = np.random.default_rng(7)
    for n, m in [(2, 3), (5, 4), (17, 6), (40, 9), (64, 12)]:
        h = random_history(rng, n, m, dtype)
        for window in [0, 1, 2, 3, n // 2, n - 1, n, n + 5, 10**9]:
            got = h.changed_with("hit", window=window)
            assert got.schema == pl.Schema({"address": pl.UInt64, "changes": pl.Int64})
            assert dict(got.iter_rows()) == changed_with_by_definition(h, "hit", window), (
                n,
                m,
                window,
            )


def test_changed_with_a_huge_window_is_quick():
    rng = np.random.default_rng(1)
    h = random_history(rng, 2000, 300, "int64")
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(h.changed_with("hit", 10**9)), daemon=True)
    started = time.monotonic()
    t.start()
    t.join(20)
    assert result, "changed_with(window=10**9) still runs after 20 s"
    assert time.monotonic() - started < 5
    assert dict(result[0].iter_rows()) == changed_with_by_definition(h, "hit", 2000)


@pytest.mark.parametrize("window", [-1, 1.5, "3", True, None])
def test_changed_with_refuses_a_bad_window(window):
    h = random_history(np.random.default_rng(3), 10, 3, "int64")
    with pytest.raises(memscan.InvalidArgument, match="window"):
        h.changed_with("hit", window=window)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 0}, "count"),
        ({"count": -3}, "count"),
        ({"count": 2.5}, "count"),
        ({"interval": -1.0}, "interval"),
        ({"interval": float("nan")}, "interval"),
    ],
)
def test_region_usage_over_time_refuses_bad_counts(proc, kwargs, match):
    with pytest.raises(memscan.InvalidArgument, match=match):
        proc.region_usage_over_time(**kwargs)
    one = proc.region_usage_over_time(interval=0, count=1)
    assert one["sample"].unique().to_list() == [0]


# -- 18: widgets take their background work with them -------------------------------------------


def native_threads(name: str) -> int:
    n = 0
    for p in glob.glob("/proc/self/task/*/comm"):
        try:
            with open(p) as f:
                n += f.read().strip() == name
        except OSError:
            pass  # the thread ended while we looked
    return n


def settle_threads(baseline: tuple[int, int], seconds: float = 5.0) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    now = (threading.active_count(), native_threads("memscan-freeze"))
    while now != baseline and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
        now = (threading.active_count(), native_threads("memscan-freeze"))
    return now


def test_dropped_live_widgets_stop_their_threads_and_freezes(game, proc):
    widgets = pytest.importorskip("memscan.widgets")
    health = game.address("health")
    gc.collect()
    baseline = (threading.active_count(), native_threads("memscan-freeze"))
    made = []
    for _ in range(10):
        w = widgets.ScanExplorer(proc, live=True, interval=0.02)
        w.first("i32", "eq", 100)  # the widget's own scanner
        index = int(np.flatnonzero(w.scanner.addresses == health)[0])
        w.freeze([index], 100)
        w.add_to_list([index])
        w.address_list.freeze(0, 100)  # and its own address list
        made.append(w)
    for _ in range(10):
        made.append(widgets.MemoryView(proc, health, live=True, interval=0.02))
    time.sleep(0.2)
    assert threading.active_count() >= baseline[0] + 20
    assert native_threads("memscan-freeze") >= baseline[1] + 20
    del made, w
    gc.collect()
    assert settle_threads(baseline) == baseline


def test_closing_a_widget_ends_its_thread_and_its_own_freezes(game, proc):
    widgets = pytest.importorskip("memscan.widgets")
    health = game.address("health")
    gc.collect()
    baseline = (threading.active_count(), native_threads("memscan-freeze"))
    w = widgets.ScanExplorer(proc, live=True, interval=0.02)
    w.first("i32", "eq", 100)
    index = int(np.flatnonzero(w.scanner.addresses == health)[0])
    w.freeze([index], 100)
    m = widgets.MemoryView(proc, health, live=True, interval=0.02)
    time.sleep(0.1)
    w.close()
    m.close()
    assert settle_threads(baseline) == baseline
    game.damage(5)
    time.sleep(0.1)
    assert game.value("health") == 95  # nothing holds it any more
    # a scanner passed in belongs to its caller: closing the widget leaves its freezes
    s = proc.scan("i32", 95)
    w = widgets.ScanExplorer(s, live=True, interval=0.02)
    w.freeze([int(np.flatnonzero(s.addresses == health)[0])], 95)
    w.close()
    game.damage(5)
    time.sleep(0.1)
    assert game.value("health") == 95
    s.release()
