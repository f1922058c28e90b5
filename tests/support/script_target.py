"""A target process that runs the Python statements its parent sends, for fault tests that need
a process to map, unmap, change or exec on cue.

Each command is a JSON string of Python source, executed in one namespace that starts with
``ctypes``, ``mmap``, ``os`` and a ``libc`` handle; the reply is ``out`` (JSON) after it runs.
The child dies with its parent (``PR_SET_PDEATHSIG``) and when its stdin closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

CHILD = r"""
import ctypes, json, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
ns = {"ctypes": ctypes, "mmap": mmap, "os": os, "libc": libc, "out": None}
print(json.dumps(os.getpid()), flush=True)
for line in sys.stdin:
    ns["out"] = None
    try:
        exec(json.loads(line), ns)
        print(json.dumps({"out": ns["out"]}), flush=True)
    except Exception as e:
        print(json.dumps({"error": repr(e)}), flush=True)
"""


class ScriptTarget:
    """A running script target: ``run(code)`` executes statements there and returns ``out``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.pid: int = json.loads(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("script target exited")
        return line

    def run(self, code: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(code) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._line())
        if "error" in reply:
            raise RuntimeError(f"script target: {reply['error']}")
        return reply["out"]

    def send(self, code: str) -> None:
        """Sends statements without waiting for a reply (for ones that exec or exit)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(code) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> ScriptTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
