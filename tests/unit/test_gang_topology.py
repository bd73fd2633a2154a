"""Topology-aware gang placement (core.gang with core.topology): members within one domain of a
node label, levels from widest to narrowest.

The cluster: 2 zones x 2 racks x 2 hosts of 4 CPU each."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.gang import GangRequest, Verdict, plan_admissions
from podgroup_operator.core.gang_state import gang_request
from podgroup_operator.core.observed import observe_pod
from podgroup_operator.core.placement import HOSTNAME_LABEL, NodeInfo, free_capacity
from podgroup_operator.core.resources import Resources
from podgroup_operator.core.topology import TopologyRequest
from tests.unit.test_gang_planner import (
    NOW,
    STARVATION,
    Role,
    check_invariants,
    gang,
    member_body,
    node,
    res,
    workers,
)

ZONE, RACK = "topology.kubernetes.io/zone", "example.com/rack"
LEVELS = (ZONE, RACK, HOSTNAME_LABEL)


def cluster(cpu: str = "4") -> list[NodeInfo]:
    return [
        node(f"n{z}{r}{h}", cpu=cpu, labels={ZONE: f"z{z}", RACK: f"r{z}{r}"})
        for z in range(2)
        for r in range(2)
        for h in range(2)
    ]


def required(level: str) -> TopologyRequest:
    return TopologyRequest(LEVELS, level, True)


def preferred(level: str) -> TopologyRequest:
    return TopologyRequest(LEVELS, level, False)


def with_topology(
    g: GangRequest, topology: TopologyRequest | None = None, **roles: TopologyRequest
) -> GangRequest:
    return dataclasses.replace(g, topology=topology, role_topology=roles)


def plan(
    nodes: Sequence[NodeInfo], gangs: Sequence[GangRequest], used: Mapping[str, Resources] | None = None
) -> dict[str, Verdict]:
    free = free_capacity(nodes, used or {})
    verdicts = plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=STARVATION)
    check_invariants(nodes, free, gangs, verdicts, STARVATION)
    check_domains(nodes, gangs, verdicts)
    return {v.key[1]: v for v in verdicts}


def check_domains(
    nodes: Sequence[NodeInfo], gangs: Sequence[GangRequest], verdicts: Sequence[Verdict]
) -> None:
    """A required topology is never broken: the needed members share one domain of the level."""
    labels = {n.name: n.labels for n in nodes}
    by_key = {g.key: g for g in gangs}
    for v in verdicts:
        if not v.admitted:
            continue
        g = by_key[v.key]
        needed = {m.name for r, n in g.needed.items() for m in [m for m in g.members if m.role == r][:n]}
        if g.topology and g.topology.required:
            assert len({labels[v.placements[m]].get(g.topology.level) for m in needed}) == 1, v
        for role, t in g.role_topology.items():
            if t.required:
                of_role = {m.name for m in g.members if m.role == role} & needed
                assert len({labels[v.placements[m]].get(t.level) for m in of_role}) <= 1, v


def domains_of(v: Verdict, nodes: Sequence[NodeInfo], label: str) -> set[str | None]:
    labels = {n.name: n.labels for n in nodes}
    return {labels[n].get(label) for n in v.placements.values()}


@pytest.mark.parametrize(
    ("topology", "replicas", "admitted", "domain"),
    [
        # 4 x 2 CPU = one rack (two hosts of 4): no host holds it, the first rack does.
        (required(RACK), 4, True, f"{RACK}=r00"),
        # The narrowest level that fits wins, even under a wider required level.
        (required(ZONE), 2, True, f"{HOSTNAME_LABEL}=n000"),
        (required(ZONE), 4, True, f"{RACK}=r00"),
        (required(ZONE), 8, True, f"{ZONE}=z0"),
        # 6 x 2 CPU fit the cluster but no rack: refused under required, spread under preferred.
        (required(RACK), 6, False, ""),
        (preferred(RACK), 6, True, "spread"),
        # Preferred up to the zone: the zone holds them.
        (preferred(ZONE), 6, True, f"{ZONE}=z0"),
        # Nothing holds 20 x 2 CPU.
        (preferred(ZONE), 20, False, ""),
    ],
)
def test_a_gang_within_one_domain(
    topology: TopologyRequest, replicas: int, admitted: bool, domain: str
) -> None:
    g = with_topology(gang("train", workers(replicas, cpu="2")), topology)
    v = plan(cluster(), [g])["train"]
    assert v.admitted is admitted
    assert v.domain == domain
    if admitted and domain != "spread":
        label, _, value = domain.partition("=")
        assert domains_of(v, cluster(), label) == {value}


def test_why_no_domain_fits_is_said() -> None:
    g = with_topology(gang("train", workers(6, cpu="2")), required(RACK))
    v = plan(cluster(), [g])["train"]
    assert v.message == (
        f"needs 6 pods (6 of 2 CPU / 64Mi) within one {RACK} domain; none has room for them at once"
    )


def test_a_preferred_gang_that_does_not_fit_spread_says_the_usual_shortfall() -> None:
    g = with_topology(gang("train", workers(20, cpu="2")), preferred(ZONE))
    assert (
        plan(cluster(), [g])["train"].message
        == "needs 20 pods (20 of 2 CPU / 64Mi) at once; at most 16 fit now"
    )


def test_the_fullest_domain_that_fits_is_chosen() -> None:
    # r00 has 6 CPU left, the others 8: a 6-CPU gang takes r00 and leaves the whole racks whole.
    used = {"n000": res(cpu="2")}
    gangs = [
        with_topology(gang("six", workers(3, cpu="2"), waited=200), required(RACK)),
        with_topology(gang("eight", workers(4, cpu="2"), waited=100), required(RACK)),
    ]
    verdicts = plan(cluster(), gangs, used)
    assert verdicts["six"].domain == f"{RACK}=r00"
    assert verdicts["eight"].domain == f"{RACK}=r01"


def test_two_gangs_never_split_one_domains_room() -> None:
    # Only rack r11 is free; each gang needs a whole rack. The cluster has room for both in
    # total (other racks are half used), but only one gang may have the rack.
    used = {n.name: res(cpu="2") for n in cluster() if n.labels[RACK] != "r11"}
    gangs = [
        with_topology(gang("first", workers(4, cpu="2"), waited=200), required(RACK)),
        with_topology(gang("second", workers(4, cpu="2"), waited=100), required(RACK)),
    ]
    verdicts = plan(cluster(), gangs, used)
    assert verdicts["first"].domain == f"{RACK}=r11"
    assert not verdicts["second"].admitted
    assert "within one example.com/rack domain" in verdicts["second"].message


def test_a_role_within_its_own_domain() -> None:
    g = gang("rl", Role("learner", 1, cpu="3"), workers(4, cpu="2"))
    v = plan(cluster(), [with_topology(g, worker=required(RACK))])["rl"]
    assert v.admitted
    workers_at = {v.placements[f"rl-worker-{i}"] for i in range(4)}
    assert len({n[:3] for n in workers_at}) == 1  # one rack
    # The learner goes first (largest first) to n000; rack r00 no longer holds 8 CPU.
    assert v.domain == f"worker: {RACK}=r01"


def test_roles_in_their_own_domains_inside_the_gangs() -> None:
    # The gang within one zone; each role within one rack of it.
    g = gang("rl", Role("ps", 2, cpu="4"), workers(4, cpu="2"))
    v = plan(cluster(), [with_topology(g, required(ZONE), worker=required(RACK), ps=required(RACK))])["rl"]
    assert v.admitted
    assert v.domain == f"{ZONE}=z0 (ps: {RACK}=r00; worker: {RACK}=r01)"
    assert len(domains_of(v, cluster(), ZONE)) == 1


def test_a_role_that_fits_no_domain_refuses_the_gang() -> None:
    g = gang("rl", Role("learner", 1, cpu="1"), workers(6, cpu="2"))
    v = plan(cluster(), [with_topology(g, worker=required(RACK))])["rl"]
    assert not v.admitted
    assert v.message.startswith("role worker needs 6 pods (6 of 2 CPU / 64Mi) within one example.com/rack")


def test_nodes_without_the_label_are_in_no_domain() -> None:
    nodes = [node("bare-0", cpu="64"), node("bare-1", cpu="64")]
    g = with_topology(gang("train", workers(2, cpu="2")), TopologyRequest((RACK,), RACK, True))
    v = plan(nodes, [g])["train"]
    assert not v.admitted


def test_members_beyond_the_minimum_stay_in_the_domain() -> None:
    g = with_topology(
        gang("train", workers(6, min_available=2, cpu="2")), TopologyRequest((ZONE, RACK), RACK, True)
    )
    v = plan(cluster(), [g])["train"]
    assert v.admitted
    assert len(v.placements) == 4  # the rack holds 4 of them; the other 2 wait
    assert domains_of(v, cluster(), RACK) == {"r00"}


def test_a_gang_no_domain_can_ever_hold_does_not_block_the_queue() -> None:
    # 12 CPU in one rack never fits (racks have 8), so waiting cannot help: it is passed.
    gangs = [
        with_topology(gang("never", workers(6, cpu="2"), waited=10_000), required(RACK)),
        gang("small", workers(1), waited=1),
    ]
    verdicts = plan(cluster(), gangs)
    assert not verdicts["never"].admitted
    assert verdicts["small"].admitted


def test_a_starving_gang_that_could_fit_its_domain_blocks_the_queue() -> None:
    used = {"n000": res(cpu="1"), "n010": res(cpu="1"), "n100": res(cpu="1"), "n110": res(cpu="1")}
    gangs = [
        with_topology(gang("rack", workers(4, cpu="2"), waited=10_000), required(RACK)),
        gang("small", workers(1), waited=1),
    ]
    verdicts = plan(cluster(), gangs, used)
    assert not verdicts["rack"].admitted
    assert verdicts["small"].message.startswith("waiting behind ml/rack")


def test_the_topology_comes_from_the_spec() -> None:
    policy = {"levels": [ZONE, RACK], "mode": "Required", "level": RACK}
    spec = PodGroupSpec.model_validate(
        {
            "gang": {"topology": {"levels": [ZONE, RACK], "mode": "Preferred"}},
            "roles": [{"name": "worker", "replicas": 2, "template": {"spec": {}}, "topology": policy}],
        }
    )
    pods = [observe_pod(member_body("g", "ml", workers(2), i)) for i in range(2)]
    request = gang_request(("ml", "g"), spec, pods, NOW)
    assert request is not None
    assert request.topology == TopologyRequest((ZONE, RACK), ZONE, False)
    assert request.role_topology == {"worker": TopologyRequest((ZONE, RACK), RACK, True)}


@pytest.mark.parametrize("seed", range(60))
def test_random_topology_plans_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [
        node(f"n{i:02d}", cpu=rng.choice(["4", "8"]), labels={ZONE: f"z{i // 8}", RACK: f"r{i // 4}"})
        for i in range(rng.randint(4, 16))
    ]
    used = {n.name: res(cpu=str(rng.randint(0, 4))) for n in nodes if rng.random() < 0.4}
    gangs = []
    for i in range(rng.randint(1, 8)):
        g = gang(
            f"g{i}",
            workers(rng.randint(1, 6), cpu=rng.choice(["1", "2", "3"])),
            waited=rng.choice([1.0, 900.0]),
        )
        level = rng.choice(LEVELS)
        gangs.append(with_topology(g, TopologyRequest(LEVELS, level, rng.random() < 0.6)))
    verdicts = plan(nodes, gangs, used)
    shuffled = list(gangs)
    rng.shuffle(shuffled)
    again = plan_admissions(
        list(reversed(nodes)), free_capacity(nodes, used), shuffled, now=NOW, starvation_seconds=STARVATION
    )
    assert {v.key[1]: v for v in again} == verdicts
