"""Fuzzing the files memscan reads (image indexes, core program headers, pointer maps) and
address expressions, with checksums made to match so that mutations reach the validation
behind them. Each batch runs in a child under an address-space limit: an abort, a crash or an
out-of-memory fails the test instead of taking the machine down, and a hang hits the timeout.

Example counts are bounded for CI; ``MEMSCAN_FUZZ_EXAMPLES=2000`` runs a long profile.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from support.script_target import ScriptTarget

import memscan

EXAMPLES = int(os.environ.get("MEMSCAN_FUZZ_EXAMPLES", "40"))
LIMIT_AS = 8 << 30
PAGE = 4096
INTERESTING = [
    0,
    1,
    PAGE - 1,
    PAGE,
    1 << 20,
    (1 << 20) + PAGE,
    1 << 47,
    2**63 - 1,
    2**63,
    2**64 - PAGE,
    2**64 - 1,
]


def number(rng: random.Random) -> int:
    if rng.random() < 0.7:
        return rng.choice(INTERESTING)
    return rng.randrange(2**64) // PAGE * PAGE if rng.random() < 0.5 else rng.randrange(2**64)


def run_batch(paths: list[Path], work: str, timeout: float = 600) -> list[str]:
    """Runs `work` (Python using `path`, printing nothing) on each path in one child under
    RLIMIT_AS; returns each path's outcome: "ok" or the class of the error it raised. Anything
    but memscan's errors (and TypeError/ValueError) ends the child, failing the test."""
    import resource

    body = textwrap.indent(textwrap.dedent(work).strip(), " " * 8)
    code = (
        "import sys, memscan\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        f"{body}\n"
        "        print('ok', flush=True)\n"
        "    except memscan.MemscanError as e:\n"
        "        print(type(e).__name__, flush=True)\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    outcomes = out.stdout.split()
    assert len(outcomes) == len(paths)
    return outcomes


OPEN_AND_SCAN = """
img = memscan.open_image(path)
regions = img.region_list()
img.scan("i32", 0x5EC12E7, writable_only=False)
if regions:
    try:
        img.read(regions[0].start, 64)
    except memscan.InvalidAddress:
        pass
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "seed.msimg"
    with ScriptTarget() as t:
        t.run(
            "buf = ctypes.create_string_buffer(1 << 16); out = ctypes.addressof(buf);"
            "ctypes.c_int32.from_address(out + 64).value = 0x5EC12E7"
        )
        memscan.Process(t.pid).save_image(path, progress=None)
    return path


def rewrite_index(data: bytes, change) -> bytes:
    offset, length = struct.unpack_from("<QQ", data, len(data) - 32)
    index = json.loads(data[offset : offset + length])
    change(index)
    text = json.dumps(index).encode()
    footer = struct.pack("<QQII", offset, len(text), zlib.crc32(text), 0) + b"MSCNEND\0"
    return data[:offset] + text + footer


def mutate_index(index: dict, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        table = rng.choice(["regions", "blocks"])
        rows = index[table]
        if not rows:
            continue
        row = rng.choice(rows)
        action = rng.random()
        if action < 0.15:
            rows.append(dict(row))  # a duplicate
        elif action < 0.25:
            rows.reverse()
        else:
            key = rng.choice(sorted(row))
            value = row[key]
            if isinstance(value, int) and not isinstance(value, bool):
                row[key] = number(rng)
            elif isinstance(value, str):
                row[key] = rng.choice(["", "é" * 8, "ff" * 8, value[::-1], "x" * 100_000])
            else:
                row[key] = rng.choice([None, -1, [], {}, "?"])


def test_mutated_image_indexes(image, tmp_path):
    data = image.read_bytes()
    rng = random.Random(19)
    paths = []
    for i in range(EXAMPLES):
        p = tmp_path / f"m{i}.msimg"
        p.write_bytes(rewrite_index(data, lambda ix: mutate_index(ix, rng)))
        paths.append(p)
    outcomes = run_batch(paths, OPEN_AND_SCAN)
    assert set(outcomes) <= {"ok", "InvalidFile", "InvalidArgument", "MemoryBudgetExceeded"}
    assert "InvalidFile" in outcomes  # the mutations reach the validation


def core(segments: list[tuple[int, int, int, int]], payload: bytes) -> bytes:
    """An ELF core whose PT_LOADs are (offset, vaddr, filesz, memsz), followed by `payload`."""
    n = len(segments)
    out = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    out += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, n, 64, 0, 0)
    for offset, vaddr, filesz, memsz in segments:
        out += struct.pack("<IIQQQQQQ", 1, 6, offset, vaddr, 0, filesz, memsz, PAGE)
    return out + payload


def test_mutated_core_program_headers(tmp_path):
    rng = random.Random(20)
    payload = bytes(rng.randrange(256) for _ in range(3 * PAGE))
    paths = []
    for i in range(EXAMPLES):
        segments = []
        for _ in range(rng.randint(1, 4)):
            segments.append(
                (
                    rng.choice([0, 64, 400, number(rng)]),
                    number(rng),
                    rng.choice([0, PAGE, 2 * PAGE, number(rng)]),
                    number(rng),
                )
            )
        p = tmp_path / f"c{i}.core"
        p.write_bytes(core(segments, payload))
        paths.append(p)
    outcomes = run_batch(paths, OPEN_AND_SCAN)
    assert set(outcomes) <= {"ok", "InvalidFile", "InvalidArgument", "MemoryBudgetExceeded"}


def test_mutated_pointer_maps(tmp_path, chain):
    p, _, health = chain
    seed = tmp_path / "seed.ptrmap"
    memscan.Process(p.pid).pointer_map(progress=False).save(seed)
    data = seed.read_bytes()
    rng = random.Random(21)
    paths = []
    for i in range(EXAMPLES):
        body = bytearray(data[:-4])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body))
            if rng.random() < 0.5:
                body[at] ^= 1 << rng.randrange(8)
            else:
                body[at : at + 8] = struct.pack("<Q", number(rng))
        if rng.random() < 0.2:
            body = body[: rng.randrange(len(body))]
        crc = zlib.crc32(bytes(body)) if rng.random() < 0.8 else rng.randrange(2**32)
        path = tmp_path / f"p{i}.ptrmap"
        path.write_bytes(bytes(body) + struct.pack("<I", crc))
        paths.append(path)
    outcomes = run_batch(
        paths,
        f"""
        m = memscan.PointerMap.load(path)
        targets = __import__("numpy").array([{health}], dtype="uint64")
        memscan._native.find_chains(m, targets, max_depth=3)
        """,
    )
    assert set(outcomes) <= {"ok", "InvalidFile", "InvalidArgument"}
    assert "InvalidFile" in outcomes


def test_random_deep_and_long_expressions(tmp_path):
    rng = random.Random(22)
    texts = []
    for _ in range(EXAMPLES):
        depth = rng.choice([0, 1, 63, 64, 65, 1000, 100_000])
        terms = rng.choice([1, 2, 1000, 200_000])
        inner = "+".join(
            rng.choice(["1", "game", "0x10", "[2]", "libc.so.6!x"]) for _ in range(terms)
        )
        texts.append("[" * depth + inner + "]" * rng.choice([depth, depth - 1, depth + 1]))
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"e{i}.txt"
        path.write_text(text)
        paths.append(path)
    outcomes = run_batch(paths, "memscan.Address.parse(open(path).read())")
    assert set(outcomes) <= {"ok", "InvalidArgument"}
    assert "ok" in outcomes and "InvalidArgument" in outcomes
