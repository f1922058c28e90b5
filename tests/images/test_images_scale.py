"""Scaling out over many images: several runs of the C chain target saved as images (and one
gcore core file), scanned in parallel on a Dask LocalCluster into a hive-partitioned Parquet
dataset, queried with DuckDB: the global is at the same module + offset in every run, while the
heap value moves."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import memscan
from memscan.images import image_files, in_every_run, run_name, scan_images

duckdb = pytest.importorskip("duckdb")
distributed = pytest.importorskip("dask.distributed")

RUNS = 4
SCORE, HEALTH = 1234567, 777777

#: The query of docs/images.md: which module + offset held the value in every run (runs
#: without a hit count too: each run is one file, so the files count the runs).
EVERY_RUN = """
select module, module_offset, count(distinct run) as runs, count(distinct address) as addresses
from read_parquet('{root}/*/*.parquet', hive_partitioning = true)
where module is not null
group by module, module_offset
having count(distinct run) = (select count(*) from glob('{root}/run=*/*.parquet'))
order by module, module_offset
"""


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """Two worker processes with one thread each."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def nm_offset(binary: Path, symbol: str) -> int:
    out = subprocess.run(["nm", str(binary)], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    return next(int(line.split()[0], 16) for line in lines if line.endswith(f" {symbol}"))


@pytest.fixture(scope="module")
def runs(chain_binary, tmp_path_factory) -> tuple[Path, dict[str, dict[str, int]]]:
    """RUNS runs of the chain target, each saved as an image, plus one more as a gcore core
    file, in one folder: (folder, {run: {pid, score, health, before, after}}), the addresses
    its target printed and when it was saved."""
    folder = tmp_path_factory.mktemp("runs")
    (folder / "notes.txt").write_text("not an image: skipped")
    found = {}
    for i in range(RUNS + 1):
        p = subprocess.Popen(
            [str(chain_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert p.stdout is not None
            _, score, health = p.stdout.readline().split()
            before = time.time_ns()
            if i < RUNS:
                path = folder / f"run-{i}.msimg"
                memscan.Process(p.pid).save_image(path, progress=None)
            else:
                if shutil.which("gcore") is None:
                    pytest.fail("gcore (from gdb) is needed for the core-file run")
                subprocess.run(
                    ["gcore", "-o", str(folder / "core"), str(p.pid)],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                path = folder / f"core.{p.pid}"
            found[run_name(path)] = {
                "pid": p.pid,
                "score": int(score, 16),
                "health": int(health, 16),
                "before": before,
                "after": time.time_ns(),
            }
        finally:
            p.kill()
            p.wait()
    return folder, found


def test_the_global_is_at_one_module_offset_in_every_run(runs, client, chain_binary, tmp_path):
    folder, found = runs
    assert len(image_files(folder)) == RUNS + 1  # notes.txt is skipped
    started = time.monotonic()
    root = scan_images(folder, "i32", SCORE, output=tmp_path / "score", client=client)
    assert time.monotonic() - started < 30
    assert sorted(p.name for p in root.iterdir()) == sorted(f"run={r}" for r in found)

    offset = nm_offset(chain_binary, "score")
    rows = duckdb.sql(EVERY_RUN.format(root=root)).fetchall()
    assert rows == [("chaingame", offset, RUNS + 1, RUNS + 1)]

    hits = duckdb.sql(
        "select run, address, value, module, region_kind, pid, name, epoch_ns(taken) as taken "
        f"from read_parquet('{root}/*/*.parquet', hive_partitioning = true) "
        "where module = 'chaingame'"
    ).pl()
    assert sorted(hits["run"]) == sorted(found)
    for row in hits.iter_rows(named=True):
        run = found[row["run"]]
        assert row["address"] == run["score"]
        assert (row["value"], row["name"], row["pid"]) == (SCORE, "chaingame", run["pid"])
        assert row["region_kind"] == "executable"
        if row["run"].startswith("run-"):  # a memscan image records when it was taken
            assert run["before"] <= row["taken"] <= run["after"]
    # the polars form answers the same
    assert in_every_run(root).select("module", "module_offset").rows() == [("chaingame", offset)]


def test_a_heap_value_is_in_every_run_at_another_address(runs, client, tmp_path):
    folder, found = runs
    root = scan_images(folder, "i32", HEALTH, output=tmp_path / "health", client=client)
    hits = duckdb.sql(
        "select run, address, module, region_kind "
        f"from read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    ).pl()
    for run, facts in found.items():
        mine = hits.filter(run=run)
        assert facts["health"] in mine["address"].to_list(), run
        # a core file does not name [heap]: its heap is an anonymous region
        kind = "heap" if run.startswith("run-") else "anonymous"
        assert mine.filter(address=facts["health"])["region_kind"].to_list() == [kind], run
    heap = hits.filter(pl.col("region_kind").is_in(["heap", "anonymous"]))
    assert heap["address"].n_unique() == heap.height == RUNS + 1  # the heap moves
    assert duckdb.sql(EVERY_RUN.format(root=root)).fetchall() == []  # no static place


def test_runs_without_a_hit_count_and_reruns_and_bad_images_are_refused(runs, client, tmp_path):
    folder, _ = runs
    # a value no run holds: every run still has its (empty) file, so no place is "in every run"
    root = scan_images(folder, "i32", 4242, output=tmp_path / "none", client=client)
    assert len(list(root.glob("run=*/*.parquet"))) == RUNS + 1
    assert duckdb.sql(EVERY_RUN.format(root=root)).fetchall() == []
    with pytest.raises(memscan.InvalidArgument, match="already holds run="):
        scan_images(folder, "i32", 4242, output=root, client=client)
    with pytest.raises(memscan.InvalidArgument, match="unknown value type"):
        scan_images(folder, "i33", 1, output=tmp_path / "x", client=client)
    bad = tmp_path / "bad"
    bad.mkdir()
    data = (folder / "run-0.msimg").read_bytes()
    (bad / "cut.msimg").write_bytes(data[: len(data) // 2])
    with pytest.raises(memscan.InvalidFile, match=r"cut\.msimg"):
        scan_images(bad, "i32", SCORE, output=tmp_path / "bad-out", client=client)


def test_run_names_stay_text_in_every_reader():
    assert run_name("runs/run-07.msimg") == "run-07"
    assert run_name("2024-05-01.msimg") == "r2024-05-01"
    assert run_name("7.msimg") == "r7"
    assert run_name("a b+c.msimg") == "a_b_c"
    assert run_name("true.msimg") == "rtrue"


def test_without_a_client_a_local_cluster_runs_for_the_call_only(runs, tmp_path):
    psutil = pytest.importorskip("psutil")
    folder, found = runs
    me = psutil.Process()
    children = {p.pid for p in me.children(recursive=True)}
    root = scan_images(folder, "i32", SCORE, output=tmp_path / "local", workers=2)
    assert in_every_run(root)["runs"].to_list() == [len(found)]
    deadline = time.monotonic() + 10
    while {p.pid for p in me.children(recursive=True)} - children:
        assert time.monotonic() < deadline, "the local cluster's workers still run"
        time.sleep(0.1)
