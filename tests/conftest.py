"""Fixtures: the demo target process, opened, plus helpers for other real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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


def build_c_target(tmp_path_factory, source: str, name: str, *flags: str) -> Path:
    """Builds tests/targets/<source> with gcc into a temporary directory."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the C targets")
    out = tmp_path_factory.mktemp(name) / name
    path = Path(__file__).parent / "targets" / source
    subprocess.run(["gcc", "-g", *flags, "-o", str(out), str(path)], check=True)
    return out


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


def as_nobody(action: Callable[[], str]) -> str:
    """Runs `action` in a forked child that dropped to user nobody; returns what it returned,
    or "ExceptionName|message" for what it raised."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            msg = action()
        except BaseException as e:
            msg = f"{type(e).__name__}|{e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 65536).decode()
    os.waitpid(child, 0)
    return out


@pytest.fixture(scope="session")
def writer_binary(tmp_path_factory) -> Path:
    """tests/targets/writer.c built here: globals written by known functions and threads."""
    return build_c_target(tmp_path_factory, "writer.c", "writer", "-O1", "-pthread")
