"""Which member pods a PodGroup should have, and what to create or delete to get there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.labels import member_name
from podgroup_operator.core.observed import ObservedPod


@dataclass(frozen=True)
class Member:
    role: str
    index: int
    name: str


@dataclass(frozen=True)
class MemberPlan:
    create: tuple[Member, ...]
    delete: tuple[str, ...]  # pod names, highest index of each role first


def desired_members(group: str, spec: PodGroupSpec) -> list[Member]:
    return [
        Member(role.name, index, member_name(group, role.name, index))
        for role in spec.roles
        for index in range(role.replicas)
    ]


def plan_members(group: str, group_uid: str, spec: PodGroupSpec, pods: Iterable[ObservedPod]) -> MemberPlan:
    """Create the desired members that have no pod; delete our pods that are no longer desired.

    A pod still terminating keeps its name taken, so its replacement waits for it to go.
    Pods that carry the group label but are not controlled by this PodGroup (same name
    reused, or made by hand) are never deleted.
    """
    pods = list(pods)
    desired = desired_members(group, spec)
    wanted = {m.name for m in desired}
    present = {p.name for p in pods}
    create = tuple(m for m in desired if m.name not in present)
    surplus = [p for p in pods if p.name not in wanted and p.owner_uid == group_uid and not p.deleting]
    surplus.sort(key=lambda p: (p.role, -(p.index if p.index is not None else -1), p.name))
    return MemberPlan(create=create, delete=tuple(p.name for p in surplus))
