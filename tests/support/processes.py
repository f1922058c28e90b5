"""Helpers for tests that need processes of their own: C targets built with gcc, and actions
run as an unprivileged user."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

#: tests/targets: the C sources of the native targets.
TARGETS = Path(__file__).parent.parent / "targets"


def build_c_target(
    tmp_path_factory, source: str, name: str, *flags: str, libs: tuple[str, ...] = ()
) -> Path:
    """Builds tests/targets/<source> with gcc into a temporary directory (``libs`` are linked
    after the source, as ``-lm``)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the C targets")
    out = tmp_path_factory.mktemp(name) / name
    path = TARGETS / source
    subprocess.run(["gcc", "-g", *flags, "-o", str(out), str(path), *libs], check=True)
    return out


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
