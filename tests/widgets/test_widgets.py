"""Widget state and actions, driven from Python as the frontend would drive them."""

from __future__ import annotations

import time

import numpy as np
import pytest

import memscan
from memscan.display import count

widgets = pytest.importorskip("memscan.widgets")


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    import ipywidgets

    ipywidgets.Widget.close_all()


def click(w, **content):
    """What a button does: a message from the frontend, run in the widget's worker."""
    w._handle_custom_msg(content, [])
    w.settle(10)


def row_of(w, address):
    return next(r for r in w.rows if r["address"] == hex(address))


def test_scan_explorer_scan_window(game, proc):
    w = widgets.ScanExplorer(proc, page_size=5)
    assert not w.scanned and w.count == 0 and w.rows == []
    click(w, action="first", type="i32", op="eq", values=["100"])
    first = w.count
    assert w.scanned and first > 1 and len(w.rows) == min(5, first)
    assert w.steps == [{"description": "first scan == 100", "count": first}]
    assert w.busy == "" and w.status_kind == "ok" and f"{first:,} candidates" in w.status
    assert set(w.rows[0]) == {
        "index", "address", "module", "region", "value", "current", "previous", "frozen",
    }  # fmt: skip
    assert all(r["address"].startswith("0x") for r in w.rows)
    assert "previous values appear after a next scan" in w.notes

    # The value box does not change what "decreased" means: no "decreased by 999".
    game.damage(3)
    w.value = "999"
    click(w, action="next", op="decreased", values=[])
    assert 1 <= w.count < first and w.status.startswith("decreased: ")
    assert row_of(w, game.address("health"))["previous"] == "100"
    game.damage(3)
    click(w, action="next", op="decreased_by", values=["3"])
    assert row_of(w, game.address("health"))["value"] == "94"
    n = w.count
    click(w, action="next", op="between", values=["90", "94"])
    assert w.count == n and len(w.steps) == 4
    click(w, action="next", op="le", values=["94"])
    click(w, action="next", op="near", values=["94", "0.5"])
    assert w.count == n and [s["description"] for s in w.steps][-2:] == ["<= 94", "near 94 ± 0.5"]

    # Errors read as messages, never as Python internals; nothing changes.
    click(w, action="next", op="eq", values=["abc"])
    assert w.status_kind == "error" and '"abc" is not a number' in w.status
    assert "convert" not in w.status and w.count == n
    click(w, action="next", op="between", values=["1"])
    assert w.status == "between needs two values"
    click(w, action="next", op="roughly", values=[])
    assert w.status.startswith("unknown operator") and w.busy == ""

    # Undo to any step.
    click(w, action="undo", to_step=1)
    assert len(w.steps) == 2 and w.status.startswith("back to step 2")
    click(w, action="undo")
    assert w.count == first and len(w.steps) == 1
    click(w, action="undo")
    assert w.status == "nothing to undo" and w.status_kind == "error"


def test_scan_explorer_write_freeze_and_list(game, proc):
    al = memscan.AddressList()
    w = widgets.ScanExplorer(proc.scan("i32", 100), address_list=al)
    game.damage(3)
    w.next("decreased")
    health = game.address("health")
    i = row_of(w, health)["index"]
    click(w, action="write", indices=[i], value="55")
    assert game.value("health") == 55 and w.status == "wrote 55 to 1 address"
    click(w, action="write", indices=[], value="1")
    assert w.status == "select rows first" and game.value("health") == 55
    click(w, action="freeze", indices=[i], value="77")
    assert row_of(w, health)["frozen"] == "77"
    game.damage(10)
    time.sleep(0.05)
    assert game.value("health") == 77
    click(w, action="release", indices=[])
    assert row_of(w, health)["frozen"] == "" and w.status == "released"
    click(w, action="add", indices=[i])
    assert len(al) == 1 and al[0].expression == hex(health) and w.list_size == 1
    click(w, action="write", indices=[i], value="99999999999")
    assert w.status_kind == "error" and game.value("health") != 99999999999 % 2**32
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    caption = f"{count(w.count, 'candidate')} (i32)"  # health, and a copy of it at times
    assert "<table>" in data["text/html"] and caption in data["text/html"]


def test_scan_explorer_sorts_and_pages_dense_sets(game, proc):
    w = widgets.ScanExplorer(proc.scan("i32", 50, op="between", high=150), page_size=10)
    assert w.sortable
    w.sort = "-value"
    top = [int(r["value"]) for r in w.rows]
    assert top == sorted(top, reverse=True) and top[0] == int(w.scanner.values.max())
    w.hex = True  # display only: the Python rows stay decimal
    assert w.rows[0]["value"] == str(top[0])

    dense = widgets.ScanExplorer(proc.scan("u32"), page_size=50)
    assert dense.scanner.is_dense and not dense.sortable and dense.count > 1_000_000
    dense.page = 20_000
    assert len(dense.rows) == 50 and dense.rows[0]["index"] == 1_000_000
    addrs, _ = dense.scanner.page(1_000_000, 1)
    assert dense.rows[0]["address"] == hex(int(addrs[0]))
    dense.sort = "value"
    assert dense.sort == "" and "sorting needs" in dense.status
    dense.page = 10**9  # past the end: the last page
    assert dense.page == -(-dense.count // 50) - 1 and dense.rows
    dense.page = 0
    first = int(dense.rows[0]["address"], 16)
    mod = next(
        m for m in proc.modules().to_polars().iter_rows(named=True) if m["base"] <= first < m["end"]
    )
    assert dense.rows[0]["module"] == f"{mod['name']}+{first - mod['base']:#x}"


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
    assert not w.live and "stopped" in w.status and w.status_kind == "error"


def test_history_view(game, proc):
    rec = proc.record([game.address("health"), game.address("gold")], "i32", interval=None)
    rec.sample()
    game.damage(5)
    rec.sample("hit")
    h = rec.stop()
    w = widgets.HistoryView(h, names={game.address("health"): "health"})
    assert w.samples == 2 and [(lab["sample"], lab["label"]) for lab in w.labels] == [(1, "hit")]
    assert w.series[0] == {"address": hex(game.address("health")), "name": "health"}
    values = np.frombuffer(w.values, "<f8").reshape(len(w.series), w.samples)
    assert values[0].tolist() == [100.0, 95.0]
    assert np.frombuffer(w.times, "<f8")[0] == 0.0
    w.position = 1
    assert w.readout["label"] == "hit" and w.readout["values"][hex(game.address("health"))] == 95
    w.zoom(0.0, 1e-3)
    assert w.x_range == [0.0, 1e-3]
    assert "2 samples" in w.to_html() and repr(w) == "HistoryView(2 series, 2 samples, 1 label)"


def test_history_view_streams_a_running_recorder(game, proc):
    rec = proc.record([game.address("ticks")], "u64", interval=0.01)
    al = memscan.AddressList()
    al.add("ticks", hex(game.address("ticks")), "u64")
    al.attach(proc)
    w = widgets.HistoryView(rec, [game.address("ticks")], names=al)
    assert w.live and w.series[0]["name"] == "ticks"
    game.tick(3)
    deadline = time.time() + 3
    while time.time() < deadline and w.samples < 5:
        time.sleep(0.05)
    assert w.samples >= 5
    rec.stop()
    deadline = time.time() + 3
    while time.time() < deadline and w.live:
        time.sleep(0.05)
    assert not w.live and w.status.startswith("recording finished")
    assert w.samples == rec.samples


def long_history(series=20, samples=200_000):
    """Random walks sampled about once a millisecond, each with one spike up and one down (its
    global max and min, a single sample each), and a label."""
    rng = np.random.default_rng(7)
    values = rng.integers(-50, 51, (samples, series)).cumsum(axis=0).astype(np.int32)
    columns = np.arange(series)
    values[rng.integers(0, samples, series), columns] = 10_000_000 + columns
    values[rng.integers(0, samples, series), columns] = -10_000_000 - columns
    start = 1_700_000_000_000_000_000
    timestamps = start + np.cumsum(rng.integers(500_000, 1_500_000, samples))
    labels = [None] * samples
    labels[123_456] = "boss"
    addresses = 0x10000 + 4 * np.arange(series, dtype=np.uint64)
    return memscan.History("i32", addresses, timestamps, labels, values)


def plotted(w):
    """A HistoryView's plotted points: sample indices, seconds, (series x points) values."""
    index = np.frombuffer(w.sample_index, "<u4")
    values = np.frombuffer(w.values, "<f8").reshape(len(w.series), len(index))
    return index, np.frombuffer(w.times, "<f8"), values


def test_history_view_decimates_a_long_history():
    h = long_history()
    w = widgets.HistoryView(h, h.addresses.tolist())
    index, times, values = plotted(w)
    assert w.samples == 200_000 and len(index) <= w.max_points == 4000
    assert len(w.times) + len(w.values) == 8 * len(index) * (1 + 20)
    seconds = (h.timestamps_ns - h.timestamps_ns[0]) / 1e9
    assert index[0] == 0 and index[-1] == h.samples - 1 and (np.diff(index) > 0).all()
    assert (times == seconds[index]).all() and w.duration == seconds[-1]
    # No spike is lost: every series' global min and max is drawn.
    assert (values.max(axis=1) == h.values.max(axis=0)).all()
    assert (values.min(axis=1) == h.values.min(axis=0)).all()
    label = w.labels[0]
    assert label == {"sample": 123_456, "time": seconds[123_456], "label": "boss"}
    w.max_points = 100
    assert len(plotted(w)[0]) <= 100


def test_history_view_zoom_reads_the_windows_samples():
    h = long_history()
    w = widgets.HistoryView(h, h.addresses.tolist())
    overview = w.values
    seconds = (h.timestamps_ns - h.timestamps_ns[0]) / 1e9
    # A window of about 10,000 samples: decimated, its extremes kept.
    w.zoom(50.0, 60.0)
    index, _, values = plotted(w)
    inside = np.flatnonzero((seconds >= 50.0) & (seconds <= 60.0))
    window = np.arange(inside[0] - 1, inside[-1] + 2)
    assert len(inside) > w.max_points >= len(index)
    assert index[0] == window[0] and index[-1] == window[-1]
    assert (values.max(axis=1) == h.values[window].max(axis=0)).all()
    assert (values.min(axis=1) == h.values[window].min(axis=0)).all()
    # A narrow window: its exact samples, and one either side so lines reach the edges.
    w.zoom(50.0, 51.5)
    index, times, values = plotted(w)
    inside = np.flatnonzero((seconds >= 50.0) & (seconds <= 51.5))
    assert index.tolist() == list(range(inside[0] - 1, inside[-1] + 2))
    assert (times == seconds[index]).all() and (values == h.values[index].T).all()
    w.zoom()
    assert w.x_range == [] and w.values == overview


def test_history_view_readout_is_exact_through_sample_index():
    h = long_history()
    w = widgets.HistoryView(h, h.addresses.tolist())
    spike = int(np.argmax(h.values[:, 5]))
    address = hex(h.addresses[5])
    seconds = (h.timestamps_ns - h.timestamps_ns[0]) / 1e9
    w.zoom(seconds[spike] - 0.2, seconds[spike] + 0.2)
    index, times, values = plotted(w)
    point = int(np.argmax(values[5]))  # where the spike is drawn
    assert index[point] == spike and values[5, point] == 10_000_005
    w.position = int(index[point])  # what a click on that point sets
    assert w.readout["sample"] == spike and w.readout["seconds"] == times[point]
    assert w.readout["values"][address] == 10_000_005
    # Overview points name real samples too: the readout is that sample's, not the point's.
    w.zoom()
    index, times, _ = plotted(w)
    w.position = int(index[1000])
    assert w.readout["seconds"] == times[1000]
    assert w.readout["values"][address] == h.values[index[1000], 5]
    w.position = 123_456
    assert w.readout["label"] == "boss"


def test_min_max_points_keeps_each_spans_min_and_max_in_order():
    from memscan.widgets.history_view import min_max_points

    rng = np.random.default_rng(3)
    seconds = rng.exponential(1.0, 5000).cumsum()
    seconds[1000:1500] = seconds[1000]  # a burst at one time
    seconds[-1] += 1000.0  # a gap: empty spans, then a span of one sample
    # 64 points: 32 equal spans of time, each drawn at its first and last sample.
    starts = np.unique(np.searchsorted(seconds, np.linspace(seconds[0], seconds[-1], 33)[:-1]))
    spans = np.split(np.arange(5000), starts[1:])
    values = rng.normal(size=(5000, 3))
    values[rng.random((5000, 3)) < 0.1] = np.nan
    values[spans[3], 1] = np.nan  # a span with no values
    index, points = min_max_points(seconds, values, 64)
    assert len(index) <= 64 and (np.diff(index) > 0).all()
    assert index.tolist() == sorted({i for span in spans for i in (span[0], span[-1])})
    drawn = iter(points)
    for span in spans:
        pair = [next(drawn)] + ([next(drawn)] if len(span) > 1 else [])
        for k in range(3):
            column = values[span, k]
            if np.isnan(column).all():
                assert all(np.isnan(p[k]) for p in pair)
                continue
            low, high = np.nanargmin(column), np.nanargmax(column)
            expected = [column[min(low, high)], column[max(low, high)]][: len(pair)]
            assert [p[k] for p in pair] == expected
    assert min_max_points(seconds[:64], values[:64], 64)[0].tolist() == list(range(64))


def test_history_view_streams_a_decimated_view(game, proc):
    rec = proc.record([game.address("ticks")], "u64", interval=0.001)
    w = widgets.HistoryView(rec, [game.address("ticks")], max_points=16, interval=0.05)
    deadline = time.time() + 5
    while time.time() < deadline and w.samples < 200:
        time.sleep(0.05)
    rec.stop()
    deadline = time.time() + 3
    while time.time() < deadline and w.live:
        time.sleep(0.05)
    index, _, _ = plotted(w)
    assert w.samples == rec.samples > 16 >= len(index) and index[-1] == w.samples - 1


def test_memory_view_navigates_and_edits(game, proc):
    w = widgets.MemoryView(proc, game.base, 32)
    assert w.data[:4] == list((100).to_bytes(4, "little")) and not any(w.changed)
    w.checkpoint()
    game.damage(1)
    w.refresh()
    assert w.changed[0] and sum(w.changed) == 1
    w.refresh()
    assert w.changed[0]  # still against the checkpoint
    w.selection = 0
    assert w.interpretations["i32"] == "99"

    w.write_byte(0, "2a")
    assert game.value("health") == 42 and w.data[0] == 0x2A and w.status_kind == "ok"
    w.write_byte(0, "zz")
    assert w.status == "'zz' is not a hex byte (00 to ff)" and game.value("health") == 42
    w._handle_custom_msg({"action": "write_value", "type": "i32", "value": "1234"}, [])
    assert game.value("health") == 1234 and w.interpretations["i32"] == "1234"
    w.write_value("i32", "lots")
    assert w.status_kind == "error" and "not a number" in w.status

    assert w.page_down() and w.address == game.base + 32
    assert w.back() and w.address == game.base
    w._handle_custom_msg({"action": "goto", "to": "no_such_module+0x10"}, [])
    assert w.status_kind == "error" and w.address == game.base
    mod = proc.modules().to_polars().row(0, named=True)
    assert w.goto(f"{mod['name']}+0x10") and w.address == mod["base"] + 0x10
    assert w.location == f"{mod['name']}+0x10"
    w.data = list((game.base).to_bytes(8, "little")) + w.data[8:]  # a pointer at offset 0
    w.selection = 0
    assert w.follow() and w.address == game.base


def test_memory_view_text_is_printable_ascii(game, proc):
    proc.write(game.base, b"Hi\xff\x01\xc3\xa9!\0")
    w = widgets.MemoryView(proc, game.base, 16)
    assert w.interpretations["text"] == "Hi....!"


def test_region_map_opens_a_region(game, proc):
    before = proc.snapshot(progress=False)
    game.gain_gold(1)
    cm = proc.snapshot(progress=False).diff(before)
    w = widgets.RegionMap(proc, cm)
    gold = game.address("gold")
    i, holder = next(
        (i, r) for i, r in enumerate(w.regions) if int(r["start"], 16) <= gold < int(r["end"], 16)
    )
    assert holder["changed"] >= 1 and holder["size_text"].endswith(("B", "KiB", "MiB", "GiB"))
    assert w.memory_view is None
    w._handle_custom_msg({"action": "open", "index": i}, [])
    mv = w.memory_view
    assert w.opened == i and int(holder["start"], 16) <= mv.address < int(holder["end"], 16)
    assert w.status.startswith(f"opened the {holder['kind']} region at {holder['start']}")
    w.open_region(0)
    assert w.memory_view is mv and mv.address >= int(w.regions[0]["start"], 16)
    assert "<table>" in w.to_html() and "regions" in repr(w)


def test_scan_explorer_never_shows_a_stale_count(game, proc, monkeypatch):
    """`scanned` and the count it captions reach the frontend in one message: a frontend that
    renders between two messages would show "0 candidates" after a first scan."""
    w = widgets.ScanExplorer(proc, page_size=5)
    sent: list[dict] = []
    monkeypatch.setattr(w, "_send", lambda msg, buffers=None: sent.append(msg["state"]))
    w.first("i32", "eq", 100)
    shown = [s for s in sent if "scanned" in s or "count" in s]
    assert shown and all("scanned" in s and s.get("count") == w.count > 0 for s in shown), shown
