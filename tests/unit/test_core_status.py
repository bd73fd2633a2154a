"""core.status: the PodGroup status computed from its spec and the member pods observed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podgroup_operator.api.models import (
    Condition,
    ConditionStatus,
    Phase,
    PodGroupSpec,
    PodGroupStatus,
    RoleStatus,
)
from podgroup_operator.core.conditions import PODS_CREATED, READY
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.status import compute_status
from tests.builders import PodBuilder

GROUP = "train"
TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
# leader x1 + worker x2: three desired members
SPEC = PodGroupSpec.model_validate(
    {
        "roles": [
            {"name": "leader", "replicas": 1, "template": TEMPLATE},
            {"name": "worker", "replicas": 2, "template": TEMPLATE},
        ]
    }
)
# the same with a gang minimum of one worker
SPEC_MIN_ONE_WORKER = PodGroupSpec.model_validate(
    {
        "roles": [
            {"name": "leader", "replicas": 1, "template": TEMPLATE},
            {"name": "worker", "replicas": 2, "minAvailable": 1, "template": TEMPLATE},
        ]
    }
)
T0 = datetime(2025, 1, 2, 3, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def pod(
    name: str,
    phase: str = "Running",
    *,
    node: str | None = "node-a",
    ready: bool = False,
    deleting: bool = False,
    gated: bool | None = None,
) -> ObservedPod:
    """A pod from its member name "train-<role>-<index>"; unbound pods wait at the gang gate
    unless `gated=False` (released to the scheduler, not bound yet)."""
    _, role, index = name.split("-")
    return (
        PodBuilder(name)
        .member("train", role, int(index))
        .owner("uid-train")
        .phase(phase)
        .node(node)
        .ready(ready)
        .deleting(deleting)
        .gang_gated(node is None if gated is None else gated)
        .observed()
    )


def members(phase: str = "Running", **kwargs: Any) -> list[ObservedPod]:
    """All three desired members in the same state."""
    return [pod(n, phase, **kwargs) for n in ("train-leader-0", "train-worker-0", "train-worker-1")]


def compute(
    pods: list[ObservedPod],
    *,
    previous: PodGroupStatus | None = None,
    create_error: str | None = None,
    created: int = 0,
    now: datetime = T0,
    generation: int | None = 1,
    spec: PodGroupSpec = SPEC,
) -> PodGroupStatus:
    return compute_status(
        group=GROUP,
        spec=spec,
        generation=generation,
        pods=pods,
        previous=previous,
        create_error=create_error,
        created=created,
        now=now,
    )


def condition(status: PodGroupStatus, type: str) -> Condition:
    found = [c for c in status.conditions or [] if c.type == type]
    assert len(found) == 1, status.conditions
    return found[0]


# Pending while the gang waits at its gates, Scheduling once its minimum is released,
# Running once its minimum runs; Succeeded when all succeeded, Failed when any failed.
PHASE_CASES = [
    pytest.param(SPEC, [], Phase.PENDING, id="no-pods"),
    pytest.param(SPEC, members("Pending", node=None), Phase.PENDING, id="all-gated"),
    pytest.param(
        SPEC,
        [pod("train-leader-0", "Pending", node=None, gated=False), *members("Pending", node=None)[1:]],
        Phase.PENDING,
        id="part-of-gang-released",
    ),
    pytest.param(
        SPEC, members("Pending", node=None, gated=False), Phase.SCHEDULING, id="gang-released-unbound"
    ),
    pytest.param(
        SPEC,
        [*members("Running")[:2], pod("train-worker-1", "Pending")],
        Phase.SCHEDULING,
        id="all-bound-one-not-running",
    ),
    pytest.param(SPEC, members("Running"), Phase.RUNNING, id="all-running"),
    pytest.param(SPEC, members("Running", ready=True), Phase.RUNNING, id="all-running-ready"),
    pytest.param(
        SPEC,
        [*members("Running"), pod("train-worker-7", "Pending", node=None)],
        Phase.RUNNING,
        id="undesired-gated-pod-ignored",
    ),
    pytest.param(
        SPEC,
        [*members("Running"), pod("train-worker-9", "Failed")],
        Phase.RUNNING,
        id="undesired-failed-pod-ignored",
    ),
    pytest.param(
        SPEC_MIN_ONE_WORKER,
        [*members("Running")[:2], pod("train-worker-1", "Pending", node=None)],
        Phase.RUNNING,
        id="min-available-running",
    ),
    pytest.param(
        SPEC_MIN_ONE_WORKER,
        [pod("train-leader-0", "Running"), *members("Pending", node=None)[1:]],
        Phase.PENDING,
        id="min-available-not-released",
    ),
    pytest.param(SPEC, members("Succeeded"), Phase.SUCCEEDED, id="all-succeeded"),
    pytest.param(
        # A failed member alone does not fail the group: the failure policy decides.
        SPEC,
        [*members("Running")[:2], pod("train-worker-1", "Failed")],
        Phase.PENDING,
        id="one-failed",
    ),
    pytest.param(
        SPEC,
        [*members("Succeeded")[:2], pod("train-worker-1", "Failed")],
        Phase.PENDING,
        id="succeeded-and-failed",
    ),
]


@pytest.mark.parametrize(("spec", "pods", "phase"), PHASE_CASES)
def test_phase(spec: PodGroupSpec, pods: list[ObservedPod], phase: Phase) -> None:
    assert compute(pods, spec=spec).phase == phase


def test_terminating_failed_pod_is_not_a_failure() -> None:
    status = compute([*members("Running")[:2], pod("train-worker-1", "Failed", deleting=True)])
    assert status.phase != Phase.FAILED
    assert [r.failed for r in status.roles or []] == [0, 0]


def test_role_counts() -> None:
    pods = [
        pod("train-leader-0", "Running", ready=True),
        pod("train-worker-0", "Pending", node=None),
        pod("train-worker-1", "Failed"),
        pod("train-worker-1", "Running", ready=True, deleting=True),  # terminating: not counted
        pod("train-worker-5", "Running", ready=True),  # not desired: not counted
        pod("train-ps-0", "Running", ready=True),  # role not in spec: not counted
    ]
    assert compute(pods).roles == [
        RoleStatus(name="leader", replicas=1, scheduled=1, running=1, ready=1, succeeded=0, failed=0),
        RoleStatus(name="worker", replicas=2, scheduled=1, running=0, ready=0, succeeded=0, failed=1),
    ]


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        pytest.param([], "0/3", id="none"),
        pytest.param(members(ready=False), "0/3", id="running-not-ready"),
        pytest.param([pod("train-worker-0", ready=True)], "1/3", id="one"),
        pytest.param(members(ready=True), "3/3", id="all"),
        pytest.param(
            [*members(ready=True)[:2], pod("train-worker-1", ready=True, deleting=True)],
            "2/3",
            id="terminating-not-counted",
        ),
        pytest.param(
            [*members(ready=True)[:2], pod("train-worker-4", ready=True)], "2/3", id="undesired-not-counted"
        ),
    ],
)
def test_ready_members(pods: list[ObservedPod], expected: str) -> None:
    assert compute(pods).ready_members == expected


# (observed pods, created this reconcile, create error) -> PodsCreated (status, reason, message)
PODS_CREATED_CASES = [
    pytest.param([], 0, None, ("False", "MembersMissing", "0/3 member pods exist"), id="none"),
    pytest.param(members()[:2], 0, None, ("False", "MembersMissing", "2/3 member pods exist"), id="some"),
    pytest.param(members(), 0, None, ("True", "AllMembersCreated", "3/3 member pods exist"), id="all"),
    pytest.param([], 3, None, ("True", "AllMembersCreated", "3/3 member pods exist"), id="all-just-created"),
    pytest.param(
        members()[:1], 2, None, ("True", "AllMembersCreated", "3/3 member pods exist"), id="created-completes"
    ),
    pytest.param(
        members()[:1], 1, None, ("False", "MembersMissing", "2/3 member pods exist"), id="created-counted"
    ),
    pytest.param(
        [*members()[:2], pod("train-worker-1", deleting=True)],
        0,
        None,
        ("False", "MembersMissing", "2/3 member pods exist"),
        id="terminating-not-counted",
    ),
    pytest.param(
        [*members()[:2], pod("train-worker-2"), pod("train-ps-0")],
        0,
        None,
        ("False", "MembersMissing", "2/3 member pods exist"),
        id="undesired-not-counted",
    ),
    pytest.param(
        members()[:2],
        0,
        'pod train-worker-1: pods "train-worker-1" is forbidden: exceeded quota',
        ("False", "CreateFailed", 'pod train-worker-1: pods "train-worker-1" is forbidden: exceeded quota'),
        id="create-failed-keeps-message",
    ),
    pytest.param(
        members(),
        0,
        "pod train-worker-1: refused",
        ("False", "CreateFailed", "pod train-worker-1: refused"),
        id="create-error-wins",
    ),
]


@pytest.mark.parametrize(("pods", "created", "create_error", "expected"), PODS_CREATED_CASES)
def test_pods_created_condition(
    pods: list[ObservedPod], created: int, create_error: str | None, expected: tuple[str, str, str]
) -> None:
    c = condition(compute(pods, created=created, create_error=create_error), PODS_CREATED)
    assert (c.status.value, c.reason, c.message) == expected


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        pytest.param([], ("False", "MembersNotReady", "0/3 members ready"), id="none"),
        pytest.param(members(ready=True)[:2], ("False", "MembersNotReady", "2/3 members ready"), id="some"),
        pytest.param(members(ready=True), ("True", "AllMembersReady", "3/3 members ready"), id="all"),
    ],
)
def test_ready_condition(pods: list[ObservedPod], expected: tuple[str, str, str]) -> None:
    c = condition(compute(pods), READY)
    assert (c.status.value, c.reason, c.message) == expected


def test_status_fields() -> None:
    status = compute(members(ready=True), generation=7, now=T0)
    assert status.observed_generation == 7
    assert status.restarts == 0
    assert {PODS_CREATED, READY} <= {c.type for c in status.conditions or []}
    for c in status.conditions or []:
        assert c.observed_generation == 7
        assert c.last_transition_time == T0


def test_restarts_are_kept_from_previous_status() -> None:
    previous = compute(members(), now=T0).model_copy(update={"restarts": 4})
    assert compute(members(), previous=previous, now=T1).restarts == 4


def test_other_conditions_are_kept_in_place() -> None:
    gang = Condition(
        type="GangAdmitted", status=ConditionStatus.TRUE, reason="Admitted", last_transition_time=T0
    )
    previous = PodGroupStatus(conditions=[gang])
    status = compute(members(), previous=previous, now=T1)
    assert [c.type for c in status.conditions or []][:3] == ["GangAdmitted", PODS_CREATED, READY]
    assert condition(status, "GangAdmitted") == gang


def test_unchanged_inputs_give_an_identical_status() -> None:
    first = compute(members(), now=T0)
    again = compute(members(), previous=first, now=T1)
    assert again == first
    assert again.to_dict() == first.to_dict()


def test_transition_time_moves_only_when_status_flips() -> None:
    # t0: nothing ready, pods missing
    s0 = compute(members()[:2], now=T0)
    # t1: one more pod, still not ready; reasons/messages change but no status flips
    s1 = compute(members(), previous=s0, now=T1)
    assert condition(s1, PODS_CREATED).status == ConditionStatus.TRUE
    assert condition(s1, PODS_CREATED).last_transition_time == T1
    assert condition(s1, READY).message == "0/3 members ready"
    assert condition(s1, READY).last_transition_time == T0
    # t2: all ready: Ready flips, PodsCreated stays True
    s2 = compute(members(ready=True), previous=s1, now=T2)
    assert condition(s2, READY).status == ConditionStatus.TRUE
    assert condition(s2, READY).last_transition_time == T2
    assert condition(s2, PODS_CREATED).last_transition_time == T1


def test_reason_change_without_flip_keeps_transition_time() -> None:
    s0 = compute(members()[:2], now=T0)
    s1 = compute(members()[:2], previous=s0, create_error="pod train-worker-1: refused", now=T1)
    c = condition(s1, PODS_CREATED)
    assert (c.status, c.reason, c.last_transition_time) == (ConditionStatus.FALSE, "CreateFailed", T0)


def test_transition_time_is_second_precision_utc() -> None:
    now = datetime(2025, 1, 2, 4, 5, 6, 789000, tzinfo=UTC)
    c = condition(compute([], now=now), READY)
    assert c.last_transition_time == datetime(2025, 1, 2, 4, 5, 6, tzinfo=UTC)


# (spec.network, the Service's problem) -> ServiceReady (status, reason), or None: not reported
@pytest.mark.parametrize(
    ("network", "problem", "expected"),
    [
        ({}, None, ("True", "Owned")),
        ({}, "a Service named train already exists", ("False", "ServiceConflict")),
        ({"headlessService": False}, None, None),
    ],
)
def test_service_condition(
    network: dict[str, Any], problem: str | None, expected: tuple[str, str] | None
) -> None:
    spec = SPEC.model_copy(update={"network": SPEC.network.model_validate(network)})
    status = compute_status(
        group=GROUP,
        spec=spec,
        generation=1,
        pods=members(),
        previous=None,
        create_error=None,
        service_problem=problem,
        now=T0,
    )
    found = [(c.status.value, c.reason) for c in status.conditions or [] if c.type == "ServiceReady"]
    assert found == ([expected] if expected else [])
