"""Structures against a C target with known layouts (tests/targets/structs.c, built with -g:
gdb's ``ptype /o`` gives the truth): dissection from one snapshot and over time, pointer
targets, the structure spider, array strides, group compare, layouts through C and Cheat
Engine XML, and ``read_structs`` against per-instance reads."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.dwarf import accuracy, struct_fields
from support.processes import TARGETS, build_c_target

import memscan
from memscan.structures import Layout, find_stride

ENTITY = 112


@pytest.fixture(scope="session")
def structs_binary(tmp_path_factory) -> Path:
    return build_c_target(
        tmp_path_factory, "structs.c", "structs", "-O1", "-pthread", libs=("-lm",)
    )


class Target:
    """The running target: ``world`` (entities), ``weapons`` (list head), ``stats``."""

    def __init__(self, binary: Path) -> None:
        self.p = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.p.stdout is not None
        _, world, n, size, weapons, stats = self.p.stdout.readline().split()
        self.world, self.n, self.size = int(world, 16), int(n), int(size)
        self.weapons, self.stats = int(weapons, 16), int(stats, 16)
        self.proc = memscan.Process(self.p.pid)
        self.entities = np.array([self.world + i * self.size for i in range(self.n)], np.uint64)

    def command(self, line: str) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"


@pytest.fixture
def target(structs_binary) -> Iterator[Target]:
    t = Target(structs_binary)
    yield t
    t.p.kill()
    t.p.wait()


def _three(t: Target, **options) -> dict[str, Layout]:
    return {
        "entity": t.proc.dissect(t.world, ENTITY, **options),
        "stats": t.proc.dissect(t.stats, 64, **options),
        "weapon": t.proc.dissect(t.weapons, 32, **options),
    }


def test_dissect_over_time_finds_nine_in_ten_fields_dwarf_declares(target, structs_binary):
    assert target.size == ENTITY
    layouts = _three(target, over=0.6)
    right = total = 0
    for name, layout in layouts.items():
        truth = struct_fields(structs_binary, name)
        share, missed = accuracy(truth, layout.fields)
        right += round(share * len(truth))
        total += len(truth)
        assert share >= 0.85, (name, missed, layout.to_polars())
    assert right / total >= 0.9, (right, total)


def test_one_snapshot_is_the_weaker_baseline(target, structs_binary):
    time.sleep(0.3)  # a game that has run a while: positions, timers and ticks moved off zero
    target.command("p")
    once = _three(target)
    shares = [accuracy(struct_fields(structs_binary, n), lay.fields)[0] for n, lay in once.items()]
    assert shares[0] >= 0.85 and sum(shares) / 3 >= 0.6, shares
    entity = once["entity"]
    assert "samples" not in " ".join(entity.notes)
    enemy = target.proc.dissect(int(target.entities[1]), ENTITY)
    assert enemy[22].type == "bool" and enemy[23].type == "bool"  # team 1, alive 1


def test_pointers_name_what_they_point_at(target):
    entity = target.proc.dissect(target.world, ENTITY)
    assert "function table" in entity[0].evidence
    assert entity[64].points_to == "'Player'"
    assert "heap block of" in entity[72].evidence
    stats = target.proc.dissect(target.stats, 64)
    assert stats[56].type == "ptr" and "stats_tick" in stats[56].points_to
    assert stats[40].type == "utf16" and stats[40].value == "'Arena'"


def test_behaviour_links_positions_to_velocities_and_the_tick_counter(target):
    entity = target.proc.dissect(target.world, ENTITY, over=0.5)
    pos_x = entity[24]
    assert pos_x.type == "f32"
    assert f"moves by {entity[36].name} (+0x24) per tick" in pos_x.evidence, pos_x.evidence
    assert f"ticks counted by {entity[56].name} (+0x38)" in pos_x.evidence
    assert "increasing" in entity[56].evidence or "counter" in entity[56].evidence
    assert "flags" in entity[60].evidence or entity[60].evidence.endswith("constant")
    assert "increasing" in entity[48].evidence or "counter" in entity[48].evidence


def test_size_defaults_to_the_heap_block(target):
    weapon = target.proc.dissect(target.weapons)
    assert 32 <= weapon.size <= 48  # malloc's usable size for a 32-byte struct
    assert weapon[0].type == "text" and weapon[0].value == "'Pistol'"


def test_spider_follows_pointers_marks_loops_and_lists(target):
    entity = target.proc.dissect(target.world, ENTITY, depth=3)
    weapon = entity[72].layout
    assert weapon is not None and weapon[0].value == "'Pistol'"
    second = weapon[24].layout
    assert second is not None and second[0].value == "'Rifle'"
    assert "linked list" in weapon[24].evidence
    enemy = entity[80].layout  # world[1], inside the same heap block
    assert enemy is not None and enemy[64].points_to == "'Grunt'"
    assert "a loop" in enemy[80].evidence and enemy[80].layout is entity
    assert entity[64].layout is None  # text is not followed


def test_an_array_of_structs_shows_its_stride(target):
    whole = target.proc.dissect(target.world, ENTITY * target.n)
    assert find_stride(whole) == (ENTITY, target.n)


def test_compare_ranks_the_team_field_first(target):
    player, enemies = target.entities[:1], target.entities[1:]
    ranked = target.proc.compare(player, enemies, ENTITY, over=0.3)
    top = ranked.filter(ranked["score"] == 1.0)
    assert 22 in top["offset"].to_list(), ranked.head(8)
    assert set(top["offset"].to_list()) <= {22, 80}  # team, and whom they target
    team = ranked.filter(ranked["offset"] == 22).row(0, named=True)
    assert (team["a"], team["b"]) in (("0", "1"), ("False", "True"))
    hp = ranked.filter(ranked["offset"] == 16).row(0, named=True)
    assert hp["score"] < 0.5


ENTITY_C = (TARGETS / "structs.c").read_text()


def test_c_declarations_lay_out_as_the_compiler_does(structs_binary):
    for name in ("entity", "stats", "weapon"):
        layout = Layout.from_c(ENTITY_C, name)
        truth = struct_fields(structs_binary, name)
        leaves = [(off, f.size) for _, off, f in layout.leaves()]
        assert leaves == [(t.offset, t.size) for t in truth], name
        share, missed = accuracy(truth, [_Leaf(off, f) for _, off, f in layout.leaves()])
        assert share == 1.0, missed
    assert Layout.from_c(ENTITY_C, "entity").size == ENTITY


class _Leaf:
    def __init__(self, offset: int, f) -> None:
        self.offset, self.size, self.type = offset, f.size, f.type


def test_layouts_round_trip_through_c_and_cheat_engine(target):
    for layout in (Layout.from_c(ENTITY_C, "stats"), target.proc.dissect(target.world, ENTITY)):
        again = Layout.from_c(layout.to_c(), layout.name)
        assert _shape(again) == _shape(layout)
        ce = Layout.from_cheat_engine(layout.to_cheat_engine())
        assert [(o, f.size, memscan.structures.family(f.type)) for _, o, f in ce.leaves()] == [
            (o, f.size, memscan.structures.family(f.type)) for _, o, f in layout.leaves()
        ]


def test_names_from_other_tools_become_identifiers():
    xml = (
        '<Structures><Structure Name="Spieler 1"><Elements>'
        '<Element Offset="0" Vartype="4 Bytes" Bytesize="4" Description="Größe (m)"/>'
        '<Element Offset="4" Vartype="Float" Bytesize="4" Description="2nd"/>'
        "</Elements></Structure></Structures>"
    )
    layout = Layout.from_cheat_engine(xml)
    assert layout.name == "Spieler_1" and [f.name for f in layout] == ["Gr__e__m_", "_2nd"]


def _shape(layout: Layout) -> list[tuple]:
    return [(n, o, f.size, f.type, f.count) for n, o, f in layout.leaves()]


def test_read_structs_equals_reading_each_instance(target):
    target.command("p")
    layout = Layout.from_c(ENTITY_C, "entity")
    frame = target.proc.read_structs(target.entities, layout)
    assert frame.height == target.n and frame["readable"].all()
    for i, address in enumerate(target.entities.tolist()):
        one = target.proc.read_struct(address, layout)
        row = frame.row(i, named=True)
        assert row["address"] == address
        assert {k: row[k] for k in one} == one
        raw = target.proc.read(address, ENTITY)
        assert one["hp"] == int.from_bytes(raw[16:20], "little", signed=True)
        assert one["pos.x"] == np.frombuffer(raw[24:28], np.float32)[0]
    assert frame["team"].to_list() == [0] + [1] * (target.n - 1)
    names = [target.proc.read(p, 8).split(b"\0")[0].decode() for p in frame["name"]]
    assert names == [
        "Player",
        "Grunt",
        "Grunt",
        "Sniper",
        "Brute",
        "Grunt",
        "Medic",
        "Scout",
        "Boss",
    ]
    assert frame["tag"].to_list() == ["P0"] + [f"E{i}" for i in range(1, target.n)]


def test_unreadable_instances_are_rows_marked_unreadable(target):
    layout = Layout.from_c(ENTITY_C, "weapon")
    frame = target.proc.read_structs([target.weapons, 16], layout)
    assert frame["readable"].to_list() == [True, False]
    assert frame["damage"].to_list() == [10, 0]


def test_bad_input_is_a_typed_error(target):
    proc = target.proc
    with pytest.raises(memscan.InvalidArgument):
        proc.dissect(target.world, 0)
    with pytest.raises(memscan.InvalidArgument):
        proc.dissect(target.world, 1 << 30)
    with pytest.raises(memscan.InvalidAddress):
        proc.dissect(16, 64)
    with pytest.raises(memscan.InvalidArgument):
        proc.dissect(target.world, 64, depth=99)
    for bad in (
        "struct { int x; };",
        "struct s { int x[0]; };",
        "struct s { mystery x; };",
        "struct s { struct s inner; };",
        "int x;",
    ):
        with pytest.raises(memscan.InvalidArgument):
            Layout.from_c(bad)
    for xml in (
        "<Structures><Structure",
        "<!DOCTYPE x [<!ENTITY a 'b'>]><Structures/>",
        "<Structures/>",
        '<Structure Name="s"><Elements><Element Offset="x" Vartype="Byte" '
        'Bytesize="1"/></Elements></Structure>',
    ):
        with pytest.raises(memscan.InvalidFile):
            Layout.from_cheat_engine(xml)
    layout = Layout.from_c("struct s { int a; float b; };")
    with pytest.raises(memscan.InvalidArgument):
        layout.rename("a", "b")
    with pytest.raises(memscan.InvalidArgument):
        layout.set_type("a", "nonsense")
    assert [f.name for f in layout] == ["a", "b"]
    with pytest.raises(memscan.InvalidArgument):
        proc.read_structs([target.world], Layout("big", 1 << 21))


def test_a_layout_is_a_table(target):
    layout = target.proc.dissect(target.stats, 64)
    frame = layout.to_polars()
    assert frame.columns[:4] == ["offset", "size", "type", "family"]
    import polars as pl

    assert pl.DataFrame(layout).equals(frame)  # the Arrow PyCapsule stream
    assert re.search(r"struct structure \{", layout.to_c())


def test_a_layout_finds_every_instance_with_a_group_scan(target):
    layout = Layout.from_c(ENTITY_C, "entity")
    ops = target.proc.read_struct(target.world, layout)["ops"]
    found = target.proc.group_scan(layout.group(ops=ops, alive=1))
    assert sorted(found.addresses.tolist()) == target.entities.tolist()
    enemies = target.proc.group_scan(layout.group(ops=ops, team=1))
    assert sorted(enemies.addresses.tolist()) == target.entities[1:].tolist()
    with pytest.raises(memscan.InvalidArgument):
        layout.group(tag="P0")
    with pytest.raises(memscan.InvalidArgument):
        layout.group(nothing=1)


def test_record_struct_is_a_history_of_every_field(target):
    layout = Layout.from_c(ENTITY_C, "entity")
    frame = target.proc.record_struct(target.world, layout, over=0.3)
    assert frame.columns[:2] == ["time", "ops"] and frame.height > 10
    assert frame["time"].is_sorted() and frame["time"][0] == 0
    ticks = frame["ticks"].to_numpy().astype(np.int64)
    assert (np.diff(ticks) >= 0).all() and ticks[-1] > ticks[0]
    assert frame["id"].n_unique() == 1 and frame["tag"][0] == "P0"


def test_address_list_entries_per_field(target, tmp_path):
    layout = Layout.from_c(ENTITY_C, "entity")
    entries = memscan.AddressList().add_layout(target.world, layout, prefix="player.")
    by_name = {e.description: e for e in entries}
    assert "player.tag" not in by_name  # char arrays have no single value type
    assert by_name["player.hp"].expression == f"{target.world:X}+10"
    assert by_name["player.pos.y"].type == "f32" and by_name["player.ops"].type == "u64"
    assert target.proc.address(by_name["player.score"].expression) == target.world + 96


def test_struct_view_edits_expands_and_copies_as_c(target):
    from memscan.widgets import StructView

    w = StructView(target.proc, target.world, size=ENTITY)
    assert w.rows[0]["path"] == "f_0" and w.rows[0]["value"].startswith("0x")
    w._handle_custom_msg({"action": "rename", "path": "f_48", "name": "weapon"}, [])
    assert w.struct[72].name == "weapon" and w.status_kind == "ok"
    w._handle_custom_msg({"action": "toggle", "path": "weapon"}, [])
    opened = [r for r in w.rows if r["path"].startswith("weapon.")]
    assert opened and opened[0]["value"] == "Pistol" and opened[0]["depth"] == 1
    w.set_type("weapon.f_10", "u32")
    assert next(r for r in w.rows if r["path"] == "weapon.f_10")["type"] == "u32"
    w.add_to_list("weapon.f_10")
    entry = w.address_list.entries[-1]
    assert target.proc.read_value(target.proc.address(entry.expression), "u32") == 10
    w._handle_custom_msg({"action": "toggle", "path": "f_10"}, [])  # an int: no pointer
    assert w.status_kind == "error" and "not a pointer" in w.status
    w._handle_custom_msg({"action": "set_type", "path": "f_10", "type": "nonsense"}, [])
    assert w.status_kind == "error" and w.struct[16].type == "i32"
    w._handle_custom_msg({"action": "to_c"}, [])
    assert "struct structure {" in w.c_text and "weapon; /* 0x48 */" in w.c_text
    w._handle_custom_msg({"action": "toggle", "path": "weapon"}, [])
    assert not any(r["path"].startswith("weapon.") for r in w.rows)
    assert "<table>" in w.to_html()


def test_layouts_round_trip_through_reclass(target, tmp_path):
    entity = Layout.from_c(ENTITY_C, "entity")
    path = tmp_path / "entity.rcnet"
    entity.to_reclass(path)
    again = Layout.from_reclass(path)
    assert _shape(again) == _shape(entity) and again.size == ENTITY
    assert again["weapon"].layout is not None and again["weapon"].layout.name == "weapon"
    dissected = target.proc.dissect(target.world, ENTITY, depth=1)
    back = Layout.from_reclass(dissected.to_reclass())
    assert [(o, f.size, f.type) for _, o, f in back.leaves()] == [
        (o, f.size, f.type) for _, o, f in dissected.leaves()
    ]
    assert back[72].layout is not None  # the pointer's dissected target came along


def test_hostile_reclass_files_are_invalid(tmp_path):
    import io
    import zipfile

    def project(xml: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("Data.xml", xml)
        return out.getvalue()

    (tmp_path / "dir.rcnet").mkdir()
    bad = [
        b"not a zip",
        project("<reclass><classes/></reclass>"),
        project(
            '<reclass><classes><class uuid="a" name="x"><node type="Weird"/></class>'
            "</classes></reclass>"
        ),
        project(
            '<reclass><classes><class uuid="a" name="x">'
            '<node type="ClassInstanceNode" reference="a"/></class></classes></reclass>'
        ),
        project(
            '<reclass><classes><class uuid="a" name="x">'
            '<node type="Utf8TextNode" length="-3"/></class></classes></reclass>'
        ),
        project("<!DOCTYPE r [<!ENTITY a 'b'>]><reclass/>"),
    ]
    for data in bad:
        with pytest.raises(memscan.InvalidFile):
            Layout.from_reclass(data)
    with pytest.raises(memscan.InvalidFile):
        Layout.from_reclass(tmp_path / "dir.rcnet")
    with pytest.raises(memscan.InvalidFile):
        Layout.from_reclass(tmp_path / "missing.rcnet")


def test_a_target_that_exits_while_sampled_leaves_the_samples_taken(target):
    import threading

    threading.Timer(0.3, target.p.kill).start()
    layout = target.proc.dissect(target.stats, 64, over=2.0)
    samples = int(next(n for n in layout.notes if n.endswith("samples")).split()[0])
    assert 10 < samples < 400  # 200 a second, cut short by the exit
    assert layout[56].type == "ptr"
    with pytest.raises(memscan.ProcessExited):
        target.proc.dissect(target.stats, 64, over=0.2)
