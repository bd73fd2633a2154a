"""The first reconcile against a real API server: pods from templates, status, garbage collection."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually, kubectl
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import OperatorProcess


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


def running_pods(groups: PodGroups, name: str, count: int) -> list[client.V1Pod] | None:
    pods = groups.pods(name)
    if len(pods) == count and all(p.status.phase == "Running" for p in pods):
        return pods
    return None


def test_creates_member_pods_with_labels_owner_and_status(groups: PodGroups) -> None:
    pg = groups.create(podgroup("train", role("head", 1), role("worker", 3)))

    pods = eventually(lambda: running_pods(groups, "train", 4), what="4 running member pods")
    assert [p.metadata.name for p in pods] == [
        "train-head-0",
        "train-worker-0",
        "train-worker-1",
        "train-worker-2",
    ]
    for pod in pods:
        labels = pod.metadata.labels
        assert labels["podgroup.dev/name"] == "train"
        assert labels["podgroup.dev/role"] == pod.metadata.name.split("-")[1]
        assert labels["podgroup.dev/index"] == pod.metadata.name.rsplit("-", 1)[1]
        (owner,) = pod.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "PodGroup",
            "train",
            pg["metadata"]["uid"],
            True,
        )
        assert pod.spec.node_name.startswith("kwok-")

    status = eventually(
        lambda: (s := groups.get("train").get("status")) and s.get("phase") == "Running" and s,
        what="phase Running",
    )
    assert status["readyMembers"] == "4/4"
    assert status["observedGeneration"] == pg["metadata"]["generation"]
    by_role = {r["name"]: r for r in status["roles"]}
    assert by_role["worker"] == {
        "name": "worker",
        "replicas": 3,
        "scheduled": 3,
        "running": 3,
        "ready": 3,
        "succeeded": 0,
        "failed": 0,
    }
    # The printer columns show what a person wants at a glance.
    table = kubectl("get", "podgroups", "-n", groups.namespace).stdout
    assert table.split()[:5] == ["NAME", "PHASE", "READY", "RESTARTS", "AGE"]
    assert "Running" in table and "4/4" in table


def test_deleted_member_is_recreated(groups: PodGroups) -> None:
    groups.create(podgroup("rec", role("w", 2)))
    pods = eventually(lambda: running_pods(groups, "rec", 2), what="2 running pods")
    victim = pods[1]
    groups.core.delete_namespaced_pod(victim.metadata.name, groups.namespace, grace_period_seconds=0)

    def replaced() -> client.V1Pod | None:
        pod = next((p for p in groups.pods("rec") if p.metadata.name == victim.metadata.name), None)
        return (
            pod if pod and pod.metadata.uid != victim.metadata.uid and pod.status.phase == "Running" else None
        )

    eventually(replaced, what="a new pod rec-w-1")
    assert groups.pods("rec")[0].metadata.uid == pods[0].metadata.uid  # the other member untouched


def test_scaling_down_removes_highest_indexes_and_up_adds_them(groups: PodGroups) -> None:
    groups.create(podgroup("scale", role("w", 4)))
    before = {p.metadata.name: p.metadata.uid for p in eventually(lambda: running_pods(groups, "scale", 4))}

    groups.patch("scale", {"spec": {"roles": [role("w", 2)]}})
    kept = eventually(lambda: (ps := groups.pods("scale")) and len(ps) == 2 and ps, what="2 pods left")
    assert {p.metadata.name: p.metadata.uid for p in kept} == {
        n: before[n] for n in ("scale-w-0", "scale-w-1")
    }
    eventually(lambda: groups.get("scale")["status"].get("readyMembers") == "2/2", what="status 2/2")

    groups.patch("scale", {"spec": {"roles": [role("w", 3)]}})
    pods = eventually(lambda: running_pods(groups, "scale", 3), what="3 running pods")
    assert [p.metadata.name for p in pods] == ["scale-w-0", "scale-w-1", "scale-w-2"]


def test_template_refused_by_api_server_becomes_condition_and_event(
    groups: PodGroups, operator: OperatorProcess | None
) -> None:
    bad = role("w", 2)
    bad["template"]["spec"]["containers"][0]["name"] = "Not_A_DNS_Label"
    groups.create(podgroup("badtpl", bad))
    groups.create(podgroup("good", role("w", 1)))

    cond = eventually(
        lambda: (c := groups.condition("badtpl", "PodsCreated")) and c["status"] == "False" and c,
        what="PodsCreated=False",
    )
    assert cond["reason"] == "CreateFailed"
    assert "spec.containers[0].name" in cond["message"] and "Not_A_DNS_Label" in cond["message"]
    events = eventually(
        lambda: [e for e in groups.events("badtpl") if e.reason == "CreateFailed"],
        what="a CreateFailed event",
    )
    assert events[0].type == "Warning"
    assert groups.pods("badtpl") == []
    # Another group is not affected, and the operator is still alive, not crash-looping.
    eventually(lambda: running_pods(groups, "good", 1), what="the good group running")
    assert operator is None or operator.alive()


def test_deleting_the_group_garbage_collects_its_pods(groups: PodGroups) -> None:
    groups.create(podgroup("gone", role("w", 3)))
    eventually(lambda: running_pods(groups, "gone", 3), what="3 running pods")
    groups.delete("gone")
    eventually(lambda: groups.pods("gone") == [], timeout=90, what="pods garbage-collected")
