"""Gang admission against the real kube-scheduler, on fake kwok nodes each test makes for itself."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.nodes import NodePool, scheduler_paused
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import OperatorProcess

GATE = "podgroup.dev/gang"


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


@pytest.fixture
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"pool-{uuid.uuid4().hex[:6]}")
    yield nodes
    nodes.delete()


def pool_role(pool: NodePool, name: str, replicas: int, cpu: str, **extra: object) -> dict:
    r = role(name, replicas, cpu=cpu, **extra)
    r["template"]["spec"]["nodeSelector"] = pool.selector
    return r


def bound(pods: list[client.V1Pod]) -> list[client.V1Pod]:
    return [p for p in pods if p.spec.node_name]


def gated(pods: list[client.V1Pod]) -> list[client.V1Pod]:
    return [p for p in pods if any(g.name == GATE for g in p.spec.scheduling_gates or [])]


def all_bound(groups: PodGroups, name: str, count: int) -> list[client.V1Pod] | None:
    pods = groups.pods(name)
    return pods if len(pods) == count and len(bound(pods)) == count else None


def test_gang_that_does_not_fit_binds_nothing_says_why_and_starts_whole_when_a_node_arrives(
    groups: PodGroups, pool: NodePool
) -> None:
    pool.add(4, cpu="8")
    groups.create(podgroup("big", pool_role(pool, "w", 5, cpu="6")))

    cond = eventually(
        lambda: (c := groups.condition("big", "GangScheduled")) and "at most" in c["message"] and c,
        what="a Waiting condition that names the shortfall",
    )
    assert cond["status"] == "False" and cond["reason"] == "Waiting"
    assert cond["message"] == "needs 5 pods (5 of 6 CPU / 64Mi) at once; at most 4 fit now"
    pods = groups.pods("big")
    assert len(pods) == 5 and bound(pods) == [] and len(gated(pods)) == 5
    assert groups.get("big")["status"]["phase"] == "Pending"

    pool.add(1, cpu="8")
    pods = eventually(lambda: all_bound(groups, "big", 5), what="all 5 bound")
    assert len({p.spec.node_name for p in pods}) == 5
    assert gated(pods) == []
    eventually(lambda: groups.get("big")["status"]["phase"] == "Running", what="phase Running")
    assert groups.condition("big", "GangScheduled")["status"] == "True"
    assert groups.condition("big", "GangReady")["status"] == "True"


def test_gang_ready_turns_false_when_the_gang_degrades(groups: PodGroups, pool: NodePool) -> None:
    pool.add(1, cpu="8")
    groups.create(podgroup("deg", pool_role(pool, "w", 3, cpu="1")))
    eventually(
        lambda: (c := groups.condition("deg", "GangReady")) and c["status"] == "True", what="GangReady"
    )
    # A member that fails keeps its place but is not Running: the gang is below its minimum.
    victim = groups.pods("deg")[0]
    groups.core.patch_namespaced_pod_status(
        victim.metadata.name, groups.namespace, {"status": {"phase": "Failed"}}
    )
    cond = eventually(
        lambda: (c := groups.condition("deg", "GangReady")) and c["status"] == "False" and c,
        what="GangReady=False",
    )
    assert cond["reason"] == "BelowMinimum"
    eventually(
        lambda: any(e.reason == "BelowMinimum" and e.type == "Warning" for e in groups.events("deg")),
        what="a Warning event",
    )


def _competing_gangs_trial(groups: PodGroups, pool: NodePool, trial: int) -> None:
    names = [f"a{trial}", f"b{trial}"]
    barrier = threading.Barrier(2)

    def create(name: str) -> None:
        barrier.wait()  # both created at the same moment
        groups.create(podgroup(name, pool_role(pool, "w", 3, cpu="2")))

    threads = [threading.Thread(target=create, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def one_whole() -> str | None:
        counts = {n: len(bound(groups.pods(n))) for n in names}
        # kube-scheduler binds a released gang's pods one at a time, so a poll can see a gang on
        # its way to whole; what must never be seen is both gangs holding nodes (the deadlock).
        assert min(counts.values()) == 0, f"trial {trial}: both gangs hold nodes {counts}"
        return next((n for n, c in counts.items() if c == 3), None)

    first = eventually(one_whole, what=f"trial {trial}: one gang bound whole")
    second = next(n for n in names if n != first)
    assert bound(groups.pods(second)) == []
    groups.delete(first)
    eventually(lambda: all_bound(groups, second, 3), what=f"trial {trial}: {second} follows")
    groups.delete(second)
    eventually(lambda: all(groups.pods(n) == [] for n in names), what="pods gone")


def test_two_gangs_that_do_not_fit_together_never_both_partially_bind(
    groups: PodGroups, pool: NodePool
) -> None:
    pool.add(2, cpu="4")  # 8 CPU: one gang of 3 x 2 CPU fits, two do not
    for trial in range(20):
        _competing_gangs_trial(groups, pool, trial)


def test_release_that_fails_to_bind_is_rolled_back_and_admitted_later(
    groups: PodGroups, pool: NodePool
) -> None:
    pool.add(2, cpu="4")
    spec = podgroup("late", pool_role(pool, "w", 2, cpu="2"), gang={"scheduleTimeoutSeconds": 3})
    # kube-scheduler stays paused until the timeout has passed, so nothing binds after the
    # release; meanwhile the planned nodes go bad (a NoSchedule taint).
    with scheduler_paused():
        groups.create(spec)
        released = eventually(
            lambda: (ps := groups.pods("late")) and len(ps) == 2 and not gated(ps) and ps,
            what="members released (gates removed) while the scheduler is paused",
        )
        planned = {p.metadata.annotations["podgroup.dev/planned-node"] for p in released}
        for node in planned:
            pool.taint(node)
        event = eventually(
            lambda: [e for e in groups.events("late") if e.reason == "ScheduleTimeout"],
            timeout=60,
            what="a ScheduleTimeout event",
        )
    first_uids = {p.metadata.uid for p in released}
    assert "rolled back the gang" in event[0].message
    pods = eventually(lambda: all_bound(groups, "late", 2), timeout=90, what="admitted again and bound")
    assert not first_uids & {p.metadata.uid for p in pods}, "the stuck pods were replaced"
    assert {p.spec.node_name for p in pods}.isdisjoint(planned), "the tainted node was avoided"
    assert groups.get("late")["status"]["gang"]["rollbacks"] >= 1


@pytest.mark.local_operator
def test_operator_killed_during_admission_converges_without_duplicates(
    groups: PodGroups, pool: NodePool, operator: OperatorProcess | None
) -> None:
    assert operator is not None
    pool.add(4, cpu="8")
    names = [f"k{i}" for i in range(12)]
    for name in names:
        groups.create(podgroup(name, pool_role(pool, "w", 4, cpu="500m")))
    # Kill it as soon as the first gang has been released, while others are still in progress.
    eventually(
        lambda: any(not gated(groups.pods(n)) and groups.pods(n) for n in names),
        interval=0.05,
        what="a first release",
    )
    operator.kill()
    before = {p.metadata.name: p for n in names for p in groups.pods(n)}
    operator.start()

    for name in names:
        pods = eventually(lambda n=name: all_bound(groups, n, 4), timeout=90, what=f"{name} bound")
        assert [p.metadata.name for p in pods] == [f"{name}-w-{i}" for i in range(4)]
        assert gated(pods) == []
    for name, pod in before.items():
        now = groups.core.read_namespaced_pod(name, groups.namespace)
        assert now.metadata.uid == pod.metadata.uid, f"{name} was recreated"
        if not gated([pod]):  # released before the kill: released exactly once
            key = "podgroup.dev/admitted-at"
            assert now.metadata.annotations[key] == pod.metadata.annotations[key], f"{name} released twice"
