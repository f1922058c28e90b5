"""Code that survives updates, against a C target (tests/targets/code_target.c): disassembly and
references, signatures made from a watch hit that find the same instruction in a rebuilt
binary, the addresses an instruction accesses, and patches written while threads run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from support.processes import build_c_target

import memscan

NAME = "code_target"


@pytest.fixture(scope="session")
def builds(tmp_path_factory) -> dict[str, Path]:
    """The target as shipped, the next version (code inserted before take_damage) and a build
    with other optimisation; all named code_target, as a program's updates are."""
    return {
        "v1": build_c_target(tmp_path_factory, "code_target.c", NAME, "-O1", "-pthread"),
        "v2": build_c_target(tmp_path_factory, "code_target.c", NAME, "-O1", "-DMOVED", "-pthread"),
        "O2": build_c_target(tmp_path_factory, "code_target.c", NAME, "-O2", "-pthread"),
    }


class Target:
    """The running C target: ``command("d")`` runs one command and waits for its "ok"."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.p = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.p.stdout is not None
        _, health, enemies, n, spin = self.p.stdout.readline().split()
        self.health, self.enemies, self.n = int(health, 16), int(enemies, 16), int(n)
        self.spin = int(spin, 16)
        self.proc = memscan.Process(self.p.pid)

    def command(self, line: str) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"

    def health_now(self) -> int:
        return int(self.proc.read_value(self.health, "i32"))

    def enemy_hp_addresses(self) -> list[int]:
        """Where each enemy's hp is (offset 8 in struct enemy)."""
        return [self.proc.read_value(self.enemies + 8 * i, "u64") + 8 for i in range(self.n)]

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


@pytest.fixture
def target(builds):
    t = Target(builds["v1"])
    yield t
    t.close()


def symbol(binary: Path, name: str) -> int:
    """A symbol's offset in the file, from `nm`."""
    out = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise AssertionError(f"{name} not in {binary}")


def store_instruction(t: Target) -> int:
    """The instruction that writes `health`, as a watch reports it."""
    with t.proc.watch(t.health, value_type="i32") as w:
        t.command("d")
        deadline = time.monotonic() + 5
        while w.hit_count < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    rows = w.hits().to_polars()
    assert len(rows) == 1
    return int(rows["instruction_address"][0])


def test_disassembly_names_places_and_targets(target):
    fn = target.proc.address(f"{NAME}!take_damage")
    df = target.proc.disassemble(fn, 3).to_polars()
    first = df.row(0, named=True)
    assert first["address"] == fn and first["location"] == f"{NAME}!take_damage"
    assert first["module"] == NAME
    assert first["module_offset"] == symbol(target.binary, "take_damage")
    assert first["memory_target"] == target.health
    assert first["memory_location"] == f"{NAME}!health"
    assert first["instruction"].startswith("sub dword ptr")
    assert bytes(first["bytes"]) == target.proc.read(fn, len(first["bytes"]))
    # Consecutive rows tile the code.
    addresses = df["address"].to_list()
    lengths = [len(b) for b in df["bytes"].to_list()]
    assert addresses[1] == addresses[0] + lengths[0]


def test_references_find_every_instruction_naming_an_address(target):
    refs = target.proc.references(target.health, module=NAME).to_polars()
    # take_damage's store and main's printf argument, each naming `health` exactly.
    locations = set(refs["location"].to_list())
    assert f"{NAME}!take_damage" in locations
    assert any(loc.startswith(f"{NAME}!main") for loc in locations)
    assert set(refs["target"].to_list()) == {target.health}
    fn = target.proc.address(f"{NAME}!take_damage")
    calls = target.proc.references(fn, module=NAME).to_polars()
    assert "branch" in calls["kind"].to_list()
    assert any(loc.startswith(f"{NAME}!hammer") for loc in calls["location"].to_list())


def test_a_signature_from_a_watch_hit_is_unique_and_resolves(target):
    at = store_instruction(target)
    sig = target.proc.signature(at)
    assert sig.expression.startswith(f"sig:{NAME}:")
    assert sig.found == [at]
    # Unique in the module's code, and the expression resolves back to the instruction.
    hits = target.proc.find_code(sig.pattern, module=NAME)
    assert [int(h) + sig.offset for h in hits] == [at]
    assert target.proc.address(sig.expression) == at
    # The RIP-relative displacement of `sub [rip+disp], edi` is wildcarded.
    assert "?? ?? ?? ??" in sig.pattern or len(sig.pattern.split()) <= 2


def test_a_signature_finds_the_instruction_in_the_next_version(builds, target):
    at = store_instruction(target)
    sig = target.proc.signature(at)
    v2 = Target(builds["v2"])
    try:
        truth = store_instruction(v2)
        assert truth - v2.proc.address(NAME) != at - target.proc.address(NAME), "code did not move"
        assert v2.proc.address(sig.expression) == truth
    finally:
        v2.close()


def test_signatures_across_builds_say_where_each_lands(builds, target):
    at = store_instruction(target)
    offset = at - target.proc.address(NAME)
    files = [builds["v1"], builds["v2"], builds["O2"]]
    sig = memscan.code.signature_across([builds["v1"], builds["v2"]], offset)
    assert sig.found == [
        offset,
        offset + symbol(builds["v2"], "take_damage") - symbol(builds["v1"], "take_damage"),
    ]
    # With a build where the code differs (-O2 inlines take_damage into hammer), each answer
    # is right or an error: never a wrong place.
    right = 0
    for fn in ["take_damage", "touch_all", "hammer", "main"]:
        at = symbol(builds["v1"], fn)
        try:
            sig = memscan.code.signature_across(files, at)
        except memscan.InvalidArgument:
            continue
        assert sig.found == [symbol(b, fn) for b in files], fn
        right += 1
    assert right >= 2


def test_what_an_instruction_accesses_lists_every_object_once(target):
    hp = target.enemy_hp_addresses()
    with target.proc.watch(hp[0], value_type="i32") as w:
        target.command("a")
        deadline = time.monotonic() + 5
        while w.hit_count < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    store = int(w.hits().to_polars()["instruction_address"][0])
    with target.proc.watch(store, on="execute") as w:
        target.command("a")
        deadline = time.monotonic() + 5
        while w.hit_count < target.n and time.monotonic() < deadline:
            time.sleep(0.01)
    accessed = w.hits().accessed()
    assert sorted(accessed["accessed_address"].to_list()) == sorted(hp)
    assert accessed["hits"].to_list() == [1] * target.n
    assert set(accessed["access_size"].to_list()) == {4}


def test_a_nop_patch_stops_a_value_and_restore_brings_it_back(target):
    at = store_instruction(target)
    before = target.health_now()
    original = target.proc.read(at, 16)
    with target.proc.nop(at) as patch:
        assert patch.is_applied and target.proc.patches() == [patch]
        assert set(patch.patched) == {0x90}
        target.command("d")
        assert target.health_now() == before
    assert target.proc.read(at, 16) == original and target.proc.patches() == []
    target.command("d")
    assert target.health_now() == before - 1


def test_patches_while_threads_run_never_tear(target):
    """1000 patch/restore cycles of the instruction four threads execute in a loop."""
    at = store_instruction(target)
    original = target.proc.read(at, 16)
    target.command("t 4")
    try:
        for _ in range(1000):
            patch = target.proc.nop(at)
            patch.restore()
        assert target.proc.read(at, 16) == original
        with target.proc.nop(at):
            frozen = target.health_now()
            time.sleep(0.05)
            assert target.health_now() == frozen
        time.sleep(0.05)
        assert target.health_now() < frozen, "restored code runs again"
    finally:
        target.command("s")
    assert target.p.poll() is None


def test_a_thread_inside_the_bytes_makes_the_patch_wait_then_refuse(target):
    target.command("w")
    time.sleep(0.05)
    # spin() is `jmp $` (EB FE): a patch starting one byte before it always has a thread inside.
    before = target.proc.read(target.spin - 1, 3)
    with pytest.raises(memscan.Busy, match="kept executing inside"):
        target.proc.patch(target.spin - 1, b"\x90\x90\x90", wait=0.2)
    assert target.proc.read(target.spin - 1, 3) == before
    # At the instruction's start the new bytes run whole: allowed.
    with target.proc.patch(target.spin, b"\xeb\xfe"):
        pass


def test_bad_input_is_a_typed_error(target):
    proc = target.proc
    at = proc.address(f"{NAME}!take_damage")
    with pytest.raises(memscan.InvalidArgument):
        proc.patch(at, b"")
    with pytest.raises(memscan.InvalidAddress):
        proc.patch(0x10, b"\x90")
    with pytest.raises(memscan.InvalidAddress, match="not in any module"):
        proc.signature(target.enemy_hp_addresses()[0])
    with pytest.raises(memscan.InvalidArgument, match="matches 0 places"):
        proc.address(f"sig:{NAME}:DE AD BE EF 13 37 C0 DE")
    with pytest.raises(memscan.InvalidArgument, match="places in"):
        proc.address(f"sig:{NAME}:C3")
    with pytest.raises(memscan.InvalidArgument, match="unknown module"):
        proc.address("sig:nosuchmodule:C3")
    with pytest.raises(memscan.InvalidArgument, match="byte pattern"):
        proc.address(f"sig:{NAME}:XY")
    with pytest.raises(memscan.InvalidArgument):
        proc.disassemble(at, 0)
    with pytest.raises(memscan.InvalidFile):
        memscan.code.signature_across([Path("/dev/null")], 0)
    # A restore that would clobber bytes someone else changed refuses and changes nothing.
    patch = proc.patch(at, b"\xcc")
    proc.write(at, b"\x90", force=True)
    with pytest.raises(memscan.InvalidValue, match="no longer the patch's"):
        patch.restore()
    assert proc.read(at, 1) == b"\x90"
    proc.write(at, patch.original, force=True)
    # A process that exited: typed, and the patch object stays readable.
    target.close()
    with pytest.raises(memscan.ProcessExited):
        proc.nop(at)
    assert patch.original and patch.address == at


def test_an_address_list_keeps_a_signature_entry_across_versions(builds, target, tmp_path):
    at = store_instruction(target)
    sig = target.proc.signature(at)
    table = memscan.AddressList()
    table.add("damage code", sig.expression, "u8")
    table.attach(target.proc)
    assert table.value("damage code") == target.proc.read(at, 1)[0]
    path = table.save(tmp_path / "table.json")
    v2 = Target(builds["v2"])
    try:
        loaded = memscan.AddressList.load(path).attach(v2.proc)
        truth = store_instruction(v2)
        assert loaded.value("damage code") == v2.proc.read(truth, 1)[0]
        assert loaded.entries[0].expression == sig.expression
    finally:
        v2.close()


def test_assemble_round_trips_and_patches_an_instruction(target):
    at = store_instruction(target)
    row = target.proc.disassemble(at, 1).to_polars().row(0, named=True)
    # The disassembler's text assembles back to the same bytes.
    assert memscan.code.assemble(row["instruction"], address=at) == bytes(row["bytes"])
    before = target.health_now()
    # Damage heals: `sub [health], edi` becomes `add [health], edi` (same length).
    with target.proc.assemble(at, f"add dword ptr [{target.health:#x}], edi") as patch:
        assert len(patch) == len(row["bytes"])
        target.command("d")
        assert target.health_now() == before + 1
    target.command("d")
    assert target.health_now() == before
    # Longer than the instruction it replaces: refused, nothing written.
    with pytest.raises(memscan.InvalidArgument, match="more than the"):
        target.proc.assemble(at, f"add dword ptr [{target.health:#x}], 0x12345")
    with pytest.raises(memscan.InvalidArgument, match="unknown mnemonic"):
        memscan.code.assemble("frobnicate eax")
    assert target.proc.read(at, len(row["bytes"])) == bytes(row["bytes"])
