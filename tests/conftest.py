"""Fixtures: the demo target process, opened, plus other real processes; and the ``ptrace``
marker, set on every test that reads or writes another process (``-m 'not ptrace'`` runs the
tests that need no rights over other processes: parsers, options, formats, the project)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import build_c_target

import memscan
from memscan.demo import DemoTarget


@pytest.fixture
def game() -> Iterator[DemoTarget]:
    """A fresh demo game (no automatic ticking), stopped after the test."""
    with memscan.demo.start() as g:
        yield g


@pytest.fixture
def proc(game: DemoTarget) -> memscan.Process:
    return memscan.Process(game.pid)


@pytest.fixture
def big_target() -> Iterator[subprocess.Popen[str]]:
    """A process holding 512 MiB of non-zero memory, for scans long enough to interrupt."""
    code = (
        "import sys\n"
        "blob = bytearray(b'\\x01\\x02\\x03\\x04' * (128 << 20))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    yield p
    p.kill()
    p.wait()


@pytest.fixture(scope="session")
def chain_binary(tmp_path_factory) -> Path:
    """tests/targets/chain.c built here: a .bss global and a pointer chain to a heap value."""
    return build_c_target(tmp_path_factory, "chain.c", "chaingame", "-O0")


@pytest.fixture
def chain(chain_binary) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """The C chain target running (blocked in read(), so its memory holds still): the process,
    the address of its .bss `score` and of the heap `health` at the end of its pointer chain."""
    p = subprocess.Popen(
        [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    _, score, health = p.stdout.readline().split()
    yield p, int(score, 16), int(health, 16)
    p.kill()
    p.wait()


@pytest.fixture(scope="session")
def writer_binary(tmp_path_factory) -> Path:
    """tests/targets/writer.c built here: globals written by known functions and threads."""
    return build_c_target(tmp_path_factory, "writer.c", "writer", "-O1", "-pthread")


#: What in a test or in one of its fixtures means it works on another process.
_SPAWNS = re.compile(
    r"demo\.start|memscan\.Process\(|Process\(|open_process|Popen|ScriptTarget|RandomTarget"
    r"|nbclient|jupyterlab|scan_images|as_nobody|\.attach\(|\bstart\("
)


def _works_on_a_process(item: pytest.Item) -> bool:
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        funcs += [d.func for defs in info.name2fixturedefs.values() for d in defs]
    for f in funcs:
        try:
            if f is not None and _SPAWNS.search(inspect.getsource(f)):
                return True
        except (OSError, TypeError):
            continue
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _works_on_a_process(item):
            item.add_marker(pytest.mark.ptrace)
