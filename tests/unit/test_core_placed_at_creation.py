"""core.admission, placed at creation: what a whole new gang asks from the bodies it would
create, the body a placed member is created with, and the room it holds until the index shows it;
core.reconcile_plan asks only for a whole new gang."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from podgroup_operator.core.admission import (
    PLACED_HOLD,
    Placed,
    Placement,
    pending_placements,
    placed_creates,
    placement_request,
    released_body,
)
from podgroup_operator.core.labels import (
    ADMITTED_AT_ANNOTATION,
    GANG_GATE,
    PLANNED_NODE_ANNOTATION,
    TOPOLOGY_DOMAIN_ANNOTATION,
)
from podgroup_operator.core.observed import observe_group, observe_pod
from podgroup_operator.core.placement import HOSTNAME_LABEL
from podgroup_operator.core.reconcile_plan import EarlierSteps, Remembered, Settings, Snapshot, plan_reconcile
from podgroup_operator.core.writes import PodCreate

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = ("ml", "train")
TEMPLATE = {
    "spec": {
        "containers": [
            {"name": "main", "image": "registry.local/tools:1.0", "resources": {"requests": {"cpu": "2"}}}
        ]
    }
}


def spec_of(replicas: int = 2, status: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {
        "metadata": {"namespace": "ml", "name": "train", "uid": "uid-train", "generation": 1},
        "spec": {"roles": [{"name": "w", "replicas": replicas, "template": TEMPLATE}]},
    }
    if status:
        body["status"] = status
    return observe_group(body)


def plan(
    pods: tuple = (), created: dict | None = None, replicas: int = 2, max_creates: int = 64, **kw: Any
) -> Any:
    group = spec_of(replicas, kw.get("status"))
    assert group.spec is not None
    snapshot = Snapshot("ml", "train", "uid-train", 1, group.spec, group.status, pods, {}, NOW)
    settings = Settings(max_creates=max_creates, cluster_domain="cluster.local", native_restart=False)
    return plan_reconcile(snapshot, Remembered(created or {}, None, None), EarlierSteps(), settings)


def test_a_whole_new_gang_asks_to_be_placed_from_the_bodies_it_would_create() -> None:
    p = plan()
    assert p.placement is not None
    assert p.placement.needed == {"w": 2}
    assert [m.name for m in p.placement.members] == ["train-w-0", "train-w-1"]
    assert all(m.requests["cpu"] == Decimal(2) for m in p.placement.members)
    assert all(GANG_GATE in c.body["spec"]["schedulingGates"][0]["name"] for c in p.creates)


def test_a_group_with_members_or_creates_pending_or_a_batch_short_of_the_gang_does_not_ask() -> None:
    existing = observe_pod(
        {**plan().creates[0].body, "metadata": {**plan().creates[0].body["metadata"], "uid": "u"}}
    )
    assert plan(pods=(existing,)).placement is None
    assert plan(created={"train-w-0": NOW}).placement is None
    assert plan(replicas=3, max_creates=2).placement is None


def test_a_gang_backing_off_after_a_rollback_does_not_ask() -> None:
    later = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    group = spec_of(status={"gang": {"rollbacks": 1, "nextAttemptTime": later}})
    assert group.spec is not None
    creates = plan().creates
    assert placement_request(KEY, group.spec, group.status, creates, NOW) is None
    assert placement_request(KEY, group.spec, None, creates, NOW) is not None


def test_a_placed_member_is_created_as_its_release_would_leave_it() -> None:
    body = {
        "metadata": {"name": "train-w-0", "annotations": {"keep": "me"}},
        "spec": {
            "schedulingGates": [{"name": GANG_GATE}, {"name": "example.com/quota"}],
            "nodeSelector": {"pool": "a"},
        },
    }
    out = released_body(body, "node-1", "host-1", NOW, "rack=r1")
    assert out["spec"]["schedulingGates"] == [{"name": "example.com/quota"}]
    assert out["spec"]["nodeSelector"] == {"pool": "a", HOSTNAME_LABEL: "host-1"}
    annotations = out["metadata"]["annotations"]
    assert annotations["keep"] == "me"
    assert annotations[PLANNED_NODE_ANNOTATION] == "node-1"
    assert annotations[TOPOLOGY_DOMAIN_ANNOTATION] == "rack=r1"
    assert observe_pod(out).admitted_at == NOW
    assert body["spec"]["schedulingGates"][0] == {"name": GANG_GATE}, "the plan's body is left as it was"

    only_gang = released_body({"spec": {"schedulingGates": [{"name": GANG_GATE}]}}, "n", None, NOW, "")
    assert "schedulingGates" not in only_gang["spec"] and "nodeSelector" not in only_gang["spec"]
    assert TOPOLOGY_DOMAIN_ANNOTATION not in only_gang["metadata"]["annotations"]
    named = released_body({"spec": {"nodeSelector": {HOSTNAME_LABEL: "h0"}}}, "n", "h1", NOW, "")
    assert named["spec"]["nodeSelector"] == {HOSTNAME_LABEL: "h0"}, "a second hostname key is refused"
    assert ADMITTED_AT_ANNOTATION in named["metadata"]["annotations"]


def test_only_the_placed_members_of_the_creates_are_created_released() -> None:
    creates = plan().creates
    out = placed_creates(creates, Placement({"train-w-1": ("node-1", "node-1")}, NOW))
    assert out[0] == creates[0]
    assert observe_pod(out[1].body).planned_node == "node-1" and not observe_pod(out[1].body).gang_gated
    assert isinstance(out[1], PodCreate) and out[1].member == "train-w-1"


def test_a_placed_member_holds_its_room_until_the_index_shows_it_or_the_hold_ends() -> None:
    placed = {
        "a": Placed("n1", {"cpu": Decimal(1)}, NOW + PLACED_HOLD),
        "b": Placed("n1", {"cpu": Decimal(1)}, NOW + PLACED_HOLD),
        "c": Placed("n2", {"cpu": Decimal(1)}, NOW),
    }
    assert pending_placements(placed, ["b"], NOW) == {"a": placed["a"]}
