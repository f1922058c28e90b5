"""Address lists (cheat tables): entries resolved in real processes, across restarts, frozen,
saved as JSON, imported from and exported to Cheat Engine tables. Against the C target of
tests/targets/chain.c (offsets from nm) and the demo game."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest

import memscan
from memscan import AddressList


class Target(NamedTuple):
    popen: subprocess.Popen[str]
    pid: int
    score: int  # address of the .bss global `score` (1234567)
    health: int  # address of root->b->health (777777), on the heap


def start(binary: Path) -> Target:
    p = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    _, score, health = p.stdout.readline().split()
    return Target(p, p.pid, int(score, 16), int(health, 16))


def stop(t: Target) -> None:
    t.popen.kill()
    t.popen.wait()


@pytest.fixture
def chain(chain_binary) -> Iterator[Target]:
    t = start(chain_binary)
    yield t
    stop(t)


def nm(binary: Path, symbol: str) -> int:
    out = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    return next(
        int(line.split()[0], 16) for line in out.splitlines() if line.endswith(f" {symbol}")
    )


def score_expr(binary: Path) -> str:
    return f"chaingame+{nm(binary, 'score'):x}"


def health_expr(binary: Path) -> str:
    return f"[[chaingame+{nm(binary, 'root'):x}]+10]+18"  # a.b at 0x10, b.health at 0x18


def eventually(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Polls ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def row(al: AddressList, description: str) -> dict:
    return al.to_polars().filter(description=description).row(0, named=True)


def test_entries_resolve_in_the_target_and_a_bad_entry_only_marks_itself(chain, chain_binary):
    al = AddressList()
    al.add("score", score_expr(chain_binary), "i32")
    al.add("health", health_expr(chain_binary), "int32")  # aliases become the short name
    al.add("no such module", "nosuchmodule+10", "u32")
    al.add("null pointer", "[0]+8", "i32")
    al.add("unmapped", "10", "i64")  # hex, as in Cheat Engine: 0x10
    assert al.attach(chain.pid) is al
    df = al.to_polars()
    assert df.columns == [
        "description",
        "expression",
        "type",
        "address",
        "value",
        "frozen",
        "error",
    ]
    assert (df.schema["address"], df.schema["value"]) == (pl.UInt64, pl.String)

    score = row(al, "score")
    assert (score["address"], score["value"], score["error"]) == (chain.score, "1234567", None)
    health = row(al, "health")
    assert (health["address"], health["value"], health["type"]) == (chain.health, "777777", "i32")
    assert health["expression"] == health_expr(chain_binary)  # kept as typed
    missing = row(al, "no such module")
    assert missing["address"] is None and missing["value"] is None
    assert "unknown module" in missing["error"]
    null = row(al, "null pointer")
    assert null["address"] is None and "pointer level 1" in null["error"]
    unmapped = row(al, "unmapped")
    assert unmapped["address"] == 0x10 and unmapped["value"] is None
    assert unmapped["error"].startswith("cannot read")

    assert al.value("health") == 777777 and al.value(0) == 1234567
    assert al["score"].type == "i32" and len(al) == 5
    with pytest.raises(memscan.InvalidArgument, match="address expression"):
        al.add("bad", "[chaingame+10", "i32")
    with pytest.raises(memscan.InvalidArgument, match="unknown value type"):
        al.add("bad", "chaingame", "int33")
    assert len(al) == 5


def test_a_saved_list_holds_after_a_restart_freeze_included(chain_binary, tmp_path):
    first = start(chain_binary)
    try:
        al = AddressList()
        al.add("score", score_expr(chain_binary), "i32")
        al.add("health", health_expr(chain_binary), "i32", freeze=4242)
        al.attach(first.pid)
        proc = memscan.Process(first.pid)
        assert eventually(lambda: proc.read_value(first.health, "i32") == 4242)
        path = al.save(tmp_path / "chain.json")
        al.detach()
    finally:
        stop(first)

    text = path.read_text()
    doc = json.loads(text)
    assert (doc["format"], doc["version"]) == ("memscan.address_list", 1)
    assert doc["entries"][1] == {
        "description": "health",
        "expression": health_expr(chain_binary),
        "type": "i32",
        "frozen": 4242,
    }
    assert sum('"description"' in line for line in text.splitlines()) == 2  # a line per entry
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary was renamed into place

    second = start(chain_binary)
    try:
        loaded = AddressList.load(path)
        assert loaded == al
        loaded.attach(second.pid)
        assert row(loaded, "score")["address"] == second.score
        assert row(loaded, "score")["value"] == "1234567"
        assert row(loaded, "health")["address"] == second.health != first.health
        # The freeze came with the file: the program's 777777 is overwritten in the new process.
        assert eventually(lambda: loaded.value("health") == 4242)
        assert row(loaded, "health")["frozen"] == "4242"
        loaded.detach()
    finally:
        stop(second)


def test_a_freeze_restores_what_is_written_and_set_moves_it(chain, chain_binary):
    proc = memscan.Process(chain.pid)

    def read() -> int:
        return proc.read_value(chain.score, "i32")  # type: ignore[return-value]

    al = AddressList()
    al.add("score", score_expr(chain_binary), "i32")
    al.attach(proc)
    al.freeze("score", 31337)
    assert eventually(lambda: read() == 31337)
    proc.write_value(chain.score, "i32", 5)  # the program (or anyone) writes
    assert eventually(lambda: read() == 31337)
    assert row(al, "score")["frozen"] == "31337"

    al.write("score", -12)  # a frozen entry is held at what is set
    proc.write_value(chain.score, "i32", 5)
    assert eventually(lambda: read() == -12)
    assert row(al, "score")["frozen"] == "-12"

    # Two entries on the same address: removing the one that holds it gives it back to the other.
    al.add("score again", "chaingame+" + f"{nm(chain_binary, 'score'):x}", "i32", freeze=777)
    assert eventually(lambda: read() == 777)
    al.remove("score again")
    assert eventually(lambda: read() == -12)

    al.release("score")
    assert row(al, "score")["frozen"] is None
    proc.write_value(chain.score, "i32", 99)
    time.sleep(0.1)
    assert read() == 99

    al.freeze("score")  # at its value now
    proc.write_value(chain.score, "i32", 1)
    assert eventually(lambda: read() == 99)
    al.detach()  # stops every freeze
    proc.write_value(chain.score, "i32", 2)
    time.sleep(0.1)
    assert read() == 2
    with pytest.raises(memscan.InvalidArgument, match="not attached"):
        al.write("score", 3)


def test_refresh_follows_a_pointer_path_that_now_leads_elsewhere(chain, chain_binary):
    proc = memscan.Process(chain.pid)
    al = AddressList()
    al.add("health", health_expr(chain_binary), "i32", freeze=4242)
    al.attach(proc)
    assert eventually(lambda: proc.read_value(chain.health, "i32") == 4242)
    # Point root->b elsewhere: b.health (b + 0x18) is now the .bss global `score`.
    root = proc.read_value(proc.address(f"chaingame+{nm(chain_binary, 'root'):x}"), "u64")
    proc.write_value(root + 0x10, "u64", chain.score - 0x18)
    assert row(al, "health")["address"] == chain.health  # resolved at attach, until refresh
    al.refresh()
    assert row(al, "health")["address"] == chain.score
    assert eventually(lambda: proc.read_value(chain.score, "i32") == 4242)  # the freeze moved
    proc.write_value(chain.health, "i32", 1)
    time.sleep(0.1)
    assert proc.read_value(chain.health, "i32") == 1  # and left the old address


def test_scan_results_become_module_offsets_or_absolute_addresses(chain, chain_binary):
    proc = memscan.Process(chain.pid)
    s = proc.scan("i32", 1234567)
    assert chain.score in s.addresses.tolist()
    al = AddressList()
    added = al.add_from_scanner(s, s.addresses == chain.score, description="{module} score {i}")
    table = s.to_polars().filter(address=chain.score).row(0, named=True)
    assert added[0].expression == f"{table['module']}+{table['module_offset']:x}"
    assert added[0].expression == score_expr(chain_binary)  # nm's offset
    assert (added[0].description, added[0].type) == ("chaingame score 0", "i32")

    h = proc.scan("i32", 777777)
    (heap,) = al.add_from_scanner(h, np.array([chain.health], dtype=np.uint64))
    assert heap.expression == hex(chain.health)  # heap memory has no module: absolute
    assert heap.description == heap.expression
    al.attach(proc)
    assert al.to_polars()["value"].to_list() == ["1234567", "777777"]
    with pytest.raises(memscan.InvalidArgument, match="description"):
        al.add_from_scanner(s, description="{nope}")


def test_every_type_is_exact_in_the_table_and_through_json(game, proc, tmp_path):
    fields = ["i8_value", "u8_value", "i16_value", "u16_value", "i32_value", "u32_value"]
    fields += ["i64_value", "u64_value", "f32_value", "f64_value", "i64_min", "u64_max"]
    al = AddressList()
    for name in fields:
        al.add(name, hex(game.address(name)), game.field(name).type)
    al.attach(proc)
    values = dict(al.to_polars().select("description", "value").iter_rows())
    assert values["u64_max"] == "18446744073709551615"
    assert values["i64_min"] == "-9223372036854775808"
    assert values["u64_value"] == "12345678901234567890"
    assert values["f32_value"] == "3.14159"  # the shortest text of that f32
    assert float(np.float32(values["f32_value"])) == game.value("f32_value")
    assert values["f64_value"] == repr(game.value("f64_value"))
    assert al.value("u64_max") == 2**64 - 1 and al.value("i64_min") == -(2**63)

    al.freeze("u64_value", 2**64 - 2)
    al.freeze("i64_value", -(2**63) + 1)
    al.freeze("f32_value", np.float32(0.1))
    al.freeze("f64_value", -0.0)
    assert eventually(lambda: game.value("u64_value") == 2**64 - 2)
    assert eventually(lambda: game.value("i64_value") == -(2**63) + 1)
    assert eventually(lambda: game.value("f32_value") == float(np.float32(0.1)))
    assert eventually(lambda: math.copysign(1, game.value("f64_value")) == -1)
    with pytest.raises(memscan.InvalidValue, match="nearest f32"):
        al.freeze("f32_value", 0.1)  # no f32 is 0.1: refused, never rounded
    with pytest.raises(memscan.InvalidValue, match="does not fit"):
        al.freeze("u8_value", 256)
    al.add("nan", hex(game.address("position_x")), "f64", freeze=math.nan)
    assert eventually(lambda: math.isnan(game.value("position_x")))
    assert row(al, "nan")["value"] == row(al, "nan")["frozen"] == "nan"

    path = al.save(tmp_path / "all.json")
    text = path.read_text()
    assert '"frozen": 18446744073709551614}' in text
    assert '"frozen": 0.1}' in text  # readable: the f32 0.1 as its shortest text
    assert '"frozen": "nan"}' in text and '"frozen": -0.0}' in text
    loaded = AddressList.load(path)
    assert loaded == al
    by_name = {e.description: e for e in loaded}
    assert by_name["u64_value"].frozen == 2**64 - 2
    assert by_name["i64_value"].frozen == -(2**63) + 1
    assert by_name["f32_value"].frozen == float(np.float32(0.1))
    assert math.copysign(1, by_name["f64_value"].frozen) == -1
    assert math.isnan(by_name["nan"].frozen)
    assert loaded.attach(proc).to_polars().filter(description="u64_value")["value"][0] == (
        "18446744073709551614"
    )
    al.detach()
    loaded.detach()


@pytest.fixture
def saved(chain, chain_binary, tmp_path) -> Path:
    """A list saved from the running C target."""
    al = AddressList()
    al.add("score", score_expr(chain_binary), "u8", freeze=7)
    al.attach(chain.pid)
    path = al.save(tmp_path / "list.json")
    al.detach()
    return path


def _replace(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (lambda t: t[: len(t) // 2], "not valid JSON"),
        (lambda t: "", "not valid JSON"),
        (lambda t: "[1, 2]", "not an address list"),
        (_replace('"memscan.address_list"', '"something.else"'), "not an address list"),
        (_replace('"version": 1', '"version": 2'), "schema version 2 .*newer"),
        (_replace('"version": 1', '"version": "1"'), "version '1' is not an integer"),
        (_replace('"version": 1', '"version": true'), "version True is not an integer"),
        (_replace(', "type": "u8"', ""), "entry 0: missing type"),
        (_replace('"u8"', '"int33"'), "entry 0: unknown value type 'int33'"),
        (_replace("chaingame+", "[chaingame+"), "entry 0: .*address expression"),
        (_replace('"frozen": 7', '"frozen": 256'), "entry 0: .*does not fit in u8"),
        (_replace('"frozen": 7', '"frozen": 1.5'), "entry 0: .*not an integer"),
        (_replace('"frozen": 7', '"frozen": NaN'), "NaN is not JSON"),
        (_replace('"frozen": 7', '"frozen": 7, "frozen": 8'), "appears twice"),
        (_replace('"frozen": 7', '"frozen": 7, "colour": 1'), "entry 0: unknown field"),
        (_replace('"entries": [', '"entries": [1, '), "entry 0: not a JSON object"),
        (lambda t: t.replace("score", "sc\udcffore"), "not UTF-8"),
        (lambda t: "[" * 100_000, "not valid JSON|nested too deeply"),
    ],
)
def test_a_corrupted_list_file_raises_invalid_file(saved, corrupt, problem):
    assert AddressList.load(saved)[0].frozen == 7  # the file as saved loads
    text = corrupt(saved.read_text())
    saved.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(memscan.InvalidFile, match=problem) as e:
        AddressList.load(saved)
    assert str(saved) in str(e.value)


def test_missing_huge_and_odd_files_raise_invalid_file(saved, tmp_path):
    with pytest.raises(memscan.InvalidFile, match="No such file"):
        AddressList.load(tmp_path / "missing.json")
    with pytest.raises(memscan.InvalidFile, match="not a regular file"):
        AddressList.load(tmp_path)
    with saved.open("r+b") as f:
        f.truncate(65 << 20)  # sparse: nothing is written
    for load in (AddressList.load, AddressList.from_cheat_table):
        with pytest.raises(memscan.InvalidFile, match="more than"):
            load(saved)


def hand_written_table(binary: Path, module: str = "chaingame") -> str:
    """A table as Cheat Engine writes it: quoted descriptions, a group with a subgroup, a
    pointer (offsets outermost first) with a child relative to it, and entries memscan
    skips (a string, a script, bit fields)."""
    score, root = nm(binary, "score"), nm(binary, "root")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<CheatTable CheatEngineTableVersion="45">
  <CheatEntries>
    <CheatEntry>
      <ID>0</ID>
      <Description>"Player"</Description>
      <Options moHideChildren="1"/>
      <GroupHeader>1</GroupHeader>
      <CheatEntries>
        <CheatEntry>
          <ID>1</ID>
          <Description>"Stats"</Description>
          <GroupHeader>1</GroupHeader>
          <CheatEntries>
            <CheatEntry>
              <ID>2</ID>
              <Description>"Score"</Description>
              <ShowAsSigned>1</ShowAsSigned>
              <VariableType>4 Bytes</VariableType>
              <Address>{module}+{score:X}</Address>
            </CheatEntry>
            <CheatEntry>
              <ID>3</ID>
              <Description>"Score low byte"</Description>
              <VariableType>Byte</VariableType>
              <Address>"{module}"+{score:X}</Address>
            </CheatEntry>
          </CheatEntries>
        </CheatEntry>
        <CheatEntry>
          <ID>4</ID>
          <Description>"Health"</Description>
          <LastState Value="777777" RealAddress="00000000"/>
          <ShowAsSigned>1</ShowAsSigned>
          <VariableType>4 Bytes</VariableType>
          <Address>{module}+{root:X}</Address>
          <Offsets>
            <Offset>18</Offset>
            <Offset>10</Offset>
          </Offsets>
          <CheatEntries>
            <CheatEntry>
              <ID>5</ID>
              <Description>"High half"</Description>
              <VariableType>2 Bytes</VariableType>
              <Address>+2</Address>
            </CheatEntry>
          </CheatEntries>
        </CheatEntry>
        <CheatEntry>
          <ID>6</ID>
          <Description>"Name"</Description>
          <VariableType>String</VariableType>
          <Length>16</Length>
          <Unicode>0</Unicode>
          <CodePage>0</CodePage>
          <ZeroTerminate>1</ZeroTerminate>
          <Address>{module}+{score:X}</Address>
        </CheatEntry>
      </CheatEntries>
    </CheatEntry>
    <CheatEntry>
      <ID>7</ID>
      <Description>"Infinite health"</Description>
      <VariableType>Auto Assembler Script</VariableType>
      <AssemblerScript>[ENABLE]
{module}+{score:X}:
  db 90 90
[DISABLE]
</AssemblerScript>
    </CheatEntry>
    <CheatEntry>
      <ID>8</ID>
      <Description>"Flags"</Description>
      <VariableType>Binary</VariableType>
      <BitStart>0</BitStart>
      <BitLength>3</BitLength>
      <ShowAsBinary>0</ShowAsBinary>
      <Address>{module}+{score:X}</Address>
    </CheatEntry>
    <CheatEntry>
      <ID>9</ID>
      <Description>"Score bits as a float"</Description>
      <VariableType>Float</VariableType>
      <Address>{module}+{score:x}</Address>
    </CheatEntry>
  </CheatEntries>
  <UserdefinedSymbols/>
</CheatTable>
"""


def test_a_hand_written_cheat_engine_table_imports(chain, chain_binary, tmp_path):
    path = tmp_path / "game.CT"
    path.write_text(hand_written_table(chain_binary))
    al = AddressList.from_cheat_table(path)
    score, root = nm(chain_binary, "score"), nm(chain_binary, "root")
    assert [(e.description, e.expression, e.type) for e in al] == [
        ("Player/Stats/Score", f"chaingame+{score:X}", "i32"),
        ("Player/Stats/Score low byte", f'"chaingame"+{score:X}', "u8"),
        ("Player/Health", f"[[chaingame+{root:X}]+10]+18", "i32"),
        ("Player/Health/High half", f"[[chaingame+{root:X}]+10]+18+2", "u16"),
        ("Score bits as a float", f"chaingame+{score:x}", "f32"),
    ]
    assert [(s.description, s.reason) for s in al.skipped] == [
        ("Player/Name", "type 'String' is not a number type memscan reads"),
        ("Infinite health", "type 'Auto Assembler Script' is not a number type memscan reads"),
        ("Flags", "type 'Binary' is not a number type memscan reads"),
    ]
    values = dict(al.attach(chain.pid).to_polars().select("description", "value").iter_rows())
    assert values["Player/Stats/Score"] == "1234567"
    assert values["Player/Stats/Score low byte"] == "135"  # 0x87: unsigned, as CE shows it
    assert values["Player/Health"] == "777777"
    assert values["Player/Health/High half"] == str(777777 >> 16)
    assert values["Score bits as a float"] == str(np.int32(1234567).view(np.float32))
    assert row(al, "Player/Health")["address"] == chain.health


def test_a_cheat_table_round_trips(chain, chain_binary, tmp_path):
    source = tmp_path / "game.CT"
    source.write_text(hand_written_table(chain_binary))
    a = AddressList.from_cheat_table(source)
    a.to_cheat_table(tmp_path / "out.CT")
    b = AddressList.from_cheat_table(tmp_path / "out.CT")
    assert a == b and b.skipped == []
    assert b.attach(chain.pid).to_polars()["address"].to_list() == (
        a.attach(chain.pid).to_polars()["address"].to_list()
    )
    a.detach()
    b.detach()
    # What Cheat Engine reads: quoted descriptions, ShowAsSigned, offsets outermost first.
    health = ET.parse(tmp_path / "out.CT").getroot().findall("CheatEntries/CheatEntry")[2]
    assert health.findtext("Description") == '"Player/Health"'
    assert health.findtext("ShowAsSigned") == "1"
    assert health.findtext("VariableType") == "4 Bytes"
    assert health.findtext("Address") == f"chaingame+{nm(chain_binary, 'root'):X}"
    assert [o.text for o in health.findall("Offsets/Offset")] == ["18", "10"]

    # Typed expressions (0x numbers, i64/u64/f64) come back to the same addresses and types.
    c = AddressList()
    c.add("score", f"chaingame + 0x{nm(chain_binary, 'score'):x}", "i64")
    c.add("health", f"[[chaingame+0x{nm(chain_binary, 'root'):x}] + 0x10]+0x18", "u64")
    c.add("absolute", hex(chain.score), "f64")
    c.to_cheat_table(tmp_path / "typed.CT")
    d = AddressList.from_cheat_table(tmp_path / "typed.CT")
    assert [e.type for e in d] == ["i64", "u64", "f64"]
    assert d.attach(chain.pid).to_polars()["address"].to_list() == [
        chain.score,
        chain.health,
        chain.score,
    ]


def test_a_module_name_with_dashes_needs_no_quotes(chain_binary, tmp_path):
    # Cheat Engine tables name modules like Tutorial-x86_64.exe without quotes.
    binary = tmp_path / "chain-game.x86_64"
    shutil.copy(chain_binary, binary)
    t = start(binary)
    try:
        path = tmp_path / "dashes.CT"
        path.write_text(hand_written_table(binary, module="chain-game.x86_64"))
        al = AddressList.from_cheat_table(path)
        assert al[0].expression == f'"chain-game.x86_64"+{nm(binary, "score"):X}'
        al.attach(t.pid)
        assert row(al, "Player/Stats/Score")["address"] == t.score
        assert row(al, "Player/Health")["value"] == "777777"
        al.detach()
    finally:
        stop(t)


@pytest.fixture
def exported(chain, chain_binary, tmp_path) -> Path:
    """A .CT exported from a list attached to the running C target."""
    al = AddressList()
    al.add("score", score_expr(chain_binary), "i32")
    al.attach(chain.pid)
    return al.to_cheat_table(tmp_path / "exported.CT")


LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE CheatTable [\n <!ENTITY a "aaaaaaaaaa">\n'
    + "".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
    + "]>\n<CheatTable><CheatEntries><CheatEntry><Description>&j;</Description>"
    "</CheatEntry></CheatEntries></CheatTable>\n"
)


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (lambda t: t[: len(t) // 2], "not well-formed XML"),
        (lambda t: "CheatTable, but not XML", "not well-formed XML"),
        (lambda t: LAUGHS, "DTD"),
        (
            lambda t: t.replace(
                "<CheatTable",
                '<!DOCTYPE CheatTable [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<CheatTable',
            ).replace('"score"', "&x;"),
            "DTD",
        ),
        (lambda t: t.replace("CheatTable", "CheatSheet"), "not a Cheat Engine table"),
        (
            lambda t: t.replace("<CheatEntries>", "<a>" * 300 + "</a>" * 300 + "<CheatEntries>"),
            "deep",
        ),
        (lambda t: t.replace('"score"', "&undefined;"), "undefined entity"),
    ],
)
def test_a_bad_cheat_table_raises_invalid_file(exported, chain, corrupt, problem):
    assert AddressList.from_cheat_table(exported).attach(chain.pid).value(0) == 1234567
    exported.write_text(corrupt(exported.read_text()))
    began = time.monotonic()
    with pytest.raises(memscan.InvalidFile, match=problem) as e:
        AddressList.from_cheat_table(exported)
    assert time.monotonic() - began < 1.0  # refused, not expanded
    assert str(exported) in str(e.value)


def test_lookups_writes_and_display(chain, chain_binary):
    al = AddressList()
    al.add("<script>alert('x')</script> & co", score_expr(chain_binary), "i32")
    al.add("twin", score_expr(chain_binary), "i32")
    al.add("twin", health_expr(chain_binary), "i32")
    al.attach(chain.pid)
    with pytest.raises(memscan.InvalidArgument, match="2 entries are described 'twin'"):
        al.write("twin", 1)
    with pytest.raises(memscan.InvalidArgument, match="no entry"):
        al.value("nobody")
    with pytest.raises(memscan.InvalidArgument, match="out of range"):
        al.value(3)
    with pytest.raises(memscan.InvalidValue, match="does not fit"):
        al.write(2, 2**31)
    assert al.value(2) == 777777  # nothing written
    al.write(-1, 123)
    assert memscan.Process(chain.pid).read_value(chain.health, "i32") == 123

    page = al._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert f"<td>{chain.health:#x}</td><td>123</td>" in page
    text = repr(al)
    assert f"pid {chain.pid}" in text and "= 1234567" in text

    stop(chain)
    assert al.process is not None and eventually(lambda: not al.process.is_alive())
    df = al.to_polars()
    assert df["value"].null_count() == 3
    assert all("exited" in e for e in df["error"].to_list())
    assert "exited" in repr(al) and "exited" in al._repr_html_()
    with pytest.raises(memscan.ProcessExited):
        al.attach(al.process)  # type: ignore[arg-type]
