"""Many memory images at once: scan a folder of images (one per run of a program, say) in
parallel with Dask, into one hive-partitioned Parquet dataset that DuckDB, polars or Spark query.

```python
from memscan.images import scan_images

root = scan_images("runs/", "i32", 1234567, output="hits")   # a LocalCluster on this machine
```

Each image is one Dask task: a worker opens it with :func:`memscan.open_image`, runs the first
scan and writes its hits as one Parquet file under ``hits/run=<image file stem>/``. Every row
holds the address, value, module, module offset and region kind of a hit, and the image's pid,
process name, the time it was taken and its path. "Which module+offset held the value in every
run" is then one query (see :func:`in_every_run`, and the DuckDB form in ``docs/images.md``).

The same call runs on a real cluster when given its ``client``
(``Client("tcp://scheduler:8786")``): the workers need memscan installed, and the images and the
output folder must be on a file system every worker sees under the same path.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from ._lazy import pl
from .errors import InvalidArgument
from .io import Dataset
from .options import ScanOptions
from .value_types import canonical_value_type

if TYPE_CHECKING:
    import polars

__all__ = ["image_files", "image_taken_ns", "in_every_run", "run_name", "scan_images"]

#: The first bytes of a memscan image and of an ELF file (cores are checked further).
_IMAGE_MAGIC = b"MSCNIMG\0"
_ELF_MAGIC = b"\x7fELF"
_ET_CORE = 4

#: The columns each hit row carries, beside the ``run`` partition.
COLUMNS = (
    "address",
    "value",
    "module",
    "module_offset",
    "region_kind",
    "region_start",
    "pid",
    "name",
    "taken",
    "image",
)


def _is_image(path: Path) -> bool:
    """True for a memscan image or an ELF core file (by its first bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError:
        return False
    if head.startswith(_IMAGE_MAGIC):
        return True
    # e_type (at 16) is little-endian on every target memscan reads.
    return head.startswith(_ELF_MAGIC) and len(head) == 18 and head[16] == _ET_CORE


def image_files(images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The image files of a folder (memscan images and ELF core files, found by their first
    bytes; other files and hidden ones are skipped), sorted by name; or the given paths as
    they are."""
    if isinstance(images, str | os.PathLike):
        folder = Path(images)
        if not folder.is_dir():
            return [folder]
        return sorted(
            p
            for p in folder.iterdir()
            if not p.name.startswith(".") and p.is_file() and _is_image(p)
        )
    return [Path(p) for p in images]


def run_name(path: str | os.PathLike[str]) -> str:
    """The ``run`` partition value of an image: its file stem (``run-07`` for
    ``runs/run-07.msimg``), made safe for hive partitions: characters other than letters,
    digits, ``_``, ``.`` and ``-`` become ``_``, and a stem that does not start with a letter
    (``2024-05-01``, ``7``) gets an ``r`` in front, so that readers keep it as text."""
    stem = Path(path).stem or Path(path).name
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    if not text[:1].isascii() or not text[:1].isalpha():
        text = "r" + text
    if text.lower() in {"true", "false", "nan", "inf", "infinity", "epoch"}:
        text = "r" + text
    return text[:100]


def image_taken_ns(path: str | os.PathLike[str]) -> int:
    """When an image was taken, in nanoseconds since the Unix epoch: from a memscan image's
    metadata, else (ELF core files, which do not record it) the file's modification time."""
    from . import open_image

    meta = open_image(path).image_metadata or {}
    taken = meta.get("taken_ns", 0)
    return taken if isinstance(taken, int) and taken > 0 else Path(path).stat().st_mtime_ns


def _scan_one(
    path: str,
    run: str,
    *,
    root: str,
    value_type: str,
    op: str,
    values: list[Any],
    tolerance: float | None,
    options: dict[str, Any],
    call: str = "",
) -> dict[str, Any]:
    """One task: scans one image and writes its hits as one part of the dataset at ``root``
    (partition ``run``). Runs on a Dask worker.

    The part's name depends only on the task's arguments (``call`` names the
    :func:`scan_images` call), so a task that Dask runs again (its worker died) replaces its
    own part instead of adding a copy of its hits. Once the call has failed (its
    :func:`_abort_marker` exists), a task that has not started yet writes nothing."""
    from . import open_image

    started = time.perf_counter()
    token = _part_token(path, run, value_type, op, values, tolerance, options, call)
    if call and _abort_marker(root, call).exists():
        return {"run": run, "image": str(path), "rows": 0, "part": None, "seconds": 0.0}
    img = open_image(path)
    s = img.scanner(value_type, **options)
    s.progress = None  # no progress bars on workers
    if op == "any":
        s.first("any")
    else:
        s.first(op, *values, tolerance=tolerance)
    taken = image_taken_ns(path)
    df = (
        s.to_polars()
        .select("address", "value", "module", "module_offset", "region_kind", "region_start")
        .with_columns(
            pl.lit(img.pid, dtype=pl.Int64).alias("pid"),
            pl.lit(img.name, dtype=pl.String).alias("name"),
            pl.lit(taken, dtype=pl.Int64).cast(pl.Datetime("ns")).alias("taken"),
            pl.lit(str(path), dtype=pl.String).alias("image"),
        )
    )
    meta = {"kind": "scan", "value_type": s.value_type, "op": op, "image": str(path)}
    part = Dataset(root)._append(df, meta, {"run": run}, name=token)
    return {
        "run": run,
        "image": str(path),
        "rows": df.height,
        "part": str(part),
        "seconds": time.perf_counter() - started,
    }


def _part_token(path: str, run: str, *args: Any) -> str:
    """The part name of a task: the call's token when given (one part per run and call),
    else a digest of the task's arguments."""
    call = args[-1]
    if call:
        return str(call)
    text = repr((str(path), run, *args[:-1]))
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:24]


def _abort_marker(root: str | os.PathLike[str], call: str) -> Path:
    """The hidden file that tells the tasks of a failed call not to start."""
    return Path(root) / f".scan_images-{call}.failed"


def scan_images(
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    value_type: str,
    value: Any = None,
    *,
    output: str | os.PathLike[str],
    op: str = "eq",
    high: Any = None,
    tolerance: float | None = None,
    client: Any = None,
    workers: int | None = None,
    **options: Unpack[ScanOptions],
) -> Path:
    """Scans every image (a folder of images, or a list of paths) in parallel with Dask and
    writes the hits into the hive-partitioned Parquet dataset ``output``, one partition
    ``run=<image file stem>`` per image (see :func:`run_name`) holding one file (empty when the
    image has no hit). Returns the dataset's root.

    The scan is that of ``proc.scan``: ``scan_images(d, "i32", 100, output=o)``,
    ``op="between", high=...``, ``op="near", tolerance=...``, or ``value=None`` for every slot
    (large); the options are those of :class:`memscan.options.ScanOptions` except ``regions``
    (default: every writable region of each image).

    ``client`` is a ``dask.distributed.Client`` (of a real cluster, say); without one, a
    ``LocalCluster`` of ``workers`` processes (default: one per CPU, at most one per image) with
    one thread each is started for the call and closed after it. A run already in ``output``
    raises :class:`~memscan.InvalidArgument` (its hits would be counted twice).

    Each run's part has a name fixed by the call, so a task that Dask runs again (after a
    worker died) replaces its own part: every hit is written once. A task that fails (a
    corrupt image, say) raises its error here once the tasks already running have finished
    (those not started yet are skipped), and the call then removes every part and partition
    folder it wrote, and ``output`` itself when the call created it: a failed call leaves
    nothing behind. Ctrl-C does the same (with a ``client``, after the images being scanned
    are done).
    """
    paths = image_files(images)
    if not paths:
        raise InvalidArgument(f"no memory images in {os.fspath(images)!r}")  # type: ignore[arg-type]
    vt = canonical_value_type(value_type)
    if vt is None:
        raise InvalidArgument(f"unknown value type {value_type!r} (i8 ... u64, f32, f64)")
    if options.get("regions") is not None:
        raise InvalidArgument("regions belong to one process: use kinds, paths or address_range")
    runs = [run_name(p) for p in paths]
    seen: dict[str, Path] = {}
    for run, p in zip(runs, paths, strict=True):
        if run.lower() in seen:
            raise InvalidArgument(
                f"images {str(seen[run.lower()])!r} and {str(p)!r} would share the partition "
                f"run={run}: rename one"
            )
        seen[run.lower()] = p
    dataset = Dataset(output)
    root = dataset.root.absolute()
    there = [r for r in runs if (root / f"run={r}").exists()]
    if there:
        raise InvalidArgument(
            f"{str(root)!r} already holds run={there[0]}"
            + (f" and {len(there) - 1} more" if len(there) > 1 else "")
            + ": write to a new folder"
        )
    if value is None:
        op, values = "any", []
    else:
        values = [value] if high is None else [value, high]
    call = uuid.uuid4().hex[:16]
    kwargs = {
        "root": str(root),
        "value_type": vt,
        "op": op,
        "values": values,
        "tolerance": tolerance,
        "options": dict(options),
        "call": call,
    }
    files = [str(p.absolute()) for p in paths]
    created = not root.exists()
    try:
        if client is not None:
            _run(client, files, runs, kwargs)
        else:
            from dask.distributed import Client, LocalCluster

            n = workers or max(1, min(len(paths), os.cpu_count() or 1))
            # Leaving the block stops the workers: nothing writes once it is left.
            with (
                LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
                ) as cluster,
                Client(cluster) as local,
            ):
                _run(local, files, runs, kwargs)
    except BaseException:
        _remove_call(root, runs, call, created)
        raise
    finally:
        _abort_marker(root, call).unlink(missing_ok=True)
    return root


def _run(client: Any, files: list[str], runs: list[str], kwargs: dict[str, Any]) -> None:
    """Runs the tasks; on the first failure (or Ctrl-C), marks the call as failed so that
    tasks not started yet do nothing, waits for the running ones, and raises."""
    from dask.distributed import as_completed, wait

    call = kwargs["call"]
    futures = client.map(
        _scan_one, files, runs, key=[f"memscan-image-{r}-{call}" for r in runs], **kwargs
    )
    try:
        try:
            for f in as_completed(futures):
                if f.status != "finished":
                    f.result()  # raises the task's error
        except BaseException:
            marker = _abort_marker(kwargs["root"], call)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            wait(futures)  # the tasks already running finish; the others skip
            raise
    finally:
        for f in futures:
            f.release()


def _remove_call(root: Path, runs: list[str], call: str, created: bool) -> None:
    """Removes what the call ``call`` wrote under ``root``: its part (and temporaries) in
    each of its runs' partitions, the partition folders left empty (they did not exist before
    the call), and ``root`` when the call created it and nothing else is in it."""
    for run in runs:
        folder = root / f"run={run}"
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.name == f"part-{call}.parquet" or e.name.startswith(f".part-{call}.parquet."):
                Path(e.path).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass  # holds files of another writer: left as they are
    _abort_marker(root, call).unlink(missing_ok=True)
    if created:
        try:
            root.rmdir()
        except OSError:
            pass


def in_every_run(output: str | os.PathLike[str]) -> polars.DataFrame:
    """The module + offset places that held a hit in every run of a dataset written by
    :func:`scan_images` (runs without any hit count too), with the addresses they had in each
    run: columns module, module_offset, runs, addresses (distinct), value."""
    root = Dataset(output).root
    n = sum(1 for p in root.glob("run=*") if p.is_dir())
    return (
        Dataset(root)
        .scan()
        .filter(pl.col("module").is_not_null())
        .group_by("module", "module_offset")
        .agg(
            pl.col("run").n_unique().alias("runs"),
            pl.col("address").n_unique().alias("addresses"),
            pl.col("value").first(),
        )
        .filter(pl.col("runs") == n)
        .sort("module", "module_offset")
        .collect()
    )
