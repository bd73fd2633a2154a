"""core.resize.plan: the fast path (grow at once when the latest usage is above the request by
more than the margin; never shrink that way) and when to read usage again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from podgroup_operator.api.resize import ResizePolicy
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.plan import Decision, PlanSettings, PodResizeState, fast_growth, plan_role
from podgroup_operator.core.resize.pod_resources import ContainerResources
from podgroup_operator.core.resize.polling import next_poll_delay
from podgroup_operator.core.resize.recommender import ContainerTarget, Recommendation, recommend
from podgroup_operator.core.resize.units import CPU, MEMORY
from podgroup_operator.core.resize.usage import RoleUsage, UsageSample

D = Decimal
MI, GI = 2**20, 2**30
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
AUTO = PlanSettings(cooldown=timedelta(seconds=60))


def pod(
    name: str = "g-w-0", cpu: str = "0.1", cpu_limit: str | None = None, **fields: object
) -> PodResizeState:
    requests = {CPU: D(cpu), MEMORY: D(64 * MI)}
    limits = {CPU: D(cpu_limit)} if cpu_limit else {}
    return PodResizeState(
        name=name,
        node="real-0",
        running=True,
        containers=(ContainerResources("main", requests, limits),),
        requests={**requests, "pods": D(1)},
        node_available=fields.pop("node_available", {CPU: D(2), MEMORY: D(8 * GI)}),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def seen(cpu: str, target: str | None = None, at: datetime = NOW - timedelta(seconds=2)) -> Recommendation:
    """A recommendation with only the fast path's inputs (no history yet) unless a target is given."""
    latest = D(cpu)
    fast = (latest * D("1.15") * 1000).to_integral_value(rounding="ROUND_CEILING") / 1000
    t = ContainerTarget(
        {CPU: D(target)} if target else {}, latest={CPU: latest}, fast={CPU: fast}, latest_time=at
    )
    return Recommendation({"main": t})


def one(p: PodResizeState, r: Recommendation, settings: PlanSettings = AUTO):  # type: ignore[no-untyped-def]
    (d,) = plan_role([p], r, settings, NOW)
    return d


@pytest.mark.parametrize(
    ("request_cpu", "limit", "latest", "grown"),
    [
        ("0.1", None, "0.9", "1.035"),  # far above the request: usage + 15%, at once
        ("0.1", None, "0.116", "0.134"),  # just above request + margin (0.115)
        ("0.1", None, "0.115", None),  # at request + margin: not crossing
        ("0.1", None, "0.05", None),  # below: the fast path never shrinks
        ("1", "1", "0.97", "1.116"),  # Guaranteed, at its limit: throttled, so it grows
        ("1", "1", "0.9", None),  # below 95% of the limit: not throttled
        ("0.1", "0.2", "0.2", "0.23"),  # Burstable at its limit (also above request + margin)
    ],
)
def test_fast_growth_threshold(request_cpu: str, limit: str | None, latest: str, grown: str | None) -> None:
    cur = ContainerResources("main", {CPU: D(request_cpu)}, {CPU: D(limit)} if limit else {})
    out = fast_growth(cur, seen(latest).containers["main"], D("0.15"))
    assert out == ({CPU: D(grown)} if grown else {})


def test_fast_growth_takes_the_target_when_it_is_higher() -> None:
    cur = ContainerResources("main", {CPU: D("0.1")})
    assert fast_growth(cur, seen("0.5", target="0.8").containers["main"], D("0.15")) == {CPU: D("0.8")}


def test_crossing_grows_at_once_without_history_and_within_the_cooldown() -> None:
    d = one(pod(last_resize=NOW - timedelta(seconds=20)), seen("0.9"))
    assert d.decision == Decision.RESIZE and d.containers["main"].requests == {CPU: D("1.035")}
    assert "usage above the request" in d.message


def test_a_sample_older_than_the_last_resize_waits_for_the_cooldown() -> None:
    p = pod(last_resize=NOW - timedelta(seconds=1))
    assert one(p, seen("0.9", at=NOW - timedelta(seconds=5))).decision == Decision.COOLDOWN


def test_without_history_and_without_crossing_nothing_happens() -> None:
    assert one(pod(cpu="1"), seen("0.01")).decision == Decision.NO_RECOMMENDATION


def test_shrinking_waits_for_the_cooldown_even_with_a_fresh_sample() -> None:
    p = pod(cpu="1", last_resize=NOW - timedelta(seconds=20))
    assert one(p, seen("0.01", target="0.2")).decision == Decision.COOLDOWN
    assert one(replace(p, last_resize=None), seen("0.01", target="0.2")).decision == Decision.RESIZE


def test_fast_growth_is_capped_by_the_node() -> None:
    p = pod(node_available={CPU: D("0.6"), MEMORY: D(GI)})
    d = one(p, seen("0.9"))
    assert d.decision == Decision.RESIZE and d.capped and d.containers["main"].requests == {CPU: D("0.6")}


def test_uniform_members_grow_together_when_one_crosses() -> None:
    # The role's usage is pooled: the latest is the highest member's.
    decisions = plan_role([pod("g-w-0"), pod("g-w-1")], seen("0.5"), AUTO, NOW)
    assert [d.containers["main"].requests for d in decisions] == [{CPU: D("0.575")}] * 2


def test_mode_recommend_only_recommends_the_fast_growth() -> None:
    d = one(pod(), seen("0.9"), replace(AUTO, mode="Recommend"))  # type: ignore[arg-type]
    assert d.decision == Decision.RECOMMEND_ONLY and not d.apply


def test_from_samples_to_a_resize_on_the_first_crossing_sample() -> None:
    """The whole pure path: one idle sample, then one busy sample -> a resize, with the
    confidence thresholds at their defaults (20 samples, 5 minutes: no target for minutes)."""
    usage = RoleUsage(RecommenderParams())
    policy = ResizePolicy.model_validate(
        {"mode": "Auto", "containers": [{"containerName": "*", "controlledResources": ["cpu"]}]}
    )
    usage.add(UsageSample("g-w-0", "main", NOW - timedelta(seconds=20), 0.002, 1e6))
    assert one(pod(), recommend(usage, policy, NOW)).decision == Decision.NO_RECOMMENDATION
    usage.add(UsageSample("g-w-0", "main", NOW - timedelta(seconds=10), 0.42, 1e6))
    d = one(pod(), recommend(usage, policy, NOW))
    assert d.decision == Decision.RESIZE and d.containers["main"].requests == {CPU: D("0.483")}


S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("newest_ago", "resolution", "interval", "delay"),
    [
        (None, None, 15.0, 15.0),  # no samples: the interval
        (2, 10.0, 15.0, 9.0),  # next sample due in 8 s, + 1 s slack
        (2, 30.0, 15.0, 15.0),  # never later than the interval
        (10.5, 10.0, 15.0, 1.0),  # due in 0.5 s: at least the slack
        (12, 10.0, 15.0, 1.0),  # the next sample is late to show: again in 1 s
        (25, 10.0, 15.0, 6.0),  # two scrapes missed: the next slot on the same beat
    ],
)
def test_next_poll_delay(
    newest_ago: float | None, resolution: float | None, interval: float, delay: float
) -> None:
    newest = None if newest_ago is None else NOW - newest_ago * S
    assert next_poll_delay(NOW, newest, resolution, interval) == pytest.approx(delay)


def test_shrinking_never_goes_below_the_latest_usage_plus_margin() -> None:
    # History says 0.2, but right now it uses 0.5: shrink only to 0.575, not to 0.2.
    d = one(pod(cpu="1"), seen("0.5", target="0.2"))
    assert d.decision == Decision.RESIZE and d.containers["main"].requests == {CPU: D("0.575")}
