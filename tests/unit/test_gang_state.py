"""core.gang_state: a PodGroup's gang read from its spec and member pods: its minimum, whether
it is admitted, the admission it asks for, a release that timed out, and the backoff after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.api.models import GangStatus, PodGroupSpec
from podgroup_operator.core.backoff import backoff_seconds
from podgroup_operator.core.gang import MemberRequest
from podgroup_operator.core.gang_state import (
    after_rollback,
    gang_minimum,
    gang_request,
    is_admitted,
    released_per_role,
    timed_out_release,
)
from podgroup_operator.core.labels import (
    ADMITTED_AT_ANNOTATION,
    GANG_GATE,
    PLANNED_NODE_ANNOTATION,
)
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import constraints_of
from tests.builders import PodBuilder

GROUP = "train"
KEY = ("ml", GROUP)
NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
SINCE = NOW - timedelta(minutes=5)
GI = 2**30

TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}


def make_spec(timeout: int | None = None, **roles: int | tuple[int, int]) -> PodGroupSpec:
    """make_spec(leader=1, worker=(4, 3)): replicas, or (replicas, minAvailable), per role."""
    body: dict[str, Any] = {"roles": []}
    for name, shape in roles.items():
        role: dict[str, Any] = {"name": name, "template": TEMPLATE}
        if isinstance(shape, tuple):
            role["replicas"], role["minAvailable"] = shape
        else:
            role["replicas"] = shape
        body["roles"].append(role)
    if timeout is not None:
        body["gang"] = {"scheduleTimeoutSeconds": timeout}
    return PodGroupSpec.model_validate(body)


def member(
    role: str,
    index: int,
    *,
    gated: bool = True,
    node: str | None = None,
    phase: str = "Pending",
    priority: int | None = None,
    admitted_at: str | None = None,
    planned_node: str | None = None,
    deleting: bool = False,
    cpu: str = "1",
    memory: str = "1Gi",
    node_selector: dict[str, str] | None = None,
    extra_gates: tuple[str, ...] = (),
) -> ObservedPod:
    """A member pod as the API server returns it, read with observe_pod."""
    pod = (
        PodBuilder(f"{GROUP}-{role}-{index}")
        .member(GROUP, role, index)
        .owner("uid-train")
        .annotation("podgroup.dev/template-hash", "0123456789abcdef")
        .container("c", "busybox:1.36", resources={"requests": {"cpu": cpu, "memory": memory}})
        .gates(*((GANG_GATE,) if gated else ()), *extra_gates)
        .node(node)
        .phase(phase)
        .deleting(deleting)
    )
    if admitted_at is not None:
        pod.annotation(ADMITTED_AT_ANNOTATION, admitted_at)
    if planned_node is not None:
        pod.annotation(PLANNED_NODE_ANNOTATION, planned_node)
    if priority is not None:
        pod.spec(priority=priority)
    if node_selector is not None:
        pod.spec(nodeSelector=node_selector)
    return pod.observed()


def running(role: str, index: int) -> ObservedPod:
    return member(
        role, index, gated=False, node="node-a", phase="Running", admitted_at="2025-03-04T11:00:00.000000Z"
    )


# --- gang_minimum ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (make_spec(worker=4), {"worker": 4}),
        (make_spec(worker=(4, 3)), {"worker": 3}),
        (make_spec(worker=(4, 0)), {"worker": 0}),
        (make_spec(leader=1, worker=(8, 6)), {"leader": 1, "worker": 6}),
    ],
)
def test_gang_minimum(spec: PodGroupSpec, expected: dict[str, int]) -> None:
    assert gang_minimum(spec) == expected


# --- is_admitted -------------------------------------------------------------------------------

ADMITTED: list[tuple[str, PodGroupSpec, list[ObservedPod], bool]] = [
    ("no pods", make_spec(worker=2), [], False),
    ("all gated", make_spec(worker=2), [member("worker", 0), member("worker", 1)], False),
    ("all released", make_spec(worker=2), [running("worker", 0), running("worker", 1)], True),
    (
        "released but unbound counts (a reservation)",
        make_spec(worker=2),
        [member("worker", 0, gated=False), member("worker", 1, gated=False)],
        True,
    ),
    ("one short", make_spec(worker=2), [running("worker", 0), member("worker", 1)], False),
    ("minAvailable reached", make_spec(worker=(3, 2)), [running("worker", 0), running("worker", 1)], True),
    ("minAvailable zero", make_spec(worker=(3, 0)), [], True),
    (
        "every role needs its share",
        make_spec(leader=1, worker=2),
        [running("worker", 0), running("worker", 1), member("leader", 0)],
        False,
    ),
    (
        "every role has its share",
        make_spec(leader=1, worker=(3, 2)),
        [running("leader", 0), running("worker", 0), running("worker", 2), member("worker", 1)],
        True,
    ),
    (
        "terminating members do not count",
        make_spec(worker=2),
        [running("worker", 0), member("worker", 1, gated=False, node="n", phase="Running", deleting=True)],
        False,
    ),
    (
        "finished members do not count",
        make_spec(worker=2),
        [running("worker", 0), member("worker", 1, gated=False, node="n", phase="Succeeded")],
        False,
    ),
    (
        "another scheduling gate is not the gang gate",
        make_spec(worker=1),
        [member("worker", 0, gated=False, extra_gates=("example.com/quota",))],
        True,
    ),
]


@pytest.mark.parametrize(
    ("spec", "pods", "expected"), [c[1:] for c in ADMITTED], ids=[c[0] for c in ADMITTED]
)
def test_is_admitted(spec: PodGroupSpec, pods: list[ObservedPod], expected: bool) -> None:
    assert is_admitted(spec, pods) is expected


def test_released_per_role() -> None:
    pods = [running("worker", 0), running("worker", 1), member("worker", 2), running("leader", 0)]
    assert released_per_role(pods) == {"worker": 2, "leader": 1}


# --- gang_request ------------------------------------------------------------------------------


def test_gang_request_none_when_nothing_is_gated() -> None:
    spec = make_spec(worker=2)
    assert gang_request(KEY, spec, [], SINCE) is None
    assert gang_request(KEY, spec, [running("worker", 0), running("worker", 1)], SINCE) is None
    # A gated pod that is terminating or finished asks for nothing.
    gone = [member("worker", 0, deleting=True), member("worker", 1, phase="Failed")]
    assert gang_request(KEY, spec, gone, SINCE) is None


def test_gang_request_fresh_gang() -> None:
    spec = make_spec(leader=1, worker=(4, 3))
    pods = [member("worker", i, cpu="2", memory="4Gi") for i in (3, 1, 0, 2)] + [
        member("leader", 0, cpu="500m")
    ]
    request = gang_request(KEY, spec, pods, SINCE)
    assert request is not None
    assert request.key == KEY
    assert request.waiting_since == SINCE
    assert request.priority == 0
    assert request.needed == {"leader": 1, "worker": 3}
    # Gated members by role, then index.
    assert [m.name for m in request.members] == [
        "train-leader-0",
        "train-worker-0",
        "train-worker-1",
        "train-worker-2",
        "train-worker-3",
    ]
    worker = request.members[1]
    assert worker == MemberRequest(
        "train-worker-0",
        "worker",
        {"cpu": Decimal(2), "memory": Decimal(4 * GI), "pods": Decimal(1)},
        constraints_of({}),
    )


def test_gang_request_orders_indexes_as_numbers() -> None:
    spec = make_spec(worker=12)
    pods = [member("worker", i) for i in (10, 2, 11, 0, 1)]
    request = gang_request(KEY, spec, pods, SINCE)
    assert request is not None
    assert [m.name for m in request.members] == [f"train-worker-{i}" for i in (0, 1, 2, 10, 11)]


@pytest.mark.parametrize(
    ("spec", "pods", "needed"),
    [
        (make_spec(worker=4), [member("worker", i) for i in range(4)], {"worker": 4}),
        (
            # A member recreated in a running gang is admitted alone.
            make_spec(worker=4),
            [running("worker", 0), running("worker", 1), running("worker", 2), member("worker", 3)],
            {"worker": 1},
        ),
        (
            # More released than the minimum: nothing is needed, the gated one joins when it fits.
            make_spec(worker=(4, 2)),
            [running("worker", 0), running("worker", 1), running("worker", 2), member("worker", 3)],
            {"worker": 0},
        ),
        (
            make_spec(leader=1, worker=3),
            [running("leader", 0), member("worker", 0), member("worker", 1), member("worker", 2)],
            {"leader": 0, "worker": 3},
        ),
        (
            # Released but not yet bound members hold their reservation and count.
            make_spec(worker=3),
            [
                member("worker", 0, gated=False, planned_node="node-a"),
                member("worker", 1),
                member("worker", 2),
            ],
            {"worker": 2},
        ),
        (
            # A terminating member is no longer released.
            make_spec(worker=2),
            [member("worker", 0, gated=False, node="n", phase="Running", deleting=True), member("worker", 1)],
            {"worker": 2},
        ),
        (
            # Members not created yet: the request still says what is needed.
            make_spec(worker=4),
            [member("worker", 0)],
            {"worker": 4},
        ),
    ],
)
def test_gang_request_needed(spec: PodGroupSpec, pods: list[ObservedPod], needed: dict[str, int]) -> None:
    request = gang_request(KEY, spec, pods, SINCE)
    assert request is not None
    assert request.needed == needed
    assert [m.name for m in request.members] == sorted(p.name for p in pods if p.active and p.gang_gated)


@pytest.mark.parametrize(
    ("priorities", "expected"),
    [
        ([None, None], 0),
        ([100, None], 100),
        ([5, 1000, 10], 1000),
        ([-10, -5], -5),
    ],
)
def test_gang_request_priority_is_the_highest_of_the_gated(
    priorities: list[int | None], expected: int
) -> None:
    spec = make_spec(worker=len(priorities) + 1)
    pods = [member("worker", i, priority=p) for i, p in enumerate(priorities)]
    # A released member's priority does not count.
    pods.append(member("worker", len(priorities), gated=False, node="n", phase="Running", priority=10**6))
    request = gang_request(KEY, spec, pods, SINCE)
    assert request is not None
    assert request.priority == expected


def test_gang_request_carries_constraints() -> None:
    spec = make_spec(worker=1)
    request = gang_request(KEY, spec, [member("worker", 0, node_selector={"disktype": "ssd"})], SINCE)
    assert request is not None
    assert request.members[0].constraints.node_selector == {"disktype": "ssd"}


# --- timed_out_release -------------------------------------------------------------------------


def iso(at: datetime) -> str:
    """The admitted-at annotation as the operator writes it."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def released(seconds_ago: float | None, **kw: Any) -> ObservedPod:
    """A member released `seconds_ago` (None: no admitted-at), not bound unless node= says so."""
    at = None if seconds_ago is None else iso(NOW - timedelta(seconds=seconds_ago))
    return member("worker", 0, gated=False, admitted_at=kw.pop("admitted_at", at), **kw)


TIMED_OUT: list[tuple[str, int | None, ObservedPod, bool]] = [
    ("released, unbound, old", 60, released(61), True),
    ("exactly at the timeout", 60, released(60), True),
    ("just before", 60, released(59.5), False),
    ("default timeout 120s, 100s", None, released(100), False),
    ("default timeout 120s, 121s", None, released(121), True),
    ("bound", 60, released(3600, node="node-a"), False),
    ("still gated", 60, member("worker", 0, admitted_at=iso(NOW - timedelta(hours=1))), False),
    ("no admitted-at", 60, released(None), False),
    ("unreadable admitted-at", 60, released(None, admitted_at="yesterday"), False),
    ("terminating", 60, released(3600, deleting=True), False),
    ("failed", 60, released(3600, phase="Failed"), False),
    ("admitted in the future (clock skew)", 60, released(-5), False),
    # 13:58:30+02:00 is 11:58:30Z: 90 s before NOW.
    ("admitted-at with an offset", 60, released(None, admitted_at="2025-03-04T13:58:30+02:00"), True),
]


@pytest.mark.parametrize(
    ("timeout", "pod", "expected"), [c[1:] for c in TIMED_OUT], ids=[c[0] for c in TIMED_OUT]
)
def test_timed_out_release(timeout: int | None, pod: ObservedPod, expected: bool) -> None:
    spec = make_spec(timeout, worker=1)
    assert timed_out_release(spec, [pod], NOW) == (pod if expected else None)


def test_timed_out_release_names_a_stuck_member_among_many() -> None:
    old = iso(NOW - timedelta(seconds=300))
    pods = [
        member("worker", 0, gated=False, node="node-a", phase="Running", admitted_at=old),
        member("worker", 1, gated=False, planned_node="node-b", admitted_at=iso(NOW - timedelta(seconds=10))),
        member("worker", 2, gated=False, planned_node="node-c", admitted_at=old),
        member("worker", 3),
    ]
    stuck = timed_out_release(make_spec(60, worker=4), pods, NOW)
    assert stuck is not None
    assert stuck.name == "train-worker-2"
    assert stuck.planned_node == "node-c"
    assert timed_out_release(make_spec(600, worker=4), pods, NOW) is None


def test_timed_out_release_with_an_admitted_at_without_offset() -> None:
    pod = member("worker", 0, gated=False, admitted_at="2025-03-04T11:00:00")
    assert timed_out_release(make_spec(60, worker=1), [pod], NOW) == pod


# --- backoff_seconds and after_rollback --------------------------------------------------------


@pytest.mark.parametrize(
    ("rollbacks", "base", "cap", "expected"),
    [
        (0, 10.0, 300.0, 10.0),
        (1, 10.0, 300.0, 10.0),
        (2, 10.0, 300.0, 20.0),
        (3, 10.0, 300.0, 40.0),
        (4, 10.0, 300.0, 80.0),
        (5, 10.0, 300.0, 160.0),
        (6, 10.0, 300.0, 300.0),
        (7, 10.0, 300.0, 300.0),
        (50, 10.0, 300.0, 300.0),
        (1, 0.5, 4.0, 0.5),
        (4, 0.5, 4.0, 4.0),
        (3, 10.0, 10.0, 10.0),
        (3, 0.0, 300.0, 0.0),
        (1000, 10, 300, 300),
    ],
)
def test_backoff_seconds(rollbacks: int, base: float, cap: float, expected: float) -> None:
    assert backoff_seconds(rollbacks, base, cap) == expected


def test_backoff_seconds_never_shrinks() -> None:
    delays = [backoff_seconds(n, 10.0, 300.0) for n in range(1, 40)]
    assert delays == sorted(delays)
    assert max(delays) == 300.0


def test_backoff_seconds_after_very_many_rollbacks() -> None:
    assert backoff_seconds(1100, 10.0, 300.0) == 300.0


def test_after_rollback_first() -> None:
    record = after_rollback(None, NOW, 10.0, 300.0)
    assert record == GangStatus(
        admitted_time=None,
        rollbacks=1,
        last_rollback_time=NOW,
        next_attempt_time=NOW + timedelta(seconds=10),
    )


def test_after_rollback_doubles_and_keeps_the_admission_time() -> None:
    admitted = NOW - timedelta(minutes=3)
    previous = GangStatus(
        admitted_time=admitted,
        rollbacks=2,
        last_rollback_time=NOW - timedelta(minutes=10),
        next_attempt_time=NOW - timedelta(minutes=9),
    )
    record = after_rollback(previous, NOW, 10.0, 300.0)
    assert record.rollbacks == 3
    assert record.admitted_time == admitted
    assert record.last_rollback_time == NOW
    assert record.next_attempt_time == NOW + timedelta(seconds=40)
    assert previous.rollbacks == 2  # the previous record is not changed


def test_after_rollback_is_capped() -> None:
    previous = GangStatus(rollbacks=20)
    record = after_rollback(previous, NOW, 10.0, 300.0)
    assert record.rollbacks == 21
    assert record.next_attempt_time == NOW + timedelta(seconds=300)


def test_after_rollback_round_trips_through_the_status() -> None:
    record = after_rollback(GangStatus(rollbacks=1), NOW + timedelta(microseconds=250), 10.0, 300.0)
    wire = record.to_dict()
    assert wire == {
        "rollbacks": 2,
        "lastRollbackTime": "2025-03-04T12:00:00Z",
        "nextAttemptTime": "2025-03-04T12:00:20Z",
    }
    assert GangStatus.model_validate(wire) == record
