"""Parquet export and import with metadata, and hive-partitioned datasets for long recordings.

Files are written under a temporary name next to the target and renamed into place, so an
interrupted write never leaves a half-written file under its final name. They hold another
process's memory, so they are created with mode 0600 (readable by their owner only), whatever
the umask. The temporary name,
``.NAME.<pid>-<host>.<random>.tmp``, names the writing process; a later write next to the same
target removes the temporaries of writers on this machine that no longer run (killed ones).

:func:`load` trusts nothing in a file: anything it cannot load exactly raises
:class:`~memscan.InvalidFile` naming the file and the problem.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import stat
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._lazy import pl
from .errors import InvalidArgument, InvalidFile
from .value_types import VALUE_TYPE_NAMES, stored_value_type
from .value_types import value_type as lookup_value_type

if TYPE_CHECKING:
    import numpy as np
    import polars

    from .history import History

__all__ = [
    "VALUE_TYPE_NAMES",
    "Dataset",
    "Loaded",
    "load",
    "write_parquet",
]

#: Prefix of memscan's keys in a Parquet file's key-value metadata.
PREFIX = "memscan."


def _polars_dtype(value_type: str) -> Any:
    return lookup_value_type(value_type).polars_dtype


# -- writing ----------------------------------------------------------------------------------

#: A temporary file of :func:`write_parquet`: ``.NAME.<pid>-<host token>.<32 hex>.tmp``.
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{8})\.[0-9a-f]{32}\.tmp")


@functools.cache
def _host_token() -> str:
    """Names this machine and pid namespace, so that a pid in a temporary name is only ever
    checked where it means something (not on another host sharing the folder, nor in another
    container)."""
    ns = ""
    if sys.platform == "linux":  # containers have their own pid namespaces
        try:
            ns = os.readlink("/proc/self/ns/pid")
        except OSError:
            pass
    return hashlib.sha1(f"{socket.gethostname()}\0{ns}".encode()).hexdigest()[:8]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we could have written: leave its file alone
    if os.name == "posix":  # signal 0 only checks; on Windows os.kill terminates the process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, under another user
        except (OverflowError, OSError):
            return False
        return True
    return _listed(pid)


def _listed(pid: int) -> bool:
    """Whether the engine lists a process ``pid`` (how :func:`_alive` asks off POSIX)."""
    from . import _native

    return pid in pl.DataFrame(_native.list_processes())["pid"].to_list()


#: Keeps a descriptor out of child processes: ``O_CLOEXEC`` on POSIX, ``O_NOINHERIT`` on Windows
#: (which has no ``O_CLOEXEC``).
_NOINHERIT: int = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0)


def remove_stale_temporaries(folder: Path, name_matches: Callable[[str], bool]) -> list[Path]:
    """Removes the temporaries in ``folder`` left by writers of this host that no longer run,
    for target names accepted by ``name_matches``. Returns the removed paths."""
    removed: list[Path] = []
    host = _host_token()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.fullmatch(entry.name)
        if m is None or m["host"] != host or not name_matches(m["name"]):
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def write_parquet(
    df: polars.DataFrame, path: str | os.PathLike[str], metadata: dict[str, Any]
) -> Path:
    """Writes ``df`` to ``path`` with ``metadata`` (plus memscan's version and the time),
    atomically: under ``.NAME.<pid>-<host>.<random>.tmp`` next to ``path``, then renamed.
    Temporaries of earlier writers of the same name that were killed are removed. Returns
    the path."""
    path = Path(path)
    return _write_parquet(df, path, metadata, stale=lambda name: name == path.name)


def _write_parquet(
    df: polars.DataFrame,
    path: Path,
    metadata: dict[str, Any],
    stale: Callable[[str], bool],
) -> Path:
    from . import __version__

    # The writer's version and time win over copies carried in from a loaded file.
    meta = {**metadata, "version": __version__, "written_ns": str(time.time_ns())}
    text = {PREFIX + k: str(v) for k, v in meta.items()}
    return write_private(path, lambda tmp: df.write_parquet(tmp, metadata=text), stale)


def write_private(
    path: Path, write: Callable[[Path], object], stale: Callable[[str], bool] | None = None
) -> Path:
    """Calls ``write(tmp)`` on a temporary ``.NAME.<pid>-<host>.<random>.tmp`` next to
    ``path``, created beforehand with mode 0600 (read and write for its owner only: the files
    of memscan's frames hold another process's memory), then renames it to ``path``. On any
    error the temporary is removed and ``path`` is left as it was. Temporaries of killed
    writers accepted by ``stale`` (default: those of ``path``) are removed first."""
    return write_atomically(path, write, stale, private=True)


def write_atomically(
    path: Path,
    write: Callable[[Path], object],
    stale: Callable[[str], bool] | None = None,
    *,
    private: bool,
    sync: bool = False,
) -> Path:
    """The one atomic write of memscan's files: ``write(tmp)`` on a temporary
    ``.NAME.<pid>-<host>.<random>.tmp`` next to ``path``, then renamed to ``path``; on any
    error the temporary is removed and ``path`` is left as it was. ``private`` files are
    created 0600 whatever the umask (others follow the umask); ``sync`` flushes the data to
    disk before the rename. Temporaries of killed writers accepted by ``stale`` (default:
    those of ``path``) are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, stale or (lambda name: name == path.name))
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{_host_token()}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOINHERIT
    fd = os.open(tmp, flags, 0o600 if private else 0o666)
    try:
        os.close(fd)
        write(tmp)  # writers truncate the file they open, which keeps its mode
        if private:
            os.chmod(tmp, 0o600)  # and should one replace it instead, the mode is set again
        if sync:
            # FlushFileBuffers (Windows' fsync) needs a handle open for writing.
            mode = os.O_RDONLY if os.name == "posix" else os.O_RDWR
            fd = os.open(tmp, mode | _NOINHERIT)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# -- loading ----------------------------------------------------------------------------------


@dataclass
class Loaded:
    """A Parquet file written by memscan: its frame and memscan's metadata (already checked
    against each other by :func:`load`)."""

    frame: polars.DataFrame
    metadata: dict[str, str]
    path: Path | None = None
    _history: History | None = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.metadata.get("kind", "")

    def history(self) -> History:
        """The file as a :class:`History` (for files written by ``History.to_parquet``),
        exactly as it was written, ``unreadable`` counts included."""
        if self.kind != "history":
            raise InvalidArgument(f"this file holds a {self.kind or 'table'}, not a history")
        if self._history is None:
            self._history = _history_of(self.frame, self.metadata, _where(self.path))
        return self._history


def regular_file_stat(path: Path, where: str) -> os.stat_result:
    """The stat of ``path``, a regular file, else :class:`InvalidFile` saying why."""
    try:
        st = path.stat()
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InvalidFile(f"{where}: {reason}") from e
    if not stat.S_ISREG(st.st_mode):
        raise InvalidFile(f"{where}: not a regular file")
    return st


def _where(path: Path | None) -> str:
    return f"cannot load {str(path)!r}" if path is not None else "cannot load this frame"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def load(path: str | os.PathLike[str]) -> Loaded:
    """Reads a Parquet file written by memscan (a scan, a history, a change map or a dataset
    part), checking its data against its metadata.

    Raises :class:`~memscan.InvalidFile`, naming the file and the problem, for every file it
    cannot load exactly: a missing or unreadable file, one that is not Parquet or is truncated,
    a Parquet file memscan did not write (no ``memscan.version`` metadata), an unknown value
    type or a ``value`` column of another type than the one declared, missing columns, and for
    histories rows that do not form the declared samples x addresses matrix.
    """
    p = Path(path)
    where = _where(p)
    regular_file_stat(p, where)
    try:
        raw = pl.read_parquet_metadata(p)
        frame = pl.read_parquet(p)
    except (Exception, pl.exceptions.PanicException) as e:
        raise InvalidFile(f"{where}: not a readable Parquet file ({_first_line(e)})") from e
    meta = {k[len(PREFIX) :]: v for k, v in raw.items() if k.startswith(PREFIX)}
    if "version" not in meta:
        raise InvalidFile(f"{where}: not written by memscan (no {PREFIX}version metadata)")
    loaded = Loaded(frame, meta, p)
    _check_columns(frame, meta, where)
    if loaded.kind == "history":
        loaded.history()
    return loaded


#: Columns each kind of file must have, with their types (``"value"``: the declared type).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "scan": ("address", "value"),
    "history": ("sample", "timestamp", "label", "address", "value"),
    "change_map": ("start", "end"),
}


def _check_columns(frame: polars.DataFrame, meta: dict[str, str], where: str) -> None:
    kind = meta.get("kind", "")
    missing = [c for c in _REQUIRED.get(kind, ()) if c not in frame.columns]
    if missing:
        raise InvalidFile(f"{where}: a {kind} file needs the column(s) {', '.join(missing)}")
    declared = meta.get("value_type")
    if declared is None:
        if kind in ("scan", "history"):
            raise InvalidFile(f"{where}: no {PREFIX}value_type metadata")
        return
    vt = stored_value_type(declared)
    if vt is None:
        raise InvalidFile(f"{where}: unknown value type {declared!r}")
    want = _polars_dtype(vt)
    for col in ("value", "previous"):
        if col in frame.columns and frame.schema[col] != want:
            raise InvalidFile(
                f"{where}: column {col!r} holds {frame.schema[col]}, "
                f"but the value type is {declared!r} ({want})"
            )
    for col in ("address", "start", "end"):
        if col in frame.columns and frame.schema[col] != pl.UInt64:
            raise InvalidFile(f"{where}: column {col!r} holds {frame.schema[col]}, not UInt64")


def _count(meta: dict[str, str], key: str, where: str) -> int | None:
    text = meta.get(key)
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", text):
        raise InvalidFile(f"{where}: {PREFIX}{key} is {text!r}, not a count")
    return int(text)


def _history_of(frame: polars.DataFrame, meta: dict[str, str], where: str) -> History:
    """Rebuilds a History from its long form, checking that the rows are exactly a samples x
    addresses matrix with one timestamp, label and unreadable count per sample."""
    import numpy as np

    from .history import History

    _check_columns(frame, {**meta, "kind": "history"}, where)
    vt = stored_value_type(meta["value_type"])
    assert vt is not None
    schema = frame.schema
    if not schema["sample"].is_integer():
        raise InvalidFile(f"{where}: column 'sample' holds {schema['sample']}, not integers")
    if schema["timestamp"] != pl.Datetime("ns"):
        raise InvalidFile(f"{where}: column 'timestamp' holds {schema['timestamp']}")
    if schema["label"] not in (pl.String, pl.Null):
        raise InvalidFile(f"{where}: column 'label' holds {schema['label']}, not text")
    has_unreadable = "unreadable" in frame.columns
    if has_unreadable and not schema["unreadable"].is_integer():
        raise InvalidFile(f"{where}: column 'unreadable' holds {schema['unreadable']}")
    for col in ("sample", "timestamp", "address", "value"):
        if frame[col].null_count():
            raise InvalidFile(f"{where}: column {col!r} has missing values")

    rows = frame.height
    n_meta, m_meta = _count(meta, "samples", where), _count(meta, "addresses", where)
    df = frame.sort("sample", maintain_order=True)
    samples = df["sample"].to_numpy()
    if rows == 0:
        # A history with no samples or no addresses has no rows, and loads empty.
        if n_meta and (m_meta is None or m_meta):
            raise InvalidFile(f"{where}: no rows, the metadata says {n_meta} samples")
        n = m = 0
    else:
        n = int(samples[-1]) + 1
        if samples[0] != 0:
            raise InvalidFile(f"{where}: samples do not start at 0")
        if n_meta is not None and n != n_meta:
            raise InvalidFile(f"{where}: {n} samples, the metadata says {n_meta}")
        if rows % n:
            raise InvalidFile(f"{where}: {rows} rows do not form {n} samples of equal size")
        m = rows // n
        if m_meta is not None and m != m_meta:
            raise InvalidFile(f"{where}: {m} addresses per sample, the metadata says {m_meta}")
        if not (samples.reshape(n, m) == np.arange(n, dtype=np.int64)[:, None]).all():
            raise InvalidFile(f"{where}: each sample must have {m} rows")

    address_rows = df["address"].to_numpy().reshape(n, m)
    if n and not (address_rows == address_rows[0]).all():
        raise InvalidFile(f"{where}: the samples do not list the same addresses")
    per_sample = ["timestamp", "label", *(["unreadable"] if has_unreadable else [])]
    if rows:
        varies = df.select(
            pl.col(c).ne_missing(pl.col(c).first().over("sample")).any() for c in per_sample
        ).row(0)
        bad = [c for c, v in zip(per_sample, varies, strict=True) if v]
        if bad:
            raise InvalidFile(f"{where}: {', '.join(bad)} differ(s) within a sample")
    first = df.gather(np.arange(n, dtype=np.int64) * m) if n else df.head(0)

    unreadable: np.ndarray = np.zeros(0, dtype=np.uint32)
    if has_unreadable and n:
        counts = first["unreadable"]
        if counts.null_count() == n:
            pass  # written without the counts: unknown, as for files of older versions
        elif counts.null_count():
            raise InvalidFile(f"{where}: 'unreadable' is missing for some samples only")
        elif counts.min() < 0 or counts.max() > m:  # type: ignore[operator]
            raise InvalidFile(f"{where}: an 'unreadable' count exceeds the {m} addresses")
        else:
            unreadable = counts.cast(pl.UInt32).to_numpy()

    places: list[tuple[str, int] | None] = []
    located = {"module", "module_offset"} & set(frame.columns)
    if len(located) == 1:
        raise InvalidFile(f"{where}: column {located.pop()!r} without its pair")
    if located and (
        schema["module"] not in (pl.String, pl.Null) or not schema["module_offset"].is_integer()
    ):
        raise InvalidFile(f"{where}: columns 'module', 'module_offset' hold the wrong types")
    if n and located:
        row = df.head(m)
        places = [
            (mod, int(off)) if mod is not None and off is not None else None
            for mod, off in zip(
                row["module"].to_list(), row["module_offset"].to_list(), strict=True
            )
        ]
    return History(
        value_type=vt,
        addresses=address_rows[0].copy() if n else np.zeros(0, dtype=np.uint64),
        timestamps_ns=first["timestamp"].cast(pl.Int64).to_numpy(),
        labels=first["label"].cast(pl.String).to_list(),
        values=df["value"].to_numpy().reshape(n, m),
        unreadable=unreadable,
        metadata=dict(meta),
        places=places,
    )


# -- datasets ---------------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_STR_VALUE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
_INT_VALUE = re.compile(r"-?[0-9]+")
#: Words polars or DuckDB read back as a boolean, a float or a date instead of text.
_NOT_TEXT = {"true", "false", "nan", "inf", "infinity", "epoch"}
#: Characters a root may not hold: glob syntax, hive's ``=``, and the quote that ends the
#: string literal of the DuckDB query shown in :class:`Dataset`.
_ROOT_FORBIDDEN = set("*?[]{}=\\'")


def _partition_value(key: str, value: Any) -> str:
    """The folder text of one partition value (see :meth:`Dataset.append`)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        raise InvalidArgument(f"partition {key}={value!r}: use an int or a str, not a bool")
    if isinstance(value, int | np.integer):
        v = int(value)
        if not -(2**63) <= v < 2**63:
            raise InvalidArgument(f"partition {key}={v}: an int partition must fit in int64")
        return str(v)
    if not isinstance(value, str):
        raise InvalidArgument(
            f"partition {key}={value!r}: a partition value is an int or a str, "
            f"not {type(value).__name__}"
        )
    if not _STR_VALUE.fullmatch(value) or value.lower() in _NOT_TEXT:
        raise InvalidArgument(
            f"partition {key}={value!r}: a str partition value starts with an ASCII letter and "
            "holds up to 100 letters, digits, '_', '.' and '-', and is not one of "
            f"{', '.join(sorted(_NOT_TEXT))} (any case): readers would turn it into another "
            "value or type"
        )
    return value


def _is_part_name(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet")


def _kind_of(text: str) -> str:
    return "int" if _INT_VALUE.fullmatch(text) else "str"


class Dataset:
    """A folder of Parquet files partitioned hive-style (``session=a/snapshot=3/part-....parquet``)
    that grows as a recording goes on. polars, DuckDB and Spark read it without memscan::

        pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True)
        duckdb.sql(f"select * from read_parquet('{root}/**/*.parquet', hive_partitioning=true)")

    The root may not contain glob characters (``* ? [ ] { }``), ``=``, a backslash, a quote or
    control characters, since they would change what those queries read: such a root raises
    :class:`~memscan.InvalidArgument`.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        text = os.fspath(root)
        if not isinstance(text, str):
            raise InvalidArgument("a dataset root is a str path")
        bad = sorted({c for c in text if c in _ROOT_FORBIDDEN or not c.isprintable()})
        if bad:
            raise InvalidArgument(
                f"dataset root {text!r} contains {' '.join(repr(c) for c in bad)}: a root may not "
                "hold glob characters (* ? [ ] { }), '=', a backslash, a quote or control "
                "characters, which change what hive-partitioned readers find in it"
            )
        self.root = Path(text)

    def append(
        self, df: polars.DataFrame, metadata: dict[str, Any] | None = None, **partition: Any
    ) -> Path:
        """Writes ``df`` as a new file in the partition given by the keyword arguments.

        Every accepted partition reads back exactly, with its type, in polars and DuckDB, so
        the rules are checked here and anything else raises :class:`~memscan.InvalidArgument`
        before a file is written:

        * a key is an ASCII identifier of up to 64 characters, not a column of ``df`` (the
          partition would replace it), and keys differ also ignoring case (DuckDB);
        * a value is an ``int`` (fitting int64; read back as Int64) or a ``str`` (read back as
          String) that starts with an ASCII letter and holds up to 100 letters, digits, ``_``,
          ``.`` and ``-``, other than ``true``, ``false``, ``nan``, ``inf``, ``infinity`` and
          ``epoch`` in any case (readers parse those as booleans, floats or dates);
          texts such as ``"001"``, ``"a=b"``, ``"a/b"``, ``"a%2Fb"``, ``"*"`` or
          ``"__HIVE_DEFAULT_PARTITION__"`` do not round-trip and are refused;
        * once the dataset has a part, later parts use the same keys in the same order, the
          same kind (int or str) of value for each key and the same columns and types in
          ``df`` (else every later read of the dataset fails).
        """
        return self._append(df, metadata, partition)

    def _append(
        self,
        df: polars.DataFrame,
        metadata: dict[str, Any] | None,
        partition: dict[str, Any],
        name: str | None = None,
    ) -> Path:
        """:meth:`append`, with the part's file name given: ``part-<name>.parquet`` replaces
        the file of that name (so a task run again overwrites its own part)."""
        if not partition:
            raise InvalidArgument("a dataset part needs partition keys, e.g. session='run1'")
        folders = []
        columns = {c.lower() for c in df.columns}
        seen: set[str] = set()
        for k, v in partition.items():
            if not _KEY.fullmatch(k):
                raise InvalidArgument(
                    f"partition key {k!r}: a key is an ASCII identifier of up to 64 characters"
                )
            if k.lower() in columns:
                raise InvalidArgument(f"partition key {k!r} is also a column of the frame")
            if k.lower() in seen:
                raise InvalidArgument(f"partition key {k!r} repeats another key but for case")
            seen.add(k.lower())
            folders.append((k, _partition_value(k, v)))
        self._check_consistent(df, folders)
        folder = self.root.joinpath(*(f"{k}={v}" for k, v in folders))
        if name is None:
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        elif not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise InvalidArgument(f"part name {name!r}: up to 64 letters, digits, '_' and '-'")
        meta = {**(metadata or {}), **{k: v for k, v in folders}}
        return _write_parquet(df, folder / f"part-{name}.parquet", meta, stale=_is_part_name)

    def _existing(self) -> tuple[list[tuple[str, str]], Path] | None:
        """The partition folders and the file of one existing part (the first at every level)."""
        folder, layout = self.root, list[tuple[str, str]]()
        while True:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return None
            sub = next((e for e in entries if "=" in e.name and e.is_dir()), None)
            if sub is None:
                parts = (e for e in entries if e.name.endswith(".parquet") and e.is_file())
                part = next((Path(e.path) for e in parts if not e.name.startswith(".")), None)
                return (layout, part) if part is not None else None
            k, v = sub.name.split("=", 1)
            layout.append((k, v))
            folder = Path(sub.path)

    def _check_consistent(self, df: polars.DataFrame, folders: list[tuple[str, str]]) -> None:
        existing = self._existing()
        if existing is None:
            return
        layout, part = existing
        have = [k for k, _ in layout]
        want = [k for k, _ in folders]
        if have != want:
            raise InvalidArgument(
                f"this dataset is partitioned by {have or 'nothing'}; a part with keys {want} "
                "would make it unreadable"
            )
        for (k, old), (_, new) in zip(layout, folders, strict=True):
            if _kind_of(old) != _kind_of(new):
                raise InvalidArgument(
                    f"partition {k} holds {_kind_of(old)} values in this dataset, "
                    f"not {_kind_of(new)} like {new!r}"
                )
        try:
            schema = pl.read_parquet_schema(part)
        except (Exception, pl.exceptions.PanicException):
            return  # an unreadable part is reported when the dataset is read
        if list(schema.items()) != list(df.schema.items()):
            raise InvalidArgument(
                f"this dataset's parts have the columns {dict(schema)}; a frame with "
                f"{dict(df.schema)} would make it unreadable"
            )

    def files(self) -> list[Path]:
        """The finished files (temporary ones are not listed)."""
        return sorted(
            p for p in self.root.rglob("*.parquet") if not p.name.startswith(".") and p.is_file()
        )

    def scan(self) -> polars.LazyFrame:
        """A lazy polars frame over every file, with the partition keys as columns."""
        return pl.scan_parquet(f"{self.root}/**/*.parquet", hive_partitioning=True)
