"""Failure policies with in-place restart, against real containers on the real node (and kwok
nodes for node loss). The pod-restart tests run twice: with the kubelet's native restart rules
(PGO_NATIVE_RESTART=auto, the default) and with the operator's image switch (off)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.conftest import e2e_operator
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.e2e.realnode import (
    MEMORY_HOG,
    ON_REAL_NODE,
    RESTART_IMAGE_ANNOTATION_PREFIX,
    TOOLS_IMAGE,
    name_restart_images,
)
from tests.operator_process import OperatorProcess

# A second container that only waits: RestartPodInPlace must restart it too.
SIDE = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"

# Pod 0 fails once with exit code 134, remembered in an emptyDir that outlives container restarts.
FAIL_ONCE = (
    'if [ "$POD_INDEX" = 0 ] && [ ! -f /data/failed ]; then touch /data/failed; sleep 2; exit 134; fi; '
    "exec sleep 3600"
)


def real_role(name: str, replicas: int, script: str, *, memory: str = "32Mi", **extra: Any) -> dict[str, Any]:
    env = [
        {
            "name": "POD_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['podgroup.dev/index']"}},
        },
        {
            "name": "GENERATION",
            "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.annotations['podgroup.dev/restart-generation']"}
            },
        },
    ]
    container = {
        "name": "main",
        "image": TOOLS_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "env": env,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "resources": {
            "requests": {"cpu": "10m", "memory": memory},
            "limits": {"cpu": "200m", "memory": memory},
        },
    }
    spec = {
        **ON_REAL_NODE,
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    return {"name": name, "replicas": replicas, "template": name_restart_images({"spec": spec}), **extra}


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


def running(groups: PodGroups, name: str, count: int) -> list[client.V1Pod] | None:
    pods = groups.pods(name)
    ok = len(pods) == count and all(p.status.phase == "Running" and p.status.pod_ip for p in pods)
    return pods if ok and all(all(c.ready for c in p.status.container_statuses or []) for p in pods) else None


def status(groups: PodGroups, name: str) -> dict[str, Any]:
    return groups.get(name).get("status") or {}


def restarts_of(pod: client.V1Pod) -> int:
    return sum(c.restart_count for c in pod.status.container_statuses or [])


def test_exit_code_rule_restarts_the_whole_group_in_place(groups: PodGroups, real_node: str) -> None:
    policy = {
        "rules": [
            {
                "action": "RestartGroupInPlace",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [134]},
            }
        ]
    }
    groups.create(podgroup("train", real_role("w", 3, FAIL_ONCE), failurePolicy=policy))
    first = eventually(
        lambda: (ps := groups.pods("train")) and len(ps) == 3 and all(p.status.pod_ip for p in ps) and ps,
        timeout=120,
        what="3 pods with IPs",
    )

    st = eventually(
        lambda: (s := status(groups, "train")).get("restartGeneration") == 1 and s,
        timeout=120,
        what="a group restart",
    )
    assert st["restarts"] == 1
    assert st["lastFailure"]["exitCode"] == 134 and st["lastFailure"]["action"] == "RestartGroupInPlace"
    assert st["lastFailure"]["pod"] == "train-w-0"
    after = eventually(lambda: running(groups, "train", 3), timeout=120, what="all members Running and ready")
    after = eventually(
        lambda: (ps := groups.pods("train")) and all(restarts_of(p) >= 1 for p in ps) and ps,
        timeout=60,
        what="every container restarted",
    )
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid, f"{new.metadata.name} was recreated"
        assert new.spec.node_name == old.spec.node_name == real_node
        assert new.status.pod_ip == old.status.pod_ip
        assert new.metadata.annotations["podgroup.dev/restart-generation"] == "1"
    # One failure, one group restart: the generation does not move again.
    eventually(lambda: status(groups, "train").get("phase") == "Running", timeout=60, what="phase Running")
    assert status(groups, "train")["restartGeneration"] == 1
    reasons = [e.reason for e in groups.events("train")]
    assert reasons.count("RestartGroupInPlace") == 1


def test_oom_rule_acts_and_an_exhausted_budget_fails_the_group(groups: PodGroups, real_node: str) -> None:
    policy = {
        "maxRestarts": 2,
        "backoff": {"initialSeconds": 2, "maxSeconds": 4},
        "escalation": {"after": 10, "windowSeconds": 600},
        "rules": [{"action": "RestartPodInPlace", "onReasons": ["OOMKilled"]}],
    }
    groups.create(podgroup("hog", real_role("w", 1, MEMORY_HOG), failurePolicy=policy))

    st = eventually(
        lambda: (s := status(groups, "hog")).get("phase") == "Failed" and s,
        timeout=240,
        what="the group failed",
    )
    assert st["restarts"] == 2
    assert st["lastFailure"]["reason"] == "OOMKilled" and st["lastFailure"]["action"] == "FailGroup"
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "OOMKilled"

    events = sorted(
        (e for e in groups.events("hog") if e.reason in ("RestartPodInPlace", "FailGroup")),
        key=lambda e: e.last_timestamp,
    )
    assert [e.reason for e in events] == ["RestartPodInPlace", "RestartPodInPlace", "FailGroup"]
    assert "restart budget of 2 is spent" in events[-1].message
    # Backoff: the second paced action waited at least initialSeconds after the first.
    assert (events[1].last_timestamp - events[0].last_timestamp).total_seconds() >= 2
    # FailGroup stops the members for good and keeps them.
    (pod,) = eventually(
        lambda: (ps := groups.pods("hog")) and ps[0].status.phase == "Failed" and ps,
        timeout=60,
        what="the member stopped",
    )
    assert pod.status.reason == "DeadlineExceeded"


@pytest.fixture
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"pool-{uuid.uuid4().hex[:6]}")
    yield nodes
    nodes.delete()


def test_lost_node_recreates_the_member_elsewhere_through_the_planner(
    groups: PodGroups, pool: NodePool
) -> None:
    pool.add(2, cpu="4")
    r = role("w", 2, cpu="3")  # one member per node
    r["template"]["spec"]["nodeSelector"] = pool.selector
    policy = {"rules": [{"action": "RecreatePod", "onReasons": ["NodeLost"]}]}
    groups.create(podgroup("lost", r, failurePolicy=policy))
    pods = eventually(
        lambda: (ps := groups.pods("lost")) and len(ps) == 2 and all(p.spec.node_name for p in ps) and ps,
        what="both bound",
    )
    spare = pool.add(1, cpu="4")[0]
    victim = pods[0]
    groups.core.delete_node(victim.spec.node_name)

    def replaced() -> client.V1Pod | None:
        p = next((p for p in groups.pods("lost") if p.metadata.name == victim.metadata.name), None)
        return p if p and p.metadata.uid != victim.metadata.uid and p.spec.node_name else None

    new = eventually(replaced, timeout=90, what="the member recreated and bound")
    assert new.spec.node_name == spare
    assert new.metadata.annotations.get("podgroup.dev/planned-node") == spare  # placed by the planner
    assert groups.pods("lost")[1].metadata.uid == pods[1].metadata.uid
    st = status(groups, "lost")
    assert st["lastFailure"]["reason"] == "NodeLost" and st["lastFailure"]["action"] == "RecreatePod"


@pytest.mark.local_operator
def test_operator_killed_mid_restart_completes_it_once(
    groups: PodGroups, real_node: str, operator: OperatorProcess | None
) -> None:
    assert operator is not None
    policy = {
        "rules": [
            {
                "action": "RestartGroupInPlace",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [134]},
            }
        ]
    }
    groups.create(podgroup("crash", real_role("w", 3, FAIL_ONCE), failurePolicy=policy))
    first = eventually(
        lambda: (ps := groups.pods("crash")) and len(ps) == 3 and all(p.status.pod_ip for p in ps) and ps,
        timeout=120,
        what="3 pods with IPs",
    )
    # Kill the operator as soon as the restart is recorded, before or while it restarts members.
    eventually(
        lambda: status(groups, "crash").get("restartGeneration") == 1,
        timeout=120,
        interval=0.05,
        what="the restart recorded",
    )
    operator.kill()
    operator.start()

    eventually(
        lambda: all(
            p.metadata.annotations.get("podgroup.dev/restart-generation") == "1" for p in groups.pods("crash")
        ),
        timeout=120,
        what="every member at generation 1",
    )
    after = eventually(
        lambda: (ps := running(groups, "crash", 3)) and all(restarts_of(p) >= 1 for p in ps) and ps,
        timeout=120,
        what="all members restarted and back",
    )
    st = status(groups, "crash")
    assert st["restartGeneration"] == 1 and st["restarts"] == 1
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid
    # Healthy members were restarted exactly once (one image switch each), not twice.
    assert [restarts_of(p) for p in after[1:]] == [1, 1]


def declares_restart_all(groups: PodGroups, node: str) -> bool:
    declared = client.CoreV1Api(groups.core.api_client).read_node(node).status.declared_features or []
    return "RestartAllContainersOnContainerExits" in declared


@pytest.fixture(params=["auto", pytest.param("off", marks=pytest.mark.local_operator)])
def native_mode(request: pytest.FixtureRequest, operator: OperatorProcess | None) -> Iterator[str]:
    """The operator as PGO_NATIVE_RESTART says: the session's own (auto), or one started off."""
    if request.param == "auto":
        yield "auto"
        return
    assert operator is not None  # the off path restarts a local operator
    off = e2e_operator(PGO_NATIVE_RESTART="off")
    operator.stop()
    off.start()
    try:
        yield "off"
    finally:
        off.stop()
        operator.start()


def with_side(r: dict[str, Any]) -> dict[str, Any]:
    main = r["template"]["spec"]["containers"][0]
    side = {**main, "name": "side", "command": ["sh", "-c", SIDE], "env": []}
    r["template"]["spec"]["containers"].append(side)
    name_restart_images(r["template"])
    return r


def restart_counts(pod: client.V1Pod) -> dict[str, int]:
    return {c.name: c.restart_count for c in pod.status.container_statuses or []}


def test_exit_code_rule_restarts_the_pod_in_place(
    groups: PodGroups, real_node: str, native_mode: str
) -> None:
    policy = {
        "rules": [
            {
                "action": "RestartPodInPlace",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [134]},
            }
        ]
    }
    groups.create(podgroup("pip", with_side(real_role("w", 2, FAIL_ONCE)), failurePolicy=policy))
    first = eventually(
        lambda: (ps := groups.pods("pip")) and len(ps) == 2 and all(p.status.pod_ip for p in ps) and ps,
        timeout=120,
        what="2 pods with IPs",
    )
    # The API server's copy of the member says which mechanism restarts it: auto writes the
    # kubelet's rule where the node runs it (it declares the feature), else the image switch.
    rules = {c.name: c.restart_policy_rules for c in first[0].spec.containers}
    native = native_mode == "auto" and declares_restart_all(groups, real_node)
    if native:
        (rule,) = rules["main"]
        assert rule.action == "RestartAllContainers" and rule.exit_codes.values == [134]
        assert rules["side"] is None  # the rule names main; the kubelet restarts side with it
    else:
        assert rules == {"main": None, "side": None}

    st = eventually(
        lambda: (s := status(groups, "pip")).get("restarts") == 1 and s, timeout=120, what="one restart"
    )
    assert st["lastFailure"]["pod"] == "pip-w-0" and st["lastFailure"]["action"] == "RestartPodInPlace"
    # Seen while the kubelet reported the exit (an immediate reconcile): the code is recorded.
    assert st["lastFailure"]["exitCode"] == 134
    eventually(lambda: running(groups, "pip", 2), timeout=120, what="both members Running and ready")
    after = eventually(
        lambda: (ps := groups.pods("pip")) and min(restart_counts(ps[0]).values()) >= 1 and ps,
        timeout=60,
        what="every container of pip-w-0 restarted",
    )
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid, f"{new.metadata.name} was recreated"
        assert new.spec.node_name == old.spec.node_name == real_node
        assert new.status.pod_ip == old.status.pod_ip
    counts = restart_counts(after[0])
    images = {c.name: c.image for c in after[0].spec.containers}
    if native:
        assert counts == {"main": 1, "side": 1}  # one restart, the kubelet's
        assert images == {"main": TOOLS_IMAGE, "side": TOOLS_IMAGE}  # no image switch
    else:
        # The kubelet may restart main (restartPolicy Always) before the image switch does.
        assert counts["side"] == 1 and counts["main"] in (1, 2)
        # Switched to a new tag of the digest the node pulled, or, where the template names a
        # second tag (the kind stage: tests/e2e/realnode.py name_restart_images), to that one.
        named = after[0].metadata.annotations or {}
        for container, image in images.items():
            alias = named.get(RESTART_IMAGE_ANNOTATION_PREFIX + container)
            assert (image == alias) if alias else (":pgo-" in image), images
    assert restart_counts(after[1]) == {"main": 0, "side": 0}
    eventually(lambda: status(groups, "pip").get("phase") == "Running", timeout=60, what="phase Running")
    assert status(groups, "pip")["restarts"] == 1  # counted once, never again
    assert [e.reason for e in groups.events("pip")].count("RestartPodInPlace") == 1


@pytest.mark.needs_restart_all
def test_native_restart_past_the_budget_fails_the_group(groups: PodGroups, real_node: str) -> None:
    policy = {
        "maxRestarts": 1,
        "rules": [{"action": "RestartPodInPlace", "onExitCodes": {"operator": "In", "values": [134]}}],
    }
    groups.create(podgroup("spent", real_role("w", 1, "sleep 3; exit 134"), failurePolicy=policy))
    (pod,) = eventually(lambda: (ps := groups.pods("spent")) and ps[0].spec.node_name and ps, what="bound")
    if not pod.spec.containers[0].restart_policy_rules:
        pytest.skip(
            "the operator writes no native rules here (PGO_NATIVE_RESTART=off or no node declares them)"
        )

    st = eventually(
        lambda: (s := status(groups, "spent")).get("phase") == "Failed" and s,
        timeout=120,
        what="the group failed",
    )
    assert st["restarts"] == 1
    assert st["lastFailure"]["action"] == "FailGroup"
    events = sorted(
        (e for e in groups.events("spent") if e.reason in ("RestartPodInPlace", "FailGroup")),
        key=lambda e: e.last_timestamp,
    )
    assert [e.reason for e in events] == ["RestartPodInPlace", "FailGroup"]
    # Said plainly: the kubelet's second restart happened before the operator could stop it.
    assert "one restart past the budget" in events[-1].message
    (pod,) = eventually(
        lambda: (ps := groups.pods("spent")) and ps[0].status.phase == "Failed" and ps,
        timeout=60,
        what="the member stopped",
    )
    assert pod.status.reason == "DeadlineExceeded"
    assert pod.status.container_statuses[0].restart_count == 2  # exactly one past the budget


@pytest.mark.local_operator
def test_a_native_restart_while_the_operator_is_down_is_counted_once(
    groups: PodGroups, real_node: str, operator: OperatorProcess | None
) -> None:
    assert operator is not None
    policy = {"rules": [{"action": "RestartPodInPlace", "onExitCodes": {"operator": "In", "values": [134]}}]}
    # The member fails once, 10 s after its first start (time for the operator to be stopped).
    script = FAIL_ONCE.replace("sleep 2", "sleep 10")
    groups.create(podgroup("down", real_role("w", 1, script), failurePolicy=policy))
    (first,) = eventually(
        lambda: (ps := groups.pods("down")) and ps[0].status.pod_ip and ps, timeout=120, what="running"
    )
    if not first.spec.containers[0].restart_policy_rules:
        pytest.skip(
            "the operator writes no native rules here (PGO_NATIVE_RESTART=off or no node declares them)"
        )
    operator.stop()
    try:
        # The kubelet restarts the member on its own; the exit it reacted to is gone from the status:
        # the last state is empty (1.35) or the kubelet's own stop for the restart (1.37: exit 137,
        # reason RestartingAllContainers).
        (pod,) = eventually(
            lambda: (ps := running(groups, "down", 1)) and restarts_of(ps[0]) == 1 and ps,
            timeout=120,
            what="the kubelet's own restart",
        )
        last = pod.status.container_statuses[0].last_state.terminated
        assert last is None or last.reason == "RestartingAllContainers", last
    finally:
        operator.start()
    st = eventually(
        lambda: (s := status(groups, "down")).get("restarts") == 1 and s,
        timeout=60,
        what="the restart counted",
    )
    assert st["lastFailure"]["action"] == "RestartPodInPlace"
    assert st["lastFailure"]["reason"] == "RestartAllContainers" and st["lastFailure"].get("exitCode") is None
    (after,) = groups.pods("down")
    assert after.metadata.uid == first.metadata.uid and after.status.pod_ip == first.status.pod_ip
    eventually(lambda: status(groups, "down").get("phase") == "Running", timeout=60, what="phase Running")
    assert status(groups, "down")["restarts"] == 1  # once, not again on the next reconcile
    assert [e.reason for e in groups.events("down")].count("RestartPodInPlace") == 1
