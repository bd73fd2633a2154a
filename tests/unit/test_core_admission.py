"""core.admission: around the planner, what a pass reserves, which gangs ask to be planned and
how a released member is pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from podgroup_operator.core.admission import (
    BackingOff,
    admission_request,
    node_usage,
    pending_releases,
    release_pin,
)
from podgroup_operator.core.gang import GangRequest
from podgroup_operator.core.observed import ObservedGroup, ObservedPod, observe_group
from podgroup_operator.core.placement import HOSTNAME_LABEL
from tests.builders import PodBuilder

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = ("ml", "train")


def member(index: int, *, gated: bool) -> ObservedPod:
    return (
        PodBuilder(f"train-w-{index}")
        .member("train", "w", index)
        .owner("uid-train")
        .container(resources={"requests": {"cpu": "2"}})
        .gang_gated(gated)
        .observed()
    )


def group(status: dict | None = None) -> ObservedGroup:
    template = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
    body = {
        "metadata": {
            "namespace": "ml",
            "name": "train",
            "uid": "uid-train",
            "creationTimestamp": "2026-01-02T03:00:00Z",
        },
        "spec": {"roles": [{"name": "w", "replicas": 2, "template": template}]},
    }
    return observe_group({**body, "status": status} if status else body)


def test_only_members_the_index_still_shows_gated_stay_reserved() -> None:
    pods = [member(0, gated=True), member(1, gated=False)]
    assert pending_releases({"train-w-0": "n1", "train-w-1": "n2", "gone": "n3"}, pods) == {"train-w-0": "n1"}


def test_node_usage_adds_the_reservations_to_what_the_node_pods_request() -> None:
    used = node_usage(
        {"n1": [{"cpu": Decimal(1)}]}, [("n1", {"cpu": Decimal(2)}), ("n2", {"memory": Decimal(5)})]
    )
    assert used == {"n1": {"cpu": Decimal(3)}, "n2": {"memory": Decimal(5)}}


def test_a_gated_gang_asks_to_be_planned_unless_released_already_or_backing_off() -> None:
    pods = [member(0, gated=True), member(1, gated=True)]
    request = admission_request(KEY, group(), pods, False, NOW)
    assert isinstance(request, GangRequest) and request.needed == {"w": 2}
    assert admission_request(KEY, group(), pods, True, NOW) is None  # released, not yet shown so
    assert admission_request(KEY, None, pods, False, NOW) is None
    assert admission_request(KEY, group(), [member(0, gated=False)], False, NOW) is None
    later = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    backing = admission_request(
        KEY, group({"gang": {"rollbacks": 1, "nextAttemptTime": later}}), pods, False, NOW
    )
    assert backing == BackingOff(30.0)


def test_a_member_naming_its_hostname_is_not_pinned_again() -> None:
    plain = member(0, gated=True)
    named = PodBuilder("p").spec(nodeSelector={HOSTNAME_LABEL: "n1"}).observed()
    assert (release_pin(plain, "n1"), release_pin(named, "n1")) == ("n1", None)
