"""The choices resize makes for one group before recommending: what each role sizes, whose
usage each recommendation learns from, which OOM kills it records, and when the learnt usage is
checkpointed into status. Pure; handlers/resize.py feeds them the observation and the memory."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from podgroup_operator.api.models import PodGroupSpec, Role
from podgroup_operator.core.members import desired_members
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.resize.units import MEMORY, POD_LEVEL

CHECKPOINT_EVERY = timedelta(seconds=60)
# Members sized one by one (uniform: false) get one checkpoint each, with coarser histograms;
# past this many per group the rest are not checkpointed (the status must stay well under 1 MiB).
MAX_MEMBER_CHECKPOINTS = 256
MEMBER_CHECKPOINT_BUCKETS = 12
MAX_RECOMMENDATIONS = 1000  # the status schema's bound

UsageOwner = tuple[str, str | None]  # (role, member), member None: the whole role learns as one


def sized_names(role: Role) -> list[str]:
    """The role's containers, and POD_LEVEL where its template sets pod-level resources."""
    spec = role.template.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    return [*names, POD_LEVEL] if sized_at_pod_level(role) else names


def sized_at_pod_level(role: Role) -> bool:
    return bool((role.template.get("spec") or {}).get("resources"))


def usage_owners(
    group: str,
    spec: PodGroupSpec,
    role: Role,
    known: Collection[UsageOwner],
    members: Sequence[ObservedPod],
) -> list[str | None]:
    """Whose usage the role's recommendations learn from. Uniform roles: all members together
    (None). Otherwise each member on its own, in member order: those running and those learnt
    about before (`known`: in memory or checkpointed), so a member being recreated keeps what
    was learnt about it (the name is the member's)."""
    if spec.resize.uniform:
        return [None]
    learnt = {pod for (r, pod) in known if r == role.name}
    running = {p.name for p in members if p.role == role.name}
    desired = [m.name for m in desired_members(group, spec) if m.role == role.name]
    return [n for n in desired if n in learnt or n in running]


def kept_owners(group: str, spec: PodGroupSpec) -> set[UsageOwner]:
    """The usage owners the group's members have now: the learnt usage of others is dropped."""
    return {(m.role, None if spec.resize.uniform else m.name) for m in desired_members(group, spec)}


@dataclass(frozen=True)
class OomKill:
    pod: str
    container: str
    time: datetime  # the termination's finishedAt
    memory_bytes: float | None  # the memory limit, else None: the last working set seen


def oom_kills(pods: Iterable[ObservedPod], owner: str | None) -> list[OomKill]:
    """The OOM kills the pods' containers report (last or current termination), for `owner`."""
    kills = []
    for p in pods:
        if owner not in (None, p.name):
            continue
        limits = {c.name: c.limits.get(MEMORY) for c in p.resources.containers}
        for c in p.containers:
            t = c.last_termination or c.termination
            if t and t.reason == "OOMKilled" and t.finished_at:
                limit = limits.get(c.name)
                memory = float(limit) if limit is not None else None
                kills.append(OomKill(p.name, c.name, t.finished_at, memory))
    return kills


def checkpoint_due(stored: bool, last: datetime | None, now: datetime) -> bool:
    """A new checkpoint at most once a minute; the stored one in between (fewer status writes)."""
    return not stored or last is None or now - last >= CHECKPOINT_EVERY
