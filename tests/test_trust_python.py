"""Defects of the Python layer found by an outside review (issue 19): image scans that leave
partial or duplicated datasets, text an address list cannot save, a shell that counts repeated
indices, an analysis that loops over its window, widgets whose threads outlive them, and files
holding another process's memory that other users could read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import memscan

SCORE = 1234567


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
