"""Fixtures: the demo target process, opened, plus helpers for other real processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

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
