"""How things are shown: hex addresses and module+offset, counts, rich reprs and plots, on the
demo target."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

import memscan
from memscan.display import Locator, count, hex_strings, human_bytes, milliseconds, module_owners
from memscan.table import hex_addresses


def found_health(game, proc):
    s = proc.scan("i32", 100)
    game.damage(7)
    s.decreased().eq(93)  # the interpreter's own numbers change too: two steps to be sure
    assert len(s) == 1
    return s


def executable_words(proc):
    """Every u32 of the target's executable mappings: rows with a module and module offset."""
    return proc.scan("u32", kinds=["executable"])


def test_counts_sizes_and_hex():
    assert count(1, "candidate") == "1 candidate"
    assert count(0, "candidate") == "0 candidates"
    assert count(1_143_580, "candidate") == "1,143,580 candidates"
    assert count(2, "address", "addresses") == "2 addresses"
    assert human_bytes(512) == "512 B"
    assert human_bytes(4096) == "4.0 KiB"
    assert human_bytes(22_818_816) == "21.8 MiB"
    assert human_bytes(136_314_880) == "130.0 MiB" and human_bytes(3 << 30) == "3.0 GiB"
    assert count(25_712_343, "candidate") == "25,712,343 candidates"
    assert milliseconds(0.042) == "42.0 ms" and milliseconds(15.3217) == "15,321.7 ms"
    values = np.array([0, 1, 0xABC, 2**47 + 5, 2**64 - 1], dtype=np.uint64)
    assert hex_strings(values).tolist() == [hex(int(v)) for v in values]
    assert hex_strings(np.zeros(0, np.uint64)).tolist() == []


def test_locator_names_modules_kinds_and_hex(game, proc):
    words = executable_words(proc).to_polars().head(3)
    heap = next(r for r in proc.region_list() if r.kind == "heap")
    where = Locator(proc.region_list())
    for address, module, offset in words.select("address", "module", "module_offset").rows():
        assert where.module(address) == (module, offset)
        assert where(address) == where.describe(address) == f"{module}+{offset:#x}"
    assert where.module(heap.start) is None and where(heap.start) == hex(heap.start)
    assert where.kind(heap.start) == where.describe(heap.start) == "heap"
    assert where.kind(0) is None and where.describe(0) == "unmapped" and where(0) == "0x0"
    addresses = [*words["address"], heap.start]
    assert module_owners(proc, addresses) == [
        *zip(words["module"], words["module_offset"], strict=True),
        (None, 0),
    ]


def test_a_second_copy_of_a_module_is_not_named():
    class R:
        def __init__(self, start, kind, module=None, base=None):
            self.start, self.end, self.kind = start, start + 0x1000, kind
            self.module, self.module_base = module, base

    where = Locator(
        [R(0x5000, "library", "lib.so", 0x5000), R(0x1000, "library", "lib.so", 0x1000)]
    )
    assert where(0x1010) == "lib.so+0x10" and where.describe(0x5010) == "library"
    assert where(0x5010) == "0x5010" and where.module(0x5010) is None


def test_hex_addresses_in_polars_and_pandas(game, proc):
    s = found_health(game, proc)
    health = game.address("health")
    df = s.to_polars()
    assert df.schema["address"] == pl.UInt64  # memscan's frames keep u64
    shown = hex_addresses(df)
    assert shown["address"].to_list() == [hex(health)]
    assert shown["region_start"][0].startswith("0x")
    assert "module_offset" not in shown.columns and shown["module+offset"].to_list() == [None]

    words = executable_words(proc).to_polars().head(3)
    assert words["module"].null_count() == 0
    expected = [f"{m}+{o:#x}" for m, o in zip(words["module"], words["module_offset"], strict=True)]
    assert hex_addresses(words)["module+offset"].to_list() == expected
    pandas = hex_addresses(words.to_pandas())
    assert pandas["module+offset"].tolist() == expected
    assert pandas["address"].tolist() == [hex(a) for a in words["address"]]


def test_table_repr_shows_hex_without_quotes(game, proc):
    s = found_health(game, proc)
    health = game.address("health")
    text = repr(s.table())
    assert text.startswith("memscan.Table: 1 row\n") and hex(health) in text
    assert str(health) not in text
    page = s.table()._repr_html_()
    assert hex(health) in page and "&quot;" not in page and "UInt64" in page
    assert ">1 row<" in page


def test_a_large_table_shows_its_first_and_last_rows(game, proc):
    words = executable_words(proc)
    n = len(words)
    assert n > 10
    text = repr(words.table())
    assert text.startswith(f"memscan.Table: {n:,} rows (the first and last 5 shown)")
    assert len(re.findall(r"python[\w.]*\+0x[0-9a-f]+", text)) == 10
    page = words.table()._repr_html_()
    assert f">{n:,} rows<" in page and page.count("<tr>") == 1 + 10 + 1  # names, rows, gap


def test_process_repr(game, proc):
    text, page = repr(proc), proc._repr_html_()
    regions = proc.region_list()
    for shown in (text, page):
        assert str(game.pid) in shown and "memscan-demo" in shown and proc.exe in shown
        assert f"{len(regions):,} regions" in shown and "writable" in shown
    assert "var(--jp-ui-font-color1" in page
    game.stop()
    assert "exited" in repr(proc) and "exited" in proc._repr_html_()


def test_scanner_repr_lists_steps_counts_and_candidates(game, proc):
    first = len(proc.scan("i32", 100))
    s = found_health(game, proc)
    text = repr(s)
    assert text.splitlines()[0].startswith(f"Scanner(pid={game.pid}, i32, 1 candidate, ")
    assert re.search(rf"1\. first scan == 100 +{first:,}$", text, re.M)
    assert re.search(r"2\. decreased +[\d,]+$", text, re.M)
    assert re.search(r"3\. == 93 +1$", text, re.M)
    s.checkpoint("hurt")
    s.freeze(50)
    page = s._repr_html_()
    s.release()
    assert "i32, 1 candidate<" in page and "first scan == 100" in page and f">{first:,}<" in page
    assert hex(game.address("health")) in page and ">93<" in page
    assert "hurt (1 candidate)" in page and "1 address" in page


def test_dense_scanner_repr(game, proc):
    s = proc.scan("u8", kinds=["anonymous"])
    n = len(s)
    assert n > 1000
    page = s._repr_html_()
    assert "dense snapshot" in page and f"the first 5 of {n:,}" in page
    assert f"{n:,} candidates" in repr(s)


def record_game(game, proc):
    addrs = [game.address(f) for f in ("health", "max_health", "gold")]
    rec = proc.record(addrs, "i32", interval=None)
    rec.sample()
    for step in range(9):
        if step % 3 == 0:
            game.damage(10)
            rec.sample("took damage")
        elif step % 3 == 1:
            game.gain_gold(5)
            rec.sample("gold")
        else:
            rec.sample()
    return rec.stop(), addrs


def test_history_repr(game, proc):
    h, (health, _, gold) = record_game(game, proc)
    text = repr(h)
    assert text.startswith("History(10 samples x 3 addresses of i32 over ")
    assert "labels: took damage x3, gold x3" in text
    page = h._repr_html_()
    assert "took damage x3" in page and hex(health) in page and hex(gold) in page
    health_row = page[page.index(hex(health)) :].split("</tr>")[0]
    assert re.findall(r">(-?[\d,]+)<", health_row) == ["100", "70", "70", "100", "3"]


def test_history_plot_spec(game, proc):
    h, (health, max_health, gold) = record_game(game, proc)
    chart = h.plot(names={health: "health"})
    spec = chart.to_dict()
    lines, rules, text = spec["layer"]
    assert lines["mark"]["type"] == "line"
    enc = lines["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"], enc["color"]["field"]) == (
        "seconds",
        "value",
        "series",
    )
    rows = spec["datasets"][lines["data"]["name"]]
    assert len(rows) == 10 * 3
    assert {r["series"] for r in rows} == {"health", hex(max_health), hex(gold)}
    health_values = [r["value"] for r in rows if r["series"] == "health"]
    assert health_values == [100, 90, 90, 90, 80, 80, 80, 70, 70, 70]
    marks = spec["datasets"][rules["data"]["name"]]
    assert [m["label"] for m in marks] == ["took damage", "gold"] * 3
    assert rules["mark"]["type"] == "rule" and text["encoding"]["text"]["field"] == "label"

    changing = h.plot(max_series=2).to_dict()  # the two that changed most
    rows = changing["datasets"][changing["layer"][0]["data"]["name"]]
    assert {r["series"] for r in rows} == {hex(health), hex(gold)}
    chosen = h.plot([max_health], x="sample").to_dict()
    assert chosen["layer"][0]["encoding"]["x"]["field"] == "sample"
    rows = chosen["datasets"][chosen["layer"][0]["data"]["name"]]
    assert [r["value"] for r in rows] == [100] * 10
    with pytest.raises(memscan.InvalidArgument):
        h.plot(x="bytes")
    with pytest.raises(memscan.InvalidArgument):
        h.plot([12345])


def test_long_history_plot_is_thinned_keeping_labels(game, proc):
    rec = proc.record([game.address("health")], "i32", interval=None)
    for i in range(400):
        rec.sample("hit" if i == 123 else None)
    h = rec.stop()
    spec = h.plot(max_rows=50).to_dict()
    samples = [r["sample"] for r in spec["datasets"][spec["layer"][0]["data"]["name"]]]
    assert 50 <= len(samples) <= 51 and 123 in samples and samples[0] == 0 and samples[-1] == 399


def test_plot_names_module_offsets(game, proc):
    words = executable_words(proc)
    address = int(words.addresses[0])
    h = proc.record([address], "u32", count=3).wait()
    row = words.to_polars().row(0, named=True)
    spec = h.plot(process=proc).to_dict()
    rows = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert {r["series"] for r in rows} == {f"{row['module']}+{row['module_offset']:#x}"}


def test_snapshot_and_change_map_reprs_and_heatmap(game, proc):
    before = proc.snapshot(progress=False)
    game.gain_gold(1000)
    after = proc.snapshot(progress=False)
    changes = after.diff(before)
    df = changes.to_polars()
    total, regions = int(df["changed_bytes"].sum()), df["region_start"].n_unique()

    assert repr(before).startswith(f"Snapshot(pid={game.pid}, {len(before.regions()):,} regions")
    assert "<b>Snapshot</b>" in before._repr_html_() and ">heap<" in before._repr_html_()
    assert repr(changes).startswith(f"ChangeMap({human_bytes(total)} in {len(df):,} ranges, ")
    page = changes._repr_html_()
    assert f"{count(regions, 'region')}" in page and "changed bytes" in page

    gold = game.address("gold")
    heat = changes.heatmap(bins=32, max_regions=1000)
    assert int(heat["changed_bytes"].sum()) == total
    assert heat["region"].n_unique() == regions and heat["bin"].max() < 32
    spec = changes.plot(bins=32, mark={"gold": gold}).to_dict()
    cells, pins, _ = spec["layer"]
    assert cells["mark"]["type"] == "rect"
    assert cells["encoding"]["x"]["scale"]["domain"] == list(range(32))
    assert cells["encoding"]["color"]["field"] == "changed_bytes"
    assert cells["encoding"]["color"]["scale"]["type"] == "log"
    (pin,) = spec["datasets"][pins["data"]["name"]]
    gold_slice = heat.filter((pl.col("from") <= gold) & (pl.col("to") >= gold)).row(0, named=True)
    assert pin == {"label": "gold", "region": gold_slice["region"], "bin": gold_slice["bin"]}
