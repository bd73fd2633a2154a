"""Each PodGroup in examples/ applied to the cluster, under the e2e operator, and what it
promises checked on the cluster's own objects."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.examples import all_ready, example, on_real_node, run_training_gang
from tests.e2e.podgroups import PodGroups


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


def millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def test_training_gang_restarts_in_place_after_a_crash(groups: PodGroups, real_node: str) -> None:
    run_training_gang(groups)


def test_head_and_workers_start_as_one_group(groups: PodGroups) -> None:
    # As written: it runs on the fake kwok nodes (kwok pulls nothing).
    groups.create(example("head-workers.yaml"))
    status = eventually(
        lambda: (s := groups.get("cluster").get("status") or {}).get("phase") == "Running" and s,
        timeout=120,
        what="the group Running",
    )
    pods = groups.pods("cluster")
    assert [p.metadata.name for p in pods] == ["cluster-head-0", *(f"cluster-worker-{i}" for i in range(4))]
    assert {p.metadata.labels["podgroup.dev/role"] for p in pods} == {"head", "worker"}
    assert all(p.spec.node_name for p in pods)
    assert status["gang"]["admittedTime"]
    roles = {r["name"]: r for r in status["roles"]}
    assert roles["head"]["replicas"] == 1 and roles["worker"]["replicas"] == 4
    eventually(
        lambda: [r["running"] for r in groups.get("cluster")["status"]["roles"]] == [1, 4],
        timeout=60,
        what="1 head and 4 workers running",
    )


def test_serving_group_is_resized_in_place_from_its_usage(groups: PodGroups, real_node: str) -> None:
    groups.create(on_real_node(example("serving-resize.yaml")))
    before = eventually(
        lambda: (ps := groups.pods("web")) and all_ready(ps, 2) and ps, timeout=120, what="2 servers"
    )

    # Idle web servers asking for 400m: the recommender brings them down toward minAllowed (50m).
    def shrunk() -> list[client.V1Pod] | None:
        pods = groups.pods("web")
        cpu = [(p.status.container_statuses[0].resources.requests or {}).get("cpu") for p in pods]
        return pods if all(c and millicores(c) < 400 for c in cpu) else None

    after = eventually(shrunk, timeout=180, interval=2, what="both servers' CPU request lowered in place")
    for old, new in zip(before, after, strict=True):
        assert new.metadata.uid == old.metadata.uid
        cs, old_cs = new.status.container_statuses[0], old.status.container_statuses[0]
        assert cs.restart_count == 0 and cs.container_id == old_cs.container_id
        assert millicores(cs.resources.requests["cpu"]) >= 50  # minAllowed
    # uniform: both replicas got the same size.
    sizes = {new.status.container_statuses[0].resources.requests["cpu"] for new in after}
    assert len(sizes) == 1, sizes
    status = groups.get("web")["status"]["resize"]
    assert status["recommendations"] and status["lastResize"]["result"] in ("Applied", "Capped")
