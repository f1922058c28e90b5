"""Hardware watchpoints against a C target (tests/targets/writer.c): who writes a global, with
which instruction and value, on every thread, and that nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.processes import as_nobody

import memscan


class Writer:
    """The running C target: ``command("d")`` runs one command and waits for its "ok"."""

    def __init__(self, binary: Path) -> None:
        self.p = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.p.stdout is not None
        _, health, counter = self.p.stdout.readline().split()
        self.health, self.counter = int(health, 16), int(counter, 16)
        self.pid = self.p.pid

    def command(self, line: str) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"


@pytest.fixture
def writer(writer_binary):
    w = Writer(writer_binary)
    yield w
    w.p.kill()
    w.p.wait()


def symbol(binary: Path, name: str) -> tuple[int, int]:
    """(offset, size) of a symbol, from `nm -S`."""
    out = subprocess.run(["nm", "-S", str(binary)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[0], 16), int(parts[1], 16)
    raise AssertionError(f"{name} not in {binary}")


def settle(watch: memscan.Watch, hits: int) -> None:
    """Waits (at most 5 s) until the watch has read `hits` hits from its rings."""
    deadline = time.monotonic() + 5
    while watch.hit_count < hits and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_write_watch_names_the_instruction_module_offset_and_values(writer, writer_binary):
    proc = memscan.Process(writer.pid)
    with proc.watch("writer!health", value_type="i32") as w:
        for _ in range(3):
            writer.command("d")
        settle(w, 3)
    hits = w.hits()
    assert len(hits) == 3 and hits.lost == 0 and hits.ended == "stopped"
    df = hits.to_polars()
    start, size = symbol(writer_binary, "take_damage")
    base = proc.modules().to_polars().filter(name="writer")["base"][0]
    row = df.row(0, named=True)
    assert row["address"] == writer.health
    assert row["module"] == "writer"
    assert start <= row["module_offset"] < start + size
    assert row["instruction_address"] == base + row["module_offset"]
    assert row["location"].startswith("writer!take_damage")
    assert row["ip"] == row["instruction_address"] + len(row["bytes"])  # traps after the write
    assert proc.read(row["instruction_address"], len(row["bytes"])) == row["bytes"]
    assert "dword ptr" in row["disassembly"]
    assert df["tid"].unique().to_list() == [writer.pid]
    assert df["value"][-1] == 79 == proc.read_value(writer.health, "i32")
    summary = hits.summary()
    assert summary.height == 1 and summary["hits"][0] == 3


def test_stored_values_come_exactly_from_the_sampled_registers(writer, writer_binary):
    proc = memscan.Process(writer.pid)
    with proc.watch(writer.counter, size=8, value_type="i64") as w:
        writer.command("s 200")
        settle(w, 200)
    df = w.hits().to_polars()
    assert df.height == 200 and w.lost == 0
    assert df["stored_value"].to_list() == list(range(200))
    assert df["disassembly"].unique().to_list()[0].startswith("mov qword ptr")
    start, size = symbol(writer_binary, "main")
    assert all(start <= o < start + size for o in df["module_offset"])


def test_without_registers_hits_still_name_their_instruction(writer, writer_binary):
    proc = memscan.Process(writer.pid)
    with proc.watch(writer.health, registers=False) as w:
        writer.command("d")
    df = w.hits().to_polars()
    assert df.height == 1 and df["stored_value"].null_count() == 1
    assert df["location"][0].startswith("writer!take_damage")


def test_threads_started_while_watching_are_watched(writer, writer_binary):
    proc = memscan.Process(writer.pid)
    with proc.watch(writer.counter, size=8) as w:
        writer.command("t")  # a new thread writes the counter 1000 times
        settle(w, 1000)
    df = w.hits().to_polars()
    assert df.height == 1000 and w.lost == 0
    assert df["tid"].unique().to_list() != [writer.pid]
    assert df["location"].str.starts_with("writer!worker").all()
    assert sorted(df["stored_value"].to_list()) == list(range(1, 1001))


def test_an_execute_watch_counts_calls_of_a_function(writer, writer_binary):
    proc = memscan.Process(writer.pid)
    start, _ = symbol(writer_binary, "take_damage")
    with proc.watch("writer!take_damage", on="execute") as w:
        writer.command("d")
        writer.command("d")
        writer.command("s 5")  # does not call it
        settle(w, 2)
    df = w.hits().to_polars()
    assert df.height == 2
    assert df["module_offset"].to_list() == [start, start]
    assert df["location"].to_list() == ["writer!take_damage"] * 2
    assert df["value"].null_count() == 2  # no data value for code


def test_iterating_a_watch_yields_hits_as_they_come(writer):
    proc = memscan.Process(writer.pid)
    w = proc.watch(writer.health, max_hits=2)
    writer.command("d")
    writer.command("d")
    rows = list(w)  # ends by itself at max_hits
    assert [r["value"] for r in rows][-1] == 86
    assert len(rows) == 2 and w.ended == "max_hits reached"


def test_stopping_keeps_every_hit_made_before_it(writer):
    proc = memscan.Process(writer.pid)
    for _ in range(5):
        with proc.watch(writer.health) as w:
            writer.command("d")  # returns after the write: its hit is in the ring
        assert len(w.hits()) == 1


def test_marks_label_the_hits_that_follow(writer):
    proc = memscan.Process(writer.pid)
    with proc.watch(writer.health) as w:
        w.mark("first")
        writer.command("d")
        time.sleep(0.01)
        w.mark("second")
        writer.command("d")
        settle(w, 2)
    assert w.hits().to_polars()["label"].to_list() == ["first", "second"]


def test_max_hits_bounds_memory_and_counts_the_rest_as_lost(writer):
    proc = memscan.Process(writer.pid)
    w = proc.watch(writer.counter, size=8, max_hits=10)
    writer.command("s 1000")
    assert w.wait(5)
    assert w.hit_count == 10 and w.ended == "max_hits reached"
    assert w.lost > 0


def test_the_target_exiting_ends_the_watch_and_keeps_its_hits(writer):
    proc = memscan.Process(writer.pid)
    w = proc.watch(writer.health)
    writer.command("d")
    settle(w, 1)
    writer.p.stdin.write("q\n")
    writer.p.stdin.flush()
    writer.p.wait()
    assert w.wait(5)
    assert w.ended == "process has exited"
    assert len(w.hits()) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 3}, memscan.InvalidArgument, "1, 2, 4 or 8"),
        ({"size": 16}, memscan.InvalidArgument, "1, 2, 4 or 8"),
        ({"on": "read"}, memscan.InvalidArgument, "'write', 'access' or 'execute'"),
        ({"size": 4, "value_type": "i64"}, memscan.InvalidArgument, "8 bytes"),
        ({"duration": -1.0}, memscan.InvalidValue, "duration"),
    ],
)
def test_bad_arguments_are_typed_errors(writer, kwargs, error, match):
    proc = memscan.Process(writer.pid)
    with pytest.raises(error, match=match):
        proc.watch(writer.health, **kwargs)


def test_bad_addresses_are_typed_errors(writer):
    proc = memscan.Process(writer.pid)
    with pytest.raises(memscan.InvalidArgument, match="aligned"):
        proc.watch(writer.health + 2, size=4)
    with pytest.raises(memscan.InvalidAddress):
        proc.watch(0x10)
    with pytest.raises(memscan.InvalidArgument, match="1 to 4 addresses"):
        proc.watch([writer.health] * 5)
    with pytest.raises(memscan.InvalidArgument, match="unknown module"):
        proc.watch("nosuchmodule+0x10")


def test_a_fifth_watchpoint_is_refused_by_the_cpu(writer):
    proc = memscan.Process(writer.pid)
    four = proc.watch([writer.health, writer.counter], size=4)
    two_more = proc.watch([writer.counter + 4, writer.health - 4], size=4)
    with pytest.raises(memscan.Unsupported, match="no debug register free"):
        proc.watch(writer.health)
    four.stop()
    two_more.stop()
    proc.watch(writer.health).stop()  # freed: arms again


def test_a_dead_process_is_a_typed_error(writer):
    proc = memscan.Process(writer.pid)
    writer.p.kill()
    writer.p.wait()
    with pytest.raises((memscan.ProcessExited, memscan.ProcessNotFound)):
        proc.watch(writer.health)


HOLDER = """
import sys, time, memscan
proc = memscan.Process(int(sys.argv[1]))
w = proc.watch([int(a) for a in sys.argv[2:]], size=4)
print("armed", flush=True)
time.sleep(60)
"""


def test_killing_the_watcher_leaves_no_watchpoint_behind(writer):
    addresses = [writer.health, writer.counter, writer.counter + 4, writer.health - 4]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(writer.pid), *map(str, addresses)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "armed"
    proc = memscan.Process(writer.pid)
    with pytest.raises(memscan.Unsupported):
        proc.watch(writer.health)  # every debug register is held by the other process
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    writer.command("d")  # the target runs on unharmed
    writer.command("s 1000")
    assert writer.p.poll() is None
    with proc.watch(addresses, size=4):  # and all four registers are free again
        pass


def test_an_unprivileged_user_may_not_watch_a_root_process(writer):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    proc = memscan.Process(writer.pid)

    def watch_it() -> str:
        proc.watch(writer.health)
        return "armed"

    out = as_nobody(watch_it)
    assert out.startswith("AccessDenied|"), out


def test_hits_take_a_recorders_labels_and_keep_them_in_parquet(writer, tmp_path):
    import pyarrow.parquet as pq

    proc = memscan.Process(writer.pid)
    rec = proc.record([writer.health], "i32", interval=None)
    with proc.watch(writer.health, value_type="i32") as w:
        rec.sample("goblin")
        writer.command("d")
        rec.sample("troll")
        writer.command("d")
    labelled = w.hits().labelled(rec.stop())
    assert labelled["label"].to_list() == ["goblin", "troll"]
    assert labelled["value"].to_list()[-1] == 86
    path = tmp_path / "hits.parquet"
    w.hits().to_parquet(str(path), game="writer")
    table = pq.read_table(path)
    assert table.num_rows == 2
    meta = table.schema.metadata
    assert meta[b"memscan.kind"] == b"watch" and meta[b"memscan.lost"] == b"0"
    assert meta[b"memscan.game"] == b"writer"
