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

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from .errors import InvalidArgument
from .io import Dataset, canonical_value_type
from .options import ScanOptions

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
) -> dict[str, Any]:
    """One task: scans one image and writes its hits as one part of the dataset at ``root``
    (partition ``run``). Runs on a Dask worker."""
    import polars as pl

    from . import open_image

    started = time.perf_counter()
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
    part = Dataset(root).append(df, metadata=meta, run=run)
    return {
        "run": run,
        "image": str(path),
        "rows": df.height,
        "part": str(part),
        "seconds": time.perf_counter() - started,
    }


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
    one thread each is started for the call and closed after it. A task that fails raises its
    error here. A run already in ``output`` raises :class:`~memscan.InvalidArgument` (its hits
    would be counted twice).
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
    kwargs = {
        "root": str(root),
        "value_type": vt,
        "op": op,
        "values": values,
        "tolerance": tolerance,
        "options": dict(options),
    }
    files = [str(p.absolute()) for p in paths]
    if client is not None:
        _run(client, files, runs, kwargs)
        return root
    from dask.distributed import Client, LocalCluster

    n = workers or max(1, min(len(paths), os.cpu_count() or 1))
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as local,
    ):
        _run(local, files, runs, kwargs)
    return root


def _run(client: Any, files: list[str], runs: list[str], kwargs: dict[str, Any]) -> None:
    futures = client.map(
        _scan_one,
        files,
        runs,
        key=[f"memscan-image-{r}-{os.urandom(4).hex()}" for r in runs],
        **kwargs,
    )
    try:
        client.gather(futures)
    finally:
        for f in futures:
            f.release()


def in_every_run(output: str | os.PathLike[str]) -> polars.DataFrame:
    """The module + offset places that held a hit in every run of a dataset written by
    :func:`scan_images` (runs without any hit count too), with the addresses they had in each
    run: columns module, module_offset, runs, addresses (distinct), value."""
    import polars as pl

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
