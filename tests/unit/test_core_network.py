"""core.network: member identity (ranks, sizes, leader), DNS names, env injection, the Service."""

from __future__ import annotations

from typing import Any

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.labels import GROUP_LABEL
from podgroup_operator.core.members import Member, desired_members
from podgroup_operator.core.network import headless_service, identity, stale_sizes, with_identity
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.pods import member_pod

C: dict[str, Any] = {"containers": [{"name": "main", "image": "x"}]}


def spec(*roles: tuple[str, int], leader: str | None = None) -> PodGroupSpec:
    body: dict[str, Any] = {"roles": [{"name": n, "replicas": r, "template": {"spec": C}} for n, r in roles]}
    if leader is not None:
        body["network"] = {"leaderRole": leader}
    return PodGroupSpec.model_validate(body)


# (roles, leaderRole, member) -> (rank, role size, world size, leader pod)
@pytest.mark.parametrize(
    ("roles", "leader", "member", "expected"),
    [
        ((("w", 4),), None, ("w", 0), (0, 4, 4, "g-w-0")),
        ((("w", 4),), None, ("w", 3), (3, 4, 4, "g-w-0")),
        # roles in spec order, indexes in order
        ((("head", 1), ("w", 3)), None, ("head", 0), (0, 1, 4, "g-head-0")),
        ((("head", 1), ("w", 3)), None, ("w", 0), (1, 3, 4, "g-head-0")),
        ((("head", 1), ("w", 3)), None, ("w", 2), (3, 3, 4, "g-head-0")),
        ((("a", 2), ("b", 3), ("c", 1)), None, ("c", 0), (5, 1, 6, "g-a-0")),
        # the leader role chosen: member 0 of it, wherever it is in the list
        ((("w", 3), ("coord", 1)), "coord", ("w", 1), (1, 3, 4, "g-coord-0")),
    ],
)
def test_identity(
    roles: tuple[tuple[str, int], ...], leader: str | None, member: tuple[str, int], expected: tuple[Any, ...]
) -> None:
    role, index = member
    ident = identity("g", "ml", spec(*roles, leader=leader), Member(role, index, f"g-{role}-{index}"))
    rank, role_size, world, leader_pod = expected
    assert (ident.rank, ident.role_size, ident.world_size) == (rank, role_size, world)
    assert ident.leader_address == f"{leader_pod}.g.ml.svc.cluster.local"
    assert ident.service == "g.ml.svc.cluster.local"
    assert (ident.group, ident.role, ident.role_index) == ("g", role, index)


def test_ranks_are_a_permutation_of_the_world() -> None:
    s = spec(("a", 2), ("b", 3), ("c", 4))
    ranks = [identity("g", "ns", s, m).rank for m in desired_members("g", s)]
    assert ranks == list(range(9))


def test_cluster_domain_is_a_setting() -> None:
    ident = identity("g", "ml", spec(("w", 1)), Member("w", 0, "g-w-0"), "corp.example")
    assert ident.leader_address == "g-w-0.g.ml.svc.corp.example"
    assert ident.service == "g.ml.svc.corp.example"


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "<from>") for e in container.get("env") or []}


IDENT = identity("g", "ml", spec(("head", 1), ("w", 2)), Member("w", 1, "g-w-1"))
EXPECTED_ENV = {
    "PODGROUP_NAME": "g",
    "PODGROUP_ROLE": "w",
    "PODGROUP_ROLE_INDEX": "1",
    "PODGROUP_ROLE_SIZE": "2",
    "PODGROUP_RANK": "2",
    "PODGROUP_WORLD_SIZE": "3",
    "PODGROUP_LEADER_ADDRESS": "g-head-0.g.ml.svc.cluster.local",
    "PODGROUP_SERVICE": "g.ml.svc.cluster.local",
}


# (template pod spec) -> (hostname, subdomain, env of each container and init container)
@pytest.mark.parametrize(
    ("pod_spec", "expected"),
    [
        (
            {"containers": [{"name": "a"}, {"name": "b"}]},
            ("g-w-1", "g", [EXPECTED_ENV, EXPECTED_ENV]),
        ),
        (
            {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            ("g-w-1", "g", [EXPECTED_ENV, EXPECTED_ENV]),
        ),
        # the template's own hostname and subdomain win
        (
            {"hostname": "db", "subdomain": "mine", "containers": [{"name": "a"}]},
            ("db", "mine", [EXPECTED_ENV]),
        ),
        # a variable the template sets wins, other variables are kept
        (
            {
                "containers": [
                    {
                        "name": "a",
                        "env": [
                            {"name": "PODGROUP_RANK", "value": "7"},
                            {"name": "OTHER", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        ],
                    }
                ]
            },
            ("g-w-1", "g", [{**EXPECTED_ENV, "PODGROUP_RANK": "7", "OTHER": "<from>"}]),
        ),
    ],
)
def test_with_identity(pod_spec: dict[str, Any], expected: tuple[str, str, list[dict[str, str]]]) -> None:
    out = with_identity(pod_spec, "g", "g-w-1", IDENT)
    hostname, subdomain, envs = expected
    assert (out["hostname"], out["subdomain"]) == (hostname, subdomain)
    containers = [*(out.get("initContainers") or []), *out["containers"]]
    assert [env_of(c) for c in containers] == envs


def test_template_variables_keep_their_place() -> None:
    out = with_identity(
        {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}, "g", "g-w-1", IDENT
    )
    assert out["containers"][0]["env"][0] == {"name": "X", "value": "1"}


def test_the_template_is_not_modified() -> None:
    template = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}
    with_identity(template, "g", "g-w-1", IDENT)
    assert template == {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}


def test_member_pod_carries_the_identity_and_the_same_template_hash() -> None:
    template = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    plain = member_pod(group="g", group_uid="u", member=Member("w", 1, "g-w-1"), template=template)
    named = member_pod(
        group="g", group_uid="u", member=Member("w", 1, "g-w-1"), template=template, identity=IDENT
    )
    assert named["spec"]["hostname"] == "g-w-1"
    assert named["spec"]["subdomain"] == "g"
    assert env_of(named["spec"]["containers"][0]) == EXPECTED_ENV
    # The identity is derived, not part of the template: a changed cluster domain is no template change.
    assert named["metadata"]["annotations"] == {
        **plain["metadata"]["annotations"],
        "podgroup.dev/world-size": "3",
        "podgroup.dev/role-size": "2",
    }


def test_headless_service() -> None:
    svc = headless_service("g", "uid-g", "ml")
    assert svc["metadata"]["name"] == "g"
    assert svc["metadata"]["namespace"] == "ml"
    assert svc["spec"] == {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {GROUP_LABEL: "g"},
    }
    (owner,) = svc["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "PodGroup",
        "g",
        "uid-g",
        True,
    )


def observed(
    name: str, role: str, annotations: dict[str, str], *, owner: str = "u", phase: str = "Running"
) -> ObservedPod:
    return ObservedPod(
        name=name,
        uid=f"uid-{name}",
        role=role,
        index=0,
        phase=phase,
        node_name="n",
        ready=True,
        deleting=False,
        scheduling_gates=(),
        restart_count=0,
        owner_uid=owner,
        body={"metadata": {"annotations": annotations}},
    )


CURRENT = {"podgroup.dev/world-size": "3", "podgroup.dev/role-size": "2"}


# (observed member, spec roles) -> patched annotations, or None: nothing to write
@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (observed("g-w-0", "w", CURRENT), None),
        # scaled from 2 workers to ... (the spec says 2 now; the pod was made when it was 4)
        (
            observed("g-w-0", "w", {"podgroup.dev/world-size": "5", "podgroup.dev/role-size": "4"}),
            CURRENT,
        ),
        # made before the annotations existed
        (observed("g-w-0", "w", {}), CURRENT),
        (observed("g-head-0", "head", {}), {"podgroup.dev/world-size": "3", "podgroup.dev/role-size": "1"}),
        # not ours, finished, or of a role that is gone: left alone
        (observed("g-w-0", "w", {}, owner="other"), None),
        (observed("g-w-0", "w", {}, phase="Succeeded"), None),
        (observed("g-old-0", "old", {}), None),
    ],
)
def test_stale_sizes(pod: ObservedPod, expected: dict[str, str] | None) -> None:
    patches = stale_sizes(spec(("head", 1), ("w", 2)), [pod], "u")
    assert [p.annotations for p in patches] == ([expected] if expected else [])
    assert all((p.pod, p.uid) == (pod.name, pod.uid) for p in patches)
