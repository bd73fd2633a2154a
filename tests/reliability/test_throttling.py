"""The API server answering 429 in bursts: API Priority and Fairness rejects what the
operator's flow cannot fit while a burst is on (see throttle.py). The operator must ride the
bursts out: no crash, and every group converges once the burst is over."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups
from tests.reliability import throttle
from tests.reliability.figures import Trial
from tests.reliability.harness import cluster_dir
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.operator import ScopedOperator
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials
from tests.reliability.workload import by_group, create_gangs, members

GANGS, SIZE = 8, 3


@pytest.fixture(scope="module")
def operator(api: client.ApiClient, namespace: str) -> Iterator[ScopedOperator]:
    path = cluster_dir() / f"operator-{namespace}.kubeconfig"
    op = ScopedOperator([namespace], kubeconfig_path=throttle.operator_kubeconfig(api, namespace, path))
    throttle.apply(throttle.priority_level(shares=1))
    op.start()
    yield op
    op.stop()
    throttle.delete("flowschema")
    throttle.delete("prioritylevelconfiguration")
    throttle.forget_operator_account(api, namespace)
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"rel-{uuid.uuid4().hex[:6]}")
    nodes.add(4, cpu="8")
    yield nodes
    nodes.delete()


def test_api_server_answering_429_in_bursts(
    groups: PodGroups, operator: ScopedOperator, pool: NodePool, namespace: str
) -> None:
    burst = float(os.environ.get("PGO_RELIABILITY_429_BURST_SECONDS") or 10)

    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        names = [f"t{i}-{j}" for j in range(GANGS)]
        before_429 = throttle.rejected()
        throttle.apply(throttle.flow_schema(namespace))
        create_gangs(groups, pool, names, SIZE)  # our own requests are not throttled
        time.sleep(random.uniform(0.5 * burst, burst))
        throttle.delete("flowschema")
        snapshot = by_group(groups, names)
        wanted = [Expected(n, members(n, SIZE), kept=snapshot[n]) for n in names]
        seconds, violations = converge(groups, wanted, CONVERGE_SECONDS)
        operator.assert_recovered()
        violations += deleted_cleanly(groups, names)
        return Trial(
            "API server 429 bursts (APF)", i, seconds, violations, {"429s": throttle.rejected() - before_429}
        )

    run_trials("API server 429 bursts (APF)", trials(), trial)
