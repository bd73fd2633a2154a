"""Topology-aware gang admission on fake kwok nodes labelled zone / block / rack: the members
land within one domain, as kube-scheduler binds them, and the status says which (or why none)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup
from tests.e2e.test_gang import all_bound, gated, pool_role

ZONE, BLOCK, RACK = "e2e.podgroup.dev/zone", "e2e.podgroup.dev/block", "e2e.podgroup.dev/rack"
HOST = "kubernetes.io/hostname"
LEVELS = [ZONE, BLOCK, RACK, HOST]


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


@pytest.fixture
def racks(api: client.ApiClient) -> Iterator[NodePool]:
    """2 zones x 1 block x 2 racks x 2 hosts of 4 CPU: a rack holds 8 CPU, a zone 16."""
    pool = NodePool(api, f"topo-{uuid.uuid4().hex[:6]}")
    for z in range(2):
        for r in range(2):
            labels = {ZONE: f"{pool.name}-z{z}", BLOCK: f"{pool.name}-b{z}", RACK: f"{pool.name}-r{z}{r}"}
            pool.add(2, cpu="4", labels=labels)
    yield pool
    pool.delete()


def node_labels(api: client.ApiClient, pods: list[client.V1Pod], key: str) -> set[str]:
    core = client.CoreV1Api(api)
    return {core.read_node(p.spec.node_name).metadata.labels.get(key) for p in pods}


def test_a_gang_that_requires_a_rack_binds_within_one_rack_and_says_which(
    api: client.ApiClient, groups: PodGroups, racks: NodePool
) -> None:
    topology = {"levels": LEVELS, "mode": "Required", "level": RACK}
    groups.create(podgroup("rack", pool_role(racks, "w", 4, cpu="2"), gang={"topology": topology}))
    pods = eventually(lambda: all_bound(groups, "rack", 4), what="4 members bound")
    (rack,) = node_labels(api, pods, RACK)
    assert len(node_labels(api, pods, HOST)) == 2  # no host holds 8 CPU; one rack does
    record = eventually(
        lambda: (groups.get("rack").get("status") or {}).get("gang", {}).get("topologyDomain"),
        what="the chosen domain in status",
    )
    assert record == f"{RACK}={rack}"


def test_a_gang_no_rack_holds_waits_and_says_why_while_a_preferred_one_takes_a_zone(
    api: client.ApiClient, groups: PodGroups, racks: NodePool
) -> None:
    # 6 x 2 CPU: more than a rack (8 CPU), less than a zone (16).
    required = {"levels": LEVELS, "mode": "Required", "level": RACK}
    groups.create(podgroup("strict", pool_role(racks, "w", 6, cpu="2"), gang={"topology": required}))
    cond = eventually(
        lambda: (c := groups.condition("strict", "GangScheduled")) and "domain" in c["message"] and c,
        what="a Waiting condition saying no rack holds the gang",
    )
    assert cond["status"] == "False"
    assert cond["message"] == (
        f"needs 6 pods (6 of 2 CPU / 64Mi) within one {RACK} domain; none has room for them at once"
    )
    assert len(gated(groups.pods("strict"))) == 6

    preferred = {"levels": LEVELS, "mode": "Preferred", "level": ZONE}
    groups.create(podgroup("loose", pool_role(racks, "w", 6, cpu="2"), gang={"topology": preferred}))
    pods = eventually(lambda: all_bound(groups, "loose", 6), what="6 members bound")
    # Narrowest first: no host or rack holds 12 CPU; a block does (here a block is a zone).
    (block,) = node_labels(api, pods, BLOCK)
    assert len(node_labels(api, pods, ZONE)) == 1
    domain = eventually(
        lambda: (groups.get("loose").get("status") or {}).get("gang", {}).get("topologyDomain"),
        what="the chosen domain in status",
    )
    assert domain == f"{BLOCK}={block}"
    # The strict gang still waits: what is left is less than a rack's room anywhere it could go.
    assert len(gated(groups.pods("strict"))) == 6


def test_a_role_within_one_rack(api: client.ApiClient, groups: PodGroups, racks: NodePool) -> None:
    worker = pool_role(racks, "worker", 4, cpu="2")
    worker["topology"] = {"levels": [ZONE, RACK], "level": RACK}
    groups.create(podgroup("roles", pool_role(racks, "ps", 2, cpu="1"), worker))
    pods = eventually(lambda: all_bound(groups, "roles", 6), what="6 members bound")
    workers = [p for p in pods if p.metadata.labels["podgroup.dev/role"] == "worker"]
    assert len(node_labels(api, workers, RACK)) == 1
