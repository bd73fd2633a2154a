"""core.resize.histogram: exponential buckets, percentiles, decay, merge, checkpoints."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from podgroup_operator.api.resize import HistogramCheckpoint
from podgroup_operator.core.resize.histogram import (
    CHECKPOINT_MAX_BUCKETS,
    CPU_BUCKETS,
    MEMORY_BUCKETS,
    DecayingHistogram,
    ExponentialBuckets,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HL = 3600.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cpu_hist(values: list[float], t: float = 0.0) -> DecayingHistogram:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    for v in values:
        h.add_sample(v, 1.0, at(t))
    return h


def exact_percentile(values: list[float], p: float) -> float:
    """The smallest value with at least fraction p of the samples at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) - 1e-9), 1) - 1]


# --- buckets -----------------------------------------------------------------------------------


def test_bucket_layout_matches_vpa() -> None:
    assert CPU_BUCKETS.start(0) == 0 and CPU_BUCKETS.start(1) == pytest.approx(0.01)
    assert CPU_BUCKETS.start(2) - CPU_BUCKETS.start(1) == pytest.approx(0.0105)
    assert MEMORY_BUCKETS.start(1) == pytest.approx(1e7)
    assert 150 < CPU_BUCKETS.count < 200 and 150 < MEMORY_BUCKETS.count < 200
    assert CPU_BUCKETS.start(CPU_BUCKETS.last) <= 1000 < CPU_BUCKETS.start(CPU_BUCKETS.count)


@pytest.mark.parametrize("buckets", [CPU_BUCKETS, MEMORY_BUCKETS])
def test_every_value_lands_in_the_bucket_that_covers_it(buckets: ExponentialBuckets) -> None:
    rng = random.Random(7)
    values = [buckets.start(i) for i in range(buckets.count)]  # exact boundaries
    values += [buckets.first * 10 ** rng.uniform(-2, 5) for _ in range(2000)]
    for v in values:
        i = buckets.index(v)
        if v < buckets.max_value:
            assert buckets.start(i) <= v < buckets.start(i + 1), v
    assert buckets.index(0.0) == 0
    assert buckets.index(buckets.max_value * 10) == buckets.last
    assert buckets.index(math.inf) == buckets.last


# --- percentiles -------------------------------------------------------------------------------


SERIES = {
    "ramp": [0.001 * i for i in range(1, 2001)],
    "uniform": [random.Random(1).uniform(0.05, 4.0) for _ in range(1000)],
    "lognormal": [random.Random(2).lognormvariate(-1.0, 0.8) for _ in range(1000)],
    "bimodal": [0.2] * 900 + [2.0] * 100,
    "constant": [0.5] * 50,
}


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_percentile_is_the_upper_end_of_the_exact_percentiles_bucket(name: str, p: float) -> None:
    values = SERIES[name]
    h = cpu_hist(values)
    exact = exact_percentile(values, p)
    got = h.percentile(p)
    # Never below the true percentile, and over it by at most one bucket (5% + 0.01 core).
    assert exact < got <= exact * 1.05 + 0.01 + 1e-9
    assert got == pytest.approx(CPU_BUCKETS.start(CPU_BUCKETS.index(exact) + 1))


def test_bimodal_percentiles_pick_the_right_mode() -> None:
    h = cpu_hist(SERIES["bimodal"])
    assert h.percentile(0.90) < 0.22
    assert 2.0 < h.percentile(0.91) < 2.11


def test_weights_count() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    h.add_sample(0.1, 9.0, T0)
    h.add_sample(1.0, 1.0, T0)
    assert h.percentile(0.9) < 0.12
    assert h.percentile(0.91) > 1.0


def test_empty_histogram() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    assert h.is_empty and h.percentile(0.9) == 0.0 and h.total_weight(T0) == 0.0
    h.add_sample(1.0, 0.0, T0)  # no weight, no sample
    h.add_sample(math.nan, 1.0, T0)
    h.add_sample(-1.0, 1.0, T0)
    assert h.is_empty
    with pytest.raises(ValueError):
        DecayingHistogram(CPU_BUCKETS, 0)


# --- decay -------------------------------------------------------------------------------------


def test_a_sample_weighs_half_after_one_half_life() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    h.add_sample(0.1, 1.0, at(0))
    assert h.total_weight(at(0)) == pytest.approx(1.0)
    assert h.total_weight(at(HL)) == pytest.approx(0.5)
    assert h.total_weight(at(3 * HL)) == pytest.approx(0.125)


def test_newer_samples_outweigh_older_ones_two_to_one_after_one_half_life() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    h.add_sample(0.1, 1.0, at(0))  # weighs 1/3 of the total
    h.add_sample(1.0, 1.0, at(HL))  # weighs 2/3
    assert h.percentile(0.33) < 0.12
    assert h.percentile(0.34) > 1.0
    assert h.total_weight(at(HL)) == pytest.approx(1.5)


def test_old_history_fades_behind_new_usage() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    for i in range(100):
        h.add_sample(2.0, 1.0, at(i * 60))  # 100 minutes at 2 cores
    for i in range(100):
        h.add_sample(0.2, 1.0, at(10 * HL + i * 60))  # much later: 0.2 cores
    assert h.percentile(0.99) < 0.22


def test_reference_moves_forward_and_weights_stay_bounded() -> None:
    h = DecayingHistogram(CPU_BUCKETS, 60.0)
    for i in range(2000):  # 2000 half-lives
        h.add_sample(0.5 if i % 2 else 1.5, 1.0, at(i * 60))
    assert all(math.isfinite(w) for w in h.weights)
    assert max(h.weights) < 2.0**32
    assert h.reference > _seconds(at(1000 * 60))
    # The last two samples dominate: 1.5 (one half-life old) and 0.5 (now), 1:2.
    assert h.percentile(0.6) < 0.53 and h.percentile(0.7) > 1.5


def _seconds(t: datetime) -> float:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()


def test_subtract_undoes_add() -> None:
    h = cpu_hist([0.3] * 10)
    h.add_sample(3.0, 1.0, at(HL))
    assert h.percentile(1.0) > 3.0
    h.subtract_sample(3.0, 1.0, at(HL))
    assert h.percentile(1.0) < 0.32
    h.subtract_sample(0.3, 100.0, at(0))  # more than there is: empty, never negative
    assert h.is_empty and min(h.weights) == 0.0


# --- merge -------------------------------------------------------------------------------------


def test_merge_equals_adding_all_samples() -> None:
    rng = random.Random(3)
    samples = [(rng.uniform(0.1, 3.0), rng.uniform(0, 5 * HL)) for _ in range(400)]
    a, b, both = (DecayingHistogram(CPU_BUCKETS, HL) for _ in range(3))
    for i, (v, t) in enumerate(samples):
        (a if i % 2 else b).add_sample(v, 1.0, at(t))
        both.add_sample(v, 1.0, at(t))
    a.merge(b)
    for p in (0.1, 0.5, 0.9, 0.99):
        assert a.percentile(p) == both.percentile(p)
    assert a.total_weight(at(5 * HL)) == pytest.approx(both.total_weight(at(5 * HL)))


def test_merge_into_empty_and_refuses_other_buckets() -> None:
    a = DecayingHistogram(CPU_BUCKETS, HL)
    a.merge(cpu_hist([1.0]))
    assert a.percentile(0.5) > 1.0
    a.merge(DecayingHistogram(CPU_BUCKETS, HL))
    with pytest.raises(ValueError):
        a.merge(DecayingHistogram(MEMORY_BUCKETS, HL))
    with pytest.raises(ValueError):
        a.merge(DecayingHistogram(CPU_BUCKETS, 2 * HL))


# --- checkpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERIES))
def test_checkpoint_round_trip_keeps_percentiles(name: str) -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    for i, v in enumerate(SERIES[name]):
        h.add_sample(v, 1.0, at(i * 15))
    data = h.to_dict()
    back = DecayingHistogram.from_dict(json.loads(json.dumps(data)), CPU_BUCKETS, HL)
    assert len(data["buckets"]) <= CHECKPOINT_MAX_BUCKETS  # type: ignore[arg-type]
    end = at(len(SERIES[name]) * 15)
    assert back.total_weight(end) == pytest.approx(h.total_weight(end), rel=1e-5)
    for p in (0.5, 0.9, 0.95, 0.99):
        # Never lower; higher only by the pooling of neighbouring buckets (and weight rounding).
        assert h.percentile(p) * 0.9999 <= back.percentile(p) <= h.percentile(p) * 1.05**4 + 0.01


def test_checkpoint_size_is_bounded_even_for_a_wide_spread() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    for i in range(CPU_BUCKETS.count):  # every bucket from 0 to 1000 cores
        h.add_sample(CPU_BUCKETS.start(i), 1.0, T0)
    cp = h.to_checkpoint()
    assert len(cp.buckets) <= CHECKPOINT_MAX_BUCKETS
    assert max(cp.buckets.values()) == 10000
    assert len(json.dumps(cp.to_dict())) < 800
    back = DecayingHistogram.from_checkpoint(cp, CPU_BUCKETS, HL)
    for p in (0.25, 0.5, 0.9):
        assert h.percentile(p) <= back.percentile(p) <= h.percentile(p) * 1.05**4 + 0.01


def test_checkpoint_of_a_typical_container_is_small() -> None:
    h = DecayingHistogram(MEMORY_BUCKETS, HL)
    rng = random.Random(5)
    for i in range(240):  # an hour of 15-s samples around 1 GiB
        h.add_sample(rng.gauss(2**30, 2**26), 1.0, at(i * 15))
    text = json.dumps(h.to_dict())
    assert len(text) < 300, text


def test_checkpoint_reference_time_is_whole_seconds_and_round_trips_exactly() -> None:
    h = DecayingHistogram(CPU_BUCKETS, HL)
    h.add_sample(0.5, 1.0, at(0.75))
    cp = h.to_checkpoint()
    assert cp.reference_time == T0
    again = DecayingHistogram.from_checkpoint(
        HistogramCheckpoint.model_validate(cp.to_dict()), CPU_BUCKETS, HL
    )
    assert again.to_checkpoint() == cp


def test_checkpoint_of_empty_and_garbage() -> None:
    empty = DecayingHistogram(CPU_BUCKETS, HL).to_checkpoint()
    assert empty.buckets == {} and DecayingHistogram.from_checkpoint(empty, CPU_BUCKETS, HL).is_empty
    odd = HistogramCheckpoint(
        reference_time=T0, total_weight=2.0, buckets={"x": 5, "-1": 3, "99999": 7, "36": 10000}
    )
    h = DecayingHistogram.from_checkpoint(odd, CPU_BUCKETS, HL)
    assert h.total_weight(T0) == pytest.approx(2.0)
    assert h.percentile(0.5) == pytest.approx(CPU_BUCKETS.start(37))
