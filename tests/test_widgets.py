"""Widget state and actions, driven from Python as the frontend would drive them."""

from __future__ import annotations

import time

import pytest

widgets = pytest.importorskip("memscan.widgets")


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    import ipywidgets

    ipywidgets.Widget.close_all()


def test_scan_explorer_runs_next_scans_and_writes(game, proc):
    w = widgets.ScanExplorer(proc.scan("i32", 100), page_size=5)
    first = w.count
    assert first > 1 and len(w.rows) == min(5, first)
    assert {"index", "address", "value", "current", "previous", "region"} <= set(w.rows[0])
    game.damage(3)
    w._handle_custom_msg({"action": "next", "op": "decreased", "value": ""}, [])
    w.settle(10)
    assert 1 <= w.count < first
    w.value = "97"
    w.next()
    assert hex(game.address("health")) in [r["address"] for r in w.rows]
    i = next(r["index"] for r in w.rows if r["address"] == hex(game.address("health")))
    w._handle_custom_msg({"action": "write", "index": i, "value": "55"}, [])
    w.settle(10)
    assert game.value("health") == 55 and w.status.startswith("wrote")
    w._handle_custom_msg({"action": "freeze", "index": i, "value": "77"}, [])
    w.settle(10)
    game.damage(10)
    time.sleep(0.05)
    assert game.value("health") == 77
    w.release()
    w.next("roughly", 1)
    assert w.status.startswith("InvalidArgument")
    w.undo()
    assert w.count >= 1
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "<table>" in data["text/html"] and "candidates" in data["text/plain"] + repr(w)


def test_scan_explorer_live_refresh(game, proc):
    s = proc.scan("u64", 0, address_range=(game.address("ticks"), game.address("ticks") + 8))
    w = widgets.ScanExplorer(s, interval=0.05)
    w.live = True
    game.tick(5)
    deadline = time.time() + 2
    while time.time() < deadline and w.rows[0]["current"] != "5":
        time.sleep(0.02)
    assert w.rows[0]["current"] == "5"
    w.live = False
    game.stop()
    w.live = True
    deadline = time.time() + 2
    while time.time() < deadline and w.live:
        time.sleep(0.02)
    assert not w.live and "stopped" in w.status


def test_history_view(game, proc):
    rec = proc.record([game.address("health"), game.address("gold")], "i32", interval=None)
    rec.sample()
    game.damage(5)
    rec.sample("hit")
    w = widgets.HistoryView(rec.stop())
    assert w.samples == 2 and w.labels == [{"sample": 1, "label": "hit"}]
    w.position = 1
    assert w.readout["label"] == "hit" and w.readout["values"][hex(game.address("health"))] == 95


def test_memory_view_highlights_changes(game, proc):
    w = widgets.MemoryView(proc, game.base, 32)
    assert w.data[:4] == list((100).to_bytes(4, "little"))
    assert not any(w.changed)
    w.checkpoint()
    game.damage(1)
    w.refresh()
    assert w.changed[0] and sum(w.changed) == 1
    w.refresh()
    assert w.changed[0]  # still against the checkpoint
    w.selection = 0
    assert w.interpretations["i32"] == "99"


def test_region_map(game, proc):
    before = proc.snapshot(progress=False)
    game.gain_gold(1)
    cm = proc.snapshot(progress=False).diff(before)
    w = widgets.RegionMap(proc, cm)
    holder = next(
        r
        for r in w.regions
        if int(r["start"], 16) <= game.address("gold") < int(r["start"], 16) + r["size"]
    )
    assert holder["changed"] >= 1
    assert "<table>" in w.to_html()
