"""Automatic in-place resize on the real node, asserting the pods' own status and cgroups."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.podgroups import PodGroups, podgroup
from tests.e2e.realnode import MEMORY_HOG, ON_REAL_NODE, TOOLS_IMAGE, container_cgroup


def sized_role(script: str, requests: dict[str, str], limits: dict[str, str]) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": TOOLS_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    spec = {
        **ON_REAL_NODE,
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    return {"name": "w", "replicas": 1, "template": {"spec": spec}}


def resize(mode: str, **container: Any) -> dict[str, Any]:
    return {"mode": mode, "cooldownSeconds": 0, "containers": [{"containerName": "*", **container}]}


@pytest.fixture
def groups(api: client.ApiClient, namespace: str, real_node: str) -> PodGroups:
    return PodGroups(api, namespace)


def running_pod(groups: PodGroups, name: str) -> client.V1Pod:
    return eventually(
        lambda: (
            (ps := groups.pods(name))
            and ps[0].status.phase == "Running"
            and ps[0].status.container_statuses
            and ps[0].status.container_statuses[0].ready
            and ps[0]
        ),
        timeout=90,
        what=f"{name} running",
    )


def actual(pod: client.V1Pod) -> client.V1ResourceRequirements:
    return pod.status.container_statuses[0].resources


def millicores(q: str) -> int:
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


def test_busy_container_is_grown_in_place(groups: PodGroups) -> None:
    groups.create(
        podgroup(
            "busy",
            sized_role(
                "yes > /dev/null", {"cpu": "100m", "memory": "32Mi"}, {"cpu": "200m", "memory": "64Mi"}
            ),
            resize=resize("Auto", controlledResources=["cpu"]),
        )
    )
    before = running_pod(groups, "busy")
    cgroup = container_cgroup("cpu", before, before.status.container_statuses[0].container_id)
    assert (cgroup / "cpu.cfs_quota_us").read_text().strip() == "20000"

    def grown() -> client.V1Pod | None:
        pod = groups.pods("busy")[0]
        res = actual(pod)
        return pod if res and res.requests and millicores(res.requests["cpu"]) > 100 else None

    after = eventually(grown, timeout=120, interval=1, what="the CPU request grown in place")
    cs = after.status.container_statuses[0]
    assert after.metadata.uid == before.metadata.uid
    assert cs.restart_count == 0 and cs.container_id == before.status.container_statuses[0].container_id
    # Limits keep their ratio to requests (200m / 100m), and the cgroup follows the new limit.
    limit = millicores(cs.resources.limits["cpu"])
    assert limit == 2 * millicores(cs.resources.requests["cpu"])
    eventually(
        lambda: (cgroup / "cpu.cfs_quota_us").read_text().strip() == str(limit * 100),
        timeout=120,
        what="the cgroup quota to follow",
    )
    # The status that records the resize is written after the pods/resize patch: the kubelet
    # may apply it first.
    last = eventually(
        lambda: ((groups.get("busy")["status"].get("resize") or {}).get("lastResize") or {}).get("result"),
        timeout=60,
        what="status.resize.lastResize",
    )
    assert last in ("Applied", "Capped")
    # The first growth comes from the fast path (usage above the request, no history needed);
    # the recommendation from history follows once the recommender has its samples.
    eventually(
        lambda: (groups.get("busy")["status"]["resize"].get("recommendations") or [{}])[0].get("containers"),
        timeout=60,
        what="a recommendation from history",
    )


def test_idle_overprovisioned_container_is_shrunk_within_min_allowed(groups: PodGroups) -> None:
    groups.create(
        podgroup(
            "idle",
            sized_role("exec sleep 3600", {"cpu": "500m", "memory": "32Mi"}, {"cpu": "1", "memory": "64Mi"}),
            resize=resize("Auto", controlledResources=["cpu"], minAllowed={"cpu": "50m"}),
        )
    )
    before = running_pod(groups, "idle")
    after = eventually(
        lambda: (p := groups.pods("idle")[0]) and actual(p) and actual(p).requests["cpu"] == "50m" and p,
        timeout=120,
        interval=1,
        what="the CPU request shrunk to minAllowed",
    )
    assert after.metadata.uid == before.metadata.uid
    assert after.status.container_statuses[0].restart_count == 0
    assert actual(after).limits["cpu"] == "100m"  # the 2:1 ratio of limit to request is kept


def test_request_no_node_can_satisfy_ends_capped_with_a_condition(groups: PodGroups) -> None:
    groups.create(
        podgroup(
            "huge",
            sized_role(
                "exec sleep 3600", {"cpu": "100m", "memory": "32Mi"}, {"cpu": "100m", "memory": "32Mi"}
            ),
            resize=resize("Auto", controlledResources=["cpu"], minAllowed={"cpu": "500"}),
        )
    )
    running_pod(groups, "huge")
    cond = eventually(
        lambda: (c := groups.condition("huge", "ResizeInfeasible")) and c["status"] == "True" and c,
        timeout=120,
        interval=1,
        what="ResizeInfeasible=True",
    )
    assert "huge-w-0" in cond["message"]
    pod = groups.pods("huge")[0]
    cs = pod.status.container_statuses[0]
    # Capped at what the node can give (a Guaranteed pod stays Guaranteed), never 500 cores.
    assert millicores(cs.resources.requests["cpu"]) < 500_000
    assert cs.resources.requests == cs.resources.limits
    # Not a retry loop: the outcome is recorded once and stays put.
    first = groups.get("huge")["status"]["resize"]["lastResize"]
    resize_events = len([e for e in groups.events("huge") if e.reason.startswith("Resize")])
    import time

    time.sleep(15)
    assert groups.get("huge")["status"]["resize"]["lastResize"] == first
    assert len([e for e in groups.events("huge") if e.reason.startswith("Resize")]) <= resize_events + 1


def test_oom_killed_container_comes_back_with_more_memory_in_place(groups: PodGroups) -> None:
    oom_once = f"if [ ! -f /data/oomed ]; then touch /data/oomed; {MEMORY_HOG}; fi; exec sleep 3600"
    groups.create(
        podgroup(
            "oom",
            sized_role(oom_once, {"cpu": "50m", "memory": "32Mi"}, {"cpu": "100m", "memory": "32Mi"}),
            resize=resize("Auto", controlledResources=["memory"]),
        )
    )
    first = eventually(
        lambda: (ps := groups.pods("oom")) and ps[0].status.container_statuses and ps[0],
        timeout=90,
        what="the pod",
    )
    eventually(
        lambda: (
            (cs := groups.pods("oom")[0].status.container_statuses[0]).last_state.terminated
            and cs.last_state.terminated.reason == "OOMKilled"
        ),
        timeout=90,
        what="an OOM kill",
    )

    def more_memory() -> client.V1Pod | None:
        pod = groups.pods("oom")[0]
        res = actual(pod)
        return pod if res and res.limits and res.limits["memory"] not in ("32Mi", str(32 * 2**20)) else None

    after = eventually(more_memory, timeout=120, interval=1, what="a larger memory limit, in place")
    assert after.metadata.uid == first.metadata.uid
    assert after.spec.node_name == first.spec.node_name
    cgroup = container_cgroup("memory", after, after.status.container_statuses[0].container_id)
    assert int((cgroup / "memory.limit_in_bytes").read_text()) > 32 * 2**20


def test_recommend_mode_writes_recommendations_and_changes_no_pod(groups: PodGroups) -> None:
    groups.create(
        podgroup(
            "advice",
            sized_role(
                "yes > /dev/null", {"cpu": "100m", "memory": "32Mi"}, {"cpu": "200m", "memory": "64Mi"}
            ),
            resize=resize("Recommend", controlledResources=["cpu"]),
        )
    )
    before = running_pod(groups, "advice")
    recs = eventually(
        lambda: (
            (r := ((groups.get("advice").get("status") or {}).get("resize") or {}).get("recommendations"))
            and r[0]["containers"]
            and r
        ),
        timeout=120,
        interval=1,
        what="recommendations in status",
    )
    assert millicores(recs[0]["containers"][0]["target"]["cpu"]) > 100
    pod = groups.pods("advice")[0]
    assert pod.metadata.uid == before.metadata.uid
    assert pod.spec.containers[0].resources.requests["cpu"] == "100m"
    assert actual(pod).requests["cpu"] == "100m"
    assert "podgroup.dev/resized-at" not in (pod.metadata.annotations or {})


def test_members_sized_one_by_one_are_checkpointed_one_by_one(groups: PodGroups) -> None:
    """uniform: false: each member learns on its own, and what it learnt is checkpointed in the
    status under its own name (so a restarted operator goes on from it)."""
    role = {
        **sized_role("exec sleep 3600", {"cpu": "50m", "memory": "32Mi"}, {"memory": "64Mi"}),
        "replicas": 2,
    }
    groups.create(podgroup("solo", role, resize={**resize("Recommend"), "uniform": False}))
    members = {"solo-w-0", "solo-w-1"}

    def checkpointed() -> dict[str, Any] | None:
        usage = ((groups.get("solo").get("status") or {}).get("resize") or {}).get("usage") or []
        learnt = {u.get("pod"): u for u in usage if u.get("containers") and u["containers"][0].get("samples")}
        return learnt if set(learnt) == members else None

    # Checkpoints are written at most once a minute.
    learnt = eventually(checkpointed, timeout=150, interval=2, what="a usage checkpoint per member")
    assert all(u["role"] == "w" and u["containers"][0]["container"] == "main" for u in learnt.values())
    recs = groups.get("solo")["status"]["resize"]["recommendations"]
    assert {r.get("pod") for r in recs} == members
