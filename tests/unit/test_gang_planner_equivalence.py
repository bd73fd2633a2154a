"""Same snapshot, same plan: the indexed planner (core.gang) gives exactly the plan of the
reference planner it replaced (bench/reference_planner.py) on random snapshots without topology.

Two generators: the small random clusters of test_gang_planner (every kind of constraint,
overcommitted nodes, missing members, starvation), and larger ones where many nodes share a
free vector and many gangs share a shape, which is what the index and the memo of refusals
act on."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from bench.reference_planner import plan_admissions as reference_plan

from podgroup_operator.core.gang import GangRequest, plan_admissions
from podgroup_operator.core.placement import NodeInfo, free_capacity
from podgroup_operator.core.resources import Resources
from tests.unit.test_gang_planner import NOW, Role, gang, node, random_cluster, random_gangs, workers


def uniform_cluster(rng: random.Random) -> tuple[list[NodeInfo], dict[str, Resources]]:
    nodes, used = [], {}
    shapes = [("8", "32Gi"), ("16", "64Gi"), ("32", "128Gi")]
    for i in range(rng.randint(5, 60)):
        cpu, mem = rng.choice(shapes[: rng.randint(1, 3)])
        labels = {"pool": rng.choice(["a", "b"])}
        nodes.append(node(f"n-{i:03d}", cpu, mem, "110", labels=labels, unschedulable=rng.random() < 0.05))
        if rng.random() < 0.5:
            used[f"n-{i:03d}"] = {
                "cpu": Decimal(rng.randrange(0, int(cpu) + 2)),
                "memory": Decimal(rng.randrange(0, 8)) * 2**30,
                "pods": Decimal(rng.randint(0, 3)),
            }
    return nodes, used


def shaped_gangs(rng: random.Random) -> list[GangRequest]:
    gangs = []
    shapes = [("1", "1Gi"), ("2", "4Gi"), ("4", "8Gi"), ("40", "1Gi"), ("500m", "512Mi")]
    for i in range(rng.randint(1, 40)):
        cpu, mem = rng.choice(shapes)
        size = rng.choice([1, 2, 4, 8])
        sched = {"nodeSelector": {"pool": "a"}} if rng.random() < 0.3 else {}
        roles = [workers(size, cpu=cpu, memory=mem, scheduling=sched)]
        if rng.random() < 0.3:
            roles.append(Role("leader", 1, cpu=rng.choice(["1", "6"])))
        waited = rng.choice([1.0, 100.0, 700.0])
        gangs.append(gang(f"g{i:02d}", *roles, waited=waited, namespace="ml"))
    return gangs


def assert_same_plan(nodes: list[NodeInfo], used: dict[str, Resources], gangs: list[GangRequest]) -> None:
    free = free_capacity(nodes, used)
    for starvation in (600.0, 0.0):
        new = plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=starvation)
        old = reference_plan(nodes, free, gangs, now=NOW, starvation_seconds=starvation)
        assert new == old


@pytest.mark.parametrize("seed", range(300))
def test_small_random_snapshots_plan_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    nodes, used = random_cluster(rng)
    assert_same_plan(nodes, used, random_gangs(rng))


@pytest.mark.parametrize("seed", range(100))
def test_large_uniform_snapshots_plan_as_the_reference(seed: int) -> None:
    rng = random.Random(10_000 + seed)
    nodes, used = uniform_cluster(rng)
    assert_same_plan(nodes, used, shaped_gangs(rng))
