"""core.gang.plan_admissions: which waiting gangs are admitted now and where each member goes.

Gangs are built the way the admitter builds them: member pods as the API server returns them,
read with observe_pod, turned into a request with gang_state.gang_request."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.gang import GangRequest, Verdict, plan_admissions
from podgroup_operator.core.gang_state import gang_request
from podgroup_operator.core.observed import observe_pod
from podgroup_operator.core.placement import (
    NodeInfo,
    fits,
    free_capacity,
    node_allows,
)
from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resources import Resources
from tests.builders import NodeBuilder, PodBuilder

Body = dict[str, Any]
NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
STARVATION = 600.0


def node(
    name: str,
    cpu: str = "8",
    memory: str = "32Gi",
    pods: str = "110",
    *,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Body] = (),
    unschedulable: bool = False,
) -> NodeInfo:
    return (
        NodeBuilder(name)
        .labels(labels or {})
        .allocatable(cpu=cpu, memory=memory, pods=pods)
        .taints(taints)
        .unschedulable(unschedulable)
        .observed()
    )


@dataclass(frozen=True)
class Role:
    name: str = "worker"
    replicas: int = 1
    min_available: int | None = None
    cpu: str = "1"
    memory: str = "64Mi"
    created: int | None = None  # member pods that exist (default: all)
    released: int = 0  # of those, the first ones already released and running
    priority: int | None = None
    scheduling: Body = field(default_factory=dict)  # nodeSelector, affinity, tolerations


def workers(replicas: int, cpu: str = "1", memory: str = "64Mi", **kw: Any) -> Role:
    return Role("worker", replicas, cpu=cpu, memory=memory, **kw)


def member_body(group: str, namespace: str, role: Role, index: int) -> Body:
    name = f"{group}-{role.name}-{index}"
    released = index < role.released
    pod = (
        PodBuilder(name, namespace)
        .uid(f"uid-{namespace}-{name}")
        .member(group, role.name, index)
        .container("main", "busybox:1.36", resources={"requests": {"cpu": role.cpu, "memory": role.memory}})
        .spec(**role.scheduling)
        .phase("Running" if released else "Pending")
    )
    if role.priority is not None:
        pod.spec(priority=role.priority)
    return (pod.node("elsewhere") if released else pod.gang_gated()).obj()


def gang(group: str, *roles: Role, waited: float = 60.0, namespace: str = "ml") -> GangRequest:
    roles = roles or (workers(1),)
    spec_body: Body = {"roles": []}
    for role in roles:
        entry: Body = {"name": role.name, "replicas": role.replicas, "template": {"spec": {}}}
        if role.min_available is not None:
            entry["minAvailable"] = role.min_available
        spec_body["roles"].append(entry)
    spec = PodGroupSpec.model_validate(spec_body)
    pods = [
        observe_pod(member_body(group, namespace, role, i))
        for role in roles
        for i in range(role.replicas if role.created is None else role.created)
    ]
    request = gang_request((namespace, group), spec, pods, NOW - timedelta(seconds=waited))
    assert request is not None, "a test gang must have a gated member"
    return request


def plan(
    nodes: Sequence[NodeInfo],
    gangs: Sequence[GangRequest],
    *,
    used: Mapping[str, Resources] | None = None,
    starvation: float = STARVATION,
) -> dict[str, Verdict]:
    """Verdicts by group name, after checking the invariants every plan must keep."""
    free = free_capacity(nodes, used or {})
    verdicts = plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=starvation)
    check_invariants(nodes, free, gangs, verdicts, starvation)
    return {v.key[1]: v for v in verdicts}


def res(**quantities: str) -> Resources:
    return {k: parse_quantity(v) for k, v in quantities.items()}


# --- invariants, shared by the examples and the random plans -------------------------------------


def check_invariants(
    nodes: Sequence[NodeInfo],
    free: Mapping[str, Mapping[str, Decimal]],
    gangs: Sequence[GangRequest],
    verdicts: Sequence[Verdict],
    starvation: float,
) -> None:
    by_name = {n.name: n for n in nodes}
    by_key = {g.key: g for g in gangs}
    order = sorted(gangs, key=lambda g: (-g.priority, g.waiting_since, g.key))
    # One verdict per gang, in the order gangs are considered.
    assert [v.key for v in verdicts] == [g.key for g in order]

    placed: dict[str, dict[str, Decimal]] = {}
    blocker: str | None = None
    for i, verdict in enumerate(verdicts):
        g = by_key[verdict.key]
        members = {m.name: m for m in g.members}
        if verdict.message.startswith("waiting behind "):
            # Starvation: once a gang is stopped, all gangs after it are stopped behind the same
            # one, the refused gang just before the first of them, which has waited long enough.
            if blocker is None:
                ahead = verdicts[i - 1] if i else None
                assert ahead is not None and not ahead.admitted
                assert (NOW - by_key[ahead.key].waiting_since).total_seconds() >= starvation
                blocker = "/".join(ahead.key)
            assert verdict.message.startswith(f"waiting behind {blocker}, ")
        else:
            assert blocker is None, "a gang after a stopped one was considered"
        if not verdict.admitted:
            assert verdict.placements == {}
            assert verdict.message
            continue
        assert verdict.message == ""
        # Every needed member is placed: the first `needed` gated members of each role.
        for role, count in g.needed.items():
            of_role = [m.name for m in g.members if m.role == role]
            assert set(of_role[:count]) <= set(verdict.placements), (role, count)
        for member_name, node_name in verdict.placements.items():
            assert member_name in members, "only the gang's own gated members are placed"
            assert node_name in by_name and node_name in free
            assert node_allows(by_name[node_name], members[member_name].constraints)
            total = placed.setdefault(node_name, {})
            for r, q in members[member_name].requests.items():
                total[r] = total.get(r, Decimal(0)) + q
    # No node is over-committed by the plan.
    for node_name, total in placed.items():
        for r, q in total.items():
            if q > 0:
                assert q <= free[node_name].get(r, Decimal(0)), (node_name, r, q)


# --- a gang that fits ------------------------------------------------------------------------------


def test_a_gang_that_fits_is_admitted_with_a_placement_per_member() -> None:
    nodes = [node("a", cpu="4"), node("b", cpu="4"), node("c", cpu="4")]
    v = plan(nodes, [gang("train", workers(4, cpu="2"))])["train"]
    assert v.admitted
    assert v.message == ""
    # Best fit: fill the node with the least room left first; ties go to the first node by name.
    assert v.placements == {
        "train-worker-0": "a",
        "train-worker-1": "a",
        "train-worker-2": "b",
        "train-worker-3": "b",
    }


def test_best_fit_prefers_the_fullest_node() -> None:
    nodes = [node("a", cpu="8"), node("b", cpu="8"), node("c", cpu="8")]
    used = {"a": res(cpu="2"), "b": res(cpu="6"), "c": res(cpu="7")}
    v = plan(nodes, [gang("train", workers(3, cpu="1"))], used=used)["train"]
    assert v.placements == {"train-worker-0": "c", "train-worker-1": "b", "train-worker-2": "b"}


def test_memory_and_pod_slots_count_too() -> None:
    # Plenty of CPU everywhere: a holds two members by memory, b one by its single pod slot, c one.
    nodes = [
        node("a", cpu="64", memory="4Gi"),
        node("b", cpu="64", pods="1"),
        node("c", cpu="64", memory="2Gi"),
    ]
    v = plan(nodes, [gang("train", workers(4, cpu="1", memory="2Gi"))])["train"]
    assert v.admitted
    assert sorted(v.placements.values()) == ["a", "a", "b", "c"]
    v = plan(nodes, [gang("train", workers(5, cpu="1", memory="2Gi"))])["train"]
    assert v.message == "needs 5 pods (5 of 1 CPU / 2Gi) at once; at most 4 fit now"


def test_a_gang_of_several_roles() -> None:
    nodes = [node("cpu-1", cpu="16"), node("gpu-1", cpu="8", labels={"accelerator": "gpu"})]
    on_gpu = {"nodeSelector": {"accelerator": "gpu"}}
    g = gang(
        "rl",
        Role("learner", 1, cpu="6", scheduling=on_gpu),
        Role("actor", 8, min_available=6, cpu="2"),
    )
    v = plan(nodes, [g])["rl"]
    assert v.admitted
    assert v.placements["rl-learner-0"] == "gpu-1"
    actors = {k: n for k, n in v.placements.items() if "-actor-" in k}
    # 16 CPU on cpu-1 and 2 left on gpu-1: all 8 actors fit, 6 were needed.
    assert len(actors) == 8
    assert sorted(actors.values()).count("gpu-1") == 1


def test_the_largest_members_are_placed_first() -> None:
    # Placing the 2-CPU actors first (spec order, best fit) would leave no node for the 3-CPU
    # driver; placing the driver first fits everything.
    nodes = [node("a", cpu="3"), node("b", cpu="4")]
    g = gang("job", Role("actor", 2, cpu="2"), Role("driver", 1, cpu="3"))
    v = plan(nodes, [g])["job"]
    assert v.admitted
    assert v.placements == {"job-driver-0": "a", "job-actor-0": "b", "job-actor-1": "b"}


def test_constraints_choose_the_nodes() -> None:
    dedicated = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}
    nodes = [
        node("big", cpu="64"),
        node("ml-1", cpu="4", taints=[dedicated]),
        node("ml-2", cpu="4", taints=[dedicated]),
        node("cordoned", cpu="64", unschedulable=True),
    ]
    tolerate = {
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
    }
    only_ml = {
        **tolerate,
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": ["ml-1", "ml-2"],
                                }
                            ]
                        }
                    ]
                }
            }
        },
    }
    v = plan(nodes, [gang("ml", workers(2, cpu="4", scheduling=only_ml))])["ml"]
    assert v.admitted
    assert sorted(v.placements.values()) == ["ml-1", "ml-2"]
    # Without the toleration the tainted nodes are out, and the cordoned one always is.
    v = plan(nodes, [gang("web", workers(3, cpu="30"))])["web"]
    assert not v.admitted
    assert v.message.endswith("at most 2 fit now")


def test_a_node_without_free_capacity_is_not_used() -> None:
    nodes = [node("a"), node("b")]
    free = {"a": dict(nodes[0].allocatable)}  # b's capacity is not known
    verdicts = plan_admissions(
        nodes, free, [gang("train", workers(2, cpu="5"))], now=NOW, starvation_seconds=STARVATION
    )
    assert not verdicts[0].admitted
    assert verdicts[0].message == "needs 2 pods (2 of 5 CPU / 64Mi) at once; at most 1 fit now"


# --- a gang that does not fit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "g", "message"),
    [
        (
            [node(n, cpu="8") for n in "abcd"],
            gang("big", workers(5, cpu="6")),
            "needs 5 pods (5 of 6 CPU / 64Mi) at once; at most 4 fit now",
        ),
        (
            [node("a", cpu="2")],
            gang("big", Role("leader", 1, cpu="4", memory="8Gi"), workers(3, cpu="500m", memory="1Gi")),
            "needs 4 pods (1 of 4 CPU / 8Gi, 3 of 500m CPU / 1Gi) at once; at most 3 fit now",
        ),
        (
            [node("a", cpu="1")],
            gang("big", workers(2, cpu="1500m", memory="100")),
            "needs 2 pods (2 of 1500m CPU / 100) at once; at most 0 fit now",
        ),
        (
            [node("a", cpu="64", memory="1Gi")],
            gang("big", workers(3, cpu="1", memory="512Mi")),
            "needs 3 pods (3 of 1 CPU / 512Mi) at once; at most 2 fit now",
        ),
        (
            [node("a"), node("b")],
            gang("gpu", workers(2, scheduling={"nodeSelector": {"accelerator": "gpu"}})),
            "needs 2 pods (2 of 1 CPU / 64Mi); no node matches their selectors, affinity and tolerations",
        ),
        (
            [
                node("a", taints=[{"key": "dedicated", "value": "ml", "effect": "NoExecute"}]),
                node("b", unschedulable=True),
            ],
            gang("web", workers(1)),
            "needs 1 pods (1 of 1 CPU / 64Mi); no node matches their selectors, affinity and tolerations",
        ),
        (
            [],
            gang("lonely", workers(1)),
            "needs 1 pods (1 of 1 CPU / 64Mi); no node matches their selectors, affinity and tolerations",
        ),
    ],
    ids=["too-big", "two-shapes", "none-fits", "memory", "no-node-matches", "taints-and-cordon", "no-nodes"],
)
def test_a_gang_that_does_not_fit(nodes: list[NodeInfo], g: GangRequest, message: str) -> None:
    v = plan(nodes, [g])[g.key[1]]
    assert not v.admitted
    assert v.placements == {}
    assert v.message == message


def test_the_shortfall_counts_only_the_needed_members() -> None:
    g = gang("big", workers(10, min_available=5, cpu="6"))
    v = plan([node(n, cpu="8") for n in "abcd"], [g])["big"]
    assert v.message == "needs 5 pods (5 of 6 CPU / 64Mi) at once; at most 4 fit now"


def test_a_refused_gang_is_never_told_that_all_of_it_fits() -> None:
    # Largest first: driver on b (best fit), actors on c, c, then no room. Spec order fits all.
    nodes = [node("a", cpu="1"), node("b", cpu="4"), node("c", cpu="5")]
    g = gang("job", Role("actor", 3, cpu="2"), Role("driver", 1, cpu="3"))
    v = plan(nodes, [g])["job"]
    assert v.admitted or not v.message.endswith("at most 4 fit now"), v.message


# --- members beyond the minimum ------------------------------------------------------------------


def test_members_beyond_the_minimum_join_when_they_fit() -> None:
    v = plan([node("a", cpu="5")], [gang("train", workers(6, min_available=4))])["train"]
    assert v.admitted
    assert sorted(v.placements) == [f"train-worker-{i}" for i in range(5)]


def test_members_beyond_the_minimum_do_not_block_admission() -> None:
    v = plan([node("a", cpu="4")], [gang("train", workers(6, min_available=4))])["train"]
    assert v.admitted
    assert sorted(v.placements) == [f"train-worker-{i}" for i in range(4)]


def test_members_beyond_the_minimum_come_after_every_needed_member() -> None:
    # Role "a" needs none of its 4 members, role "b" needs both of its own; "a" sorts first by
    # name, but its optional members must not take the room "b" needs.
    nodes = [node("n", cpu="3")]
    g = gang("mix", Role("a", 4, min_available=0), Role("b", 2))
    v = plan(nodes, [g])["mix"]
    assert v.admitted
    assert sorted(v.placements) == ["mix-a-0", "mix-b-0", "mix-b-1"]


def test_a_gang_that_needs_nothing_more_is_admitted_even_if_nothing_fits() -> None:
    # All of its minimum is released already; the gated extra does not fit: nothing to place.
    g = gang("train", workers(4, min_available=2, released=3, cpu="4"))
    assert g.needed == {"worker": 0}
    v = plan([node("a", cpu="2")], [g])["train"]
    assert v == Verdict(("ml", "train"), True, {}, "")


def test_a_recreated_member_of_a_running_gang_is_admitted_alone() -> None:
    g = gang("train", workers(4, released=3, cpu="2"))
    assert g.needed == {"worker": 1}
    v = plan([node("a", cpu="2")], [g])["train"]
    assert v.admitted
    assert v.placements == {"train-worker-3": "a"}


# --- missing members -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("g", "role"),
    [
        (gang("train", workers(4, created=3)), "worker"),
        (gang("train", workers(4, min_available=2, created=1)), "worker"),
        (gang("train", Role("leader", 1, created=0), workers(2)), "leader"),
        (gang("train", Role("leader", 1), workers(2, created=1)), "worker"),
    ],
)
def test_a_gang_waits_for_its_members_to_be_created(g: GangRequest, role: str) -> None:
    v = plan([node("a", cpu="64")], [g])["train"]
    assert not v.admitted
    assert v.message == f"waiting for the members of role {role} to be created"


def test_enough_members_created_for_the_minimum_is_enough() -> None:
    v = plan([node("a", cpu="64")], [gang("train", workers(4, min_available=2, created=2))])["train"]
    assert v.admitted
    assert len(v.placements) == 2


# --- several gangs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        # (name, priority, waited seconds) of two gangs that each fit alone but not together.
        (("a", 0, 60.0), ("b", 0, 120.0), "b"),  # the older
        (("a", 0, 120.0), ("b", 0, 60.0), "a"),
        (("a", 0, 60.0), ("b", 10, 30.0), "b"),  # the higher priority, though younger
        (("a", 1000, 1.0), ("b", 0, 500.0), "a"),
        (("a", 0, 60.0), ("b", 0, 60.0), "a"),  # same priority and age: by key
        (("b", 0, 60.0), ("a", 0, 60.0), "a"),
        (("a", -5, 60.0), ("b", 0, 1.0), "b"),
    ],
)
def test_two_gangs_that_fit_alone_but_not_together(
    first: tuple[str, int, float], second: tuple[str, int, float], winner: str
) -> None:
    nodes = [node("n", cpu="8")]
    gangs = [
        gang(name, workers(2, cpu="3", priority=prio), waited=waited)
        for name, prio, waited in (first, second)
    ]
    for alone in gangs:
        assert plan(nodes, [alone])[alone.key[1]].admitted
    verdicts = plan(nodes, gangs)
    assert [k for k, v in verdicts.items() if v.admitted] == [winner]
    loser = next(v for k, v in verdicts.items() if k != winner)
    assert loser.message == "needs 2 pods (2 of 3 CPU / 64Mi) at once; at most 0 fit now"


def test_same_name_in_two_namespaces_orders_by_namespace() -> None:
    nodes = [node("n", cpu="4")]
    gangs = [gang("train", workers(1, cpu="3"), namespace=ns) for ns in ("zeta", "alpha")]
    verdicts = plan_admissions(nodes, free_capacity(nodes, {}), gangs, now=NOW, starvation_seconds=STARVATION)
    assert [(v.key, v.admitted) for v in verdicts] == [(("alpha", "train"), True), (("zeta", "train"), False)]


def test_capacity_taken_by_an_admitted_gang_is_not_offered_again() -> None:
    nodes = [node("a", cpu="4"), node("b", cpu="4")]
    gangs = [
        gang("first", workers(2, cpu="2"), waited=300),
        gang("second", workers(2, cpu="2"), waited=200),
        gang("third", workers(1, cpu="1"), waited=100),
    ]
    verdicts = plan(nodes, gangs)
    assert verdicts["first"].placements == {"first-worker-0": "a", "first-worker-1": "a"}
    assert verdicts["second"].placements == {"second-worker-0": "b", "second-worker-1": "b"}
    assert not verdicts["third"].admitted
    assert verdicts["third"].message == "needs 1 pods (1 of 1 CPU / 64Mi) at once; at most 0 fit now"


def test_capacity_already_used_on_the_nodes_is_respected() -> None:
    nodes = [node("a", cpu="4"), node("b", cpu="4")]
    used = {"a": res(cpu="3500m", memory="1Gi", pods="3"), "b": res(cpu="2")}
    v = plan(nodes, [gang("train", workers(3, cpu="1"))], used=used)["train"]
    assert not v.admitted
    assert v.message.endswith("at most 2 fit now")
    v = plan(nodes, [gang("train", workers(2, cpu="1"))], used=used)["train"]
    assert v.placements == {"train-worker-0": "b", "train-worker-1": "b"}


# The starvation scenario: "large" needs the whole (empty) cluster; pods bound on node a keep
# it from fitting now, and the small gangs behind it would take the room it waits for.
BUSY = [node("a", cpu="8"), node("b", cpu="8")]
BUSY_USED = {"a": res(cpu="4")}


def test_a_smaller_gang_passes_a_large_one_that_does_not_fit() -> None:
    gangs = [gang("large", workers(4, cpu="4"), waited=500), gang("small", workers(2, cpu="1"), waited=10)]
    verdicts = plan(BUSY, gangs, used=BUSY_USED)
    assert not verdicts["large"].admitted
    assert verdicts["large"].message == "needs 4 pods (4 of 4 CPU / 64Mi) at once; at most 3 fit now"
    assert verdicts["small"].admitted


@pytest.mark.parametrize(
    ("head_waited", "small_admitted"),
    [(0.0, True), (599.0, True), (599.999, True), (600.0, False), (601.0, False), (86400.0, False)],
)
def test_a_starving_gang_is_no_longer_passed(head_waited: float, small_admitted: bool) -> None:
    gangs = [
        gang("large", workers(4, cpu="4"), waited=head_waited),
        gang("small", workers(2, cpu="1"), waited=min(head_waited, 1.0) / 2),
        gang("tiny", workers(1, cpu="100m"), waited=0.0),
    ]
    verdicts = plan(BUSY, gangs, used=BUSY_USED)
    assert not verdicts["large"].admitted
    for behind in ("small", "tiny"):
        assert verdicts[behind].admitted is small_admitted
        if not small_admitted:
            assert verdicts[behind].placements == {}
            assert verdicts[behind].message == "waiting behind ml/large, which has waited longer than 600s"


def test_gangs_ahead_of_a_starving_gang_are_still_admitted() -> None:
    gangs = [
        gang("urgent", workers(1, cpu="1", priority=100), waited=1),
        gang("starving", workers(2, cpu="4"), waited=10_000),
        gang("young", workers(1, cpu="1"), waited=1),
    ]
    verdicts = plan([node("a", cpu="8")], gangs)
    assert verdicts["urgent"].admitted
    assert not verdicts["starving"].admitted
    assert verdicts["young"].message == "waiting behind ml/starving, which has waited longer than 600s"


def test_a_starving_gang_that_fits_is_admitted_and_blocks_nobody() -> None:
    gangs = [gang("old", workers(2, cpu="2"), waited=10_000), gang("new", workers(2, cpu="2"), waited=1)]
    verdicts = plan([node("a", cpu="8")], gangs)
    assert verdicts["old"].admitted and verdicts["new"].admitted


def test_starvation_zero_is_strict_order() -> None:
    gangs = [gang("big", workers(2, cpu="4"), waited=1), gang("small", workers(1, cpu="1"), waited=0)]
    verdicts = plan([node("a", cpu="8")], gangs, used={"a": res(cpu="2")}, starvation=0)
    assert not verdicts["big"].admitted
    assert not verdicts["small"].admitted
    assert verdicts["small"].message == "waiting behind ml/big, which has waited longer than 0s"


def test_only_the_first_starving_gang_is_named() -> None:
    gangs = [
        gang("first", workers(2, cpu="1"), waited=5000),
        gang("second", workers(2, cpu="1"), waited=4000),
        gang("third", workers(1, cpu="1"), waited=3000),
    ]
    verdicts = plan([node("a", cpu="2")], gangs, used={"a": res(cpu="1")})
    assert not verdicts["first"].admitted
    assert verdicts["second"].message.startswith("waiting behind ml/first,")
    assert verdicts["third"].message.startswith("waiting behind ml/first,")


def test_a_gang_missing_members_does_not_block_the_queue() -> None:
    nodes = [node("a", cpu="8")]
    gangs = [gang("quota-hit", workers(4, created=3), waited=10_000), gang("ready", workers(2), waited=1)]
    verdicts = plan(nodes, gangs)
    assert verdicts["quota-hit"].message == "waiting for the members of role worker to be created"
    assert verdicts["ready"].admitted


def test_a_gang_no_node_can_take_does_not_block_the_queue() -> None:
    nodes = [node("a", cpu="8")]
    gpu = {"nodeSelector": {"accelerator": "gpu"}}
    gangs = [gang("gpu", workers(1, scheduling=gpu), waited=10_000), gang("cpu", workers(1), waited=1)]
    verdicts = plan(nodes, gangs)
    assert verdicts["cpu"].admitted


# --- determinism ---------------------------------------------------------------------------------


def _scenario() -> tuple[list[NodeInfo], list[GangRequest], dict[str, Resources]]:
    nodes = [node(f"n{i}", cpu=str(4 + i), labels={"zone": f"z{i % 2}"}) for i in range(5)]
    zone0 = {"nodeSelector": {"zone": "z0"}}
    gangs = [
        gang("g1", workers(4, cpu="2"), waited=100),
        gang("g2", Role("ps", 1, cpu="3", scheduling=zone0), workers(3, cpu="1500m"), waited=100),
        gang("g3", workers(8, min_available=4, cpu="1"), waited=50),
        gang("g4", workers(20, cpu="2"), waited=400),
        gang("g5", workers(1, cpu="500m", priority=7), waited=1),
    ]
    return nodes, gangs, {"n2": res(cpu="3")}


def test_the_same_snapshot_gives_the_same_plan() -> None:
    nodes, gangs, used = _scenario()
    first = plan_admissions(nodes, free_capacity(nodes, used), gangs, now=NOW, starvation_seconds=STARVATION)
    second = plan_admissions(nodes, free_capacity(nodes, used), gangs, now=NOW, starvation_seconds=STARVATION)
    assert first == second
    assert any(v.admitted for v in first) and not all(v.admitted for v in first)


def test_the_plan_does_not_depend_on_input_order() -> None:
    nodes, gangs, used = _scenario()
    free = free_capacity(nodes, used)
    expected = plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=STARVATION)
    rng = random.Random(7)
    for _ in range(10):
        shuffled_nodes, shuffled_gangs = list(nodes), list(gangs)
        rng.shuffle(shuffled_nodes)
        rng.shuffle(shuffled_gangs)
        free_shuffled = dict(sorted(free.items(), key=lambda _: rng.random()))
        got = plan_admissions(
            shuffled_nodes, free_shuffled, shuffled_gangs, now=NOW, starvation_seconds=STARVATION
        )
        assert got == expected


def test_the_plan_does_not_change_its_inputs() -> None:
    nodes, gangs, used = _scenario()
    free = free_capacity(nodes, used)
    before = repr((nodes, free, gangs))
    plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=STARVATION)
    assert repr((nodes, free, gangs)) == before


# --- random clusters -----------------------------------------------------------------------------

DEDICATED = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}


def random_cluster(rng: random.Random) -> tuple[list[NodeInfo], dict[str, Resources]]:
    nodes, used = [], {}
    for i in range(rng.randint(0, 6)):
        name = f"node-{i}"
        cpu_m = rng.randrange(500, 16_001, 500)
        mem_gi = rng.randint(1, 64)
        labels = {"zone": rng.choice(["z1", "z2"])}
        if rng.random() < 0.3:
            labels["accelerator"] = "gpu"
        taints = []
        if rng.random() < 0.25:
            taints.append(DEDICATED)
        if rng.random() < 0.1:
            taints.append({"key": "spot", "effect": "PreferNoSchedule"})
        nodes.append(
            node(
                name,
                f"{cpu_m}m",
                f"{mem_gi}Gi",
                str(rng.randint(1, 20)),
                labels=labels,
                taints=taints,
                unschedulable=rng.random() < 0.1,
            )
        )
        if rng.random() < 0.4:  # pods already bound, sometimes more than the node holds
            used[name] = {
                "cpu": Decimal(rng.randrange(0, int(cpu_m * 1.2) + 1, 100)) / 1000,
                "memory": Decimal(rng.randint(0, mem_gi * 2**30)),
                "pods": Decimal(rng.randint(0, 5)),
            }
    return nodes, used


def random_role(rng: random.Random, name: str) -> Role:
    replicas = rng.randint(1, 6)
    scheduling: Body = {}
    if rng.random() < 0.3:
        scheduling["nodeSelector"] = {"zone": rng.choice(["z1", "z2"])}
    if rng.random() < 0.15:
        scheduling["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "accelerator", "operator": "Exists"}]}
                    ]
                }
            }
        }
    if rng.random() < 0.3:
        scheduling["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    created = replicas if rng.random() < 0.85 else rng.randint(1, replicas)
    return Role(
        name,
        replicas,
        min_available=rng.choice([None, rng.randint(0, replicas)]),
        cpu=f"{rng.randrange(100, 4001, 100)}m",
        memory=f"{rng.randrange(64, 8193, 64)}Mi",
        created=created,
        released=rng.randint(0, created - 1) if rng.random() < 0.15 else 0,
        priority=rng.choice([None, None, None, 100]),
        scheduling=scheduling,
    )


def random_gangs(rng: random.Random) -> list[GangRequest]:
    gangs = []
    for i in range(rng.randint(1, 5)):
        roles = [random_role(rng, name) for name in ("leader", "worker")[: rng.randint(1, 2)]]
        waited = rng.choice([0.0, 30.0, 300.0, 599.0, 600.0, 1200.0, 30.0 * rng.randint(0, 40)])
        gangs.append(gang(f"g{i}", *roles, waited=waited, namespace=rng.choice(["ml", "batch"])))
    return gangs


@pytest.mark.parametrize("seed", range(200))
def test_random_plans_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    nodes, used = random_cluster(rng)
    gangs = random_gangs(rng)
    free = free_capacity(nodes, used)
    verdicts = plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=STARVATION)
    check_invariants(nodes, free, gangs, verdicts, STARVATION)

    # Deterministic, whatever the input order.
    again = list(gangs)
    rng.shuffle(again)
    assert (
        plan_admissions(list(reversed(nodes)), free, again, now=NOW, starvation_seconds=STARVATION)
        == verdicts
    )

    # Single-pod admissions are exact: a refused one-member gang has no allowed node with room
    # left after the gangs admitted before it.
    remaining = {name: dict(r) for name, r in free.items()}
    by_key = {g.key: g for g in gangs}
    by_name = {n.name: n for n in nodes}
    for v in verdicts:
        g = by_key[v.key]
        members = {m.name: m for m in g.members}
        if v.admitted:
            for member_name, node_name in v.placements.items():
                for r, q in members[member_name].requests.items():
                    remaining[node_name][r] = remaining[node_name].get(r, Decimal(0)) - q
            continue
        if v.message.startswith(("waiting", "needs 0")) or sum(g.needed.values()) != 1:
            continue
        (role,) = [r for r, n in g.needed.items() if n == 1]
        m = next(m for m in g.members if m.role == role)
        assert not any(
            fits(remaining[name], m.requests) and node_allows(by_name[name], m.constraints)
            for name in remaining
        ), (seed, v)
