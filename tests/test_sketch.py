"""Unique-customer sketches: merged counts stay within 1 % of the exact count; old sketches still merge."""

import zlib

import numpy as np
import pytest

from analyzer import sketch

DAYS = 60


def days_of_customers(seed, pool, per_day):
    """Return DAYS arrays of customer hashes drawn from a pool, so customers come back on several days."""
    rng = np.random.default_rng(seed)
    everyone = rng.integers(0, 2**64 - 1, size=pool, dtype=np.uint64, endpoint=True)  # as uniform as the hashes
    return [everyone[rng.integers(0, pool, size=per_day)] for _ in range(DAYS)]


@pytest.mark.parametrize("seed, pool, per_day", [(1, 40_000, 2_000), (2, 150_000, 4_000), (3, 400_000, 9_000),
                                                 (4, 600_000, 15_000), (5, 3_000, 600)])
def test_a_merged_count_is_within_one_percent_of_the_exact_count(seed, pool, per_day):
    days = days_of_customers(seed, pool, per_day)
    stored = [sketch.pack(day) for day in days]
    rng = np.random.default_rng(seed)
    spans = [(0, DAYS - 1), (0, 6), (30, 59)] + [tuple(sorted(rng.integers(0, DAYS, size=2))) for _ in range(7)]
    for first, last in spans:
        exact = len(np.unique(np.concatenate(days[first:last + 1])))
        counted, approximate = sketch.count(stored[first:last + 1])
        assert abs(counted - exact) / exact < 0.01, (first, last, counted, exact)
        assert approximate == (exact > sketch.EXACT_LIMIT or per_day > sketch.SPARSE_LIMIT)


def test_hashes_are_stable_64_bit_values():
    assert sketch.hashes(["c1", "c1", "c2"]).tolist()[:2] == [sketch.hashes(["c1"])[0]] * 2
    assert len(set(sketch.hashes([f"c{n}" for n in range(10_000)]).tolist())) == 10_000


def test_small_cells_are_counted_exactly():
    days = days_of_customers(6, 5_000, 300)
    assert sketch.count(sketch.pack(day) for day in days) == (len(np.unique(np.concatenate(days))), False)
    assert sketch.count([]) == (0, False)


def test_folding_registers_gives_exactly_the_registers_of_the_lower_precision():
    hashed = days_of_customers(7, 300_000, 100_000)[0]
    assert np.array_equal(sketch.fold(sketch.registers(hashed), 14), sketch.registers(hashed, 14))


def test_sketches_stored_at_the_old_precision_merge_with_new_ones():
    days = days_of_customers(8, 200_000, 5_000)
    old = [sketch.DENSE_BEFORE + zlib.compress(sketch.registers(np.unique(day), 14).tobytes()) for day in days[:30]]
    new = [sketch.pack(day) for day in days[30:]]
    exact = len(np.unique(np.concatenate(days)))
    counted, approximate = sketch.count(old + new)
    assert approximate and counted == sketch.estimate(sketch.registers(np.concatenate(days), 14))
    assert abs(counted - exact) / exact < 0.03  # the old precision: a standard error of 0.81 %


@pytest.mark.parametrize("before, added", [(10, 20), (400, 200), (600, 10), (2_000, 3_000), (20_000, 20_000),
                                            (3_000, 40_000), (50_000, 50_000)])
def test_adding_hashes_to_a_stored_sketch_stores_what_packing_the_union_would(before, added):
    rng = np.random.default_rng(before + added)
    old = rng.integers(0, 2**64 - 1, size=before, dtype=np.uint64, endpoint=True)
    new = np.concatenate([old[: before // 3], rng.integers(0, 2**64 - 1, size=added, dtype=np.uint64, endpoint=True)])
    assert sketch.merge(sketch.pack(old), new) == sketch.pack(np.concatenate([old, new]))


@pytest.mark.parametrize("size", [10, 5_000, 60_000])
def test_adding_no_hashes_stores_the_sketch_as_it_was(size):
    hashed = np.random.default_rng(size).integers(0, 2**64 - 1, size=size, dtype=np.uint64, endpoint=True)
    assert sketch.merge(sketch.pack(hashed), np.array([])) == sketch.pack(hashed)


def test_a_sketch_of_the_old_precision_cannot_take_more_customers():
    old = sketch.DENSE_BEFORE + zlib.compress(sketch.registers(sketch.hashes(["a", "b"]), p=sketch.P_BEFORE).tobytes())
    assert not sketch.mergeable(old) and sketch.mergeable(sketch.pack(sketch.hashes(["a"])))
    with pytest.raises(ValueError):
        sketch.merge(old, sketch.hashes(["c"]))


def test_an_exact_cell_keeps_its_hashes_past_the_sparse_limit_and_gives_some_up():
    rng = np.random.default_rng(9)
    stored = rng.integers(0, 2**64 - 1, size=3_000, dtype=np.uint64, endpoint=True)
    added = rng.integers(0, 2**64 - 1, size=200, dtype=np.uint64, endpoint=True)
    blob = sketch.pack(stored, exact=True)
    assert sketch.holds_hashes(blob) and not sketch.holds_hashes(sketch.pack(stored))
    assert sketch.merge(blob, added, exact=True) == sketch.pack(np.concatenate([stored, added]), exact=True)
    removed = np.concatenate([stored[:1_000], added[:50], [np.uint64(7)]])  # one that was never there
    kept = np.concatenate([stored[1_000:], added[50:]])
    assert sketch.replaced(blob, added, removed, exact=True) == (2_150, sketch.pack(kept, exact=True))
    assert sketch.replaced(sketch.pack(stored[:10]), added[:0], stored[:10]) == (0, sketch.pack(stored[:0]))


def test_exact_cells_past_the_exact_limit_are_counted_as_the_registers_of_all_their_hashes():
    days = days_of_customers(10, 400_000, 9_000)  # 60 exit-page cells of 9,000 hashes each: 540,000 in all
    counted, approximate = sketch.count(sketch.pack(day, exact=True) for day in days)
    assert approximate and counted == sketch.estimate(sketch.registers(np.concatenate(days)))
