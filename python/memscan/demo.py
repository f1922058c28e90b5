"""The built-in demo target: a small "game" process with known values at known addresses.

>>> with memscan.demo.start() as game:
...     game.address("health"), game.value("health")
...     game.damage(10)

``start(native=True)`` runs the native game instead: its state lives in the extension module's
own statics (``score``, and the pointer to the world) and heap objects (the world, the player:
``health``, ``max_health``, ``gold``, ``level``), and only the extension's code writes it, so
pointer scans find chains from ``game.module`` and watches report writers inside it.

The child dies when its stdin closes, which the end of its parent closes too, and on Linux
with its parent (``PR_SET_PDEATHSIG``), so it never outlives the Python process that started
it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

__all__ = ["DemoTarget", "Field", "start"]


@dataclass(frozen=True)
class Field:
    """One field of the demo game: its type name, address, size and current value."""

    name: str
    type: str
    address: int
    size: int
    value: Any


class DemoTarget:
    """A running demo game. Methods change its values on command and return the new state."""

    def __init__(self, tick_hz: float = 0.0, *, native: bool = False) -> None:
        mode = ["native"] if native else []
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "memscan._demo_target", str(tick_hz), *mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._state = self._read_reply()
        self.pid: int = self._state["pid"]
        self.base: int = self._state["base"]
        #: The file name of the module holding the native game's statics (the extension
        #: module, as ``proc.modules()`` names it), None for the Python game.
        self.module: str | None = None
        if native:
            from . import _native

            self.module = Path(_native.__file__ or "").name

    def _read_reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("memscan demo target exited unexpectedly")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"demo target: {reply['error']}")
        return reply

    def command(self, op: str, **args: Any) -> dict[str, Any]:
        """Sends one command (damage, heal, gold, spend, tick, pause, resume, set, get)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        self._state = self._read_reply()
        return self._state

    @property
    def fields(self) -> dict[str, Field]:
        """Every field as of the last command."""
        return {n: Field(name=n, **f) for n, f in self._state["fields"].items()}

    def field(self, name: str) -> Field:
        return self.fields[name]

    def address(self, name: str) -> int:
        return int(self._state["fields"][name]["address"])

    def value(self, name: str) -> Any:
        """The field's value as the target reports it now."""
        return self.command("get")["fields"][name]["value"]

    def damage(self, n: int = 1) -> int:
        """Lowers health by ``n``; returns the new health."""
        return int(self.command("damage", n=n)["fields"]["health"]["value"])

    def heal(self) -> int:
        return int(self.command("heal")["fields"]["health"]["value"])

    def gain_gold(self, n: int = 1) -> int:
        return int(self.command("gold", n=n)["fields"]["gold"]["value"])

    def spend_gold(self, n: int = 1) -> int:
        return int(self.command("spend", n=n)["fields"]["gold"]["value"])

    def tick(self, n: int = 1) -> int:
        return int(self.command("tick", n=n)["fields"]["ticks"]["value"])

    def set(self, name: str, value: Any) -> Any:
        return self.command("set", field=name, value=value)["fields"][name]["value"]

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        """Ends the target and reaps it."""
        if self._proc.poll() is None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"DemoTarget(pid={self.pid}, running={self.is_running()})"


def start(tick_hz: float = 0.0, *, native: bool = False) -> DemoTarget:
    """Starts the demo game. ``tick_hz > 0`` makes its ``ticks`` timer advance on its own;
    ``native=True`` starts the native game (state in the extension module, see above)."""
    return DemoTarget(tick_hz, native=native)
