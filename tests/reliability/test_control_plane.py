"""The control plane itself failing under the operator: kube-apiserver down for longer than
the operator's error backoff window, etcd paused (SIGSTOP/SIGCONT), etcd restarted.

These stop the cluster's own components (through hack/lib.sh, by recorded PID), so they must
only run against a cluster nobody else is using: a developer's own, or `make test`'s."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import kopf
import pytest
from kubernetes import client
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup
from tests.reliability.figures import Trial
from tests.reliability.harness import Component, pid_of
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.operator import ScopedOperator
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials
from tests.reliability.workload import by_group, create_gangs, members, pool_role, retrying

from podgroup_operator.config import Config

GANGS, SIZE = 4, 3


def error_backoff_window() -> float:
    """How long the operator keeps retrying one failing API request before it escalates."""
    settings = kopf.OperatorSettings()
    Config().apply(settings)
    backoffs = settings.networking.error_backoffs
    return float(sum(backoffs) if isinstance(backoffs, list) else backoffs)


def _seconds(env: str, default: float) -> float:
    return float(os.environ.get(env) or default)


@pytest.fixture(scope="module", autouse=True)
def own_cluster() -> None:
    for name in ("kube-apiserver", "etcd"):
        try:
            pid_of(name)
        except (OSError, ValueError) as exc:
            pytest.skip(f"no {name} started by hack/cluster-up.sh for this cluster ({exc})")


@pytest.fixture(scope="module")
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"rel-{uuid.uuid4().hex[:6]}")
    nodes.add(3, cpu="8")
    yield nodes
    retrying(nodes.delete)


def outage_trials(
    fault: str,
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,
    fault_window: Callable[[], AbstractContextManager[None]],
) -> None:
    """Gangs in flight when the fault hits; after it, those converge and a group created
    afterwards does too (the operator's watches came back, not only its writes)."""

    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        names = [f"o{i}-{j}" for j in range(GANGS)]
        create_gangs(groups, pool, names, SIZE)
        time.sleep(random.uniform(0, 2))
        before = by_group(groups, names)
        started = time.monotonic()
        with fault_window():
            pass
        held = time.monotonic() - started
        late = f"o{i}-late"
        retrying(lambda: groups.create(podgroup(late, pool_role(pool, SIZE))))
        # Readiness is kwok's, not the operator's: while the control plane is away kwok cannot
        # heartbeat, kube-controller-manager marks the pods Ready=False once it is back, and kwok
        # never marks them Ready again. The status must still say what the pods say.
        wanted = [Expected(n, members(n, SIZE), kept=before[n], ready=False) for n in names]
        wanted.append(Expected(late, members(late, SIZE), ready=False))
        seconds, violations = converge(groups, wanted, CONVERGE_SECONDS)
        operator.assert_recovered()
        violations += deleted_cleanly(groups, [*names, late])
        return Trial(fault, i, seconds, violations, {"fault_seconds": round(held, 1)})

    run_trials(fault, trials(), trial)


def test_apiserver_down_longer_than_the_error_backoff_window(
    groups: PodGroups, operator: ScopedOperator, pool: NodePool
) -> None:
    outage = _seconds("PGO_RELIABILITY_APISERVER_DOWN_SECONDS", error_backoff_window() + 10)
    apiserver = Component("kube-apiserver")

    def window() -> Iterator[None]:
        with apiserver.down():
            time.sleep(outage)
        yield

    outage_trials(f"kube-apiserver down {outage:.0f}s", groups, operator, pool, _once(window))


def test_etcd_paused(groups: PodGroups, operator: ScopedOperator, pool: NodePool) -> None:
    pause = _seconds("PGO_RELIABILITY_ETCD_PAUSE_SECONDS", 30)
    etcd = Component("etcd")

    def window() -> Iterator[None]:
        with etcd.paused():
            time.sleep(pause)
        yield

    outage_trials(f"etcd paused {pause:.0f}s", groups, operator, pool, _once(window))


def test_etcd_restarted(groups: PodGroups, operator: ScopedOperator, pool: NodePool) -> None:
    etcd = Component("etcd")

    def window() -> Iterator[None]:
        with etcd.down():
            pass
        yield

    outage_trials("etcd restarted", groups, operator, pool, _once(window))


def _once(gen: Callable[[], Iterator[None]]) -> Callable[[], AbstractContextManager[None]]:
    """The fault happens when the window is entered; the trial goes on when it is over."""
    from contextlib import contextmanager

    return contextmanager(gen)
