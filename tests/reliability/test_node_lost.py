"""A node lost: a kwok node holding a member is deleted. With a RecreatePod rule on NodeLost the
member comes back on another node, the other members are left alone, and the action is counted
once.

Readiness is not required here: 40 s after the node is deleted, kube-controller-manager's node
lifecycle controller marks the group's pods on the surviving kwok nodes Ready=False, and kwok
never marks them Ready again (seen on every trial; a harness artifact, not the operator's). The
status must still say exactly what the pods say."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.e2e.cluster import eventually
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup
from tests.reliability.figures import Trial
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.operator import ScopedOperator
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials
from tests.reliability.workload import members, pool_role

SIZE = 3
POLICY = {"rules": [{"action": "RecreatePod", "onReasons": ["NodeLost"]}]}


@pytest.fixture(scope="module")
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"rel-{uuid.uuid4().hex[:6]}")
    yield nodes
    nodes.delete()


def test_node_lost(groups: PodGroups, operator: ScopedOperator, pool: NodePool) -> None:
    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        # One member per node (3 of 4 CPUs each), plus one spare node to recreate the lost one on.
        added = pool.add(SIZE + 1, cpu="4")
        name = f"n{i}"
        groups.create(podgroup(name, pool_role(pool, SIZE, cpu="3"), failurePolicy=POLICY))
        pods = eventually(
            lambda: (
                (ps := groups.pods(name)) and len(ps) == SIZE and all(p.spec.node_name for p in ps) and ps
            ),
            timeout=120,
            what="every member bound",
        )
        time.sleep(random.uniform(0, 2))
        victim = random.choice(pods)
        groups.core.delete_node(victim.spec.node_name)

        def recreated(now: list[client.V1Pod]) -> list[str]:
            by_name = {p.metadata.name: p for p in now}
            found = []
            if by_name[victim.metadata.name].metadata.uid == victim.metadata.uid:
                found.append(f"{victim.metadata.name}: not recreated")
            if by_name[victim.metadata.name].spec.node_name == victim.spec.node_name:
                found.append(f"{victim.metadata.name}: still on the lost node")
            return found

        survivors = {p.metadata.name: p for p in pods if p.metadata.name != victim.metadata.name}
        want = Expected(name, members(name, SIZE), restarts=1, kept=survivors, check=recreated, ready=False)
        seconds, violations = converge(groups, [want], CONVERGE_SECONDS)
        operator.assert_recovered()
        violations += deleted_cleanly(groups, [name])
        for node in added:
            if node != victim.spec.node_name:
                groups.core.delete_node(node)
        return Trial("node lost (kwok node deleted)", i, seconds, violations)

    run_trials("node lost (kwok node deleted)", trials(), trial)
