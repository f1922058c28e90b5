"""Fuzzing every parser of outside text or files: no input may crash, hang or raise anything
but memscan's own errors (or TypeError/ValueError), and accepted inputs mean what they say.

Rules under test (the Rust side is being changed to follow the last three):

* ``memscan.load`` raises only ``InvalidFile`` for a file it cannot load exactly;
* ``Dataset.append`` refuses (``InvalidArgument``) any partition that would not read back;
* ``memscan.cli.main`` returns an exit status and prints one escaped error line;
* a number string is accepted iff Python's ``int(s, 0)`` or ``float(s)`` accepts it;
* a hex pattern is whitespace/comma separated tokens of exactly two hex digits or ``??``
  (each with an optional single leading ``0x``), or one compact run of hex digit / ``??`` pairs;
* value type names are i8..u64, f32, f64 and their aliases; region kinds likewise.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import memscan
from memscan.cli import main
from memscan.history import History
from memscan.io import VALUE_TYPE_NAMES, Dataset, load, write_parquet

FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(n: int) -> settings:
    return settings(FUZZ, max_examples=n)


@pytest.fixture(scope="module")
def demo() -> Iterator[memscan.demo.DemoTarget]:
    with memscan.demo.start() as g:
        yield g


@pytest.fixture(scope="module")
def dproc(demo) -> memscan.Process:
    return memscan.Process(demo.pid)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def fresh(folder: Path, suffix: str = ".parquet") -> Path:
    return folder / f"{uuid.uuid4().hex}{suffix}"


# -- Parquet files given to memscan.load ---------------------------------------------------------


def sample_history() -> History:
    n, m = 5, 3
    return History(
        value_type="u64",
        addresses=np.array([0x7000, 0x7008, 0x7010], dtype=np.uint64),
        timestamps_ns=np.arange(n, dtype=np.int64) + 1_700_000_000_000_000_000,
        labels=["a", None, "b", None, None],
        values=(np.arange(n * m, dtype=np.uint64) + np.uint64(2**64 - 20)).reshape(n, m),
        unreadable=np.array([0, 1, 0, 3, 0], dtype=np.uint32),
    )


@pytest.fixture(scope="module")
def originals(folder) -> dict[str, Path]:
    h = folder / "history.parquet"
    sample_history().to_parquet(str(h))
    s = folder / "scan.parquet"
    frame = pl.DataFrame(
        {
            "address": pl.Series([16, 24], dtype=pl.UInt64),
            "value": pl.Series([1, 2], dtype=pl.Int32),
        }
    )
    write_parquet(frame, s, {"kind": "scan", "value_type": "i32"})
    return {"history": h, "scan": s}


DTYPES = {
    "i8": pl.Int8,
    "i16": pl.Int16,
    "i32": pl.Int32,
    "i64": pl.Int64,
    "u8": pl.UInt8,
    "u16": pl.UInt16,
    "u32": pl.UInt32,
    "u64": pl.UInt64,
    "f32": pl.Float32,
    "f64": pl.Float64,
}


def check_load(path: Path) -> memscan.io.Loaded | None:
    """Loads ``path``: either InvalidFile naming it, or a result whose parts agree."""
    try:
        loaded = load(path)
    except memscan.InvalidFile as e:
        assert str(path) in str(e)
        return None
    vt = loaded.metadata.get("value_type")
    if vt is not None and "value" in loaded.frame.columns:
        assert loaded.frame["value"].dtype == DTYPES[VALUE_TYPE_NAMES[vt]]
    if loaded.kind == "history":
        h = loaded.history()
        assert h.values.shape == (h.samples, len(h.addresses))
        assert len(h.labels) == h.samples and len(h.unreadable) in (0, h.samples)
        long = h.to_long()
        in_file = loaded.frame.sort("sample", maintain_order=True)
        long = long.drop(c for c in ("unreadable", "module", "module_offset") if c not in in_file)
        assert long.equals(in_file.select(long.columns))
    return loaded


@fuzz(150)
@given(
    data=st.binary(max_size=600),
    head=st.sampled_from([b"", b"PAR1"]),
    tail=st.sampled_from([b"", b"PAR1", b"\x08\x00\x00\x00PAR1", b"\xff\xff\xff\x7fPAR1"]),
)
def test_load_random_bytes(folder, data, head, tail):
    path = fresh(folder)
    path.write_bytes(head + data + tail)
    assert check_load(path) is None


@fuzz(100)
@given(which=st.sampled_from(["history", "scan"]), cut=st.floats(0, 1, exclude_max=True))
def test_load_truncated_files(folder, originals, which, cut):
    data = originals[which].read_bytes()
    path = fresh(folder)
    path.write_bytes(data[: int(len(data) * cut)])
    assert check_load(path) is None


@fuzz(150)
@given(
    which=st.sampled_from(["history", "scan"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4),
)
def test_load_corrupted_bytes(folder, originals, which, flips):
    data = bytearray(originals[which].read_bytes())
    for where, xor in flips:
        data[int(len(data) * where)] ^= xor
    path = fresh(folder)
    path.write_bytes(bytes(data))
    check_load(path)


META_VALUES = st.one_of(
    st.none(),
    st.sampled_from(
        ["i32", "u64", "f64", "int64", "uint64", "U64", "i33", "", "history", "scan", "change_map",
         "0", "5", "3", "15", "-1", "1e3", " 5", "99999999999999999999"]
    ),
    st.text(max_size=6),
)  # fmt: skip


@fuzz(150)
@given(
    changes=st.dictionaries(
        st.sampled_from(["value_type", "kind", "samples", "addresses", "version"]),
        META_VALUES,
        max_size=3,
    )
)
@example(changes={"value_type": "i33"})
@example(changes={"value_type": "f64"})
@example(changes={"samples": "3"})
@example(changes={"kind": "scan"})
def test_load_tampered_metadata(folder, originals, changes):
    raw = pl.read_parquet_metadata(originals["history"])
    for k, v in changes.items():
        if v is None:
            raw.pop("memscan." + k, None)
        else:
            raw["memscan." + k] = v
    path = fresh(folder)
    pl.read_parquet(originals["history"]).write_parquet(path, metadata=raw)
    loaded = check_load(path)
    if loaded is not None and loaded.kind == "history":
        h, original = loaded.history(), sample_history()
        assert (h.values == original.values).all() and h.value_type == "u64"
        assert h.unreadable.tolist() == original.unreadable.tolist()


@fuzz(100)
@given(
    column=st.sampled_from(["sample", "timestamp", "label", "unreadable", "address", "value"]),
    action=st.sampled_from(["drop", "null", "cast_str", "cast_i64", "cast_f32", "shuffle"]),
    row=st.integers(0, 14),
)
def test_load_tampered_columns(folder, originals, column, action, row):
    frame = pl.read_parquet(originals["history"])
    col = frame[column]
    if action == "drop":
        frame = frame.drop(column)
    elif action == "null":
        frame = frame.with_columns(col.scatter(row, None))
    elif action == "shuffle":
        frame = frame.with_columns(col.shuffle(seed=row))
    else:
        dtype = {"cast_str": pl.String, "cast_i64": pl.Int64, "cast_f32": pl.Float32}[action]
        frame = frame.with_columns(col.cast(dtype, strict=False))
    path = fresh(folder)
    frame.write_parquet(path, metadata=pl.read_parquet_metadata(originals["history"]))
    check_load(path)


# -- Dataset partition values --------------------------------------------------------------------

PARTITION_VALUES = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="abcXYZ019_.-=/%*?[]{}' \x00\x1b", max_size=8),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
    st.sampled_from(
        ["run1", "a=b", "=", "a*b?", "a%2Fb", "__HIVE_DEFAULT_PARTITION__", "001", "true", "NaN",
         "inf", "x" * 300, "a.parquet", 2**63, -(2**63)]
    ),
)  # fmt: skip


@fuzz(120)
@given(
    key=st.one_of(st.sampled_from(["session", "chunk", "x", "Session_2"]), st.text(max_size=6)),
    value=PARTITION_VALUES,
)
def test_dataset_partitions_read_back_or_are_refused(folder, key, value):
    root = folder / uuid.uuid4().hex
    ds = Dataset(root)
    frame = pl.DataFrame({"x": [1, 2]})
    try:
        ds.append(frame, **{key: value})
    except (memscan.InvalidArgument, TypeError):
        assert not root.exists()  # refused before anything was written
        return
    assert isinstance(value, int | str) and not isinstance(value, bool)
    df = ds.scan().collect()
    assert df[key].to_list() == [value, value]
    assert df.schema[key] == (pl.String if isinstance(value, str) else pl.Int64)
    assert df["x"].to_list() == [1, 2] and len(ds.files()) == 1


@fuzz(50)
@given(root=st.text(alphabet="ab/=[]*?{}'\\\x00\n%. ", min_size=1, max_size=8))
def test_dataset_roots_are_readable_or_refused(folder, root):
    relative = root.lstrip("/")  # stay inside this test's folder
    assume(relative and ".." not in Path(relative).parts)
    sandbox = folder / "roots" / uuid.uuid4().hex
    try:
        ds = Dataset(sandbox / relative)
    except memscan.InvalidArgument:
        return
    assert ds.root.is_relative_to(sandbox)
    ds.append(pl.DataFrame({"v": [7]}), session="s1")
    assert ds.scan().collect()["v"].to_list() == [7]


# -- the command line ----------------------------------------------------------------------------

CLI_TOKENS = st.one_of(
    st.sampled_from(
        ["--type", "--value", "--op", "--high", "--tolerance", "--kinds", "--all-regions",
         "--alignment", "--limit", "i32", "u64", "f32", "i33", "near", "between", "eq", "gt",
         "heap", "stack", "-1", "0", "7", "100", "1e3", "0.5", "nan", "inf", "0x-5", "--5",
         "99999999999", "\x1b[2J", "", "--help", "-h", "ms\x1b]0;t\x07"]
    ),
    st.text(max_size=6),
)  # fmt: skip


def no_control(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


@fuzz(120)
@given(
    command=st.sampled_from(["scan", "regions", "ps", "scan", "scan"]),
    target=st.one_of(
        st.just("PID"), st.sampled_from(["0", "99999999999", ""]), st.text(max_size=6)
    ),
    rest=st.lists(CLI_TOKENS, max_size=6),
)
@example(command="scan", target="PID", rest=["--value", "100"])
@example(command="scan", target="PID", rest=["--type", "f32", "--value", "1", "--op", "near"])
@example(command="scan", target="PID", rest=["--value", "0x-5"])
@example(command="scan", target="99999999999", rest=[])
def test_cli_returns_a_status_and_prints_one_escaped_error(demo, folder, command, target, rest):
    target = str(demo.pid) if target == "PID" else target
    # Stay quick and write nowhere: every scan is limited to the stack and prints 5 rows; no
    # --out (nor an abbreviation of it).
    rest = [t for t in rest if not (t.startswith("--o") and t != "--op")]
    argv = [command, target, *rest]
    if command == "scan":
        argv += ["--kinds", "stack"]
    argv += ["--limit", "5"]
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    finally:
        os.chdir(cwd)
    assert status in (0, 1, 2), (argv, status)
    event(f"exit status {status}")
    assert no_control(out.getvalue()) and no_control(err.getvalue()), argv
    assert "Traceback" not in err.getvalue()
    if status:
        first = err.getvalue().splitlines()[0]
        assert first.startswith("memscan: error: "), (argv, err.getvalue())


# -- value type and region kind names ------------------------------------------------------------

KIND_NAMES = {
    **{k: k for k in ("heap", "stack", "executable", "library", "anonymous", "file", "special")},
    "exe": "executable",
    "image": "executable",
    "main": "executable",
    "lib": "library",
    "libraries": "library",
    "shared": "library",
    "anon": "anonymous",
}


def name_variants(names: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(str.upper),
        st.sampled_from(names).map(lambda n: f" {n}\t"),
        st.sampled_from(names).map(lambda n: n + "\x00"),
        st.sampled_from(names).map(lambda n: n[:-1]),
        st.text(max_size=8),
    )


@fuzz(100)
@given(name=name_variants(sorted(VALUE_TYPE_NAMES)))
@example(name="i33")
@example(name="I32")
def test_value_type_names(demo, dproc, name):
    try:
        s = dproc.scanner(name, address_range=(demo.base, demo.base + 64))
    except memscan.InvalidArgument:
        assert name not in VALUE_TYPE_NAMES, name
        return
    # Accepted: a known name or alias (a case or spacing variant of one at most), meaning it.
    canonical = VALUE_TYPE_NAMES.get(name) or VALUE_TYPE_NAMES.get(name.strip().lower())
    assert canonical is not None, f"{name!r} was accepted"
    assert s.value_type == canonical


@fuzz(100)
@given(name=name_variants(sorted(KIND_NAMES)))
def test_region_kind_names(dproc, name):
    try:
        s = dproc.scanner("u8", kinds=[name], writable_only=False)
    except memscan.InvalidArgument:
        assert name not in KIND_NAMES, name
        return
    canonical = KIND_NAMES.get(name) or KIND_NAMES.get(name.strip().lower())
    assert canonical is not None, f"{name!r} was accepted"
    assert {r.kind for r in s.region_list()} <= {canonical}


# -- number strings ------------------------------------------------------------------------------


def python_number(text: str) -> int | float | None:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def outcome(fn) -> tuple[str, object]:
    try:
        return "ok", fn().addresses.tolist()
    except (memscan.MemscanError, ValueError, TypeError) as e:
        return type(e).__name__, None


NUMBER_TEXT = st.one_of(
    st.text(alphabet="0123456789xXbBoOeE+-_. \tafinINFAN", max_size=8),
    st.text(max_size=6),
    st.integers().map(str),
    st.integers().map(hex),
    st.floats().map(repr),
)


@fuzz(200)
@given(text=NUMBER_TEXT, vtype=st.sampled_from(["i32", "u8", "i64", "u64", "f32", "f64"]))
@example(text="0x-5", vtype="i32")
@example(text="--5", vtype="i32")
@example(text="-+5", vtype="i32")
@example(text="1_0_", vtype="i32")
@example(text="1__0", vtype="i32")
@example(text="1_000", vtype="i32")
@example(text=" 0x1F ", vtype="u8")
@example(text="0b101", vtype="i32")
@example(text="1e3", vtype="i64")
@example(text=str(2**64 - 1), vtype="u64")
def test_number_strings_mean_what_python_reads(demo, dproc, text, vtype):
    span = {"address_range": (demo.base, demo.base + 256)}
    got = outcome(lambda: dproc.scan(vtype, text, **span))
    expected = python_number(text)
    if expected is None:
        assert got[0] == "InvalidValue", (text, got)
    else:
        assert got == outcome(lambda: dproc.scan(vtype, expected, **span)), (text, expected)


# -- hex patterns --------------------------------------------------------------------------------

HEX = set("0123456789abcdefABCDEF")


def reference_pattern(text: str) -> tuple[bytes, bytes] | None:
    """The grammar over ASCII separators: (bytes, mask), or None when refused. Tokens are split
    at whitespace and commas; each is an optional 0x and then whole bytes: pairs of hex digits
    or ``?`` (a free nibble: ``??`` any byte, ``4?`` and ``?8`` half a byte). At least one byte is
    wholly fixed."""
    tokens = [t for t in re.split(r"[\t\n\x0b\x0c\r ,]+", text) if t]
    if not tokens:
        return None
    pairs = []
    for t in tokens:
        run = t[2:] if t[:2] in ("0x", "0X") else t
        if not run or len(run) % 2:
            return None
        pairs += [run[i : i + 2] for i in range(0, len(run), 2)]
    out, mask = bytearray(), bytearray()
    for p in pairs:
        if not set(p) <= HEX | {"?"}:
            return None
        hi, lo = ((0, 0) if c == "?" else (int(c, 16), 0xF) for c in p)
        out.append(hi[0] << 4 | lo[0])
        mask.append(hi[1] << 4 | lo[1])
    if 0xFF not in mask:
        return None
    return bytes(out), bytes(mask)


def render(tokens: list[int | None], style: str, seps: list[str], prefix: list[bool]) -> str:
    texts = []
    for i, t in enumerate(tokens):
        if t is None:
            texts.append("??")
        else:
            hx = f"{t:02x}" if i % 2 else f"{t:02X}"
            texts.append(("0x" if prefix[i % len(prefix)] and style != "compact" else "") + hx)
    if style == "compact":
        return "".join(texts)
    return "".join(
        t + (seps[i % len(seps)] if i < len(texts) - 1 else "") for i, t in enumerate(texts)
    )


@fuzz(100)
@given(
    tokens=st.lists(st.one_of(st.none(), st.integers(0, 255)), min_size=1, max_size=8).filter(
        lambda ts: any(t is not None for t in ts)
    ),
    style=st.sampled_from(["separated", "compact"]),
    seps=st.lists(st.sampled_from([" ", ",", ", ", "\t", "  ", "\n"]), min_size=1, max_size=3),
    prefix=st.lists(st.booleans(), min_size=1, max_size=3),
)
def test_valid_hex_patterns_mean_their_bytes(tokens, style, seps, prefix):
    text = render(tokens, style, seps, prefix)
    data, mask = memscan.hex_pattern_bytes(text)
    assert list(mask) == [0 if t is None else 0xFF for t in tokens], text
    assert list(data) == [0 if t is None else t for t in tokens], text


INVALID_PATTERNS = st.one_of(
    st.sampled_from(["4D 5", "0x0x4D 53", "+4", "4D ?", "-1", "4G", "4D5", "?", "4D ???", "0x",
                     "", " ", ",", "4D 0x", "0x0x4D", "4D 0x0x53", "?4D", "4D ?? ?"]),
    # a list of byte tokens with one token of the wrong length
    st.tuples(
        st.lists(st.integers(0, 255).map(lambda b: f"{b:02X}"), max_size=3),
        st.sampled_from(["5", "ABC", "?", "???", "0x5", "+4D", "4D+", "-4D", "g0", "0x0x4D"]),
    ).map(lambda p: " ".join([*p[0], p[1]])),
)  # fmt: skip


@fuzz(80)
@given(text=INVALID_PATTERNS)
def test_invalid_hex_patterns_are_refused(demo, dproc, text):
    with pytest.raises(memscan.InvalidArgument):
        memscan.hex_pattern_bytes(text)
    with pytest.raises(memscan.InvalidArgument):
        dproc.find_bytes(text, progress=None, address_range=(demo.base, demo.base + 256))


def test_multi_byte_tokens_in_a_list_mean_their_bytes():
    # Every token is whole bytes: "4D53 00" is 4D 53 00, as "4D5300" and "4D 53 00" are.
    for text in ("4D 5300", "4D53 00", "4D5300", "0x4D,0x5300"):
        data, mask = memscan.hex_pattern_bytes(text)
        assert (list(data), list(mask)) == ([0x4D, 0x53, 0x00], [0xFF] * 3), text


@fuzz(200)
@given(
    text=st.one_of(
        st.text(max_size=10), st.text(alphabet="0123456789abcdefABx?, \t+-", max_size=12)
    )
)
def test_any_text_as_a_hex_pattern(demo, dproc, text):
    span = {"progress": None, "address_range": (demo.base, demo.base + 64)}
    try:
        data, mask = memscan.hex_pattern_bytes(text)
    except memscan.InvalidArgument:
        with pytest.raises(memscan.InvalidArgument):
            dproc.find_bytes(text, **span)
        got = None
    else:
        assert len(data) == len(mask) > 0
        assert set(mask) <= {0, 0x0F, 0xF0, 0xFF}
        assert all(d & ~k == 0 for d, k in zip(data, mask, strict=True))
        dproc.find_bytes(text, **span)
        got = (data, mask)
    if text.isascii():
        assert got == reference_pattern(text), text


@fuzz(80)
@given(
    offset=st.integers(0, 200),
    length=st.integers(1, 12),
    wild=st.lists(st.booleans(), min_size=12, max_size=12),
    style=st.sampled_from(["separated", "compact"]),
)
def test_found_patterns_match_memory(demo, dproc, offset, length, wild, style):
    memory = dproc.read(demo.base, 256 + 16)  # matches may start up to the 256th byte
    chunk = memory[offset : offset + length]
    tokens: list[int | None] = [None if wild[i] else b for i, b in enumerate(chunk)]
    if all(t is None for t in tokens):
        tokens[0] = chunk[0]
    text = render(tokens, style, [" "], [False])
    found = dproc.find_bytes(text, progress=None, address_range=(demo.base, demo.base + 256))
    assert demo.base + offset in found.tolist()
    for address in found.tolist():
        at = memory[address - demo.base : address - demo.base + length]
        assert all(t is None or t == b for t, b in zip(tokens, at, strict=True))
