"""core.resize.recommender: usage -> recommended requests, on synthetic usage series."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.api.resize import ResizePolicy, UsageCheckpoint
from podgroup_operator.core.resize.limits import format_resources, proportional_limits
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.recommender import container_bounds, policy_problems, recommend, to_status
from podgroup_operator.core.resize.units import CPU, MEMORY, POD_LEVEL
from podgroup_operator.core.resize.usage import ContainerUsage, RoleUsage, UsageSample

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MI, GI = 2**20, 2**30
STEP = 15  # metrics-server resolution, seconds
PARAMS = RecommenderParams()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def policy(**fields: Any) -> ResizePolicy:
    return ResizePolicy.model_validate({"mode": "Auto", **fields})


Series = Callable[[int], float]


def feed(
    usage: RoleUsage,
    cpu: Series | None,
    memory: Series | None,
    minutes: float = 30,
    pods: tuple[str, ...] = ("p-0",),
    container: str = "main",
    start: float = 0,
) -> float:
    """One sample per pod every 15 s; returns the time of the last one."""
    n = int(minutes * 60 // STEP)
    t = start
    for i in range(n):
        t = start + i * STEP
        for pod in pods:
            usage.add(
                UsageSample(
                    pod,
                    container,
                    at(t),
                    None if cpu is None else cpu(i),
                    None if memory is None else memory(i),
                )
            )
    return t


def target(usage: RoleUsage, pol: ResizePolicy, now: float, container: str = "main") -> dict[str, Decimal]:
    rec = recommend(usage, pol, at(now))
    t = rec.containers.get(container)
    return dict(t.target) if t else {}


# --- steady, spiky and idle loads --------------------------------------------------------------


def test_steady_load_gets_usage_plus_margin() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.5, lambda i: 1 * GI)
    t = target(u, policy(), end)
    assert Decimal("0.575") <= t[CPU] <= Decimal("0.61")  # 0.5 * 1.15, up to one bucket more
    assert Decimal(1.15 * GI) <= t[MEMORY] <= Decimal(1.15 * 1.05 * GI + 10**7 * 1.15)
    assert t[MEMORY] % MI == 0 and (t[CPU] * 1000) % 1 == 0  # whole MiB, whole millicores


def test_short_spikes_do_not_move_the_target_percentile_but_do_move_p99() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 2.0 if i % 20 == 0 else 0.2, lambda i: 512 * MI)  # 5% of samples spike
    assert target(u, policy(), end)[CPU] < Decimal("0.26")
    assert target(u, policy(targetPercentile=99), end)[CPU] > Decimal("2.3")


def test_memory_spike_sets_a_floor_through_the_recent_peak() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.1, lambda i: 3 * GI if i == 60 else 512 * MI)  # one 15-s peak
    t = target(u, policy(), end)
    assert t[MEMORY] >= Decimal(3 * GI * 1.15)  # memory never below the recent peak + margin


def test_the_peak_floor_expires_after_one_half_life() -> None:
    u = RoleUsage(PARAMS)
    feed(u, lambda i: 0.1, lambda i: 3 * GI if i == 0 else 512 * MI)
    end = feed(u, lambda i: 0.1, lambda i: 512 * MI, minutes=180, start=1800)
    assert target(u, policy(), end)[MEMORY] < Decimal(GI)


def test_idle_over_provisioned_shrinks_to_min_allowed() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.002, lambda i: 20 * MI)
    bounds = [{"containerName": "*", "minAllowed": {"cpu": "100m", "memory": "128Mi"}}]
    assert target(u, policy(containers=bounds), end) == {CPU: Decimal("0.1"), MEMORY: Decimal(128 * MI)}


def test_floors_apply_without_min_allowed_and_min_allowed_below_them_wins() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.002, lambda i: 20 * MI)
    assert target(u, policy(), end) == {CPU: Decimal("0.025"), MEMORY: Decimal(250 * MI)}
    low = [{"containerName": "main", "minAllowed": {"cpu": "20m", "memory": "64Mi"}}]
    t = target(u, policy(containers=low), end)
    assert t[CPU] == Decimal("0.02") and t[MEMORY] == Decimal(64 * MI)
    only_cpu = [{"containerName": "main", "minAllowed": {"cpu": "10m"}}]
    assert target(u, policy(containers=only_cpu), end)[MEMORY] == Decimal(250 * MI)


def test_max_allowed_caps_and_is_reported() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 6.0, lambda i: 10 * GI)
    pol = policy(containers=[{"containerName": "*", "maxAllowed": {"cpu": "4", "memory": "8Gi"}}])
    rec = recommend(u, pol, at(end)).containers["main"]
    assert dict(rec.target) == {CPU: Decimal(4), MEMORY: Decimal(8 * GI)}
    assert rec.capped == {CPU, MEMORY}
    assert rec.upper_bound[CPU] == Decimal(4) and rec.lower_bound[CPU] <= Decimal(4)


def test_min_above_max_lets_max_win_and_is_reported() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.1, lambda i: 100 * MI)
    pol = policy(
        containers=[{"containerName": "main", "minAllowed": {"cpu": "2"}, "maxAllowed": {"cpu": "1"}}]
    )
    assert target(u, pol, end)[CPU] == Decimal(1)
    assert policy_problems(pol) == [
        "container 'main': minAllowed.cpu exceeds maxAllowed.cpu; maxAllowed (1) is used"
    ]
    assert policy_problems(policy()) == []


@pytest.mark.parametrize(
    ("controlled", "expected"),
    [(["cpu"], {CPU}), (["memory"], {MEMORY}), ([], set()), (["cpu", "memory"], {CPU, MEMORY})],
)
def test_only_controlled_resources_are_recommended(controlled: list[str], expected: set[str]) -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.5, lambda i: GI)
    pol = policy(containers=[{"containerName": "main", "controlledResources": controlled}])
    assert set(target(u, pol, end)) == expected


def test_container_entry_beats_star() -> None:
    pol = policy(
        containers=[
            {"containerName": "*", "maxAllowed": {"cpu": "1"}},
            {"containerName": "main", "maxAllowed": {"cpu": "2"}},
        ]
    )
    assert container_bounds(pol, "main").max_allowed == {CPU: Decimal(2)}
    assert container_bounds(pol, "sidecar").max_allowed == {CPU: Decimal(1)}
    assert container_bounds(policy(), "x").controlled == {CPU, MEMORY}


# --- confidence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "pods", "confident"),
    [
        (30, 1, True),
        (4, 1, False),  # 16 samples over 4 minutes: too few, too short
        (4, 10, False),  # 160 samples but only 4 minutes of history
        (5.5, 1, True),  # 22 samples over 5 min 15 s
    ],
)
def test_too_few_samples_or_too_short_a_history_gives_no_target_only_the_fast_path(
    minutes: float, pods: int, confident: bool
) -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.5, lambda i: GI, minutes=minutes, pods=tuple(f"p-{i}" for i in range(pods)))
    rec = recommend(u, policy(), at(end))
    t = rec.containers["main"]
    assert bool(t.target) is confident
    # The fast path's inputs exist from the first sample: the latest usage and usage + margin.
    assert t.latest == {CPU: Decimal("0.5"), MEMORY: Decimal(GI)}
    assert t.fast == {CPU: Decimal("0.575"), MEMORY: Decimal(1178 * MI)}
    if not confident:
        assert to_status("w", rec).containers == []


def test_repeated_samples_are_counted_once() -> None:
    u = RoleUsage(PARAMS)
    s = UsageSample("p-0", "main", T0, 0.5, GI)
    assert u.add(s) is True
    assert u.add(s) is False
    assert u.add(UsageSample("p-0", "main", at(-15), 0.5, GI)) is False  # older than the last
    assert u.add(UsageSample("p-1", "main", T0, 0.5, GI)) is True  # another pod, same time
    assert u.containers["main"].samples == 2


def test_members_pool_their_usage_when_uniform() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 1.0, lambda i: GI, pods=("p-0", "p-1", "p-2"))
    feed(u, lambda i: 3.0, lambda i: GI, pods=("p-3",))
    # One busy member of four holds a quarter of the samples: the pooled P90 covers it, P50 not.
    assert target(u, policy(), end)[CPU] >= Decimal("3.45")
    assert target(u, policy(targetPercentile=50), end)[CPU] < Decimal("1.2")


# --- OOM kills ---------------------------------------------------------------------------------


def test_oom_bumps_memory_even_without_enough_samples() -> None:
    u = RoleUsage(PARAMS)
    feed(u, lambda i: 0.5, lambda i: 500 * MI, minutes=1)
    assert u.record_oom("p-0", "main", at(60), 512 * MI) is True
    rec = recommend(u, policy(), at(61)).containers["main"]
    assert CPU not in rec.target  # CPU still has too little history
    assert rec.target[MEMORY] == Decimal(615 * MI)  # 512Mi * 1.2 = 614.4Mi, up to a whole MiB
    assert rec.oom


@pytest.mark.parametrize(
    ("bump", "at_oom", "expected_mi"),
    [
        (20, 512 * MI, 615),
        (20, 256 * MI, 356),  # +20% is less than +100Mi: +100Mi
        (100, 512 * MI, 1024),
        (0, 2 * GI, 2148),  # no percentage: still +100Mi
    ],
)
def test_oom_bump_table(bump: int, at_oom: int, expected_mi: int) -> None:
    pol = policy(oomBumpPercent=bump)
    u = RoleUsage(RecommenderParams.from_policy(pol))
    u.record_oom("p-0", "main", T0, at_oom)
    assert target(u, pol, 0)[MEMORY] == Decimal(expected_mi * MI)


def test_oom_raises_a_confident_recommendation_and_wins_over_usage() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.5, lambda i: 300 * MI)
    u.record_oom("p-0", "main", at(end), GI)
    t = recommend(u, policy(), at(end)).containers["main"]
    assert t.target[MEMORY] >= Decimal(1.2 * GI) and CPU in t.target and t.oom


def test_oom_is_counted_once_and_expires() -> None:
    u = RoleUsage(PARAMS)
    assert u.record_oom("p-0", "main", T0, GI)
    assert not u.record_oom("p-0", "main", T0, GI)  # the same kill seen again
    assert u.record_oom("p-1", "main", T0, 512 * MI)  # another member's kill
    c = u.containers["main"]
    assert c.recent_oom(at(3600)) == GI  # the largest of the recent kills
    assert c.recent_oom(T0 + PARAMS.oom_horizon + timedelta(seconds=1)) is None
    assert not u.record_oom("p-2", "main", T0, 0)


def test_max_allowed_caps_even_the_oom_bump() -> None:
    u = RoleUsage(PARAMS)
    u.record_oom("p-0", "main", T0, GI)
    pol = policy(containers=[{"containerName": "*", "maxAllowed": {"memory": "1Gi"}}])
    rec = recommend(u, pol, T0).containers["main"]
    assert rec.target[MEMORY] == Decimal(GI) and rec.capped == {MEMORY}


# --- memory peaks per interval -----------------------------------------------------------------


def test_memory_histogram_holds_one_peak_per_pod_and_interval() -> None:
    c = ContainerUsage(PARAMS)
    for i in range(20):  # one 5-minute interval, rising
        c.add_sample("p-0", at(i * 15), 0.1, (100 + i) * MI)
    assert c.memory.total_weight(at(300)) == pytest.approx(1.0)
    assert c.memory.percentile(0.0) > 119 * MI  # only the peak is left
    c.add_sample("p-0", at(300), 0.1, 50 * MI)  # next interval
    assert c.memory.total_weight(at(600)) == pytest.approx(1 + 2 ** (-300 / 3600))


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_restores_the_same_recommendation() -> None:
    u = RoleUsage(PARAMS)
    rng = random.Random(11)
    end = feed(u, lambda i: rng.uniform(0.2, 1.2), lambda i: rng.uniform(400, 900) * MI, minutes=60)
    u.record_oom("p-0", "main", at(end - 100), GI)
    cp = u.to_checkpoint("worker")
    text = json.dumps(cp.to_dict())
    assert len(text) < 2500, len(text)
    back = RoleUsage.from_checkpoint(UsageCheckpoint.model_validate(json.loads(text)), PARAMS)
    before = recommend(u, policy(), at(end)).containers["main"]
    after = recommend(back, policy(), at(end)).containers["main"]
    for r in (CPU, MEMORY):
        assert before.target[r] <= after.target[r] <= before.target[r] * Decimal("1.16")
    assert after.oom
    # Samples the checkpoint already holds are not taken again; newer ones are.
    assert not back.add(UsageSample("p-0", "main", at(end), 5.0, GI))
    assert back.add(UsageSample("p-0", "main", at(end + 15), 5.0, GI))
    assert not back.record_oom("p-0", "main", at(end - 100), GI)


def test_pod_level_usage_uses_star_bounds() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 8.0, lambda i: GI, container=POD_LEVEL)
    pol = policy(containers=[{"containerName": "*", "maxAllowed": {"cpu": "4"}}])
    rec = recommend(u, pol, at(end))
    assert rec.containers == {} and rec.pod is not None and rec.pod.target[CPU] == Decimal(4)
    status = to_status("worker", rec).to_dict()
    assert status["podResources"]["target"] == {"cpu": "4", "memory": "1182Mi"}


def test_status_record() -> None:
    u = RoleUsage(PARAMS)
    end = feed(u, lambda i: 0.5, lambda i: GI)
    status = to_status("worker", recommend(u, policy(), at(end))).to_dict()
    (c,) = status["containers"]
    assert c["container"] == "main"
    # 0.5 cores and 1Gi, each up to the end of its bucket (+2.2%, +2.8%), plus 15%.
    assert c["target"] == {"cpu": "588m", "memory": "1182Mi"}
    assert set(c["lowerBound"]) == set(c["upperBound"]) == {"cpu", "memory"}


def test_params_from_policy() -> None:
    p = RecommenderParams.from_policy(
        policy(targetPercentile=95, safetyMarginPercent=0, oomBumpPercent=50, historyHalfLifeSeconds=60)
    )
    assert (p.target_percentile, p.safety_margin, p.oom_bump) == (0.95, 0.0, 0.5)
    assert p.half_life == timedelta(seconds=60) and p.memory_interval == timedelta(seconds=15)
    assert RecommenderParams.from_policy(policy(), min_samples=3).min_samples == 3
    assert RecommenderParams.from_policy(policy()).memory_interval == timedelta(minutes=5)


# --- limits ------------------------------------------------------------------------------------

D = Decimal


@pytest.mark.parametrize(
    ("requests", "limits", "new", "expected"),
    [
        # Guaranteed: limits follow requests exactly.
        ({CPU: D(1), MEMORY: D(GI)}, {CPU: D(1), MEMORY: D(GI)}, {CPU: D(2), MEMORY: D(3 * GI)},
         {CPU: D(2), MEMORY: D(3 * GI)}),
        # Burstable with a 2x ratio keeps it.
        ({CPU: D("0.5")}, {CPU: D(1)}, {CPU: D("0.75")}, {CPU: D("1.5")}),
        # No limit stays no limit.
        ({CPU: D(1), MEMORY: D(GI)}, {}, {CPU: D(2)}, {}),
        # Only resources being changed get a new limit.
        ({CPU: D(1), MEMORY: D(GI)}, {CPU: D(2), MEMORY: D(2 * GI)}, {MEMORY: D(GI // 2)},
         {MEMORY: D(GI)}),
        # CPU limits round up to a millicore: 0.333 * 3 / 1 ...
        ({CPU: D("0.3")}, {CPU: D(1)}, {CPU: D("0.1")}, {CPU: D("0.334")}),
        # A limit without a request: the request defaults to the limit.
        ({}, {MEMORY: D(GI)}, {MEMORY: D(2 * GI)}, {MEMORY: D(2 * GI)}),
    ],
)  # fmt: skip
def test_proportional_limits(
    requests: dict[str, Decimal],
    limits: dict[str, Decimal],
    new: dict[str, Decimal],
    expected: dict[str, Decimal],
) -> None:
    assert proportional_limits(requests, limits, new) == expected


def test_format_resources() -> None:
    assert format_resources({MEMORY: D(1536 * MI), CPU: D("0.25")}) == {"cpu": "250m", "memory": "1536Mi"}
