"""Memory images: saved from a live process, opened later as a read-only Process that answers
scans, snapshots and pointer scans exactly as the live process did; ELF core files too."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

import memscan


@pytest.fixture
def image(tmp_path, proc):
    path = tmp_path / "demo.msimg"
    info = proc.save_image(path, progress=None)
    return path, info


def test_an_image_scans_exactly_like_the_live_process(chain, chain_binary, tmp_path):
    p, score, _ = chain  # blocked in read(): its memory does not change while it waits
    proc = memscan.Process(p.pid)
    path = tmp_path / "chain.msimg"
    info = proc.save_image(path, progress=None)
    assert info["stored_bytes"] < info["memory_bytes"]
    assert info["file_bytes"] < info["stored_bytes"]
    img = memscan.open_image(path)
    assert img.is_image and not proc.is_image
    assert (img.pid, img.name, img.exe) == (proc.pid, proc.name, proc.exe)
    for value_type, value in [("i32", 1234567), ("i32", 777777), ("u8", 1), ("u32", 0)]:
        live = proc.scan(value_type, value).to_polars()
        saved = img.scan(value_type, value).to_polars()
        assert live.height > 0
        assert live.equals(saved), (value_type, value)
    assert img.read_value(score, "i32") == 1234567
    assert img.find_bytes("87 D6 12 00").tolist() == (proc.find_bytes("87 D6 12 00").tolist())
    assert img.modules().to_polars().equals(proc.modules().to_polars())
    assert img.regions().to_polars().equals(proc.regions().to_polars().filter(readable=True))
    notes = subprocess.run(["readelf", "-n", str(chain_binary)], capture_output=True, text=True)
    build_id = notes.stdout.split("Build ID:")[1].split()[0]
    assert img.image_metadata["build_ids"][str(chain_binary)] == build_id


def test_an_image_of_a_running_game_holds_its_values(game, image):
    img = memscan.open_image(image[0])
    assert img.read_value(game.address("u64_max"), "u64") == 2**64 - 1
    assert game.address("health") in img.scan("i32", 100).addresses.tolist()
    pair = img.group_scan([(0, "i32", 100), (4, "i32", 100)])  # health, max_health
    assert game.address("health") in pair.addresses.tolist()
    assert img.find_string(game.value("text_utf8")).tolist() == [game.address("text_utf8")]


def test_an_image_keeps_its_moment_and_narrows_like_a_scanner(game, proc, image):
    path, _ = image
    game.damage(7)
    img = memscan.open_image(path)
    s = img.scan("i32", 100)
    s.eq(100)  # nothing moves in an image
    assert game.address("health") in s.addresses.tolist()
    assert img.read_value(game.address("health"), "i32") == 100
    assert proc.read_value(game.address("health"), "i32") == 93


def test_two_images_and_an_image_against_the_live_process_diff(game, proc, tmp_path, image):
    before_path, _ = image
    game.gain_gold(5)
    after_path = tmp_path / "after.msimg"
    proc.save_image(after_path, progress=None)
    before, after = memscan.open_image(before_path), memscan.open_image(after_path)
    gold = game.address("gold")
    changed = after.snapshot(progress=None).diff(before.snapshot(progress=None)).to_polars()
    assert changed.filter((changed["start"] <= gold) & (gold < changed["end"])).height == 1
    live = proc.snapshot(progress=None).diff(before.snapshot(progress=None)).to_polars()
    assert live.filter((live["start"] <= gold) & (gold < live["end"])).height == 1


def test_an_image_refuses_writes_freezes_watches_and_recordings(game, image):
    img = memscan.open_image(image[0])
    health = game.address("health")
    with pytest.raises(memscan.Unsupported, match="memory image"):
        img.write_value(health, "i32", 1)
    s = img.scan("i32", 100)
    with pytest.raises(memscan.Unsupported, match="memory image"):
        s.write(5)
    with pytest.raises(memscan.Unsupported, match="memory image"):
        s.freeze()
    with pytest.raises(memscan.Unsupported, match="memory image"):
        img.watch(health)
    with pytest.raises(memscan.Unsupported, match="memory image"):
        img.record([health], "i32")


def test_pointer_chains_found_in_an_image_resolve_in_the_live_process(chain_binary, tmp_path):
    p = subprocess.Popen(
        [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        _, _, health = p.stdout.readline().split()
        proc = memscan.Process(p.pid)
        path = tmp_path / "chain.msimg"
        proc.save_image(path, progress=None)
        img = memscan.open_image(path)
        chains = img.pointer_scan(int(health, 16), max_depth=3)
        assert len(chains) > 0
        live = chains.resolve(proc)
        assert (live["address"] == int(health, 16)).all()
    finally:
        p.kill()
        p.wait()


def test_an_elf_core_file_opens_like_an_image(chain_binary, tmp_path):
    if shutil.which("gcore") is None:
        pytest.fail("gcore (from gdb) is needed for the core-file test")
    p = subprocess.Popen(
        [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        _, score, _ = p.stdout.readline().split()
        core = tmp_path / "chain.core"
        subprocess.run(
            ["gcore", "-o", str(core), str(p.pid)], check=True, capture_output=True, timeout=120
        )
        core = next(tmp_path.glob("chain.core*"))
        img = memscan.open_image(core)
        assert img.pid == p.pid and img.name == "chaingame"
        s = img.scan("i32", 1234567)
        row = s.to_polars().filter(address=int(score, 16)).row(0, named=True)
        assert row["module"] == "chaingame"
        live = (
            memscan.Process(p.pid).scan("i32", 1234567).to_polars().filter(address=int(score, 16))
        )
        assert row["module_offset"] == live["module_offset"][0]
    finally:
        p.kill()
        p.wait()


def test_saving_is_atomic_and_a_dead_target_leaves_no_file(tmp_path, game, proc):
    missing = tmp_path / "no" / "such" / "dir" / "x.msimg"
    with pytest.raises(memscan.MemscanError):
        proc.save_image(missing, progress=None)
    game.stop()
    target = tmp_path / "gone.msimg"
    with pytest.raises(memscan.ProcessExited):
        proc.save_image(target, progress=None)
    assert list(tmp_path.iterdir()) == [tmp_path / "no"] or not target.exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def footer(data: bytes) -> tuple[int, int]:
    offset, length = struct.unpack_from("<QQ", data, len(data) - 32)
    return offset, length


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[:100], "truncated"),
        (lambda b: b"not an image at all" * 10, "not a memscan image"),
        (lambda b: b[:8] + struct.pack("<I", 99) + b[12:], "version 99"),
        (lambda b: b[:-40] + bytes(8) + b[-32:], "index"),
        (lambda b: b[:-1] + b"X", "footer"),
    ],
    ids=["truncated", "foreign", "future-version", "corrupted-index", "corrupted-footer"],
)
def test_damaged_files_are_typed_errors_naming_the_file(image, tmp_path, damage, match):
    bad = tmp_path / "bad.msimg"
    bad.write_bytes(damage(image[0].read_bytes()))
    with pytest.raises(memscan.InvalidFile, match=match) as e:
        memscan.open_image(bad)
    assert str(bad) in str(e.value)


def test_a_corrupted_block_is_a_typed_error_when_read(image, tmp_path):
    data = bytearray(image[0].read_bytes())
    offset, length = footer(bytes(data))
    index = json.loads(data[offset : offset + length])
    block = next(b for b in index["blocks"] if b["codec"] != "none")
    data[block["offset"] + block["stored_len"] // 2] ^= 0xFF
    bad = tmp_path / "flipped.msimg"
    bad.write_bytes(bytes(data))
    img = memscan.open_image(bad)
    with pytest.raises(memscan.InvalidFile, match="CRC"):
        img.read(block["addr"], 16)


def test_a_missing_image_is_a_typed_error(tmp_path):
    with pytest.raises(memscan.InvalidFile, match="no such file"):
        memscan.open_image(tmp_path / "nothing.msimg")
