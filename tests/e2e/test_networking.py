"""Members that find each other: stable DNS names (hostname + subdomain + the group's headless
Service, answered by the harness's CoreDNS), their identity in the environment, and real
distributed programs on the real node that need all of it: a 3-member etcd cluster and a rank
rendezvous (examples/etcd-cluster.yaml, examples/rank-rendezvous.yaml)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.examples import example
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.e2e.programs import (
    etcd_get,
    etcd_healthy,
    etcd_members,
    etcd_put,
    exec_in,
    kill_container,
    on_real_node,
    rendezvous,
)
from tests.e2e.realnode import ON_REAL_NODE

DOMAIN = "cluster.local"


@pytest.fixture
def groups(api: client.ApiClient, namespace: str) -> PodGroups:
    return PodGroups(api, namespace)


def ready(groups: PodGroups, name: str, count: int) -> list[client.V1Pod] | None:
    pods = groups.pods(name)
    ok = len(pods) == count and all(
        p.status.phase == "Running"
        and p.status.pod_ip
        and all(c.ready for c in p.status.container_statuses or [])
        for p in pods
    )
    return pods if ok else None


def real_role(name: str, replicas: int) -> dict[str, Any]:
    r = role(name, replicas, cpu="10m", memory="16Mi")
    r["template"]["spec"].update(ON_REAL_NODE)
    r["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    return r


def kubelet_config(api: client.ApiClient, node: str) -> dict[str, Any]:
    """The node's kubelet configuration as the kubelet itself serves it (/configz)."""
    raw = client.CoreV1Api(api).connect_get_node_proxy_with_path(node, "configz", _preload_content=False)
    return dict(json.loads(raw.data)["kubeletconfig"])


def resolve(namespace: str, pod: str, name: str) -> str | None:
    """The address busybox nslookup inside the pod gets for name (through the cluster DNS)."""
    out = exec_in(namespace, pod, "nslookup", name, check=False)
    answer = out.split("Name:", 1)[-1] if "Name:" in out else ""
    addresses = [line.split()[-1] for line in answer.splitlines() if line.startswith("Address")]
    return addresses[0] if addresses else None


def test_members_resolve_each_other_and_know_their_identity(
    groups: PodGroups, namespace: str, real_node: str
) -> None:
    groups.create(podgroup("peers", real_role("head", 1), real_role("w", 2)))
    pods = eventually(lambda: ready(groups, "peers", 3), timeout=120, what="3 members ready")
    uid = groups.get("peers")["metadata"]["uid"]

    svc = client.CoreV1Api(groups.core.api_client).read_namespaced_service("peers", namespace)
    assert svc.spec.cluster_ip == "None" and svc.spec.publish_not_ready_addresses
    assert svc.spec.selector == {"podgroup.dev/name": "peers"}
    assert [(o.kind, o.uid, o.controller) for o in svc.metadata.owner_references] == [("PodGroup", uid, True)]
    cond = eventually(lambda: groups.condition("peers", "ServiceReady"), what="ServiceReady")
    assert cond["status"] == "True" and cond["reason"] == "Owned"

    ips = {p.metadata.name: p.status.pod_ip for p in pods}
    service = f"peers.{namespace}.svc.{DOMAIN}"
    for p in pods:
        assert (p.spec.hostname, p.spec.subdomain) == (p.metadata.name, "peers")
    # Every member resolves every member by its FQDN, through the cluster DNS.
    for asker in ips:
        for target, ip in ips.items():
            got = eventually(
                lambda a=asker, t=target: resolve(namespace, a, f"{t}.{service}"),
                timeout=60,
                what=f"{target} resolved from {asker}",
            )
            assert got == ip, (asker, target)
    # Short names (<pod>.<group>) resolve through the search path the kubelet writes (busybox
    # nslookup itself ignores it; libc and Go resolvers, as programs use, apply it).
    conf = exec_in(namespace, "peers-w-1", "cat", "/etc/resolv.conf").splitlines()
    dns = kubelet_config(groups.core.api_client, real_node)["clusterDNS"]
    assert [f"nameserver {ip}" for ip in dns] == [line for line in conf if line.startswith("nameserver")], (
        conf
    )
    search = next(line.split()[1:] for line in conf if line.startswith("search"))
    assert search[:3] == [f"{namespace}.svc.{DOMAIN}", f"svc.{DOMAIN}", DOMAIN], conf

    env = exec_in(namespace, "peers-w-1", "sh", "-c", "env | grep ^PODGROUP_ | sort")
    assert dict(line.split("=", 1) for line in env.split()) == {
        "PODGROUP_NAME": "peers",
        "PODGROUP_ROLE": "w",
        "PODGROUP_ROLE_INDEX": "1",
        "PODGROUP_ROLE_SIZE": "2",
        "PODGROUP_RANK": "2",
        "PODGROUP_WORLD_SIZE": "3",
        "PODGROUP_LEADER_ADDRESS": f"peers-head-0.{service}",
        "PODGROUP_SERVICE": service,
    }
    assert exec_in(namespace, "peers-w-1", "hostname").strip() == "peers-w-1"
    assert pods[0].metadata.annotations["podgroup.dev/world-size"] == "3"

    # A scale: the new member starts with the new size; the members that stay cannot have their
    # environment changed, and carry the new size in their annotations instead.
    groups.patch("peers", {"spec": {"roles": [real_role("head", 1), real_role("w", 3)]}})
    eventually(
        lambda: (
            all(
                (p.metadata.annotations or {}).get("podgroup.dev/world-size") == "4"
                and (p.metadata.annotations or {}).get("podgroup.dev/role-size")
                == ("1" if p.metadata.labels["podgroup.dev/role"] == "head" else "3")
                for p in groups.pods("peers")
            )
            and len(groups.pods("peers")) == 4
        ),
        timeout=60,
        what="every member annotated with the new sizes",
    )
    eventually(lambda: ready(groups, "peers", 4), timeout=120, what="4 members ready")
    env = exec_in(namespace, "peers-w-2", "sh", "-c", "echo $PODGROUP_RANK $PODGROUP_WORLD_SIZE")
    assert env.split() == ["3", "4"]


def test_a_service_the_group_does_not_own_is_left_alone(
    groups: PodGroups, namespace: str, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    theirs = client.V1Service(
        metadata=client.V1ObjectMeta(name="taken", labels={"owner": "someone"}),
        spec=client.V1ServiceSpec(selector={"app": "other"}, ports=[client.V1ServicePort(port=80)]),
    )
    core.create_namespaced_service(namespace, theirs)
    groups.create(podgroup("taken", role("w", 1)))  # on the kwok nodes: no container is needed
    cond = eventually(
        lambda: (c := groups.condition("taken", "ServiceReady")) and c["status"] == "False" and c,
        what="ServiceReady=False",
    )
    assert cond["reason"] == "ServiceConflict" and "not this PodGroup's" in cond["message"]
    events = eventually(
        lambda: [e for e in groups.events("taken") if e.reason == "ServiceConflict"], what="an event"
    )
    assert events[0].type == "Warning"
    svc = core.read_namespaced_service("taken", namespace)
    assert svc.metadata.owner_references is None and svc.spec.selector == {"app": "other"}
    assert svc.spec.cluster_ip != "None"  # never taken over

    # Gone: the group makes its own.
    core.delete_namespaced_service("taken", namespace)
    eventually(
        lambda: (c := groups.condition("taken", "ServiceReady")) and c["status"] == "True",
        what="ServiceReady=True once the Service is the group's own",
    )
    assert core.read_namespaced_service("taken", namespace).spec.cluster_ip == "None"

    # Opted out: no Service at all.
    groups.create(podgroup("own", role("w", 1), network={"headlessService": False}))
    eventually(lambda: groups.condition("own", "PodsCreated"), what="the group reconciled")
    names = [s.metadata.name for s in core.list_namespaced_service(namespace).items]
    assert "own" not in names and groups.condition("own", "ServiceReady") is None


def recovered(groups: PodGroups, count_before: int) -> list[client.V1Pod] | None:
    """The 3 members once the operator has seen its in-place restart of member 1 through
    (Restarting False) and nothing restarted for 3 s. The pods alone cannot tell: with
    restartPolicy Always the kubelet restarts the killed container first, and the operator's
    restart of the pod follows; a member exec'd into in between is killed under the test."""
    pods = ready(groups, "etcd", 3)
    if not pods or pods[1].status.container_statuses[0].restart_count <= count_before:
        return None
    conditions = (groups.get("etcd").get("status") or {}).get("conditions") or []
    if any(c["type"] == "Restarting" and c["status"] == "True" for c in conditions):
        return None
    counts = [p.status.container_statuses[0].restart_count for p in pods]
    time.sleep(3)
    again = ready(groups, "etcd", 3)
    if not again or [p.status.container_statuses[0].restart_count for p in again] != counts:
        return None
    return again


def test_etcd_cluster_forms_by_name_and_a_killed_member_recovers_in_place(
    groups: PodGroups, namespace: str, real_node: str
) -> None:
    groups.create(on_real_node(example("etcd-cluster.yaml")))
    first = eventually(lambda: ready(groups, "etcd", 3), timeout=180, what="3 etcd members healthy")
    service = f"etcd.{namespace}.svc.{DOMAIN}"
    members = etcd_members(namespace, "etcd-member-0")
    assert members == {f"etcd-member-{i}": [f"http://etcd-member-{i}.{service}:2380"] for i in range(3)}, (
        members
    )
    etcd_put(namespace, "etcd-member-0", "/pgo/kept", "before the crash")

    victim = first[1]
    # Counted from here: a member may have restarted while the cluster formed.
    restarts_before = (groups.get("etcd").get("status") or {}).get("restarts") or 0
    count_before = victim.status.container_statuses[0].restart_count
    kill_container(victim, "etcd")
    eventually(
        lambda: (
            (s := groups.get("etcd").get("status") or {}).get("restarts", 0) > restarts_before
            and s["lastFailure"]["pod"] == "etcd-member-1"
        ),
        timeout=60,
        what="the failure policy acting on etcd-member-1",
    )
    after = eventually(
        lambda: recovered(groups, count_before),
        timeout=180,
        what="etcd-member-1 restarted and all 3 healthy again",
    )
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid, f"{new.metadata.name} was recreated"
        assert new.status.pod_ip == old.status.pod_ip
    assert groups.get("etcd")["status"]["lastFailure"]["action"] == "RestartPodInPlace"
    # The cluster says so itself, member by member, asked by name from another member.
    for i in range(3):
        assert eventually(
            lambda i=i: etcd_healthy(namespace, "etcd-member-2", f"etcd-member-{i}.{service}"),
            timeout=60,
            what=f"etcd-member-{i} healthy",
        )
    assert etcd_members(namespace, "etcd-member-1") == members  # the same member, not a new one
    # Its data survived (its emptyDir), and a key written before the crash reads back from it.
    assert etcd_get(namespace, "etcd-member-1", "/pgo/kept") == "before the crash"
    assert exec_in(namespace, "etcd-member-1", "ls", "/var/lib/etcd/data/member").split()


def sessions(namespace: str, pods: list[client.V1Pod]) -> list[dict[str, str]] | None:
    states = [rendezvous(namespace, p.metadata.name) for p in pods]
    return states if all(states) and len({s["session"] for s in states if s}) == 1 else None  # type: ignore[misc]


def test_rank_rendezvous_needs_every_rank_and_a_group_restart_makes_a_new_one(
    groups: PodGroups, namespace: str, real_node: str
) -> None:
    groups.create(on_real_node(example("rank-rendezvous.yaml")))
    first = eventually(lambda: ready(groups, "ranks", 4), timeout=120, what="4 ranks in one rendezvous")
    before = eventually(lambda: sessions(namespace, first), what="one session")
    assert [(s["rank"], s["world"]) for s in before] == [(str(i), "4") for i in range(4)]

    kill_container(first[2], "rank")
    st = eventually(
        lambda: (s := groups.get("ranks").get("status") or {}).get("restartGeneration") == 1 and s,
        timeout=60,
        what="a group restart",
    )
    assert st["lastFailure"]["pod"] == "ranks-rank-2" and st["lastFailure"]["action"] == "RestartGroupInPlace"
    after = eventually(
        lambda: (
            (ps := ready(groups, "ranks", 4))
            and all(p.status.container_statuses[0].restart_count >= 1 for p in ps)
            and ps
        ),
        timeout=120,
        what="every rank restarted and ready",
    )
    again = eventually(lambda: sessions(namespace, after), what="every rank in one new session")
    assert again[0]["session"] != before[0]["session"]
    assert [(s["rank"], s["world"]) for s in again] == [(str(i), "4") for i in range(4)]
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid and new.status.pod_ip == old.status.pod_ip
