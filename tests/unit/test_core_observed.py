"""core.observed: the compact view of a member pod, read from the body the API server sends."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from podgroup_operator.core.labels import GANG_GATE, GROUP_LABEL, INDEX_LABEL, ROLE_LABEL
from podgroup_operator.core.observed import ObservedPod, group_of, observe_pod

Body = dict[str, Any]

# A running, ready member pod as the API server returns it (trimmed of fields nobody reads).
RUNNING: Body = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "train-worker-2",
        "namespace": "ml",
        "uid": "0b6b1b2e-7c1a-4f57-9f0e-3d2a1c9b8e11",
        "resourceVersion": "48213",
        "creationTimestamp": "2025-01-02T03:04:05Z",
        "labels": {"app": "train", GROUP_LABEL: "train", ROLE_LABEL: "worker", INDEX_LABEL: "2"},
        "annotations": {"podgroup.dev/template-hash": "0123456789abcdef"},
        "ownerReferences": [
            {
                "apiVersion": "podgroup.dev/v1alpha1",
                "kind": "PodGroup",
                "name": "train",
                "uid": "uid-train",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "nodeName": "node-a",
        "containers": [{"name": "trainer", "image": "busybox:1.36"}, {"name": "sidecar", "image": "x"}],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.7",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "containerStatuses": [
            {"name": "trainer", "ready": True, "restartCount": 2, "state": {"running": {}}},
            {"name": "sidecar", "ready": True, "restartCount": 1, "state": {"running": {}}},
        ],
    },
}

# A pod just created with the gang gate: no node, no status beyond the phase.
GATED: Body = {
    "metadata": {
        "name": "train-leader-0",
        "uid": "uid-leader-0",
        "labels": {GROUP_LABEL: "train", ROLE_LABEL: "leader", INDEX_LABEL: "0"},
        "ownerReferences": [
            {
                "apiVersion": "podgroup.dev/v1alpha1",
                "kind": "PodGroup",
                "name": "train",
                "uid": "uid-train",
                "controller": True,
            },
        ],
    },
    "spec": {
        "schedulingGates": [{"name": GANG_GATE}, {"name": "example.com/quota"}],
        "containers": [{"name": "c", "image": "i"}],
    },
    "status": {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    },
}


# The fields these tests are about; ObservedPod carries more (requests, placement, ...).
CORE_FIELDS = (
    "name",
    "uid",
    "role",
    "index",
    "phase",
    "node_name",
    "ready",
    "deleting",
    "scheduling_gates",
    "restart_count",
    "owner_uid",
)


def core(pod: ObservedPod) -> dict[str, Any]:
    return {f: getattr(pod, f) for f in CORE_FIELDS}


def test_running_pod() -> None:
    assert core(observe_pod(RUNNING)) == dict(
        name="train-worker-2",
        uid="0b6b1b2e-7c1a-4f57-9f0e-3d2a1c9b8e11",
        role="worker",
        index=2,
        phase="Running",
        node_name="node-a",
        ready=True,
        deleting=False,
        scheduling_gates=(),
        restart_count=3,
        owner_uid="uid-train",
    )


def test_gated_pod() -> None:
    pod = observe_pod(GATED)
    assert core(pod) == dict(
        name="train-leader-0",
        uid="uid-leader-0",
        role="leader",
        index=0,
        phase="Pending",
        node_name=None,
        ready=False,
        deleting=False,
        scheduling_gates=(GANG_GATE, "example.com/quota"),
        restart_count=0,
        owner_uid="uid-train",
    )
    assert not pod.scheduled
    assert pod.active


def test_bare_body_gives_defaults() -> None:
    pod = observe_pod({})
    assert (pod.name, pod.uid, pod.role, pod.index, pod.phase) == ("", "", "", None, "Pending")
    assert (pod.node_name, pod.ready, pod.deleting, pod.scheduling_gates) == (None, False, False, ())
    assert (pod.restart_count, pod.owner_uid) == (0, None)


def edit(change: Callable[[Body], None]) -> Body:
    body = copy.deepcopy(RUNNING)
    change(body)
    return body


def _set(*path: str, value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _drop(*path: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


# (edit applied to RUNNING, field of ObservedPod, expected value)
FIELD_CASES = [
    # readiness comes from the Ready condition only
    pytest.param(
        _set("status", "conditions", value=[{"type": "Ready", "status": "False"}]),
        "ready",
        False,
        id="ready-false",
    ),
    pytest.param(
        _set("status", "conditions", value=[{"type": "ContainersReady", "status": "True"}]),
        "ready",
        False,
        id="containers-ready-is-not-ready",
    ),
    pytest.param(_drop("status", "conditions"), "ready", False, id="no-conditions-not-ready"),
    pytest.param(
        _set("status", "conditions", value=[{"type": "Ready", "status": "Unknown"}]),
        "ready",
        False,
        id="ready-unknown",
    ),
    # restart counts are summed over the containers
    pytest.param(_drop("status", "containerStatuses"), "restart_count", 0, id="no-container-statuses"),
    pytest.param(
        _set("status", "containerStatuses", value=[{"name": "a", "restartCount": 0}, {"name": "b"}]),
        "restart_count",
        0,
        id="missing-restart-count-is-zero",
    ),
    pytest.param(
        _set(
            "status",
            "containerStatuses",
            value=[{"restartCount": 4}, {"restartCount": 5}, {"restartCount": 0}],
        ),
        "restart_count",
        9,
        id="restart-counts-summed",
    ),
    # termination
    pytest.param(
        _set("metadata", "deletionTimestamp", value="2025-01-02T04:00:00Z"),
        "deleting",
        True,
        id="deletion-timestamp",
    ),
    pytest.param(_set("metadata", "deletionTimestamp", value=None), "deleting", False, id="null-deletion"),
    # scheduling
    pytest.param(_drop("spec", "nodeName"), "node_name", None, id="unscheduled"),
    pytest.param(_set("spec", "nodeName", value=""), "node_name", None, id="empty-node-name"),
    pytest.param(
        _set("spec", "schedulingGates", value=[{"name": GANG_GATE}]),
        "scheduling_gates",
        (GANG_GATE,),
        id="gate",
    ),
    pytest.param(_set("spec", "schedulingGates", value=None), "scheduling_gates", (), id="null-gates"),
    # phase
    pytest.param(_set("status", "phase", value="Succeeded"), "phase", "Succeeded", id="succeeded"),
    pytest.param(_drop("status", "phase"), "phase", "Pending", id="no-phase-is-pending"),
    pytest.param(_drop("status"), "phase", "Pending", id="no-status-is-pending"),
    # the index label
    pytest.param(_set("metadata", "labels", INDEX_LABEL, value="17"), "index", 17, id="index-two-digits"),
    pytest.param(_set("metadata", "labels", INDEX_LABEL, value="x"), "index", None, id="index-not-a-number"),
    pytest.param(_set("metadata", "labels", INDEX_LABEL, value="-1"), "index", None, id="index-negative"),
    pytest.param(_set("metadata", "labels", INDEX_LABEL, value="1.5"), "index", None, id="index-decimal"),
    pytest.param(_set("metadata", "labels", INDEX_LABEL, value=""), "index", None, id="index-empty"),
    pytest.param(_drop("metadata", "labels", INDEX_LABEL), "index", None, id="index-missing"),
    pytest.param(_drop("metadata", "labels", ROLE_LABEL), "role", "", id="role-missing"),
    pytest.param(_drop("metadata", "labels"), "index", None, id="no-labels"),
    # the controller owner
    pytest.param(_drop("metadata", "ownerReferences"), "owner_uid", None, id="no-owner"),
    pytest.param(
        _set("metadata", "ownerReferences", value=[{"kind": "PodGroup", "uid": "u1"}]),
        "owner_uid",
        None,
        id="owner-without-controller-flag",
    ),
    pytest.param(
        _set("metadata", "ownerReferences", value=[{"kind": "X", "uid": "u1", "controller": False}]),
        "owner_uid",
        None,
        id="owner-controller-false",
    ),
    pytest.param(
        _set(
            "metadata",
            "ownerReferences",
            value=[
                {"kind": "ConfigMap", "uid": "u-cm"},
                {"kind": "PodGroup", "uid": "u-pg", "controller": True},
            ],
        ),
        "owner_uid",
        "u-pg",
        id="controller-among-several-owners",
    ),
]


@pytest.mark.parametrize(("change", "field", "expected"), FIELD_CASES)
def test_observed_field(change: Callable[[Body], None], field: str, expected: Any) -> None:
    assert getattr(observe_pod(edit(change)), field) == expected


# (phase, deleting, node) -> (scheduled, active)
@pytest.mark.parametrize(
    ("phase", "deleting", "node", "scheduled", "active"),
    [
        pytest.param("Pending", False, None, False, True, id="pending-unscheduled"),
        pytest.param("Pending", False, "node-a", True, True, id="pending-bound"),
        pytest.param("Running", False, "node-a", True, True, id="running"),
        pytest.param("Running", True, "node-a", True, False, id="running-terminating"),
        pytest.param("Succeeded", False, "node-a", True, False, id="succeeded"),
        pytest.param("Failed", False, "node-a", True, False, id="failed"),
    ],
)
def test_scheduled_and_active(
    phase: str, deleting: bool, node: str | None, scheduled: bool, active: bool
) -> None:
    def change(body: Body) -> None:
        body["status"]["phase"] = phase
        body["spec"]["nodeName"] = node
        if deleting:
            body["metadata"]["deletionTimestamp"] = "2025-01-02T04:00:00Z"

    pod = observe_pod(edit(change))
    assert (pod.scheduled, pod.active) == (scheduled, active)


def test_observe_does_not_mutate_the_body() -> None:
    body = copy.deepcopy(RUNNING)
    observe_pod(body)
    assert body == RUNNING


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(RUNNING, "train", id="labelled"),
        pytest.param({"metadata": {"labels": {"app": "x"}}}, None, id="other-labels"),
        pytest.param({"metadata": {"labels": None}}, None, id="null-labels"),
        pytest.param({}, None, id="no-metadata"),
    ],
)
def test_group_of(body: Body, expected: str | None) -> None:
    assert group_of(body) == expected
