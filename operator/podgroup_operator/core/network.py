"""How members find each other: stable DNS names, ranks, the leader's address, the headless
Service. Pure: the pod builder and the reconcile call these; nothing here talks to the cluster.

A member's name is its pod name <group>-<role>-<index>; with hostname = that name and
subdomain = <group>, and a headless Service <group> selecting the members, cluster DNS answers
<group>-<role>-<index>.<group>.<namespace>.svc.<cluster domain> with the member's pod IP, the
same after an in-place restart (same pod) or a recreation (same name).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from podgroup_operator import API_GROUP, API_VERSION, KIND
from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.labels import (
    GROUP_LABEL,
    ROLE_SIZE_ANNOTATION,
    WORLD_SIZE_ANNOTATION,
    member_name,
)
from podgroup_operator.core.members import Member
from podgroup_operator.core.observed import ObservedPod

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
ENV_PREFIX = "PODGROUP_"


@dataclass(frozen=True)
class Identity:
    """What a member program is told about itself and its group (the PODGROUP_* variables)."""

    group: str
    role: str
    role_index: int
    role_size: int
    rank: int
    world_size: int
    leader_address: str
    service: str

    def env(self) -> list[dict[str, str]]:
        values = {
            "NAME": self.group,
            "ROLE": self.role,
            "ROLE_INDEX": str(self.role_index),
            "ROLE_SIZE": str(self.role_size),
            "RANK": str(self.rank),
            "WORLD_SIZE": str(self.world_size),
            "LEADER_ADDRESS": self.leader_address,
            "SERVICE": self.service,
        }
        return [{"name": ENV_PREFIX + key, "value": value} for key, value in values.items()]

    def size_annotations(self) -> dict[str, str]:
        return {WORLD_SIZE_ANNOTATION: str(self.world_size), ROLE_SIZE_ANNOTATION: str(self.role_size)}


def service_fqdn(group: str, namespace: str, cluster_domain: str) -> str:
    return f"{group}.{namespace}.svc.{cluster_domain}"


def member_fqdn(group: str, pod_name: str, namespace: str, cluster_domain: str) -> str:
    """The member's own DNS name (its hostname under the group's subdomain)."""
    return f"{pod_name}.{service_fqdn(group, namespace, cluster_domain)}"


def identity(
    group: str,
    namespace: str,
    spec: PodGroupSpec,
    member: Member,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> Identity:
    """Ranks count roles in spec order, then indexes in order: role a (2 replicas), role b
    (3): a-0 is 0, a-1 is 1, b-0 is 2 ... b-2 is 4. The leader is member 0 of the leader role."""
    rank = 0
    role_size = 0
    for role in spec.roles:
        if role.name == member.role:
            rank += member.index
            role_size = role.replicas
            break
        rank += role.replicas
    leader = member_name(group, spec.leader_role, 0)
    return Identity(
        group=group,
        role=member.role,
        role_index=member.index,
        role_size=role_size,
        rank=rank,
        world_size=sum(r.replicas for r in spec.roles),
        leader_address=member_fqdn(group, leader, namespace, cluster_domain),
        service=service_fqdn(group, namespace, cluster_domain),
    )


def size_annotations(spec: PodGroupSpec, role: str) -> dict[str, str]:
    sizes = {r.name: r.replicas for r in spec.roles}
    return {WORLD_SIZE_ANNOTATION: str(sum(sizes.values())), ROLE_SIZE_ANNOTATION: str(sizes.get(role, 0))}


@dataclass(frozen=True)
class SizePatch:
    pod: str
    uid: str
    annotations: dict[str, str]


def stale_sizes(spec: PodGroupSpec, pods: list[ObservedPod], group_uid: str) -> list[SizePatch]:
    """The members of ours whose size annotations a scale left behind: one patch each, and
    none once they are current (a repeated reconcile writes nothing)."""
    patches = []
    for pod in pods:
        if pod.owner_uid != group_uid or not pod.active or pod.role not in {r.name for r in spec.roles}:
            continue
        want = size_annotations(spec, pod.role)
        have = (pod.body.get("metadata") or {}).get("annotations") or {}
        if any(have.get(k) != v for k, v in want.items()):
            patches.append(SizePatch(pod.name, pod.uid, want))
    return patches


def _with_env(container: dict[str, Any], env: list[dict[str, str]]) -> dict[str, Any]:
    """The identity variables appended after the container's own; a variable the template sets
    keeps the template's value (and place)."""
    own = container.get("env") or []
    taken = {e.get("name") for e in own}
    return {**container, "env": [*own, *(e for e in env if e["name"] not in taken)]}


def with_identity(pod_spec: dict[str, Any], group: str, pod_name: str, ident: Identity) -> dict[str, Any]:
    """The pod spec with hostname/subdomain (unless the template sets them) and the identity in
    the environment of every container and init container."""
    spec = copy.deepcopy(pod_spec)
    spec.setdefault("hostname", pod_name)
    spec.setdefault("subdomain", group)
    env = ident.env()
    for key in ("initContainers", "containers"):
        if spec.get(key):
            spec[key] = [_with_env(c, env) for c in spec[key]]
    return spec


def headless_service(group: str, group_uid: str, namespace: str) -> dict[str, Any]:
    """The group's headless Service: no cluster IP (DNS answers with the members' own
    addresses, no kube-proxy needed) and not-ready members published too, so peers resolve each
    other while they start (a cluster forming needs the names before anyone is Ready)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": group,
            "namespace": namespace,
            "labels": {GROUP_LABEL: group},
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": KIND,
                    "name": group,
                    "uid": group_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {GROUP_LABEL: group},
        },
    }
