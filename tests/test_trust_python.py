"""Defects of the Python layer found by an outside review (issue 19): image scans that leave
partial or duplicated datasets, text an address list cannot save, a shell that counts repeated
indices, an analysis that loops over its window, widgets whose threads outlive them, and files
holding another process's memory that other users could read."""

from __future__ import annotations

from collections.abc import Iterator

SCORE = 1234567


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
