"""Loading checks every file against its metadata; datasets refuse partitions that would not
read back; temporaries of killed writers are cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import memscan
from memscan.history import History
from memscan.io import Dataset, load, write_parquet

# -- load ---------------------------------------------------------------------------------------


def small_history(value_type: str = "i32", n: int = 4, m: int = 3) -> History:
    dtype = np.dtype({"i32": np.int32, "u64": np.uint64, "f64": np.float64}[value_type])
    return History(
        value_type=value_type,
        addresses=np.array([0x1000 + 8 * j for j in range(m)], dtype=np.uint64),
        timestamps_ns=np.arange(n, dtype=np.int64) * 1_000_000 + 1_700_000_000_000_000_000,
        labels=[None if i % 2 else f"event {i}" for i in range(n)],
        values=np.arange(n * m).reshape(n, m).astype(dtype),
        unreadable=np.array([i % 2 for i in range(n)], dtype=np.uint32),
    )


def rewrite(src: Path, dst: Path, frame=None, **meta_changes: str | None) -> Path:
    """Copies a memscan file with its frame and/or memscan.* metadata changed (None drops)."""
    raw = pl.read_parquet_metadata(src)
    for k, v in meta_changes.items():
        if v is None:
            raw.pop("memscan." + k, None)
        else:
            raw["memscan." + k] = v
    (pl.read_parquet(src) if frame is None else frame).write_parquet(dst, metadata=raw)
    return dst


@pytest.fixture
def history_file(tmp_path) -> Path:
    path = tmp_path / "h.parquet"
    small_history().to_parquet(str(path))
    return path


def assert_invalid_file(path: Path, match: str) -> None:
    with pytest.raises(memscan.InvalidFile, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


def test_random_bytes_missing_files_and_folders_are_invalid_files(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(os.urandom(3000))
    assert_invalid_file(junk, "not a readable Parquet file")
    assert_invalid_file(tmp_path / "missing.parquet", "No such file")
    assert_invalid_file(tmp_path, "not a regular file")
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"PAR1" + os.urandom(100) + b"PAR1")
    assert_invalid_file(fake, "not a readable Parquet file")


def test_foreign_parquet_is_an_invalid_file(tmp_path):
    path = tmp_path / "foreign.parquet"
    pl.DataFrame({"address": [1], "value": [2]}).write_parquet(path)
    assert_invalid_file(path, "not written by memscan")


def test_truncated_files_are_invalid_files(history_file, tmp_path):
    data = history_file.read_bytes()
    for cut in (0, 4, len(data) // 2, len(data) - 8, len(data) - 1):
        short = tmp_path / f"cut{cut}.parquet"
        short.write_bytes(data[:cut])
        assert_invalid_file(short, "not a readable Parquet file")


@pytest.mark.parametrize("value_type", ["i33", "f64", "u32", "I32", " i32", "", "history"])
def test_history_value_type_must_name_the_value_column(history_file, tmp_path, value_type):
    bad = rewrite(history_file, tmp_path / "bad.parquet", value_type=value_type)
    assert_invalid_file(bad, "value type")


def test_value_type_aliases_load_as_their_short_name(history_file, tmp_path):
    ok = rewrite(history_file, tmp_path / "alias.parquet", value_type="int32")
    assert load(ok).history().value_type == "i32"


@pytest.mark.parametrize("value_type", ["i33", "f64"])
def test_scan_value_type_must_name_the_value_column(game, proc, tmp_path, value_type):
    s = proc.scan("i32", 100, address_range=(game.base, game.base + 512))
    s.to_parquet(str(tmp_path / "s.parquet"))
    bad = rewrite(tmp_path / "s.parquet", tmp_path / "bad.parquet", value_type=value_type)
    assert_invalid_file(bad, "value type")
    no_type = rewrite(tmp_path / "s.parquet", tmp_path / "none.parquet", value_type=None)
    assert_invalid_file(no_type, "value_type")


@pytest.mark.parametrize("column", ["sample", "timestamp", "label", "address", "value"])
def test_history_columns_are_required(history_file, tmp_path, column):
    frame = pl.read_parquet(history_file).drop(column)
    bad = rewrite(history_file, tmp_path / "bad.parquet", frame=frame)
    assert_invalid_file(bad, column)


def test_history_rows_must_form_the_matrix(history_file, tmp_path):
    frame = pl.read_parquet(history_file)
    cases = {
        "one row missing": frame.head(-1),
        "a row twice": pl.concat([frame, frame.tail(1)]),
        "address lists differ": frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 4)
            .then(pl.lit(0xDEAD, dtype=pl.UInt64))
            .otherwise(pl.col("address"))
            .alias("address")
        ),
        "label differs in a sample": frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("x")).otherwise("label").alias("label")
        ),
        "samples not from 0": frame.with_columns(pl.col("sample") + 1),
        "unreadable above the addresses": frame.with_columns(
            pl.lit(7, pl.UInt32).alias("unreadable")
        ),
        "value of another type": frame.with_columns(pl.col("value").cast(pl.Int64)),
        "null value": frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise("value").alias("value")
        ),
    }
    for what, bad_frame in cases.items():
        bad = rewrite(history_file, tmp_path / "bad.parquet", frame=bad_frame)
        with pytest.raises(memscan.InvalidFile) as info:
            load(bad)
        assert str(bad) in str(info.value), what


def test_history_shape_metadata_is_checked(history_file, tmp_path):
    for meta in ({"samples": "5"}, {"addresses": "2"}, {"samples": "-1"}, {"addresses": "x"}):
        bad = rewrite(history_file, tmp_path / "bad.parquet", **meta)
        assert_invalid_file(bad, "samples|addresses|count")


def test_history_rows_in_any_order_load_the_same(history_file, tmp_path):
    frame = pl.read_parquet(history_file)
    shuffled = frame.sort("sample", descending=True, maintain_order=True)
    ok = rewrite(history_file, tmp_path / "ok.parquet", frame=shuffled)
    a, b = load(history_file).history(), load(ok).history()
    assert (a.values == b.values).all() and a.labels == b.labels


def test_loaded_history_keeps_address_order(tmp_path):
    h = small_history()
    h.addresses = h.addresses[::-1].copy()
    h.to_parquet(str(tmp_path / "h.parquet"))
    back = load(tmp_path / "h.parquet").history()
    assert back.addresses.tolist() == h.addresses.tolist()
    assert (back.values == h.values).all()


def test_scan_written_by_memscan_loads(game, proc, tmp_path):
    s = proc.scan("u64", 2**64 - 1, address_range=(game.base, game.base + 512))
    s.to_parquet(str(tmp_path / "s.parquet"))
    loaded = load(tmp_path / "s.parquet")
    assert loaded.kind == "scan" and loaded.frame["value"].to_list() == [2**64 - 1] * len(s)
    with pytest.raises(memscan.InvalidArgument):
        loaded.history()


# -- datasets -----------------------------------------------------------------------------------

FRAME = pl.DataFrame({"x": [1, 2]})


@pytest.mark.parametrize(
    "value",
    [
        "a=b",
        "=",
        "a*b?",
        "a[1]",
        "a%2Fb",
        "__HIVE_DEFAULT_PARTITION__",
        "a\0b",
        "x" * 300,
        "",
        ".",
        "..",
        "a/b",
        "a b",
        "a\x1bb",
        "001",
        "1.5",
        "2024-01-01",
        "true",
        "False",
        "NaN",
        "inf",
        "Infinity",
        "epoch",
        True,
        1.5,
        None,
        b"run",
        2**63,
        -(2**63) - 1,
    ],
)
def test_dataset_refuses_values_that_do_not_read_back(tmp_path, value):
    ds = Dataset(tmp_path / "ds")
    with pytest.raises(memscan.InvalidArgument, match="partition"):
        ds.append(FRAME, session=value)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("key", ["1a", "a-b", "é", "k" * 65, "x", "X"])
def test_dataset_refuses_bad_keys(tmp_path, key):
    with pytest.raises(memscan.InvalidArgument, match="key"):
        Dataset(tmp_path / "ds").append(FRAME, **{key: "run"})


def test_dataset_keys_differ_ignoring_case(tmp_path):
    with pytest.raises(memscan.InvalidArgument, match="key"):
        Dataset(tmp_path / "ds").append(FRAME, run="a", RUN="b")


@pytest.mark.parametrize(
    "root", ["a[1]", "a=b", "a*", "a?b", "a{b}", "a\\b", "a'b", "a\nb", "a\0b"]
)
def test_dataset_refuses_roots_that_globs_misread(tmp_path, root):
    with pytest.raises(memscan.InvalidArgument, match="root"):
        Dataset(tmp_path / root)


@pytest.mark.parametrize(
    "value", ["run1", "a.b", "A-b_c", "e5", "nan1", "null", "None", "r" * 100, 0, -5, 2**63 - 1]
)
def test_dataset_values_round_trip_exactly(tmp_path, value):
    ds = Dataset(tmp_path / "ds")
    ds.append(FRAME, session=value)
    ds.append(FRAME, session=value)
    df = ds.scan().collect()
    assert df["session"].to_list() == [value] * 4
    assert df.schema["session"] == (pl.Int64 if isinstance(value, int) else pl.String)
    assert len(ds.files()) == 2 and all(p.is_file() for p in ds.files())
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"select session from read_parquet('{ds.root}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert [r[0] for r in rows] == [value] * 4


def test_dataset_parts_must_agree(tmp_path):
    ds = Dataset(tmp_path / "ds")
    ds.append(FRAME, session="a", chunk=0)
    for bad in (
        lambda: ds.append(FRAME, session="b"),  # fewer keys
        lambda: ds.append(FRAME, chunk=1, session="b"),  # other order
        lambda: ds.append(FRAME, session="b", chunk="c1"),  # str where ints were
        lambda: ds.append(FRAME, session=3, chunk=1),  # int where strs were
        lambda: ds.append(pl.DataFrame({"y": [1]}), session="b", chunk=1),  # other columns
        lambda: ds.append(FRAME.cast({"x": pl.Int32}), session="b", chunk=1),  # other types
        lambda: ds.append(FRAME.rename({"x": "chunk"}), session="b", chunk=1),  # key = column
    ):
        with pytest.raises(memscan.InvalidArgument):
            bad()
    ds.append(FRAME, session="b", chunk=1)
    df = ds.scan().collect()
    assert df.height == 4 and sorted(set(df["chunk"].to_list())) == [0, 1]


# -- temporaries --------------------------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import polars as pl
    from memscan.io import write_parquet

    class Killed(pl.DataFrame):
        def write_parquet(self, file, *a, **k):
            open(file, "wb").write(b"PAR1 half written")
            print(file, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    write_parquet(Killed({"x": [1]}), sys.argv[1], {"kind": "test"})
    """
)


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "out.parquet"
    r = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True, text=True
    )
    assert r.returncode == -signal.SIGKILL
    tmp = Path(r.stdout.strip())
    assert tmp.exists() and tmp.parent == tmp_path and tmp.name.startswith(".out.parquet.")
    pid = int(tmp.name.split(".")[3].split("-")[0])
    assert pid > 0 and not Path(f"/proc/{pid}").exists()  # the temp names its writer

    # A live writer's temporary, and one from another host, are left alone.
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        host = tmp.name.split(".")[3].split("-")[1]
        live_tmp = tmp_path / f".out.parquet.{live.pid}-{host}.{'a' * 32}.tmp"
        other = "0" * 8 if host != "0" * 8 else "1" * 8
        other_host = tmp_path / f".out.parquet.{pid}-{other}.{'b' * 32}.tmp"
        other_name = tmp_path / f".other.parquet.{pid}-{host}.{'c' * 32}.tmp"
        for p in (live_tmp, other_host, other_name):
            p.write_bytes(b"x")
        write_parquet(pl.DataFrame({"x": [2]}), target, {"kind": "test"})
        assert not tmp.exists()
        assert live_tmp.exists() and other_host.exists() and other_name.exists()
        assert pl.read_parquet(target)["x"].to_list() == [2]
    finally:
        live.kill()
        live.wait()


def test_writers_are_alive_by_signal_0_on_posix_and_by_the_engines_list_elsewhere():
    # On Windows os.kill(pid, 0) would terminate the writer: there _alive asks the engine.
    from memscan.io import _alive, _listed

    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for pid, running in [(os.getpid(), True), (live.pid, True), (dead.pid, False)]:
            assert _alive(pid) is running and _listed(pid) is running, pid
        assert live.poll() is None
    finally:
        live.kill()
        live.wait()


def test_dataset_parts_clean_killed_temporaries(tmp_path):
    ds = Dataset(tmp_path / "ds")
    first = ds.append(FRAME, session="a")
    r = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(first.parent / "part-1-x.parquet")],
        capture_output=True,
        text=True,
    )
    tmp = Path(r.stdout.strip())
    assert tmp.exists()
    ds.append(FRAME, session="a")
    assert not tmp.exists() and len(ds.files()) == 2


def test_resaved_files_carry_the_writers_version(history_file, tmp_path):
    old = rewrite(history_file, tmp_path / "old.parquet", version="0.0.1")
    h = load(old).history()
    assert h.metadata["version"] == "0.0.1"
    h.to_parquet(str(tmp_path / "new.parquet"))
    assert load(tmp_path / "new.parquet").metadata["version"] == memscan.__version__
