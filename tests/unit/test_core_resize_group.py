"""core.resize.group: what each role sizes, whose usage it learns from, which OOM kills count,
and when the learnt usage is checkpointed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.resize.group import (
    CHECKPOINT_EVERY,
    OomKill,
    checkpoint_due,
    kept_owners,
    oom_kills,
    sized_names,
    usage_owners,
)
from podgroup_operator.core.resize.units import POD_LEVEL
from tests.builders import PodBuilder

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KILLED_AT = "2026-01-02T03:00:00Z"


def spec(uniform: bool, replicas: int = 3, pod_level: bool = False) -> PodGroupSpec:
    template: dict[str, Any] = {"spec": {"containers": [{"name": "main"}, {"name": "side"}]}}
    if pod_level:
        template["spec"]["resources"] = {"requests": {"cpu": "1"}}
    return PodGroupSpec.model_validate(
        {
            "roles": [{"name": "w", "replicas": replicas, "template": template}],
            "resize": {"mode": "Auto", "uniform": uniform},
        }
    )


def member(index: int, *, oom: bool = False, limit: str | None = None) -> ObservedPod:
    t = {"exitCode": 137, "reason": "OOMKilled" if oom else "Error", "finishedAt": KILLED_AT}
    status = {
        "name": "main",
        "image": "x",
        "restartCount": 1,
        "state": {"running": {}},
        "lastState": {"terminated": t},
    }
    resources = {"limits": {"memory": limit}} if limit else {}
    return (
        PodBuilder(f"g-w-{index}")
        .member("g", "w", index)
        .node("n1")
        .container("main", resources=resources)
        .phase("Running")
        .status(containerStatuses=[status])
        .observed()
    )


def test_a_role_sizes_its_containers_and_its_pod_level_resources() -> None:
    assert sized_names(spec(True).roles[0]) == ["main", "side"]
    assert sized_names(spec(True, pod_level=True).roles[0]) == ["main", "side", POD_LEVEL]


def test_a_uniform_role_learns_as_one() -> None:
    s = spec(True)
    assert usage_owners("g", s, s.roles[0], set(), [member(0)]) == [None]
    assert kept_owners("g", s) == {("w", None)}


def test_members_learn_alone_and_one_being_recreated_keeps_what_was_learnt() -> None:
    s = spec(False)
    # g-w-1 is being recreated (no pod now) but was learnt about; g-w-2 is neither.
    owners = usage_owners("g", s, s.roles[0], {("w", "g-w-1"), ("other", "g-w-2")}, [member(0)])
    assert owners == ["g-w-0", "g-w-1"]
    # A member past the replicas (scaled down) is not an owner, and its usage is not kept.
    assert usage_owners("g", spec(False, replicas=1), s.roles[0], {("w", "g-w-1")}, [member(0)]) == ["g-w-0"]
    assert kept_owners("g", spec(False, replicas=1)) == {("w", "g-w-0")}


@pytest.mark.parametrize(("limit", "memory"), [("256Mi", 256 * 2**20), (None, None)])
def test_an_oom_kill_is_recorded_with_the_limit_or_none(limit: str | None, memory: float | None) -> None:
    pods = [member(0, oom=True, limit=limit), member(1)]
    at = datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC)
    assert oom_kills(pods, None) == [OomKill("g-w-0", "main", at, memory)]
    assert oom_kills(pods, "g-w-0") == [OomKill("g-w-0", "main", at, memory)]
    assert oom_kills(pods, "g-w-1") == []  # another member's kill is not this owner's


def test_a_checkpoint_at_most_once_a_minute() -> None:
    assert checkpoint_due(stored=False, last=NOW, now=NOW)  # nothing stored yet
    assert checkpoint_due(stored=True, last=None, now=NOW)  # not written by this process
    assert not checkpoint_due(stored=True, last=NOW - timedelta(seconds=59), now=NOW)
    assert checkpoint_due(stored=True, last=NOW - CHECKPOINT_EVERY, now=NOW)
