"""The demo target process: a tiny "game" holding known values at stable addresses.

Run by :mod:`memscan.demo`; not imported by memscan itself. It prints one JSON line describing
its fields (name, type, address, value), then answers JSON-line commands on stdin. It exits
when stdin closes or (on Linux) its parent dies. With the argument ``native`` (after the tick
rate) the game is the native one of the extension module (:class:`NativeGame`).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1

TEXT_UTF8 = "memscan demo player \u2605"
TEXT_UTF16 = "Hero of Memscan"
SIGNATURE = bytes.fromhex("4D 53 43 4E DE AD BE EF 13 37 C0 DE")


class GameState(ctypes.Structure):
    """The game's memory. Field order is fixed: `health` and `max_health` are adjacent."""

    _fields_ = [
        ("health", ctypes.c_int32),
        ("max_health", ctypes.c_int32),
        ("gold", ctypes.c_uint32),
        ("level", ctypes.c_uint8),
        ("lives", ctypes.c_int8),
        ("ammo", ctypes.c_int16),
        ("score", ctypes.c_uint16),
        ("ticks", ctypes.c_uint64),
        ("xp", ctypes.c_int64),
        ("speed", ctypes.c_float),
        ("position_x", ctypes.c_double),
        ("i8_value", ctypes.c_int8),
        ("u8_value", ctypes.c_uint8),
        ("i16_value", ctypes.c_int16),
        ("u16_value", ctypes.c_uint16),
        ("i32_value", ctypes.c_int32),
        ("u32_value", ctypes.c_uint32),
        ("i64_value", ctypes.c_int64),
        ("u64_value", ctypes.c_uint64),
        ("f32_value", ctypes.c_float),
        ("f64_value", ctypes.c_double),
        ("i64_min", ctypes.c_int64),
        ("u64_max", ctypes.c_uint64),
        ("text_utf8", ctypes.c_char * 32),
        ("text_utf16", ctypes.c_uint16 * 32),
        ("signature", ctypes.c_uint8 * 16),
    ]


TYPES = {
    "health": "i32",
    "max_health": "i32",
    "gold": "u32",
    "level": "u8",
    "lives": "i8",
    "ammo": "i16",
    "score": "u16",
    "ticks": "u64",
    "xp": "i64",
    "speed": "f32",
    "position_x": "f64",
    "i8_value": "i8",
    "u8_value": "u8",
    "i16_value": "i16",
    "u16_value": "u16",
    "i32_value": "i32",
    "u32_value": "u32",
    "i64_value": "i64",
    "u64_value": "u64",
    "f32_value": "f32",
    "f64_value": "f64",
    "i64_min": "i64",
    "u64_max": "u64",
    "text_utf8": "utf8",
    "text_utf16": "utf16",
    "signature": "bytes",
}


def initial_state() -> GameState:
    s = GameState()
    s.health, s.max_health, s.gold = 100, 100, 250
    s.level, s.lives, s.ammo, s.score = 7, 3, 120, 4200
    s.ticks, s.xp = 0, 123_456_789_012
    s.speed, s.position_x = 1.5, 1024.25
    s.i8_value, s.u8_value = -77, 201
    s.i16_value, s.u16_value = -12_345, 54_321
    s.i32_value, s.u32_value = -123_456_789, 3_000_000_000
    s.i64_value, s.u64_value = -1_234_567_890_123_456_789, 12_345_678_901_234_567_890
    s.f32_value, s.f64_value = 3.14159, 2.718281828459045
    s.i64_min, s.u64_max = -(2**63), 2**64 - 1
    s.text_utf8 = TEXT_UTF8.encode()
    utf16 = TEXT_UTF16.encode("utf-16-le")
    ctypes.memmove(s.text_utf16, utf16, len(utf16))
    ctypes.memmove(s.signature, SIGNATURE, len(SIGNATURE))
    return s


def field_value(state: GameState, name: str) -> object:
    if name == "text_utf8":
        return state.text_utf8.decode()
    if name == "text_utf16":
        raw = bytes(state.text_utf16)
        return raw.decode("utf-16-le").rstrip("\0")
    if name == "signature":
        return bytes(state.signature).hex()
    return getattr(state, name)


def describe(state: GameState) -> dict[str, object]:
    base = ctypes.addressof(state)
    fields = {
        name: {
            "type": TYPES[name],
            "address": base + getattr(GameState, name).offset,
            "size": getattr(GameState, name).size,
            "value": field_value(state, name),
        }
        for name, *_ in GameState._fields_
    }
    return {"pid": os.getpid(), "base": base, "fields": fields}


class Game:
    """The game loop: a ticking timer thread plus commands from the parent."""

    def __init__(self, tick_hz: float) -> None:
        self.state = initial_state()
        self.lock = threading.Lock()
        self.tick_hz = tick_hz
        self.paused = tick_hz <= 0
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while True:
            time.sleep(1.0 / self.tick_hz if self.tick_hz > 0 else 0.1)
            if not self.paused:
                with self.lock:
                    self.state.ticks += 1

    def handle(self, cmd: dict[str, Any]) -> dict[str, object]:
        op = cmd.get("op")
        n = int(cmd.get("n", 1))
        with self.lock:
            s = self.state
            if op == "damage":
                s.health -= n
            elif op == "heal":
                s.health = s.max_health
            elif op == "gold":
                s.gold += n
            elif op == "spend":
                s.gold -= n
            elif op == "tick":
                s.ticks += n
            elif op == "pause":
                self.paused = True
            elif op == "resume":
                self.paused = False
            elif op == "set":
                setattr(s, str(cmd["field"]), cmd["value"])
            elif op not in ("get", "describe"):
                return {"error": f"unknown op {op!r}"}
            return describe(s)


class NativeGame:
    """The native demo game (``memscan._native.demo_game``): its state lives in the extension
    module's statics and heap objects and only the extension's code writes it."""

    OPS = ("damage", "heal", "gold", "spend", "tick", "get", "describe")

    def __init__(self, tick_hz: float) -> None:
        from memscan import _native

        self.native = _native
        self.lock = threading.Lock()
        self.tick_hz = tick_hz
        self.paused = tick_hz <= 0
        self.state = self._describe(_native.demo_game("get"))
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while True:
            time.sleep(1.0 / self.tick_hz if self.tick_hz > 0 else 0.1)
            if not self.paused:
                with self.lock:
                    self.native.demo_game("tick")

    @staticmethod
    def _describe(fields: list[tuple[str, str, int, int, int]]) -> dict[str, object]:
        table = {
            name: {"type": kind, "address": address, "size": size, "value": value}
            for name, kind, address, size, value in fields
        }
        # The player's struct starts at its first field, the level.
        return {"pid": os.getpid(), "base": table["level"]["address"], "fields": table}

    def handle(self, cmd: dict[str, Any]) -> dict[str, object]:
        op = cmd.get("op")
        with self.lock:
            if op == "pause":
                self.paused = True
                op = "get"
            elif op == "resume":
                self.paused = False
                op = "get"
            if op == "set":
                fields = self.native.demo_game_set(str(cmd["field"]), int(cmd["value"]))
            elif op in self.OPS:
                n = int(cmd.get("n", 1))
                fields = self.native.demo_game("get" if op == "describe" else str(op), n)
            else:
                return {"error": f"unknown op {op!r}"}
            return self._describe(fields)


#: `prctl` option naming the calling thread (the process name, `comm`), and the demo's name.
PR_SET_NAME = 15
DEMO_NAME = b"memscan-demo"


def main() -> None:
    # Elsewhere the game ends when its stdin closes, and keeps its interpreter's name.
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            libc.prctl(PR_SET_NAME, DEMO_NAME)  # find_process_by_name("memscan-demo") finds it
        except (OSError, AttributeError):
            pass
    tick_hz = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    game: Game | NativeGame
    if sys.argv[2:] == ["native"]:
        game = NativeGame(tick_hz)
        first = game.state
    else:
        game = Game(tick_hz)
        first = describe(game.state)
    out = sys.stdout
    out.write(json.dumps(first) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = game.handle(json.loads(line))
        except Exception as e:  # report, keep serving
            reply = {"error": repr(e)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
