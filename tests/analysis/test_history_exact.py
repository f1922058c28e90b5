"""History analyses and persistence are exact in the native type: 64-bit values at any
magnitude, and the per-sample count of unreadable values survives Parquet and datasets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import memscan
from memscan.history import History
from memscan.io import Dataset

U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def history(columns: list[list[int | float]], dtype, *, unreadable=None) -> History:
    """A history whose address j holds ``columns[j]`` over the samples."""
    values = np.array(columns, dtype=object).T.astype(dtype)
    n, m = values.shape
    return History(
        value_type={
            np.int8: "i8",
            np.int32: "i32",
            np.int64: "i64",
            np.uint64: "u64",
            np.float32: "f32",
            np.float64: "f64",
        }[dtype],
        addresses=np.arange(m, dtype=np.uint64) * 8 + 0x1000,
        timestamps_ns=np.arange(n, dtype=np.int64),
        labels=[None] * n,
        values=values,
        unreadable=np.zeros(0, np.uint32)
        if unreadable is None
        else np.asarray(unreadable, np.uint32),
    )


def steps(h: History) -> list:
    stats = h.change_stats()
    return stats["constant_step"].to_list()


# -- change_stats ---------------------------------------------------------------------------------


def test_constant_step_is_exact_near_the_ends_of_u64():
    h = history(
        [
            [U64_MAX - 3, U64_MAX - 2, U64_MAX - 1, U64_MAX],  # +1 near 2**64
            [U64_MAX, U64_MAX - 7, U64_MAX - 14, U64_MAX - 21],  # -7
            [2**60, 2**60 + 1, 2**60 + 3, 2**60 + 3],  # +1 then +2: no constant step
            [0, 2**62, 2**63, 2**63 + 2**62],  # +2**62 exactly
        ],
        np.uint64,
    )
    stats = h.change_stats()
    assert stats.schema["constant_step"] == pl.Int64
    assert steps(h) == [1, -7, None, 2**62]
    assert stats["increasing"].to_list() == [True, False, True, True]
    assert stats["decreasing"].to_list() == [False, True, False, False]
    assert stats["first"].to_list()[0] == U64_MAX - 3 and stats["last"].to_list()[0] == U64_MAX


def test_constant_step_is_exact_near_the_ends_of_i64():
    h = history(
        [
            [I64_MIN, I64_MIN + 1, I64_MIN + 2],
            [I64_MAX, I64_MAX - 5, I64_MAX - 10],
            [I64_MIN + 2**10, I64_MIN, I64_MIN],  # one step of -1024
        ],
        np.int64,
    )
    assert steps(h) == [1, -5, -1024]


def test_steps_equal_modulo_2_64_but_of_opposite_direction_differ():
    # 2**64-1 -> 0 is a step of -(2**64-1); 0 -> 1 is +1: the same modulo 2**64.
    h = history([[U64_MAX, 0, 1]], np.uint64)
    assert steps(h) == [None]
    h = history([[I64_MAX, I64_MIN, I64_MIN + 1]], np.int64)
    assert steps(h) == [None]


def test_a_step_beyond_int64_is_null_and_is_last_minus_first():
    h = history([[0, U64_MAX], [U64_MAX, 0], [0, 2**63], [0, 2**63 - 1]], np.uint64)
    stats = h.change_stats()
    assert stats["constant_step"].to_list() == [None, None, None, 2**63 - 1]
    assert stats["changes"].to_list() == [1, 1, 1, 1]
    assert (stats["last"].cast(pl.Int128) - stats["first"].cast(pl.Int128))[2] == 2**63
    h = history([[I64_MIN, I64_MAX], [I64_MAX, I64_MIN], [0, I64_MIN]], np.int64)
    assert steps(h) == [None, None, I64_MIN]


def test_narrow_integer_steps_are_int64():
    h = history([[-128, 127], [5, 5], [1, 2]], np.int8)
    stats = h.change_stats()
    assert stats.schema["constant_step"] == pl.Int64
    assert stats["constant_step"].to_list() == [255, None, 1]


def test_float_steps_through_nan_or_infinity_are_not_constant():
    nan, inf = float("nan"), float("inf")
    h = history(
        [[1.0, 2.0, 3.0], [1.0, 2.0, nan], [nan, nan, nan], [1.0, inf, inf], [0.5, 0.25, 0.0]],
        np.float64,
    )
    stats = h.change_stats()
    assert stats["constant_step"].to_list() == [1.0, None, None, None, -0.25]
    assert stats["changes"].to_list() == [2, 2, 0, 1, 2]


# -- correlate ------------------------------------------------------------------------------------


def test_correlate_keeps_differences_of_64_bit_values():
    shown = [3, 1, 4, 1, 5, 9, 2, 6]
    h = history(
        [
            [U64_MAX - 10 + x for x in shown],  # tracks the series near 2**64
            [2**62 - x for x in shown],  # mirrors it near 2**62 (steps below float64's spacing)
            [U64_MAX] * 8,  # constant
        ],
        np.uint64,
    )
    r = dict(h.correlate(shown).iter_rows())
    assert r[0x1000] == pytest.approx(1.0)
    assert r[0x1008] == pytest.approx(-1.0)
    assert r[0x1010] is None

    h = history([[I64_MIN + x for x in shown], [I64_MAX - 9 + x for x in shown]], np.int64)
    assert h.correlate(shown)["r"].to_list() == pytest.approx([1.0, 1.0])


# -- unreadable counts ----------------------------------------------------------------------------


def test_unreadable_counts_round_trip_through_parquet(game, proc, tmp_path):
    # Address 0x10 is never mapped: every sample counts one unreadable value.
    rec = proc.record([game.address("health"), 0x10], "i32", interval=None)
    for _ in range(3):
        rec.sample()
    h = rec.stop()
    assert h.unreadable.tolist() == [1, 1, 1]
    h.to_parquet(str(tmp_path / "h.parquet"))
    back = memscan.load(tmp_path / "h.parquet").history()
    assert back.unreadable.tolist() == [1, 1, 1] and back.unreadable.dtype == np.uint32

    made = history([[1, 2, 3], [4, 5, 6]], np.int32, unreadable=[0, 2, 1])
    made.to_parquet(str(tmp_path / "m.parquet"))
    assert memscan.load(tmp_path / "m.parquet").history().unreadable.tolist() == [0, 2, 1]


def test_unknown_unreadable_counts_stay_unknown(tmp_path):
    h = history([[1, 2, 3]], np.int32)  # no counts given
    assert h.to_long()["unreadable"].null_count() == 3
    h.to_parquet(str(tmp_path / "h.parquet"))
    assert memscan.load(tmp_path / "h.parquet").history().unreadable.size == 0


def test_unreadable_counts_reach_datasets(tmp_path):
    ds = Dataset(tmp_path / "ds")
    h = history([[1, 2], [3, 4]], np.int32, unreadable=[2, 0])
    ds.append(h.to_long(), session="run1")
    df = ds.scan().sort("sample", "address").collect()
    assert df["unreadable"].to_list() == [2, 2, 0, 0]


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint64, np.float32, np.float64])
def test_history_parquet_round_trip_is_exact_in_every_type(tmp_path, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    lo, hi = (int(info.min), int(info.max)) if np.dtype(dtype).kind in "iu" else (-1.5, 2.25)
    h = history([[lo, hi, lo], [hi, hi, 0]], dtype, unreadable=[0, 1, 2])
    h.labels = ["start", None, "end"]
    h.to_parquet(str(tmp_path / "h.parquet"))
    back = memscan.load(tmp_path / "h.parquet").history()
    assert back.values.dtype == h.values.dtype and (back.values == h.values).all()
    assert back.values.tolist() == h.values.tolist()
    assert back.addresses.tolist() == h.addresses.tolist()
    assert back.timestamps_ns.tolist() == h.timestamps_ns.tolist()
    assert back.labels == h.labels and back.unreadable.tolist() == [0, 1, 2]


def test_inconsistent_histories_are_not_written(tmp_path):
    h = history([[1, 2, 3]], np.int32, unreadable=[1, 2])
    with pytest.raises(memscan.InvalidArgument, match="unreadable"):
        h.to_parquet(str(tmp_path / "h.parquet"))
    h = history([[1, 2, 3]], np.int32)
    h.value_type = "i33"
    with pytest.raises(memscan.InvalidArgument, match="value type"):
        h.to_parquet(str(tmp_path / "h.parquet"))
    assert not list(tmp_path.iterdir())


def test_empty_histories_load_empty(tmp_path):
    for samples, addresses in ((0, 3), (3, 0), (0, 0)):
        h = History(
            value_type="i16",
            addresses=np.arange(addresses, dtype=np.uint64),
            timestamps_ns=np.arange(samples, dtype=np.int64),
            labels=[None] * samples,
            values=np.zeros((samples, addresses), np.int16),
        )
        h.to_parquet(str(tmp_path / "h.parquet"))
        back = memscan.load(tmp_path / "h.parquet").history()
        assert back.samples == 0 and back.values.shape == (0, 0) and back.value_type == "i16"
