"""core.resize.recommender: pinned targets for synthetic usage series (one sample every 15 s, the
default policy: 90th percentile, 15% margin, one-hour half-life, VPA's buckets).

How a pinned value comes about, for the steady case: 0.5 cores lands in CPU bucket 25,
[0.4773, 0.5111) (bucket i starts at 0.01 * (1.05^i - 1) / 0.05); the 90th percentile is that
bucket's upper end, 0.5111; plus 15% is 0.5878, rounded up to 0.588. Memory: one peak per pod
and 5-minute interval; 1 GiB lands in the bucket ending at 1.0278 GiB; plus 15%: 1182 MiB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from podgroup_operator.api.resize import ResizePolicy
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.recommender import ContainerTarget, recommend
from podgroup_operator.core.resize.units import CPU, MEMORY
from podgroup_operator.core.resize.usage import RoleUsage, UsageSample

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MI, GI = 2**20, 2**30
Segment = tuple[float, float, int]  # minutes, CPU cores, memory bytes


def run(segments: list[Segment], oom_at_limit: int | None = None, **policy: object) -> ContainerTarget:
    usage = RoleUsage(RecommenderParams())
    t = 0
    for minutes, cpu, memory in segments:
        for _ in range(int(minutes * 4)):
            usage.add(UsageSample("p-0", "main", T0 + timedelta(seconds=t), cpu, memory))
            t += 15
    now = T0 + timedelta(seconds=t - 15)
    if oom_at_limit is not None:
        usage.record_oom("p-0", "main", now, oom_at_limit)
    pol = ResizePolicy.model_validate({"mode": "Auto", **policy})
    return recommend(usage, pol, now).containers["main"]


D = Decimal


@pytest.mark.parametrize(
    ("case", "segments", "cpu", "memory", "fast_cpu"),
    [
        # Steady: the percentile's bucket end plus the margin (see the module docstring).
        ("steady", [(30, 0.5, GI)], D("0.588"), D(1182 * MI), D("0.575")),
        # Step up, one minute ago: the history has not moved yet (0.2 -> 0.249) ...
        ("step up, 1 min", [(30, 0.2, 512 * MI), (1, 1.0, 512 * MI)], D("0.249"), D(600 * MI), D("1.15")),
        # ... but the fast path sees the latest sample: 1.0 + 15% (the plan grows to it at once).
        # After 10 minutes (a quarter of the samples, weighted more as they are newer) it has.
        ("step up, 10 min", [(30, 0.2, 512 * MI), (10, 1.0, GI)], D("1.169"), D(1182 * MI), D("1.15")),
        # Step down: shrinking is slow on purpose; 10 minutes of less usage change nothing ...
        ("step down, 10 min", [(30, 1.0, GI), (10, 0.2, 512 * MI)], D("1.169"), D(1182 * MI), D("0.23")),
        # ... three hours (three half-lives) do.
        ("step down, 3 h", [(30, 1.0, GI), (180, 0.2, 512 * MI)], D("0.249"), D(600 * MI), D("0.23")),
        # One 15-s spike: CPU's 90th percentile ignores it; memory never goes below the peak +
        # margin (2 GiB * 1.15, in whole MiB), for one half-life.
        ("spike", [(15, 0.3, 512 * MI), (0.25, 4.0, 2 * GI), (15, 0.3, 512 * MI)], D("0.352"), D(2422 * MI),
         D("0.345")),
    ],
)  # fmt: skip
def test_targets_for_synthetic_series(
    case: str, segments: list[Segment], cpu: Decimal, memory: Decimal, fast_cpu: Decimal
) -> None:
    t = run(segments)
    assert dict(t.target) == {CPU: cpu, MEMORY: memory}, case
    assert t.fast[CPU] == fast_cpu, case
    assert t.lower_bound[CPU] <= cpu <= t.upper_bound[CPU]
    assert t.lower_bound[MEMORY] <= memory <= t.upper_bound[MEMORY]


@pytest.mark.parametrize(
    ("segments", "limit", "memory"),
    [
        # Confident: the kill adds a sample of the bumped size (256Mi + 100Mi) to the history, as in
        # VPA; the 90th percentile lands on it, plus the margin: 423Mi (> the bump, > the usage).
        ([(30, 0.1, 200 * MI)], 256 * MI, D(423 * MI)),
        # One minute of history (no target yet): the bump alone, max(256Mi * 1.2, 256Mi + 100Mi).
        ([(1, 0.1, 200 * MI)], 256 * MI, D(356 * MI)),
        # A large limit: +20% wins over +100Mi.
        ([(1, 0.1, 900 * MI)], GI, D(1229 * MI)),
    ],
)
def test_oom_kill_raises_memory(segments: list[Segment], limit: int, memory: Decimal) -> None:
    t = run(segments, oom_at_limit=limit)
    assert t.target[MEMORY] == memory and t.oom


def test_oom_without_a_limit_uses_the_last_working_set() -> None:
    usage = RoleUsage(RecommenderParams())
    usage.add(UsageSample("p-0", "main", T0, 0.1, 300 * MI))
    assert usage.record_oom("p-0", "main", T0 + timedelta(seconds=5), None)
    t = recommend(usage, ResizePolicy.model_validate({"mode": "Auto"}), T0 + timedelta(seconds=5))
    assert t.containers["main"].target[MEMORY] == D(400 * MI)  # 300Mi + 100Mi


def test_bounds_widen_with_young_history_as_in_vpa() -> None:
    young, old = run([(6, 0.5, GI)]), run([(240, 0.5, GI)])
    assert young.target[CPU] == old.target[CPU] == D("0.588")  # the target is not scaled
    # Upper bound: p95 + margin (0.588) x (1 + 1/confidence), confidence = history in half-lives:
    # 345 s / 3600 s -> x 11.43; 14385 s / 3600 s -> x 1.25.
    assert young.upper_bound[CPU] == D("6.722") and old.upper_bound[CPU] == D("0.735")
    assert young.lower_bound[CPU] < old.lower_bound[CPU] <= old.target[CPU]


def test_the_last_bucket_reads_as_its_start() -> None:
    # Values from 1000 cores up share the last bucket, which has no upper end: its start (972.48)
    # plus the margin, as in VPA, not the end of a bucket that does not exist (1021.11).
    t = run([(30, 5000.0, GI)])
    assert t.target[CPU] == D("1118.347")


def test_a_member_checkpoint_is_coarser_and_restores_close_to_the_same_target() -> None:
    """uniform: false keeps one checkpoint per member, with at most 12 buckets per histogram."""
    usage = RoleUsage(RecommenderParams())
    for i in range(240):  # a wide spread of usage: many buckets
        usage.add(UsageSample("g-w-3", "main", T0 + timedelta(seconds=15 * i), 0.05 + 0.01 * (i % 90), GI))
    checkpoint = usage.to_checkpoint("w", "g-w-3", max_buckets=12)
    assert checkpoint.pod == "g-w-3"
    assert len(checkpoint.containers[0].cpu.buckets) <= 12  # type: ignore[union-attr]
    restored = RoleUsage.from_checkpoint(checkpoint, RecommenderParams())
    pol, now = ResizePolicy.model_validate({"mode": "Auto"}), T0 + timedelta(seconds=15 * 239)
    before, after = recommend(usage, pol, now), recommend(restored, pol, now)
    exact, coarse = before.containers["main"].target[CPU], after.containers["main"].target[CPU]
    assert exact <= coarse <= exact * D("1.5")  # pooled buckets only ever over-estimate


def test_pod_level_usage_is_the_sum_of_the_containers() -> None:
    from podgroup_operator.core.resize.units import POD_LEVEL
    from podgroup_operator.core.resize.usage import pod_level_samples

    samples = [
        UsageSample("p-0", "a", T0, 0.2, 100 * MI, 10.0),
        UsageSample("p-0", "b", T0, 0.3, 50 * MI, 10.0),
        UsageSample("p-1", "a", T0, 0.1, None, 10.0),
    ]
    out = {s.pod: s for s in pod_level_samples(samples)}
    assert out["p-0"] == UsageSample("p-0", POD_LEVEL, T0, 0.5, 150 * MI, 10.0)
    assert out["p-1"].memory_bytes is None  # unknown, not zero
