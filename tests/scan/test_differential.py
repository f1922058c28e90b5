"""Differential property tests: every scan path of memscan against a plain reference, NumPy over
``/proc/PID/mem``.

A silent wrong answer is the worst defect a scanner can have, so each test lets Hypothesis draw the
memory contents, the value type, the alignment, the regions and the operators, runs memscan on a
real process (:mod:`random_target`: anonymous regions of random sizes, some read-only, adjacent
ones with different permissions or separated by gaps) and compares memscan's candidates, bitwise,
with what NumPy computes from the bytes read through ``/proc/PID/mem``.

One target process serves the whole module; each example re-randomises its contents (fills from a
seed, then values planted at aligned and unaligned offsets, overlapping each other and touching
region starts and ends).

Hypothesis profiles: ``ci`` (the default; derandomized, bounded) and ``long`` (select it with
``MEMSCAN_HYPOTHESIS_PROFILE=long``: many more examples).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from support.random_target import PAGE, RandomTarget
from support.reference import (
    ALIGNMENTS,
    CONST_OPS,
    DEFAULT_ALIGN,
    DTYPES,
    MULTIBYTE,
    NAN_REFUSED,
    REL_OPS,
    TYPES,
    UINT,
    Memory,
    Model,
    _describe_addresses,
    bits,
    check_candidates,
    check_regions,
    compare_refusal,
    const_mask,
    expect_refused,
    is_float,
    pattern_reference,
    py,
    size_of,
    spans_of,
    to_bytes,
)
from support.strategies import (
    ALPHABETS,
    BIG_REGION,
    FILL_MODES,
    count_bucket,
    draw_address,
    draw_const,
    draw_const_op,
    draw_regions,
    draw_value_bytes,
    examples,
    fill_regions,
    make_layout,
    nan_patterns,
    plant,
    sample_memory,
    target_regions,
    typed_values,
)

import memscan


@pytest.fixture(scope="module")
def target():
    with RandomTarget(make_layout()) as t:
        yield t


@pytest.fixture(scope="module")
def tproc(target: RandomTarget) -> memscan.Process:
    return memscan.Process(target.pid)


@pytest.fixture(scope="module")
def tregions(tproc: memscan.Process, target: RandomTarget) -> list[memscan.Region]:
    return target_regions(tproc, target)


def first_scan(s: memscan.Scanner, op: str, args: Sequence[Any], tol: float | None) -> None:
    if op == "near":
        s.first("near", *args, tolerance=tol)
    else:
        s.first(op, *args)


@examples(250)
@given(data=st.data())
def test_first_scan_matches_reference(target, tproc, tregions, data):
    """First scans (every type, alignment, operator, read-only regions) against NumPy."""
    vtype = data.draw(st.sampled_from(TYPES), label="type")
    align = data.draw(st.sampled_from(ALIGNMENTS), label="alignment")
    dt = DTYPES[vtype]
    indices = draw_regions(data, target)
    spans = spans_of(target, indices)
    fill_regions(data, target, indices)
    mem0 = Memory(target)
    op, args, tol = draw_const_op(
        data, vtype, [*CONST_OPS, "any"], lambda: sample_memory(data, mem0, spans, vtype)
    )
    plant(data, target, indices, lambda: draw_value_bytes(data, vtype, args))
    mem = Memory(target)

    s = tproc.scanner(vtype, regions=[tregions[i] for i in indices], alignment=align)
    check_regions(s, spans, "scanner")
    if not compare_refusal(partial(first_scan, s, op, args, tol), expect_refused(vtype, op, args)):
        return
    addrs, vals = mem.slots(spans, dt, align or DEFAULT_ALIGN[vtype])
    m = const_mask(op, vals, args, tol, vtype)
    event(f"first scan: {count_bucket(int(m.sum()))} candidates, dense={s.is_dense}")
    check_candidates(s, addrs[m], vals[m], mem, f"first {op} {args} tol={tol}")


@examples(80)
@given(data=st.data())
def test_address_range_clips_regions(target, tproc, tregions, data):
    """``address_range=(lo, hi)``: only values wholly inside [lo, hi) of a region, at absolute
    alignment, for value scans and byte patterns."""
    vtype = data.draw(st.sampled_from(TYPES), label="type")
    align = data.draw(st.sampled_from(ALIGNMENTS), label="alignment")
    dt = DTYPES[vtype]
    indices = draw_regions(data, target)
    lo_all = min(target.regions[i][0] for i in indices) - PAGE
    hi_all = max(target.regions[i][1] for i in indices) + PAGE
    ends = sorted({x for i in indices for x in target.regions[i][:2]})
    edge = st.sampled_from(ends).flatmap(lambda e: st.integers(e - 9, e + 9))
    lo = data.draw(st.one_of(edge, st.integers(lo_all, hi_all)), label="lo")
    hi = data.draw(st.one_of(edge, st.integers(lo, hi_all)), label="hi")
    lo, hi = min(lo, hi), max(lo, hi, min(lo, hi) + 1)  # an empty range is refused
    spans = spans_of(target, indices, (lo, hi))
    fill_regions(data, target, indices)
    mem0 = Memory(target)
    op, args, tol = draw_const_op(
        data, vtype, ["any", "eq", "ne", "between"], lambda: sample_memory(data, mem0, spans, vtype)
    )
    plant(data, target, indices, lambda: draw_value_bytes(data, vtype, args))
    mem = Memory(target)

    s = tproc.scanner(
        vtype, regions=[tregions[i] for i in indices], alignment=align, address_range=(lo, hi)
    )
    check_regions(s, spans, "scanner")
    if compare_refusal(partial(first_scan, s, op, args, tol), expect_refused(vtype, op, args)):
        addrs, vals = mem.slots(spans, dt, align or DEFAULT_ALIGN[vtype])
        m = const_mask(op, vals, args, tol, vtype)
        check_candidates(s, addrs[m], vals[m], mem, f"first {op} {args} in [{lo:#x}, {hi:#x})")

    pattern = data.draw(st.binary(min_size=1, max_size=3), label="pattern")
    got = tproc.find_bytes(pattern, regions=[tregions[i] for i in indices], address_range=(lo, hi))
    check_pattern_hits(got, mem, spans, pattern, [True] * len(pattern), "find_bytes in range")


@pytest.mark.parametrize("vtype", ["u8", "i32", "f64"])
def test_explicit_readonly_regions_are_scanned(target, tproc, tregions, vtype):
    """Regions passed explicitly are scanned as given, read-only ones included (value scans,
    group scans and pattern searches alike)."""
    indices = [i for i, r in enumerate(target.regions) if not r[2]][:2]
    target.fill([(i, "alphabet", 99 + i, (0x00, 0x01)) for i in indices])
    mem = Memory(target)
    spans = spans_of(target, indices)
    given = [tregions[i] for i in indices]
    s = tproc.scanner(vtype, regions=given, alignment=size_of(vtype))
    check_regions(s, spans, "scanner over read-only regions")
    s.first("any")
    addrs, vals = mem.slots(spans, DTYPES[vtype], size_of(vtype))
    check_candidates(s, addrs, vals, mem, f"{vtype} any over read-only regions")
    s.first("eq", 1)
    m = const_mask("eq", vals, [1], None, vtype)
    check_candidates(s, addrs[m], vals[m], mem, f"{vtype} eq 1 over read-only regions")
    g = tproc.group_scan([(0, vtype, 0), (size_of(vtype), vtype, 1)], regions=given)
    gaddrs, gvals = mem.slots(spans, DTYPES[vtype], DEFAULT_ALIGN[vtype], span=2 * size_of(vtype))
    nxt = mem.gather(gaddrs + np.uint64(size_of(vtype)), DTYPES[vtype])
    m = (gvals == 0) & (nxt == 1)
    check_candidates(g, gaddrs[m], gvals[m], mem, "group scan over read-only regions")
    pat = bytes([1, 0, 1])
    check_pattern_hits(
        tproc.find_bytes(pat, regions=given), mem, spans, pat, [True] * 3, "find_bytes read-only"
    )


@pytest.mark.parametrize("vtype", TYPES)
def test_default_alignment(target, tproc, tregions, vtype):
    """Without ``alignment``: the type's size for 1/2/4-byte types, 4 for 8-byte types."""
    indices = [0, 2, 3]
    target.fill([(i, "random", 17 + i, ()) for i in indices])
    mem = Memory(target)
    spans = spans_of(target, indices)
    s = tproc.scanner(vtype, regions=[tregions[i] for i in indices])
    s.first("any")
    addrs, vals = mem.slots(spans, DTYPES[vtype], DEFAULT_ALIGN[vtype])
    check_candidates(s, addrs, vals, mem, f"{vtype} any, default alignment")


@pytest.mark.parametrize("op", sorted(NAN_REFUSED))
@pytest.mark.parametrize("vtype", ["f32", "f64"])
def test_nan_constant_is_refused(target, tproc, tregions, vtype, op):
    """lt le gt ge between near with a NaN constant raise InvalidValue, in first and next scans
    (and a refused next scan leaves the candidates as they were)."""
    nan = float("nan")
    args = {"between": [[nan, 1.0], [0.0, nan]]}.get(op, [[nan]])
    region = tregions[0]
    target.fill([(0, "alphabet", 5, (0x00, 0x7F, 0x80, 0xC0, 0xFF))])
    for a in args:
        s = tproc.scanner(vtype, regions=[region], alignment=1)
        with pytest.raises(memscan.InvalidValue):
            if op == "near":
                s.first("near", *a, tolerance=1.0)
            else:
                s.first(op, *a)
        s.first("any")
        before_a, before_v = s.addresses.copy(), s.values.copy()
        with pytest.raises(memscan.InvalidValue):
            if op == "near":
                s.next("near", *a, tolerance=1.0)
            else:
                s.next(op, *a)
        assert np.array_equal(s.addresses, before_a)
        assert np.array_equal(bits(s.values), bits(before_v))
        assert len(s.history()) == 1


@pytest.mark.parametrize("vtype", ["f32", "f64"])
def test_float_eq_semantics(target, tproc, tregions, vtype):
    """eq is IEEE equality (0.0 == -0.0) except that eq(NaN) matches every NaN; ne(NaN) matches
    every non-NaN."""
    size = size_of(vtype)
    start = target.regions[0][0]
    target.fill([(0, "zero", 0, ())])
    vals = [0.0, -0.0, 1.0, *[None] * len(nan_patterns(vtype)), float("inf")]
    raw = [
        nan_patterns(vtype)[i - 3] if v is None else to_bytes(vtype, v) for i, v in enumerate(vals)
    ]
    target.write([(start + 64 + k * size, b) for k, b in enumerate(raw)])
    mem = Memory(target)
    spans = [(0, start + 64, start + 64 + len(raw) * size)]
    addrs, v = mem.slots(spans, DTYPES[vtype], size)
    for op, c in [
        ("eq", 0.0),
        ("eq", -0.0),
        ("eq", float("nan")),
        ("ne", float("nan")),
        ("ne", 0.0),
        ("eq", float("inf")),
    ]:
        s = tproc.scanner(
            vtype, regions=[tregions[0]], alignment=size, address_range=(spans[0][1], spans[0][2])
        )
        s.first(op, c)
        m = const_mask(op, v, [c], None, vtype)
        check_candidates(s, addrs[m], v[m], mem, f"first {op} {c}")


def run_next(
    s: memscan.Scanner,
    op: str,
    args: Sequence[Any],
    tol: float | None,
    against: str | None,
    sugar: bool,
) -> None:
    """One next scan through ``s.next`` or the named helpers (``s.increased(by=...)``...)."""
    if sugar and op in REL_OPS:
        base, _, by = op.partition("_")
        fn = getattr(s, base)
        if base in ("increased", "decreased"):
            fn(args[0] if by else None, against=against)
        else:
            fn(against=against)
    elif op == "near":
        s.next("near", *args, tolerance=tol)
    elif op in REL_OPS:
        s.next(op, *args, against=against)
    else:
        s.next(op, *args)


def mutate(
    data: st.DataObject,
    target: RandomTarget,
    indices: Sequence[int],
    model: Model,
    vtype: str,
    deltas: list[Any],
) -> None:
    """Changes memory: at candidates (new values, old +- d, same number other bits, shifted by
    a few bytes: unaligned and overlapping), anywhere, or a whole region refilled."""
    dt = DTYPES[vtype]
    size = size_of(vtype)
    cur_a, cur_v = model.current
    if data.draw(st.integers(0, 9), label="refill?") == 0:
        fill_regions(data, target, [data.draw(st.sampled_from(list(indices)))])
        return
    writes: list[tuple[int, bytes]] = []
    prev = None
    for _ in range(data.draw(st.integers(1, 12), label="writes")):
        kinds = ["anywhere"] + (["candidate", "delta", "delta", "same"] if len(cur_a) else [])
        kind = data.draw(st.sampled_from(kinds))
        if kind == "anywhere":
            value = data.draw(st.binary(min_size=1, max_size=9))
            prev = draw_address(data, target, indices, len(value), prev)
            writes.append((prev, value))
            continue
        i = data.draw(st.integers(0, len(cur_a) - 1))
        addr, old = int(cur_a[i]), cur_v[i]
        if kind == "candidate":
            shift = data.draw(st.sampled_from([0, 0, 0, 1, -1, size - 1, size // 2]))
            writes.append((addr + shift, draw_value_bytes(data, vtype)))
        elif kind == "delta":
            if is_float(vtype):
                d = data.draw(
                    st.one_of(st.sampled_from([1.0, 0.5, 100.0]), typed_values(vtype, finite=True))
                )
                with np.errstate(all="ignore"):
                    new = np.array(old, dt) + np.array(d, dt) * dt.type(
                        data.draw(st.sampled_from([1, -1]))
                    )
                writes.append((addr, new.astype(dt).tobytes()))
            else:
                info = np.iinfo(dt)
                d = data.draw(
                    st.one_of(st.integers(1, 3), st.integers(0, int(info.max))), label="delta"
                )
                sign = data.draw(st.sampled_from([1, -1]))
                bits_n = size * 8
                raw = (int(old) + sign * d) % 2**bits_n  # wraps: old + d overflowing is no match
                writes.append((addr, np.array(raw, UINT[size]).tobytes()))
            deltas.append(d)
        else:  # "same": the same number in other bits (floats), or the same bytes
            if is_float(vtype) and old == 0:
                writes.append((addr, to_bytes(vtype, -old)))
            elif is_float(vtype) and np.isnan(old):
                writes.append((addr, data.draw(st.sampled_from(nan_patterns(vtype)))))
            else:
                writes.append((addr, np.array(old, dt).tobytes()))
    note(f"wrote {[(hex(a), b.hex()) for a, b in writes]}")
    target.write(writes)


def draw_next_op(
    data: st.DataObject,
    vtype: str,
    mem: Memory,
    model: Model,
    deltas: Sequence[Any],
) -> tuple[str, list[Any], float | None, str | None]:
    """A next scan: operator, constants, tolerance, and what relative filters compare with."""
    cur_a, _ = model.current

    def sampler() -> Any:
        if len(cur_a) == 0:
            return data.draw(typed_values(vtype))
        i = data.draw(st.integers(0, len(cur_a) - 1))
        return py(mem.gather(cur_a[i : i + 1], DTYPES[vtype])[0])

    op = data.draw(st.sampled_from([*CONST_OPS, *REL_OPS, *REL_OPS, "unchanged"]), label="next op")
    against = None
    if op in REL_OPS:
        choices = [None, None, "first", *sorted(model.checkpoints)]
        against = data.draw(st.sampled_from(choices), label="against")
    if op in CONST_OPS:
        _, args, tol = draw_const_op(data, vtype, [op], sampler)
        return op, args, tol, None
    if op in ("increased_by", "decreased_by"):
        if is_float(vtype):
            strat = typed_values(vtype, finite=True)
        else:
            info = np.iinfo(DTYPES[vtype])
            strat = st.integers(int(info.min), int(info.max))
        if deltas:
            strat = st.one_of(st.sampled_from(list(deltas)), strat)
        return op, [data.draw(strat, label="by")], None, against
    return op, [], None, against


def quantile_range(
    data: st.DataObject,
    mem: Memory,
    spans: Sequence[tuple[int, int, int]],
    vtype: str,
    align: int | None,
    share: float | None = None,
) -> list[Any]:
    """``[lo, hi]`` such that about ``share`` (default: drawn, 1/32 to all) of the slots lie
    between them."""
    _, vals = mem.slots(spans, DTYPES[vtype], align or DEFAULT_ALIGN[vtype])
    vals = np.sort(vals[~np.isnan(vals)] if is_float(vtype) else vals)
    if len(vals) == 0:
        return [0, 0]
    if share is None:
        share = data.draw(st.sampled_from([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]))
    q0 = data.draw(st.floats(0.0, 1.0 - share), label="from quantile")
    lo = vals[min(len(vals) - 1, int(q0 * len(vals)))]
    hi = vals[min(len(vals) - 1, int((q0 + share) * len(vals)))]
    return [py(lo), py(hi)]


def run_sequence(
    target: RandomTarget,
    tproc: memscan.Process,
    tregions: list[memscan.Region],
    data: st.DataObject,
    start: str,
) -> None:
    vtype = data.draw(st.sampled_from(TYPES), label="type")
    align = data.draw(st.sampled_from(ALIGNMENTS), label="alignment")
    dt = DTYPES[vtype]
    if start == "long":  # the 1 MiB region, and maybe others
        extra = data.draw(st.sets(st.integers(0, len(target.regions) - 1), max_size=2))
        indices = sorted({BIG_REGION, *extra})
    else:
        indices = draw_regions(data, target)
    spans = spans_of(target, indices)
    zeroish = start == "many" and data.draw(st.booleans(), label="zeroish")
    if zeroish:
        fill_regions(data, target, indices, ["zero", "alphabet"], [ALPHABETS[0], ALPHABETS[2]])
    else:
        fill_regions(data, target, indices, ["random"] if start == "long" else FILL_MODES)
    mem = Memory(target)
    if start in ("any", "packed"):
        op, args, tol = "any", [], None
    elif zeroish:
        op, args, tol = data.draw(
            st.sampled_from([("eq", [0], None), ("between", [0, 1], None), ("ne", [1], None)])
        )
    elif start == "many":  # between two quantiles: a drawn share of the slots
        op, args, tol = "between", quantile_range(data, mem, spans, vtype, align), None
    elif start == "long":
        # A share of the slots that keeps the list sparse yet longer than 32 768 candidates
        # (several blocks of a next scan): sparse while share * (8 + size) <= stride.
        stride = align or DEFAULT_ALIGN[vtype]
        factor = data.draw(st.sampled_from([0.6, 0.75, 0.95]), label="share of the most")
        share = min(1.0, factor * stride / (8 + size_of(vtype)))
        op, args, tol = "between", quantile_range(data, mem, spans, vtype, align, share), None
    else:
        op, args, tol = draw_const_op(
            data, vtype, CONST_OPS, lambda: sample_memory(data, mem, spans, vtype)
        )
    if expect_refused(vtype, op, args) is not False:
        return  # covered by the first-scan tests
    plant(data, target, indices, lambda: draw_value_bytes(data, vtype, args))
    mem = Memory(target)

    # "packed": every block the unknown-value scan keeps is compressed where that pays.
    compress = True if start == "packed" else None
    s = tproc.scanner(
        vtype, regions=[tregions[i] for i in indices], alignment=align, compress=compress
    )
    check_regions(s, spans, "scanner")
    first_scan(s, op, args, tol)
    addrs, vals = mem.slots(spans, dt, align or DEFAULT_ALIGN[vtype])
    m = const_mask(op, vals, args, tol, vtype)
    model = Model(addrs[m], vals[m])
    note(f"first {op} {args} tol={tol}: {len(addrs[m])} candidates, dense={s.is_dense}")
    event(f"first scan: {count_bucket(int(m.sum()))} candidates, dense={s.is_dense}")
    check_candidates(s, *model.current, mem, f"first {op} {args}")

    deltas: list[Any] = []
    actions = ["mutate", "mutate", "next", "next", "next", "checkpoint", "undo", "first"]
    for step in range(data.draw(st.integers(1, 10), label="steps")):
        action = data.draw(st.sampled_from(actions), label=f"step {step}")
        what = action
        if action == "first":  # a new first scan: the history restarts, checkpoints stay
            fop, fargs, ftol = draw_const_op(
                data, vtype, [*CONST_OPS, "any"], partial(sample_memory, data, mem, spans, vtype)
            )
            what = f"first {fop} {fargs} tol={ftol}"
            if compare_refusal(
                partial(first_scan, s, fop, fargs, ftol), expect_refused(vtype, fop, fargs)
            ):
                addrs, vals = mem.slots(spans, dt, align or DEFAULT_ALIGN[vtype])
                m = const_mask(fop, vals, fargs, ftol, vtype)
                model.steps = [(addrs[m], vals[m])]
        elif action == "mutate":
            mutate(data, target, indices, model, vtype, deltas)
            mem = Memory(target)
        elif action == "next":
            nop, nargs, ntol, against = draw_next_op(data, vtype, mem, model, deltas)
            sugar = data.draw(st.booleans())
            what = f"next {nop} {nargs} tol={ntol} against={against}"
            if compare_refusal(
                partial(run_next, s, nop, nargs, ntol, against, sugar),
                expect_refused(vtype, nop, nargs),
            ):
                model.next(mem, vtype, nop, nargs, ntol, against)
        elif action == "checkpoint":
            name = data.draw(st.sampled_from(["a", "b"]), label="checkpoint")
            n = s.checkpoint(name)
            cur_a, _ = model.current
            model.checkpoints[name] = (cur_a, mem.gather(cur_a, dt))
            assert n == len(cur_a), f"checkpoint {name} holds {n}, want {len(cur_a)}"
            what = f"checkpoint {name}"
        else:
            if len(model.steps) > 1:
                n = s.undo()
                model.steps.pop()
                assert n == len(model.current[0]), f"undo returned {n}"
            else:
                with pytest.raises(memscan.InvalidArgument):
                    s.undo()
        note(f"step {step}: {what} -> {len(model.current[0])} candidates, dense={s.is_dense}")
        event(
            f"{action}: {count_bucket(len(model.current[0]))} candidates after, dense={s.is_dense}"
        )
        check_candidates(s, *model.current, mem, f"step {step}: {what}")


@examples(100)
@pytest.mark.parametrize("start", ["sparse", "many", "any", "packed", "long"])
@given(data=st.data())
def test_scan_sequences_match_reference(target, tproc, tregions, start, data):
    """A first scan (sparse; very many matches; unknown initial value: dense, held or compressed;
    long sparse lists over the 1 MiB region), then random steps:
    memory changes, next scans (constants and relative, against the last scan, the first scan or
    a checkpoint), checkpoints and undos, compared with the reference model after every step."""
    run_sequence(target, tproc, tregions, data, start)


@pytest.mark.parametrize("cut", ["first block", "last block", "none"])
@pytest.mark.parametrize("vtype", ["u8", "i32"])
def test_next_scan_of_a_long_sparse_list(target, tproc, tregions, vtype, cut):
    """A sparse list of ~66 000 candidates (more than one block of 32 768 read together), then
    next scans where one block loses a candidate and the others keep all of theirs, and one
    (ne 9) that keeps every candidate while one block's values changed and the others' did
    not."""
    region = BIG_REGION
    start, end, _ = target.regions[region]
    size = size_of(vtype)
    one = np.zeros(16, np.uint8)
    one[:size] = np.frombuffer(to_bytes(vtype, 7), np.uint8)
    target.write([(start, np.tile(one, (end - start) // 16).tobytes())])
    mem = Memory(target)
    s = tproc.scanner(vtype, regions=[tregions[region]], alignment=size)
    s.first("eq", 7)
    addrs, vals = mem.slots([(region, start, end)], DTYPES[vtype], size)
    m = const_mask("eq", vals, [7], None, vtype)
    model = Model(addrs[m], vals[m])
    check_candidates(s, *model.current, mem, "first eq 7")
    assert not s.is_dense and len(s) > 2 * 32_768
    if cut != "none":
        k = 5 if cut == "first block" else len(s) - 5
        target.write([(int(model.current[0][k]), to_bytes(vtype, 8))])
        mem = Memory(target)
    for op, args in (("unchanged", []), ("eq", [7]), ("ne", [9])):
        s.next(op, *args)
        model.next(mem, vtype, op, args, None, None)
        check_candidates(s, *model.current, mem, f"{op} after changing one candidate ({cut})")
        s.undo()
        model.steps.pop()


@pytest.mark.parametrize("vtype", ["i16", "u16", "i32", "f32", "i64", "f64"])
def test_overlapping_unaligned_candidates(target, tproc, tregions, vtype):
    """Alignment 1, candidates at +1, +2 and +(2 size + 1) (for i16: +1, +2, +5): a run of
    identical bytes makes overlapping candidates; the next scans must read each at its own
    address."""
    size = size_of(vtype)
    region = 3
    base = target.regions[region][0] + 256
    target.fill([(region, "zero", 0, ())])
    b = b"\x41"
    # +1..+size+1 holds size+1 bytes 0x41 (candidates +1, +2); +2size+1.. holds size bytes.
    target.write([(base + 1, b * (size + 1)), (base + 2 * size + 1, b * size)])
    mem = Memory(target)
    value = py(np.frombuffer(b * size, DTYPES[vtype])[0])
    s = tproc.scanner(vtype, regions=[tregions[region]], alignment=1)
    s.first("eq", value)
    want = np.array([base + 1, base + 2, base + 2 * size + 1], np.uint64)
    check_candidates(s, want, mem.gather(want, DTYPES[vtype]), mem, "first eq")
    s.unchanged()
    check_candidates(s, want, mem.gather(want, DTYPES[vtype]), mem, "unchanged (nothing written)")
    target.write([(base + size + 1, b"\x42")])  # changes the value at +2 only
    mem = Memory(target)
    s.changed()
    want2 = want[1:2]
    check_candidates(s, want2, mem.gather(want2, DTYPES[vtype]), mem, "changed (+2 changed)")


@examples(100)
@given(data=st.data())
def test_overlapping_candidates_sequences(target, tproc, tregions, data):
    """Runs of identical bytes give overlapping unaligned candidates (alignment 1 or 2) close
    together; then memory changes near them and next scans, against the reference."""
    vtype = data.draw(st.sampled_from(MULTIBYTE), label="type")
    align = data.draw(st.sampled_from([1, 1, 2]), label="alignment")
    size = size_of(vtype)
    dt = DTYPES[vtype]
    region = data.draw(st.sampled_from([3, 5, 7]), label="region")
    start, end, _ = target.regions[region]
    base = data.draw(st.sampled_from([start, start + 7, end - 200]))
    target.fill([(region, "zero", 0, ())])
    byte = data.draw(st.sampled_from([b"\x41", b"\x01", b"\xff"]), label="byte")
    writes = []
    at = base
    for _ in range(data.draw(st.integers(1, 6), label="runs")):
        at += data.draw(st.integers(0, 2 * size), label="gap")
        n = data.draw(st.integers(size, size + 3), label="run")
        writes.append((at, byte * n))
        at += n + 1
    target.write(writes)
    note(f"runs {[(hex(a), len(b)) for a, b in writes]}")
    mem = Memory(target)
    value = py(np.frombuffer(byte * size, dt)[0])
    s = tproc.scanner(vtype, regions=[tregions[region]], alignment=align)
    s.first("eq", value)
    addrs, vals = mem.slots([(region, start, end)], dt, align)
    m = const_mask("eq", vals, [value], None, vtype)
    model = Model(addrs[m], vals[m])
    check_candidates(s, *model.current, mem, "first eq")
    for step in range(data.draw(st.integers(1, 4), label="steps")):
        pos = data.draw(st.integers(base, at + 2 * size), label="write at")
        new = data.draw(st.binary(min_size=1, max_size=3), label="bytes")
        target.write([(pos, new)])
        mem = Memory(target)
        op = data.draw(st.sampled_from(["unchanged", "changed", "eq", "increased", "ne"]))
        args = [value] if op in ("eq", "ne") else []
        s.next(op, *args)
        model.next(mem, vtype, op, args, None, None)
        check_candidates(
            s, *model.current, mem, f"step {step}: wrote {new.hex()} at {pos:#x}, {op}"
        )


def check_pattern_hits(
    got: np.ndarray,
    mem: Memory,
    spans: Sequence[tuple[int, int, int]],
    pat: bytes,
    fixed: Sequence[bool],
    what: str,
) -> None:
    want = pattern_reference(mem, spans, pat, fixed)
    got = np.asarray(got)
    if got.dtype != np.uint64 or not np.array_equal(got, want):
        raise AssertionError(
            f"{what} {pat.hex()} fixed={''.join('x' if f else '?' for f in fixed)}: "
            + _describe_addresses(mem, got, np.zeros(len(got), np.uint8), want, len(pat))
        )


@examples(120)
@given(data=st.data())
def test_find_bytes_matches_reference(target, tproc, tregions, data):
    """Byte patterns (hex with ?? wildcards, or exact bytes): every start, overlapping matches
    included, inside one region."""
    indices = draw_regions(data, target)
    spans = spans_of(target, indices)
    fill_regions(data, target, indices)
    mem0 = Memory(target)
    L = data.draw(st.integers(1, 10), label="length")
    source = data.draw(st.sampled_from(["memory", "periodic", "random"]), label="source")
    if source == "memory":
        i, lo, hi = data.draw(st.sampled_from(spans))
        at = data.draw(st.integers(lo, max(lo, hi - L)))
        pat = mem0.buf[mem0.offs[i] + at - lo : mem0.offs[i] + at - lo + L].tobytes()
        pat = pat.ljust(L, b"\x00")
    elif source == "periodic":  # "aaaa", "abab": overlapping matches
        unit = data.draw(st.binary(min_size=1, max_size=2))
        pat = (unit * L)[:L]
    else:
        pat = data.draw(st.binary(min_size=L, max_size=L))
    fixed = [True] * L
    if data.draw(st.booleans(), label="wildcards"):
        fixed = data.draw(st.lists(st.booleans(), min_size=L, max_size=L), label="fixed")
        fixed[data.draw(st.integers(0, L - 1))] = True
    reps = data.draw(st.integers(1, 4), label="copies per plant")
    plant(data, target, indices, lambda: pat * reps, max_plants=8)
    mem = Memory(target)
    regions = [tregions[i] for i in indices]
    if all(fixed) and data.draw(st.booleans(), label="as bytes"):
        got = tproc.find_bytes(pat, regions=regions)
    else:
        hexpat = " ".join(f"{b:02X}" if f else "??" for b, f in zip(pat, fixed, strict=True))
        note(f"pattern {hexpat!r}")
        got = tproc.find_bytes(hexpat, regions=regions)
    check_pattern_hits(got, mem, spans, pat, fixed, "find_bytes")


@examples(60)
@given(data=st.data())
def test_find_string_matches_reference(target, tproc, tregions, data):
    """Strings in utf8 and utf16: every start, overlapping ("aa" in "aaaa": 3 hits)."""
    indices = draw_regions(data, target)
    spans = spans_of(target, indices)
    fill_regions(data, target, indices, alphabets=[(0x61,), (0x61, 0x62), (0x61, 0x00)])
    letters = "ab\u2605"
    periodic = st.tuples(st.text(alphabet=letters, min_size=1, max_size=2), st.integers(2, 4))
    text = data.draw(
        st.one_of(
            periodic.map(lambda t: t[0] * t[1]),  # "aa", "abab": matches overlap
            st.text(alphabet=letters, min_size=1, max_size=5),
        ),
        label="text",
    )
    encoding = data.draw(st.sampled_from(["utf8", "utf16"]), label="encoding")
    pat = text.encode("utf-8" if encoding == "utf8" else "utf-16-le")
    reps = data.draw(st.integers(1, 4), label="copies per plant")
    plant(data, target, indices, lambda: pat * reps, max_plants=8)
    mem = Memory(target)
    got = tproc.find_string(text, encoding=encoding, regions=[tregions[i] for i in indices])
    check_pattern_hits(got, mem, spans, pat, [True] * len(pat), f"find_string {text!r} {encoding}")


def test_find_string_overlapping_simple(target, tproc, tregions):
    """ "aa" in "aaaa" is found at 3 places."""
    start = target.regions[2][0]
    target.fill([(2, "zero", 0, ())])
    target.write([(start + 100, b"aaaa")])
    got = tproc.find_string("aa", regions=[tregions[2]])
    assert got.tolist() == [start + 100, start + 101, start + 102]


@examples(100)
@given(data=st.data())
def test_group_scan_matches_reference(target, tproc, tregions, data):
    """Group scans: group starts at the first member's default alignment, the whole group inside
    one region, every member passing."""
    indices = draw_regions(data, target)
    spans = spans_of(target, indices)
    fill_regions(data, target, indices)
    mem0 = Memory(target)
    members: list[tuple[int, str, Any]] = []
    used = 0
    for k in range(data.draw(st.integers(1, 4), label="members")):
        vtype = data.draw(st.sampled_from(TYPES), label=f"member {k} type")
        offset = 0 if k == 0 else data.draw(st.integers(0, 16), label=f"member {k} offset")
        kind = data.draw(st.sampled_from(["eq", "eq", "between", "ne", "gt"]))
        c = draw_const(
            data, vtype, lambda v=vtype: sample_memory(data, mem0, spans, v), finite=True
        )
        if kind == "between":
            c2 = draw_const(data, vtype, None, finite=True)
            spec: Any = ("between", min(c, c2), max(c, c2))
        elif kind == "eq":
            spec = c
        else:
            spec = (kind, c)
        members.append((offset, vtype, spec))
        used = max(used, offset + size_of(vtype))
    note(f"members {members}")

    def group_bytes() -> list[tuple[int, bytes]]:
        out = []
        for off, t, spec in members:
            v = spec if not isinstance(spec, tuple) else spec[1]
            out.append((off, to_bytes(t, v)))
        return out

    writes = []
    t0 = members[0][1]
    stride = DEFAULT_ALIGN[t0]
    for _ in range(data.draw(st.integers(0, 6), label="groups planted")):
        g = draw_address(data, target, indices, used, None)
        if data.draw(st.booleans()):
            g -= g % stride
        writes += [(g + off, b) for off, b in group_bytes()]
    target.write(writes)
    mem = Memory(target)

    s = tproc.group_scan(members, regions=[tregions[i] for i in indices])
    addrs, vals = mem.slots(spans, DTYPES[t0], stride, span=used)
    ok = np.ones(len(addrs), dtype=bool)
    for off, t, spec in members:
        op, *args = spec if isinstance(spec, tuple) else ("eq", spec)
        v = mem.gather(addrs + np.uint64(off), DTYPES[t])
        ok &= const_mask(op, v, args, None, t)
    check_candidates(s, addrs[ok], vals[ok], mem, f"group {members}")


@pytest.mark.parametrize("reaped", [False, True], ids=["zombie", "reaped"])
@pytest.mark.parametrize("first", ["sparse", "dense"])
def test_process_exit_mid_session(first, reaped):
    """After the target exits, earlier results stay readable; the next scan raises ProcessExited
    and leaves them as they were."""
    layout = [{"pages": 4, "writable": True, "gap": 0}, {"pages": 2, "writable": True, "gap": 1}]
    with RandomTarget(layout) as t:
        t.fill([(0, "alphabet", 3, (0, 1)), (1, "random", 4, ())])
        proc = memscan.Process(t.pid)
        regions = target_regions(proc, t)
        mem = Memory(t)
        spans = spans_of(t, [0, 1])
        s = proc.scanner("u32", regions=regions)
        if first == "sparse":
            s.first("eq", 0x01010101)
        else:
            s.first("any")
        s.checkpoint("c")
        addrs, vals = mem.slots(spans, DTYPES["u32"], 4)
        m = const_mask("eq" if first == "sparse" else "any", vals, [0x01010101], None, "u32")
        before_a, before_v = addrs[m], vals[m]
        check_candidates(s, before_a, before_v, mem, "before exit")
        t.exit()
        if reaped:
            t.proc.wait()
        else:
            _wait_zombie(t.pid)
        check_candidates(s, before_a, before_v, mem, "after exit")
        for op in ("changed", "eq"):
            with pytest.raises(memscan.ProcessExited):
                s.next(op, *([1] if op == "eq" else []))
        with pytest.raises(memscan.ProcessExited):
            s.increased(against="c")
        check_candidates(s, before_a, before_v, mem, "after the failed next scans")


def _wait_zombie(pid: int) -> None:
    import time

    for _ in range(500):
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.01)
    raise AssertionError(f"{pid} did not exit")
